"""Run any losskit training method (plain loss, SLF, UniLoss, MILS) inside PyTorch Lightning.

Install the optional extra: ``pip install 'losskit[lightning]'``.

Design: a losskit :class:`~losskit.method.Method` owns the whole update (zero_grad,
forward, backward, optimizer step) — MILS must, because it snapshots the model and optimizer
before an auxiliary update and may roll both back. So :class:`LossKitModule` uses Lightning's
*manual optimisation* (``automatic_optimization = False``) and hands each batch to
``method.step``, exactly as losskit's own :class:`~losskit.train.trainer.Trainer` does. The
method receives the raw ``torch.optim.Optimizer`` (not Lightning's wrapper), so the state that
MILS snapshots is the real optimizer state.

What Lightning gets from a method:

* **checkpoints**: ``on_save_checkpoint`` stores the method's state (MILS selector /
  participation generator / observation set / statistics, SLF decision network and Gumbel
  generator, UniLoss anchor generator), the context's step / epoch counters and generator
  under ``checkpoint["losskit"]``; ``Trainer.fit(..., ckpt_path=...)`` resumes exactly (as
  an uninterrupted run, given the same data order);
* **optimizer and scheduler**: ``optimizer`` is a name (``"sgd"``, ``"adam"``, ``"adamw"``) or
  a factory ``params -> torch.optim.Optimizer`` (e.g. ``functools.partial(torch.optim.AdamW,
  lr=1e-3)``); ``scheduler`` a factory ``optimizer -> LRScheduler``, stepped every epoch (or
  every step: ``scheduler_interval="step"``). Overriding ``configure_optimizers`` works too:
  give it ``self.parameters()`` (the model's *and* the method's: SLF decision network,
  center-loss centres);
* **precision**: ``"32-true"``, ``"bf16-mixed"`` and ``"16-mixed"`` (the method's updates use
  Lightning's own gradient scaler, so MILS rolls its state back with the model);
* **any model**: only logits are needed; losses that need features (center, L-GM) take them
  from ``features=`` (a layer name or ``fn(model, x) -> (logits, features)``, see
  :mod:`losskit.train.features`).

Under multi-device strategies the model is wrapped by Lightning and gradients are synchronised
by it; the method's own parameters are registered as sub-modules of this LightningModule, so
they are synchronised too.

Example::

    import lightning as L
    from losskit.integrations.lightning import LossKitModule
    module = LossKitModule(model, "mils", train_set, method_kwargs={"aux": "multi_margin"},
                           optimizer="sgd", lr=0.05)
    L.Trainer(max_epochs=1).fit(module, train_loader)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn
from torch.utils.data import TensorDataset

try:
    import lightning as L
except ImportError as exc:  # pragma: no cover - depends on the optional extra
    raise ImportError(
        "losskit.integrations.lightning needs Lightning: pip install 'losskit[lightning]'"
    ) from exc

from losskit.method import Method, TrainContext, bind_method, setup_method
from losskit.train.config import TrainConfig
from losskit.train.features import FeatureSpec, infer_dims, with_features
from losskit.train.methods import METHODS
from losskit.train.trainer import build_optimizer, seeded_generator

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]
SchedulerFactory = Callable[[torch.optim.Optimizer], Any]
_PRECISION_DTYPES = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}


def _plain(value: Any) -> Any:
    """A hyper-parameter as loggers and checkpoints take it (modules, callables: their repr)."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return repr(value)


class LossKitModule(L.LightningModule):
    """A ``LightningModule`` that trains ``model`` with a losskit method.

    Args:
        model: any ``nn.Module`` returning logits (a losskit
            :class:`~losskit.models.base.Classifier` also gives features).
        method: a registered method name (``"loss"``, ``"slf"``, ``"uniloss"``, ``"mils"``) or
            a :class:`~losskit.method.Method` instance.
        train_set: the training tensors (MILS draws its observation set from them).
        num_classes: number of classes (default: ``model.num_classes``, else the width of the
            model's output on one training sample).
        method_kwargs: constructor arguments when ``method`` is a name.
        optimizer: a name (with ``lr``, ``momentum``, ``weight_decay`` as in
            :class:`~losskit.train.config.TrainConfig`) or a factory ``params -> Optimizer``.
        scheduler: ``None`` or a factory ``optimizer -> LRScheduler``, stepped per
            ``scheduler_interval`` (``"epoch"`` or ``"step"``).
        seed: seeds the method's generator (Gumbel noise, participation draws).
        features: where feature losses find features for a plain module (module doc).
    """

    def __init__(
        self,
        model: nn.Module,
        method: str | Method,
        train_set: TensorDataset,
        num_classes: int | None = None,
        method_kwargs: dict[str, Any] | None = None,
        optimizer: str | OptimizerFactory = "sgd",
        lr: float = 0.05,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        seed: int = 0,
        scheduler: SchedulerFactory | None = None,
        scheduler_interval: str = "epoch",
        features: FeatureSpec = None,
    ) -> None:
        super().__init__()
        if scheduler_interval not in ("epoch", "step"):
            raise ValueError(
                f"scheduler_interval must be 'epoch' or 'step', got {scheduler_interval!r}"
            )
        if not (callable(optimizer) or isinstance(optimizer, str)):
            raise ValueError(f"optimizer must be a name or a factory params -> Optimizer, got "
                             f"{optimizer!r}")
        self.automatic_optimization = False
        self.model = model
        self.method = (
            METHODS.get(method, **(method_kwargs or {})) if isinstance(method, str) else method
        )
        # Lightning's hyper-parameters: the method's declared options (losskit.options)
        self.save_hyperparameters({
            "method": method if isinstance(method, str) else type(method).__name__,
            **{k: _plain(v) for k, v in self.method.options.as_dict().items()},
            "optimizer": optimizer if isinstance(optimizer, str) else repr(optimizer),
            "lr": lr, "momentum": momentum, "weight_decay": weight_decay, "seed": seed,
        })
        self.optimizer_factory = optimizer if callable(optimizer) else None
        self.config = TrainConfig(
            optimizer=optimizer if isinstance(optimizer, str) else "sgd", lr=lr,
            momentum=momentum, weight_decay=weight_decay, seed=seed,
        )
        self.scheduler_factory = scheduler
        self.scheduler_interval = scheduler_interval
        wrapped = with_features(model, features)  # in ctx only: not a second sub-module
        classes = getattr(model, "num_classes", num_classes)
        feature_dim = getattr(model, "feature_dim", None)
        if classes is None or (feature_dim is None and features is not None):
            outputs, found = infer_dims(wrapped, train_set.tensors[0])
            classes = outputs if classes is None else classes
            feature_dim = found if feature_dim is None else feature_dim
        classes = int(num_classes if num_classes is not None else classes)
        self.ctx = TrainContext(
            model=wrapped,
            num_classes=classes,
            feature_dim=int(feature_dim if feature_dim is not None else classes),
            train_set=train_set,
            generator=seeded_generator(seed),
        )
        # the set-up path of losskit.method: setup here, bind in on_fit_start (the optimizer,
        # scheduler and scaler exist from then on); the method's parameters are registered as a
        # sub-module so Lightning moves / syncs them and configure_optimizers finds them
        self.method_params = nn.ParameterList(setup_method(self.method, self.ctx))
        self._restored: dict[str, Any] | None = None  # a checkpoint's method state, until bind

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
        optimizers = self.optimizers()
        first = optimizers[0] if isinstance(optimizers, list) else optimizers
        self.ctx.device = self.device
        schedulers = self.lr_schedulers()
        precision = str(self.trainer.precision)
        self.ctx.autocast_dtype = _PRECISION_DTYPES.get(precision)
        bind_method(
            self.method, self.ctx,
            getattr(first, "optimizer", first),  # the raw torch optimizer
            schedulers[0] if isinstance(schedulers, list) else schedulers,
            # fp16: the method scales its own updates with Lightning's scaler (saved by it)
            getattr(self.trainer.precision_plugin, "scaler", None),
        )
        if self._restored is not None:  # Lightning restores checkpoints before on_fit_start
            self.method.load_state_dict(self._restored)
            self._restored = None

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch[0], batch[1]
        result = self.method.step(self.ctx, x, y)
        self.ctx.global_step += 1
        self._count_step()
        if self.ctx.scheduler is not None and self.scheduler_interval == "step":
            self.ctx.scheduler.step()
        self.log("train_loss", result.loss, prog_bar=True, batch_size=len(y))
        if result.logits is not None and result.logits.dim() == 2:
            acc = (result.logits.argmax(1) == y).float().mean()
            self.log("train_acc", acc, batch_size=len(y))
        return result.loss
    def _count_step(self) -> None:
        """Advance Lightning's ``global_step`` by one per batch.

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
        if self.ctx.scheduler is not None and self.scheduler_interval == "epoch":
            self.ctx.scheduler.step()
        logs = self.method.on_epoch_end(self.ctx, self.current_epoch)
        for key, value in logs.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self.log(key, float(value))
        self.ctx.epoch += 1

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["losskit"] = {
            "method": self.method.state_dict(),
            "generator": self.ctx.generator.get_state() if self.ctx.generator else None,
            "global_step": self.ctx.global_step,
            "epoch": self.ctx.epoch,
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get("losskit")
        if state is None:
            raise ValueError("checkpoint has no 'losskit' entry: it was not saved by a "
                             "LossKitModule (or by an older losskit); the method's state would "
                             "be lost")
        self._restored = state["method"]  # loaded once the method is bound (on_fit_start)
        if state["generator"] is not None and self.ctx.generator is not None:
            self.ctx.generator.set_state(state["generator"])
        self.ctx.global_step = int(state["global_step"])
        self.ctx.epoch = int(state["epoch"])

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch[0], batch[1]
        logits = self.model(x)
        self.log("val_acc", (logits.argmax(1) == y).float().mean(), batch_size=len(y))
