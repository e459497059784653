"""The one training loop, used by the CLI, the experiments and the benchmarks.

It knows nothing paper-specific: a :class:`~losskit.core.method.Method` owns each update.
Per epoch it shuffles (seeded), lets the method step through the batches, steps the LR
schedule, evaluates on the validation/test splits, appends a record to ``metrics.jsonl`` (and
``metrics.csv``) and writes a checkpoint from which an interrupted run resumes.

Data: the registry's dataset ``config.data``, a :class:`~losskit.data.base.DataSplits`
(``data=``), or any ``torch.utils.data.Dataset`` / ``DataLoader`` per split (``train=``,
``val=``, ``test=``): in-memory ``TensorDataset`` s are indexed a batch at a time, anything else
streams through a ``DataLoader`` with the same shuffling draws (:mod:`losskit.train.sources`).
Evaluation streams batch by batch (:func:`~losskit.train.evaluation.evaluate_batches`).

Run directory (``out_dir``): ``config.json`` (every config field, the versions it ran with,
``world_size`` and ``per_process_batch_size``: ``batch_size`` is the global batch),
``metrics.jsonl`` / ``metrics.csv``, ``checkpoint.pt`` and ``run.lock``, held while a process
trains there (a second one gets a :class:`~losskit.core.errors.ConfigError`). Resuming is exact and
only happens for the *same* run: a checkpoint whose config differs in any field that changes
the computation (``lr``, ``schedule``, ``batch_size``, the model, …) is refused. ``epochs``
may grow (the first epochs of a longer run are the same) except under ``schedule="cosine"``,
whose learning rates depend on it; it may never drop below the epochs already done.

Input is validated while the Trainer is built (:class:`~losskit.core.errors.ConfigError` for a bad
value, device, run directory or checkpoint); from the first step on, an exception is a bug.
"""

from __future__ import annotations

import csv
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from losskit.core import distributed
from losskit.core.errors import ConfigError, NonFiniteError
from losskit.core.locking import FileLock
from losskit.core.method import Method, TrainContext, build_run
from losskit.data.base import DataSplits
from losskit.data.batches import BatchKeys
from losskit.data.splits import generator as stream
from losskit.data.transforms import RandomCropFlip, TransformDataset, crop_flip_batch
from losskit.train import sources
from losskit.train.batching import batches, seeded_generator  # re-exported here
from losskit.train.callbacks import Callback, as_callback
from losskit.train.config import LATER_FIELD_DEFAULTS, NON_SEMANTIC_FIELDS, TrainConfig
from losskit.train.evaluation import EVALUATORS, TASK_METRICS, evaluate_batches, tensor_batches
from losskit.train.features import FeatureSpec, infer_dims, with_features
from losskit.train.labels import noisy_label_metrics, train_labels
from losskit.train.rundir import (
    atomic_torch_save,
    flatten_record,
    load_checkpoint,
    unreadable_checkpoint,
)
from losskit.train.setup import (
    build_method,
    build_optimizer,
    build_scheduler,
    check_one_output,
    resolve_device,
    validate_config,
)

CallbackLike = Callback | Callable[[dict[str, Any]], None]
DataLike = Dataset | DataLoader

_AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass
class TrainResult:
    """What :func:`fit` returns: per-epoch ``history``, ``final`` test metrics, the objects.

    ``resumed_from``: epochs already done (in the run directory's checkpoint) when this call
    started; ``resumed_from == len(history)`` means the run was finished and nothing trained.
    """

    config: TrainConfig
    history: list[dict[str, Any]]
    final: dict[str, Any]
    model: nn.Module
    method: Method
    data: DataSplits | None = field(default=None, repr=False)
    resumed_from: int = 0
    task: str = "classification"


take_subset = sources.take_subset


class Trainer:
    """Trains ``config.model`` on ``config.data`` with ``config.method``.

    ``data`` (a :class:`DataSplits`) or ``train`` / ``val`` / ``test`` (any ``Dataset`` or
    ``DataLoader``), ``model`` and ``method`` may be passed in ready-made; otherwise they are
    built from the registries by name (see :func:`fit`).
    """

    def __init__(
        self,
        config: TrainConfig,
        data: DataSplits | None = None,
        model: nn.Module | None = None,
        method: Method | None = None,
        callbacks: list[CallbackLike] | None = None,
        features: FeatureSpec = None,
        *,
        train: DataLike | None = None,
        val: DataLike | None = None,
        test: DataLike | None = None,
    ) -> None:
        from losskit import models as model_registry

        validate_config(config)
        self.config = config
        self.callbacks = [as_callback(c) for c in callbacks or []]
        self.device = resolve_device(config.device)
        if distributed.is_distributed() and self.device.type == "cuda" and (
            self.device.index is None
        ):
            self.device = torch.device("cuda", torch.cuda.current_device())  # this rank's GPU
        if config.threads is not None:
            torch.set_num_threads(int(config.threads))
        torch.manual_seed(config.seed)

        data = sources.resolve_splits(config, data, train, val, test)
        self.data = data
        self.keys = BatchKeys(config.input_key, config.target_key)
        self.generator = seeded_generator(config.seed)  # shuffling
        # augmentation draws (main process; workers seed their own from the loader's seed)
        self.augment_generator = stream(config.seed, "augment")
        self._train_source = take_subset(data.train, config.train_size, config.seed,
                                         "train_size")
        self.train = self._reader(self._augmented(self._train_source), "train", train=True)
        self.test = self._reader(
            take_subset(data.test, config.test_size, config.seed + 1, "test_size"), "test")
        self.val = self._reader(data.val, "val")
        assert self.train is not None
        # what methods draw samples from: in-memory tensors, else the data as (x, y) pairs
        self.train_set = self.train.dataset
        self.test_set = self.test.dataset if self.test is not None else None
        self.val_set = self.val.dataset if self.val is not None else None

        num_classes = sources.declared_classes(data, data.train)
        if config.num_classes is not None:
            num_classes = config.num_classes
        sample_x, sample_y = sources.probe(self.train, self.keys)
        meta = data.meta or {}
        given_model = model is not None
        if model is None:
            if num_classes is None:
                raise ConfigError(
                    "num_classes: the data does not say how many classes (outputs) it has and "
                    "no model= was given to read it from; set TrainConfig.num_classes or pass "
                    "model=", "num_classes")
            input_shape = data.input_shape or tuple(int(s) for s in sample_x.shape[1:])
            model = model_registry.build(config.model, input_shape, num_classes,
                                         **config.model_kwargs)
        self.module = model.to(self.device)  # the unwrapped model (checkpoints, evaluation)
        self.model: nn.Module = with_features(self.module, features)  # answers return_features
        feature_dim = getattr(self.module, "feature_dim", None)
        # outputs per sample: a registry model has one per class; a given one is measured on
        # the first batch when the data leaves its classes or task open (or for its features)
        width = None if given_model else num_classes
        if given_model and (num_classes is None or "task" not in meta or features is not None):
            width, found = infer_dims(self.model, sample_x.to(self.device))
            feature_dim = found if feature_dim is None else feature_dim
        elif feature_dim is None and features is not None:
            feature_dim = infer_dims(self.model, sample_x.to(self.device))[1]
        outputs = int(width if width is not None else num_classes)  # type: ignore[arg-type]
        self.task = config.task or meta.get("task") or sources.infer_task(sample_y, width)
        sources.check_task_width(self.task, width)
        if config.augment is not None and self.train.memory is not None and sample_x.dim() != 4:
            raise ConfigError(f"augment={config.augment!r} needs images (N, C, H, W), got inputs "
                              f"of shape {tuple(sample_x.shape)}", "augment")
        self.evaluator = EVALUATORS.factory(self.task) if self.task in EVALUATORS else None
        memory = self.train.memory  # noisy labels' truth, long-tail class counts (train.labels)
        self.labels = train_labels(meta, None if memory is None else memory.tensors[1],
                                   sources.length(data.train), num_classes, config.train_size,
                                   config.seed)
        if self.task not in TASK_METRICS and self.evaluator is None:
            raise ConfigError(f"task {self.task!r} has no evaluation; expected one of: "
                              f"{', '.join(TASK_METRICS.names())}", "task")
        if distributed.is_distributed():
            from torch.nn.parallel import DistributedDataParallel

            self.model = DistributedDataParallel(self.model)
        self.is_main = distributed.rank() == 0
        self.method = method if method is not None else build_method(config)

        self.ctx = TrainContext(
            model=self.model,
            num_classes=outputs,
            # a plain module without a feature source: feature losses fail on their first step
            feature_dim=int(feature_dim if feature_dim is not None else outputs),
            train_set=self.train_set,
            val_set=self.val_set,
            device=self.device,
            generator=self.generator,
            batch_size=config.batch_size,
            autocast_dtype=_AMP_DTYPES.get(config.amp) if config.amp else None,
        )
        def prepare(method_params: list[nn.Parameter]) -> None:  # before the optimizer exists
            if width == 1:
                check_one_output(self.method, sample_y.dtype, self.device)
            distributed.average_gradients(method_params)

        scaler = torch.amp.GradScaler(self.device.type) if config.amp == "fp16" else None
        run = build_run(self.method, self.ctx, lambda ps: build_optimizer(config, ps),
                        lambda opt: build_scheduler(config, opt), scaler, prepare)
        self.optimizer, self.scheduler = run.optimizer, run.scheduler
        self.history: list[dict[str, Any]] = []
        self.out_dir = Path(config.out_dir) if config.out_dir else None
        self.resumed_from = 0  # epochs found in the checkpoint by prepare()
        self.saved_epochs = 0  # epochs in the run directory's checkpoint (for messages)
        self._lock = (
            FileLock(self.out_dir / "run.lock", f"run directory {str(self.out_dir)!r}",
                     "wait for it to finish or choose another --out", "out_dir")
            if self.out_dir is not None and self.is_main else None
        )
        self._prepared = False

    def _reader(self, source: Any, name: str, train: bool = False) -> sources.SplitReader | None:
        return sources.reader(source, self.config, self.device, self.keys, train=train,
                              generator=self.generator if train else None, name=name)

    def _augmented(self, source: Any) -> Any:
        """The training data with ``config.augment`` applied per sample (streamed data); the
        in-memory path augments each batch instead (:meth:`_train_batches`)."""
        if self.config.augment is None or sources.as_tensor_dataset(source) is not None:
            return source
        if isinstance(source, DataLoader) or not sources.is_map_style(source):
            raise ConfigError(
                f"augment={self.config.augment!r} needs the training data as a map-style "
                f"Dataset, got {type(source).__name__}; give the Dataset (fit builds its "
                "DataLoader) or put losskit.data.transforms.RandomCropFlip in your own",
                "augment")
        crop = RandomCropFlip(generator=self.augment_generator)
        return TransformDataset(source, crop, None, self.config.input_key,
                                self.config.target_key)

    # ------------------------------------------------------------------ checkpointing
    @property
    def checkpoint_path(self) -> Path | None:
        return self.out_dir / "checkpoint.pt" if self.out_dir else None

    def state_dict(self) -> dict[str, Any]:
        return {
            "config": self.config.to_dict(),
            "epoch": len(self.history),
            "history": self.history,
            "model": self.module.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler else None,
            "scaler": self.ctx.scaler.state_dict() if self.ctx.scaler else None,
            "method": self.method.state_dict(),
            "generator": self.generator.get_state(),
            "augment_generator": self.augment_generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "global_step": self.ctx.global_step,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.module.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler and state["scheduler"]:
            self.scheduler.load_state_dict(state["scheduler"])
        if self.ctx.scaler and state["scaler"]:
            self.ctx.scaler.load_state_dict(state["scaler"])
        self.method.load_state_dict(state["method"])
        self.generator.set_state(state["generator"])
        if "augment_generator" in state:
            self.augment_generator.set_state(state["augment_generator"])
        torch.set_rng_state(state["torch_rng"])
        self.history = list(state["history"])
        self.ctx.global_step = int(state["global_step"])

    def _maybe_resume(self) -> None:
        path = self.checkpoint_path
        if not (self.config.resume and path and path.exists()):
            return
        state = load_checkpoint(path, self.device)
        saved, mine = dict(state["config"]), self.config.to_dict()
        done = len(state["history"])
        # more epochs continue a run exactly unless the LR schedule depends on their number
        grows = mine["schedule"] != "cosine" and mine["epochs"] >= done
        extendable = {"epochs"} if grows else set()
        if mine.get("augment") is None:  # workers only draw augmentations: free otherwise
            extendable |= {"num_workers", "persistent_workers"}
        defaults = {**LATER_FIELD_DEFAULTS, **self.config.all_fields()}
        mine = {**LATER_FIELD_DEFAULTS, **mine}

        def was(k: str) -> Any:  # fields an older checkpoint does not name held the default
            return saved.get(k, LATER_FIELD_DEFAULTS.get(k, defaults.get(k)))

        diff = [k for k in mine if k not in NON_SEMANTIC_FIELDS | extendable
                and was(k) != mine[k]]
        if diff:
            changes = "; ".join(f"{k}: {was(k)!r} → {mine[k]!r}" for k in diff)
            raise ConfigError(
                f"out_dir {str(self.out_dir)!r} holds a checkpoint of a different run "
                f"({changes}; {done} epoch(s) done); resuming would not give the run asked for. "
                "Use a new --out, or --no-resume to start over in this directory", "out_dir",
            )
        try:
            self.load_state_dict(state)
        except (KeyError, RuntimeError, ValueError, TypeError) as exc:
            raise unreadable_checkpoint(path, exc) from exc
        self.resumed_from = self.saved_epochs = len(self.history)

    def prepare(self) -> None:
        """Lock the run directory, resume from its checkpoint and start its files (called by
        :meth:`fit`; idempotent). Every failure here is a :class:`ConfigError`. Under
        ``torch.distributed`` all ranks learn whether every rank succeeded."""
        if self._prepared:
            return
        failed: BaseException | None = None
        try:
            if self._lock is not None:
                try:
                    self.out_dir.mkdir(parents=True, exist_ok=True)  # type: ignore[union-attr]
                except OSError as exc:
                    raise ConfigError(f"out_dir {str(self.out_dir)!r} cannot be created: {exc}",
                                      "out_dir") from exc
                self._lock.acquire()
            self._maybe_resume()
            if len(self.history) < self.config.epochs:
                self._start_outputs()
        except BaseException as exc:
            failed = exc
        if distributed.is_distributed():  # one rank's bad start must not hang the others
            ok = torch.tensor([0.0 if failed else 1.0], device=self._collective_device())
            distributed.all_reduce_sum(ok)
            if failed is None and int(ok.item()) < distributed.world_size():
                failed = ConfigError("another rank failed to start the run (see its error)")
        if failed is not None:
            self.close()
            raise failed
        self._prepared = True

    def _collective_device(self) -> torch.device:
        return self.device if self.device.type == "cuda" else torch.device("cpu")

    def close(self) -> None:
        """Release the run directory (fit does this when it ends, also on an exception)."""
        if self._lock is not None:
            self._lock.release()

    def _write_outputs(self, record: dict[str, Any]) -> None:
        if self.out_dir is None or not self.is_main:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        with open(self.out_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
        rows = [flatten_record(r) for r in self.history]
        fields = sorted({k for r in rows for k in r}, key=lambda k: (k != "epoch", k))
        tmp = self.out_dir / "metrics.csv.tmp"
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, self.out_dir / "metrics.csv")
        atomic_torch_save(self.state_dict(), self.checkpoint_path)  # type: ignore[arg-type]
        self.saved_epochs = len(self.history)

    def _start_outputs(self) -> None:
        if self.out_dir is None or not self.is_main:
            return
        from losskit.core.environment import versions

        self.out_dir.mkdir(parents=True, exist_ok=True)
        record = {**self.config.all_fields(), "versions": versions(),
                  "world_size": distributed.world_size(),
                  "per_process_batch_size": sources.per_process_batch(self.config, self.train)}
        (self.out_dir / "config.json").write_text(json.dumps(record, indent=2) + "\n")
        if not self.history:  # fresh start: metrics.jsonl only ever holds finished epochs
            (self.out_dir / "metrics.jsonl").write_text("")
        else:  # rewrite from the checkpoint so a half-written epoch line cannot survive
            (self.out_dir / "metrics.jsonl").write_text(
                "".join(json.dumps(r) + "\n" for r in self.history)
            )

    # ------------------------------------------------------------------ training
    def evaluate(self, split: str = "test") -> dict[str, float]:
        """Metrics of ``split`` (``"test"``, ``"val"``, ``"train"``) prefixed with its name,
        streamed batch by batch (``{}`` for a split the run does not have)."""
        source = {"test": self.test, "val": self.val, "train": self.train}[split]
        if source is None:
            return {}
        size = self.config.eval_batch_size
        if source.memory is not None:
            x, y = source.memory.tensors[:2]
            if self.task not in TASK_METRICS:  # registered only as fn(model, x, y, batch_size)
                metrics = self.evaluator(self.module, x, y, size)  # type: ignore[misc]
            else:
                metrics = evaluate_batches(self.module, tensor_batches(x, y, size), self.task,
                                           **self._metric_kwargs())
        else:
            if split == "train":  # the training loader shuffles (and augments): read it plainly
                source = self._reader(self._train_source, "train-eval")
                assert source is not None
            if self.task not in TASK_METRICS:
                from losskit.data.loading import take

                x, y = take(source.dataset, list(range(len(source))))
                metrics = self.evaluator(self.module, x.to(self.device), y.to(self.device),
                                         size)  # type: ignore[misc]
            else:
                metrics = evaluate_batches(self.module, source.batches(), self.task,
                                           **self._metric_kwargs())
        return {f"{split}_{k}": v for k, v in metrics.items()}

    def _metric_kwargs(self) -> dict[str, Any]:  # long-tailed data: the shot splits
        counts = self.labels.class_counts
        ok = counts is not None and self.task == "classification"
        return {"class_counts": counts} if ok else {}

    def evaluate_noisy_labels(self) -> dict[str, float]:
        """Memorisation of the noisy training labels (:mod:`losskit.train.labels`; ``{}``
        without clean labels)."""
        return noisy_label_metrics(self.module, self.train, self.labels.clean,
                                   self.config.eval_batch_size)

    def _train_batches(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """This process's ``(x, y)`` training batches of one epoch (shuffled, augmented)."""
        train = self.train
        assert train is not None
        if train.memory is None:
            yield from train.batches(epoch)
            return
        for batch in batches(train.memory, self.config.batch_size, self.generator):
            if self.config.augment is not None:  # the whole global batch: same on every rank
                batch = (crop_flip_batch(batch[0], self.augment_generator), *batch[1:])
            x, y = distributed.shard(batch)[:2]
            yield x, y

    def train_epoch(self, epoch: int) -> dict[str, Any]:
        """One pass over the training set; returns train loss/accuracy and timing."""
        ctx, config = self.ctx, self.config
        ctx.epoch = epoch
        n_batches = self.train.num_batches(config.batch_size)  # type: ignore[union-attr]
        steps = 0
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        correct = torch.zeros((), dtype=torch.int64, device=self.device)
        seen = 0
        counted = 0
        show = config.progress if config.progress is not None else sys.stderr.isatty()
        show = show and self.is_main
        bar = None
        if show:
            from tqdm.auto import tqdm

            bar = tqdm(total=n_batches, desc=f"epoch {epoch + 1}/{config.epochs}", leave=True,
                       file=sys.stderr, dynamic_ncols=True)
        t0 = time.perf_counter()
        for x, y in self._train_batches(epoch):
            try:
                result = self.method.step(ctx, x, y)
            except NonFiniteError as exc:  # the model's outputs overflowed: the run diverged
                raise FloatingPointError(
                    f"training diverged in epoch {epoch + 1} (step {steps + 1}): {exc}; "
                    "lower --lr or check inputs"
                ) from exc
            steps += 1
            ctx.global_step += 1
            for callback in self.callbacks:
                callback.on_step_end(self, result)
            n = len(y)
            loss_sum += result.loss.detach().double() * n
            seen += n
            hits = sources.batch_hits(result.logits, y, self.task)
            if hits is not None:  # class indices or binary targets (not regression targets)
                correct += hits
                counted += n
            if bar is not None:
                bar.update(1)
        elapsed = time.perf_counter() - t0
        if bar is not None:
            bar.close()
        if distributed.is_distributed():  # report global, not per-rank, training figures
            totals = torch.stack(
                [
                    loss_sum,
                    correct.double(),
                    torch.tensor(float(seen)),
                    torch.tensor(float(counted)),
                ]
            )
            distributed.all_reduce_sum(totals)
            loss_sum, correct = totals[0], totals[1]
            seen, counted = int(totals[2]), int(totals[3])
        train_loss = float(loss_sum) / max(seen, 1)
        if not math.isfinite(train_loss):
            raise FloatingPointError(
                f"training loss became {train_loss} in epoch {epoch + 1}; "
                "lower --lr or check inputs"
            )
        record: dict[str, Any] = {
            "epoch": epoch + 1,
            "train_loss": train_loss,
            "train_time_s": elapsed,
            "step_time_ms": 1000 * elapsed / max(steps, 1),
            "lr": self.optimizer.param_groups[0]["lr"],
        }
        if counted:
            record["train_acc"] = float(correct) / counted
        return record

    def fit(self) -> TrainResult:
        """Train the remaining epochs (none when the run directory holds the finished run)."""
        try:
            self.prepare()
            for callback in self.callbacks:
                callback.on_fit_start(self)
            t_start = time.perf_counter()
            for epoch in range(len(self.history), self.config.epochs):
                record = self.train_epoch(epoch)
                if self.scheduler is not None:
                    self.scheduler.step()
                record.update(self.method.on_epoch_end(self.ctx, epoch))
                record.update(self.evaluate("val"))
                record.update(self.evaluate("test"))
                record.update(self.evaluate_noisy_labels())
                self.history.append(record)
                self._write_outputs(record)
                for callback in self.callbacks:
                    callback.on_epoch_end(self, record)
        finally:
            self.close()
        last = self.history[-1]
        final = {k: v for k, v in last.items() if k.startswith(("test_", "val_"))}
        final["wall_time_s"] = time.perf_counter() - t_start
        final["epochs"] = len(self.history)
        result = TrainResult(self.config, self.history, final, self.module, self.method,
                             self.data, self.resumed_from, self.task)
        for callback in self.callbacks:
            callback.on_fit_end(self, result)
        return result


def fit(
    config: TrainConfig,
    data: DataSplits | None = None,
    model: nn.Module | None = None,
    method: Method | None = None,
    callbacks: list[CallbackLike] | None = None,
    features: FeatureSpec = None,
    *,
    train: DataLike | None = None,
    val: DataLike | None = None,
    test: DataLike | None = None,
) -> TrainResult:
    """Build a :class:`Trainer` for ``config`` and train it (resuming from ``out_dir``).

    Data: ``train`` / ``val`` / ``test`` — each a ``torch.utils.data.Dataset`` (map-style or
    iterable; batches built from ``config``: ``batch_size``, ``num_workers``, …) or a ready
    ``DataLoader``; samples ``(x, y, …)`` or dicts (``config.input_key`` / ``target_key``). Or
    ``data``, a :class:`DataSplits`; with neither, the registry's ``config.data``. ``val`` is
    evaluated every epoch (and feeds SLF's bilevel update), ``test`` too; both optional.
    The number of classes comes from ``config.num_classes``, the data, or the model's outputs
    on the first batch; the task (``config.task``) from the data or the targets and outputs
    (integer targets with one output, or 0/1 targets with one output: ``"binary"``).

    ``model``: any ``nn.Module`` returning logits (default: ``config.model`` from the
    registry); ``features``: where losses that need features find them (a layer name or
    ``fn(model, x) -> (logits, features)``, see :mod:`losskit.train.features`);
    ``callbacks``: :class:`~losskit.train.callbacks.Callback` objects or ``fn(record)``.
    """
    trainer = Trainer(config, data=data, model=model, method=method, callbacks=callbacks,
                      features=features, train=train, val=val, test=test)
    return trainer.fit()
