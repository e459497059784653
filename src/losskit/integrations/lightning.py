"""Run any losskit training method (plain loss, SLF, UniLoss, MILS) inside PyTorch Lightning.

Install the optional extra: ``pip install 'losskit[lightning]'``.

Design: a losskit :class:`~losskit.core.method.Method` owns the whole update (zero_grad,
forward, backward, optimizer step) — MILS must, because it snapshots the model and optimizer
before an auxiliary update and may roll both back. So :class:`LossKitModule` uses Lightning's
*manual optimisation* (``automatic_optimization = False``) and hands each batch to
``method.step``, exactly as losskit's own :class:`~losskit.train.trainer.Trainer` does. The
method receives the raw ``torch.optim.Optimizer`` (not Lightning's wrapper), so the state that
MILS snapshots is the real optimizer state.

**Data.** Any ``LightningDataModule`` or dataloaders given to ``trainer.fit / validate / test /
predict``. Batches are ``(x, y, …)`` tuples/lists or dicts (``input_key`` / ``target_key``,
:func:`losskit.data.batches.unpack_batch`); ``predict`` also takes ``(x,)`` and bare tensors.
What a method draws from the training data (MILS's observation set, SLF's bilevel batches,
the set-up checks of the targets, the number of outputs) comes from a *training sample*, made
once when ``fit`` starts: the train dataloader's dataset itself when it is a ``TensorDataset``
(or a ``Subset`` of one); otherwise ``train_sample_size`` samples drawn with ``seed``
(map-style: random indices, read through the loader's ``collate_fn``, the global RNG
untouched; iterable: the loader's first batches). Losses that take the class counts
(class-balanced weights, LDAM, logit adjustment: :mod:`losskit.losses.priors`) count this
sample's labels. ``train_set`` (a ``TensorDataset``, any ``Dataset`` or an ``(x, y)`` pair)
gives the sample explicitly — then the method is set up in the constructor, as before.

**Metrics** (``val_*`` in validation, ``test_*`` in test; whole-epoch values, not batch means):

=============  =================================================  ==========================
task           when                                               logged
=============  =================================================  ==========================
binary         outputs ``(N,)``, ``(N, 1)`` or ``(N, 2)`` with     ``loss`` (BCE with logits
               targets ``(N,)`` / ``(N, 1)``, int/bool/float 0/1   on the score), ``acc``
                                                                  (score > 0), ``ap``, ``auc``
classification ``(N, C ≥ 3)`` outputs (or ``task=``)             ``loss`` (cross-entropy),
                                                                  ``acc`` (argmax)
regression     ``task="regression"`` only                         ``loss`` (MSE), ``mse``,
                                                                  ``mae``
=============  =================================================  ==========================

The binary score is the logit, or ``logit_1 − logit_0`` for two outputs (then BCE on it equals
the 2-class cross-entropy): accuracy thresholds it at 0 — never an argmax over one column.
``val_loss`` is this *plain task loss* for every method (not SLF's / UniLoss's / MILS's
training objective), so ``EarlyStopping(monitor="val_loss")`` and ``ModelCheckpoint`` compare
methods on one scale; a diverged model logs ``nan`` (``EarlyStopping(check_finite=True)``
stops on it). ``ap`` / ``auc`` are computed once over the epoch's scores
(``sklearn.metrics.average_precision_score`` / ``roc_auc_score``, ties half-counted) and left
out, with a warning, when the epoch has no positive or no negative target. Under DDP the
epoch's sums and scores are gathered from every process (scores assume equal shards, as
``DistributedSampler`` gives).

**Gradient clipping and accumulation** — ``Trainer(gradient_clip_val=…,
gradient_clip_algorithm=…, accumulate_grad_batches=…)`` are honoured inside the method's own
step (Lightning itself refuses them under manual optimisation; the module takes them over
before it checks, and gives them back to the trainer afterwards):

======================  ===============================  ===================================
method                  clipping                         accumulation over ``k`` batches
======================  ===============================  ===================================
loss, uniloss, slf      every optimizer step, after the  gradients summed over ``k`` batches,
(joint)                 gradient scaler's unscale        divided by ``k`` (Lightning's rule,
                                                         also for a short last window), one
                                                         step; ``global_step`` counts steps
slf ``update=bilevel``  yes                              refused (two updates per batch)
mils                    yes (each attempted update)      refused: an update is accepted or
                                                         rolled back as one whole step
======================  ===============================  ===================================

Accumulation is refused too under ``precision="16-mixed"`` (the method steps the gradient
scaler every batch) and for any other method (the loss-weighting methods, your own) unless its
class sets ``supports_accumulation = True``. Clipping works for every method and acts on every
parameter in the optimizer (the model's and the method's, e.g. SLF's decision network), as
Lightning's does.

**Checkpoints**: ``on_save_checkpoint`` stores the method's state (MILS selector /
participation generator / observation set / statistics, SLF decision network and Gumbel
generator, UniLoss anchor generator), the context's step / epoch counters and generator
under ``checkpoint["losskit"]``; ``Trainer.fit(..., ckpt_path=...)`` resumes exactly (as an
uninterrupted run, given the same data order). ``validate / test / predict(ckpt_path=...)``
before any ``fit`` load the model's weights only.

**Optimizer and scheduler**: ``optimizer`` is a name (``"sgd"``, ``"adam"``, ``"adamw"``) or a
factory ``params -> torch.optim.Optimizer`` (e.g. ``functools.partial(torch.optim.AdamW,
lr=1e-3)``); ``scheduler`` a factory ``optimizer -> LRScheduler``, stepped every epoch (or every
optimizer step: ``scheduler_interval="step"``). Overriding ``configure_optimizers`` works too:
give it ``self.parameters()`` (the model's *and* the method's: SLF decision network,
center-loss centres). **Precision**: ``"32-true"``, ``"bf16-mixed"`` and ``"16-mixed"`` (the
method's updates use Lightning's own gradient scaler, so MILS rolls its state back with the
model). **Any model**: only logits are needed; losses that need features (center, L-GM) take
them from ``features=`` (a layer name or ``fn(model, x) -> (logits, features)``, see
:mod:`losskit.train.features`).

Under multi-device strategies the model is wrapped by Lightning and gradients are synchronised
by it; the method's own parameters are registered as sub-modules of this LightningModule, so
they are synchronised too.

Example::

    import lightning as L
    from losskit.integrations.lightning import LossKitModule
    module = LossKitModule(model, "mils", method_kwargs={"aux": "multi_margin"}, lr=0.05)
    L.Trainer(max_epochs=1, gradient_clip_val=1.0).fit(module, datamodule=dm)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset, IterableDataset, TensorDataset

from losskit.core.errors import ConfigError, require
from losskit.core.method import Method, TrainContext, bind_method, setup_method
from losskit.data.batches import DEFAULT_KEYS, BatchKeys, unpack_batch
from losskit.data.loading import (
    as_tensor_dataset,
    draw_subset,
    first_batch,
    is_map_style,
    iter_xy,
    underlying_dataset,
)
from losskit.integrations.epoch_metrics import TASKS, EpochMetrics, batch_accuracy
from losskit.integrations.gradients import (
    AccumulatingOptimizer,
    accumulation_refusal,
    clip_gradients,
)
from losskit.train.config import TrainConfig, check_settings
from losskit.train.features import FeatureSpec, infer_dims, with_features
from losskit.train.methods import METHODS
from losskit.train.trainer import build_optimizer, seeded_generator

L = require("lightning", "lightning", "losskit.integrations.lightning (LossKitModule)")
OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]
SchedulerFactory = Callable[[torch.optim.Optimizer], Any]
TrainSample = Dataset | tuple[torch.Tensor, torch.Tensor]
_PRECISION_DTYPES = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}


def _plain(value: Any) -> Any:
    """A hyper-parameter as loggers and checkpoints take it (modules, callables: their repr)."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return repr(value)


# ------------------------------------------------------------------------------------- data
def batch_inputs(batch: Any, keys: BatchKeys) -> torch.Tensor:
    """The input of a prediction batch: a bare tensor, ``(x, …)`` (``(x,)`` included) or a dict
    with ``keys.input`` (``unpack_batch``'s rule, the target optional)."""
    if isinstance(batch, torch.Tensor):
        return batch
    if isinstance(batch, Mapping):
        if keys.input not in batch:
            raise ConfigError(f"batch is a dict with keys {sorted(map(str, batch))}, missing "
                              f"{keys.input!r}; set input_key to the dict's input key", "batch")
        return batch[keys.input]
    if isinstance(batch, Sequence) and not isinstance(batch, (str, bytes)) and len(batch) >= 1:
        return batch[0]
    raise ConfigError(f"batch must be a tensor, an (input, …) tuple/list or a dict with "
                      f"{keys.input!r}, got {type(batch).__name__}", "batch")


def training_sample(
    source: Any, size: int, seed: int, keys: BatchKeys = DEFAULT_KEYS
) -> TensorDataset:
    """A ``TensorDataset`` of training samples for the method (module doc, *Data*).

    ``source``: an ``(x, y)`` pair; a ``Dataset`` or a ``DataLoader`` over one. An in-memory
    ``TensorDataset`` (or ``Subset`` of one) is used whole
    (:func:`losskit.data.loading.as_tensor_dataset`); another map-style dataset gives ``size``
    samples at sorted indices drawn with ``seed`` (:func:`~losskit.data.loading.draw_subset`,
    collated by the loader's ``collate_fn``); an iterable dataset its first ``size`` samples,
    a loader over one (or any iterable of batches) its first batches. The global RNG is left
    as it was (random transforms in the dataset draw from a forked state)."""
    if isinstance(source, tuple) and len(source) == 2 and all(
            isinstance(t, torch.Tensor) for t in source):
        return TensorDataset(*source)
    dataset = underlying_dataset(source)
    memory = as_tensor_dataset(dataset)
    if memory is not None:
        return memory
    if not isinstance(source, Iterable | Dataset):
        raise ConfigError(f"train_set must be a Dataset, a DataLoader or an (x, y) pair, got "
                          f"{type(source).__name__}", "train_set")
    with torch.random.fork_rng(devices=[]):
        if isinstance(dataset, Dataset) and is_map_style(dataset):  # (a list: of batches)
            if len(dataset) == 0:
                raise ConfigError("the training dataset is empty", "train_set")
            x, y, _ = draw_subset(source, min(size, len(dataset)), seeded_generator(seed), keys,
                                  name="train_sample_size")
        elif isinstance(source, IterableDataset):
            x, y = first_batch(source, keys, size)
        else:  # a DataLoader over an iterable dataset, or any iterable of batches
            xs, ys, have = [], [], 0
            for x, y in iter_xy(source, keys):
                xs.append(x)
                ys.append(y)
                have += len(y)
                if have >= size:
                    break
            if not xs:
                raise ConfigError("the train dataloader yields no batch", "train_set")
            x, y = torch.cat(xs)[:size], torch.cat(ys)[:size]
    return TensorDataset(x, y)


# -------------------------------------------------------------------------------- metrics


_TRAINER_SETTINGS = "_losskit_gradient_settings"


class LossKitModule(L.LightningModule):
    """A ``LightningModule`` that trains ``model`` with a losskit method.

    Args:
        model: any ``nn.Module`` returning logits (a losskit
            :class:`~losskit.models.base.Classifier` also gives features).
        method: a registered method name (``"loss"``, ``"slf"``, ``"uniloss"``, ``"mils"``) or
            a :class:`~losskit.core.method.Method` instance.
        train_set: optional: the training sample the method draws from (a ``TensorDataset``,
            any ``Dataset`` or an ``(x, y)`` pair; module doc, *Data*). Default: taken from
            the train dataloader when ``fit`` starts.
        num_classes: number of outputs (default: ``model.num_classes``, else the width of the
            model's output on one training sample).
        method_kwargs: constructor arguments when ``method`` is a name.
        optimizer: a name (with ``lr``, ``momentum``, ``weight_decay``) or a factory
            ``params -> Optimizer``. These, ``seed``, ``input_key`` and ``target_key`` are
            :class:`~losskit.train.config.TrainConfig`'s fields: their defaults and checks are
            the ones declared there.
        scheduler: ``None`` or a factory ``optimizer -> LRScheduler``, stepped per
            ``scheduler_interval`` (``"epoch"`` or ``"step"``).
        seed: seeds the method's generator (Gumbel noise, participation draws) and the
            training sample.
        features: where feature losses find features for a plain module (module doc).
        task: ``"binary"``, ``"classification"`` or ``"regression"`` for the evaluation
            metrics; default: from the outputs' shape (module doc table).
        train_sample_size: samples in the training sample drawn from a dataset that is not a
            ``TensorDataset`` (at least MILS's ``observation_size``).
        input_key, target_key: where dict batches keep the input and the target.
    """

    def __init__(
        self,
        model: nn.Module,
        method: str | Method,
        train_set: TrainSample | None = None,
        num_classes: int | None = None,
        method_kwargs: dict[str, Any] | None = None,
        optimizer: str | OptimizerFactory = TrainConfig.optimizer,
        lr: float = TrainConfig.lr,
        momentum: float = TrainConfig.momentum,
        weight_decay: float = TrainConfig.weight_decay,
        seed: int = TrainConfig.seed,
        scheduler: SchedulerFactory | None = None,
        scheduler_interval: str = "epoch",
        features: FeatureSpec = None,
        task: str | None = None,
        train_sample_size: int = 2048,
        input_key: str = TrainConfig.input_key,
        target_key: str = TrainConfig.target_key,
    ) -> None:
        super().__init__()
        if scheduler_interval not in ("epoch", "step"):
            raise ConfigError(f"scheduler_interval must be 'epoch' or 'step', got "
                              f"{scheduler_interval!r}", "scheduler_interval")
        if not (callable(optimizer) or isinstance(optimizer, str)):
            raise ConfigError(f"optimizer must be a name or a factory params -> Optimizer, "
                              f"got {optimizer!r}", "optimizer")
        # the run settings it shares with TrainConfig: their declared defaults and checks
        check_settings(lr=lr, momentum=momentum, weight_decay=weight_decay, seed=seed,
                       input_key=input_key, target_key=target_key,
                       **({"optimizer": optimizer} if isinstance(optimizer, str) else {}))
        if task is not None and task not in TASKS:
            raise ConfigError(f"task must be None or one of {TASKS}, got {task!r}", "task")
        if isinstance(train_sample_size, bool) or not isinstance(train_sample_size, int) or (
                train_sample_size < 1):
            raise ConfigError(f"train_sample_size must be an integer ≥ 1, got "
                              f"{train_sample_size!r}", "train_sample_size")
        self.automatic_optimization = False
        self.model = model
        self.method = (
            METHODS.get(method, **(method_kwargs or {})) if isinstance(method, str) else method
        )
        # Lightning's hyper-parameters: the method's declared options (losskit.core.options)
        self.save_hyperparameters({
            "method": method if isinstance(method, str) else type(method).__name__,
            **{k: _plain(v) for k, v in self.method.options.as_dict().items()},
            "optimizer": optimizer if isinstance(optimizer, str) else repr(optimizer),
            "lr": lr, "momentum": momentum, "weight_decay": weight_decay, "seed": seed,
            "task": task,
        })
        self.optimizer_factory = optimizer if callable(optimizer) else None
        self.config = TrainConfig(
            optimizer=optimizer if isinstance(optimizer, str) else "sgd", lr=lr,
            momentum=momentum, weight_decay=weight_decay, seed=seed,
        )
        self.scheduler_factory = scheduler
        self.scheduler_interval = scheduler_interval
        self.features = features
        self.num_classes = num_classes
        self.seed = seed
        self.task = task
        self.batch_keys = BatchKeys(input_key, target_key)
        self.train_sample_size = max(
            train_sample_size, int(getattr(self.method.options, "observation_size", 1)))
        self.ctx: TrainContext | None = None
        self.method_params = nn.ParameterList()
        self._restored: dict[str, Any] | None = None  # a checkpoint's method state, until bind
        self._eval = {"val": EpochMetrics(task), "test": EpochMetrics(task)}
        self._clip: tuple[float, str] | None = None
        self._accumulate = 1
        self._clip_hook: Any = None
        if train_set is not None:
            self._setup_method(training_sample(train_set, self.train_sample_size, seed,
                                               self.batch_keys))

    # ------------------------------------------------------------------ set-up
    def _setup_method(self, train_set: TensorDataset, device: torch.device | None = None) -> None:
        """The first half of losskit's set-up path (:mod:`losskit.core.method`) on the training
        sample; bind follows in ``on_fit_start`` (the optimizer, scheduler, scaler exist)."""
        wrapped = with_features(self.model, self.features)  # in ctx only: not a sub-module
        classes = getattr(self.model, "num_classes", self.num_classes)
        feature_dim = getattr(self.model, "feature_dim", None)
        if classes is None or (feature_dim is None and self.features is not None):
            outputs, found = infer_dims(wrapped, train_set.tensors[0])
            classes = outputs if classes is None else classes
            feature_dim = found if feature_dim is None else feature_dim
        classes = int(self.num_classes if self.num_classes is not None else classes)
        self.ctx = TrainContext(
            model=wrapped, num_classes=classes,
            feature_dim=int(feature_dim if feature_dim is not None else classes),
            train_set=train_set, generator=seeded_generator(self.seed),
            device=device if device is not None else torch.device("cpu"),
        )
        # registered as a sub-module: Lightning moves / syncs the method's parameters and
        # configure_optimizers finds them
        self.method_params = nn.ParameterList(setup_method(self.method, self.ctx))

    def _bound_ctx(self) -> TrainContext:
        if self.ctx is None:
            raise RuntimeError("LossKitModule: the method is set up when trainer.fit starts "
                               "(or in the constructor, given train_set)")
        return self.ctx

    def configure_callbacks(self) -> list[Any]:
        """Take over the trainer's clipping / accumulation before Lightning refuses them under
        manual optimisation (they are given back in :meth:`setup`)."""
        trainer = self.trainer
        saved = getattr(trainer, _TRAINER_SETTINGS, None)
        if saved is None:
            saved = (trainer.gradient_clip_val, trainer.gradient_clip_algorithm,
                     trainer.accumulate_grad_batches)
            setattr(trainer, _TRAINER_SETTINGS, saved)
        value, algorithm, k = saved
        self._clip = (float(value), str(getattr(algorithm, "value", algorithm) or "norm")) if (
            value is not None and value > 0) else None
        self._accumulate = int(k)
        trainer.gradient_clip_val, trainer.accumulate_grad_batches = None, 1
        return []

    def setup(self, stage: str) -> None:
        saved = getattr(self.trainer, _TRAINER_SETTINGS, None)
        if saved is not None:  # give the settings back (Lightning's checks are done)
            trainer = self.trainer
            trainer.gradient_clip_val, _, trainer.accumulate_grad_batches = saved
            delattr(trainer, _TRAINER_SETTINGS)
        if stage != "fit":
            return
        if self.ctx is None:
            loader = self.trainer.fit_loop._data_source.dataloader()
            self._setup_method(
                training_sample(loader, self.train_sample_size, self.seed, self.batch_keys),
                self.trainer.strategy.root_device)
        if self._accumulate > 1:
            refusal = accumulation_refusal(self.method, getattr(
                self.trainer.precision_plugin, "scaler", None))
            if refusal is not None:
                raise ConfigError(f"accumulate_grad_batches={self._accumulate}: {refusal}",
                                  "accumulate_grad_batches")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def configure_optimizers(self) -> Any:
        params = list(self.parameters())  # the model's and the method's
        if self.optimizer_factory is not None:
            optimizer = self.optimizer_factory(params)
        else:
            optimizer = build_optimizer(self.config, params)
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer)
        return {"optimizer": optimizer,
                "lr_scheduler": {"scheduler": scheduler, "interval": self.scheduler_interval}}

    def on_fit_start(self) -> None:
        ctx = self._bound_ctx()
        optimizers = self.optimizers()
        first = optimizers[0] if isinstance(optimizers, list) else optimizers
        raw = getattr(first, "optimizer", first)  # the raw torch optimizer
        ctx.device = self.device
        schedulers = self.lr_schedulers()
        ctx.autocast_dtype = _PRECISION_DTYPES.get(str(self.trainer.precision))
        bind_method(
            self.method, ctx, raw,
            schedulers[0] if isinstance(schedulers, list) else schedulers,
            # fp16: the method scales its own updates with Lightning's scaler (saved by it)
            getattr(self.trainer.precision_plugin, "scaler", None),
        )
        if self._clip_hook is not None:
            self._clip_hook.remove()
        # clipping: before every step of the raw optimizer (inside GradScaler.step, after its
        # unscale), whichever method — and MILS's attempts — steps it
        self._clip_hook = raw.register_step_pre_hook(self._clip_before_step)
        if self._accumulate > 1:
            ctx.optimizer = AccumulatingOptimizer(raw, self._accumulate)  # type: ignore[assignment]
        if self._restored is not None:  # Lightning restores checkpoints before on_fit_start
            self.method.load_state_dict(self._restored)
            self._restored = None

    def _clip_before_step(self, optimizer: torch.optim.Optimizer, *_: Any) -> None:
        if self._clip is not None:
            clip_gradients(optimizer, *self._clip)

    # ------------------------------------------------------------------ training
    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        ctx = self._bound_ctx()
        x, y = unpack_batch(batch, self.batch_keys)
        accumulating = isinstance(ctx.optimizer, AccumulatingOptimizer)
        steps = not accumulating or ctx.optimizer.window(  # type: ignore[union-attr]
            batch_idx, bool(self.trainer.is_last_batch))
        result = self.method.step(ctx, x, y)
        if steps:
            ctx.global_step += 1
            self._count_step()
            if ctx.scheduler is not None and self.scheduler_interval == "step":
                ctx.scheduler.step()
        self.log("train_loss", result.loss, prog_bar=True, batch_size=len(y))
        if result.logits is not None:
            acc = batch_accuracy(result.logits, y, self.task)
            if acc is not None:
                self.log("train_acc", acc, batch_size=len(y))
        return result.loss

    def _count_step(self) -> None:
        """Advance Lightning's ``global_step`` by one per optimizer step.

        The method steps the raw optimizer (not Lightning's wrapper, which would count a MILS
        rollback's discarded step too), so Lightning never sees the step; without this,
        ``Trainer(max_steps=...)`` would never stop.
        """
        trainer = getattr(self, "_trainer", None)
        if trainer is None:
            return
        progress = trainer.fit_loop.epoch_loop.manual_optimization.optim_step_progress
        progress.increment_ready()
        progress.increment_completed()

    def on_train_epoch_end(self) -> None:
        ctx = self._bound_ctx()
        if ctx.scheduler is not None and self.scheduler_interval == "epoch":
            ctx.scheduler.step()
        logs = self.method.on_epoch_end(ctx, self.current_epoch)
        for key, value in logs.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self.log(key, float(value))
        ctx.epoch += 1

    # ------------------------------------------------------------------ checkpoints
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        ctx = self._bound_ctx()
        checkpoint["losskit"] = {
            "method": self.method.state_dict(),
            "generator": ctx.generator.get_state() if ctx.generator else None,
            "global_step": ctx.global_step,
            "epoch": ctx.epoch,
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get("losskit")
        if state is None:
            raise ConfigError("checkpoint has no 'losskit' entry: it was not saved by a "
                              "LossKitModule (or by an older losskit); the method's state would "
                              "be lost", "ckpt_path")
        if self.ctx is None:  # validate / test / predict before any fit: the model's weights
            weights = checkpoint.get("state_dict", {})
            for key in [k for k in weights if k.startswith("method_params.")]:
                del weights[key]
            return
        self._restored = state["method"]  # loaded once the method is bound (on_fit_start)
        if state["generator"] is not None and self.ctx.generator is not None:
            self.ctx.generator.set_state(state["generator"])
        self.ctx.global_step = int(state["global_step"])
        self.ctx.epoch = int(state["epoch"])

    # ------------------------------------------------------------------ evaluation
    def _gather(self, t: torch.Tensor) -> torch.Tensor:
        if self.trainer.world_size <= 1:
            return t
        return self.all_gather(t).reshape(-1, *t.shape[1:])

    def _evaluate(self, split: str, batch: Any) -> None:
        x, y = unpack_batch(batch, self.batch_keys)
        self._eval[split].update(self.model(x), y)

    def _log_epoch(self, split: str) -> None:
        metrics = self._eval[split].compute(self._gather)
        self._eval[split].reset()
        # gathered already: every process logs the same values (sync_dist: no warning)
        self.log_dict({f"{split}_{k}": float(v) for k, v in metrics.items()},
                      prog_bar=split == "val", sync_dist=self.trainer.world_size > 1)

    def on_validation_epoch_start(self) -> None:
        self._eval["val"].reset()

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._evaluate("val", batch)

    def on_validation_epoch_end(self) -> None:
        self._log_epoch("val")

    def on_test_epoch_start(self) -> None:
        self._eval["test"].reset()

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._evaluate("test", batch)

    def on_test_epoch_end(self) -> None:
        self._log_epoch("test")

    def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> torch.Tensor:
        """The model's logits (outputs) for the batch's inputs."""
        return self.model(batch_inputs(batch, self.batch_keys))

