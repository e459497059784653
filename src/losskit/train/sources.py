"""Where the Trainer's batches come from: any ``Dataset`` or ``DataLoader``, or the in-memory
splits of the dataset registry.

Each split (train / val / test) is read one of two ways:

* **in memory** — a ``TensorDataset`` (or a ``Subset`` of one): moved to the device once and
  cut into batches by index (:func:`losskit.train.batches`); the registry datasets' path;
* **streamed** — any other map-style or iterable ``Dataset`` gets a ``DataLoader`` built from
  the config (``batch_size`` / ``eval_batch_size``, ``num_workers``, ``pin_memory``,
  ``persistent_workers``); a ready ``DataLoader`` is used as it is.

Training batches of a map-style dataset are drawn by
:class:`~losskit.data.loading.EpochBatchSampler` from the Trainer's shuffling generator — the
draws of the in-memory path — so the same data and seed train on the same batches either way.
Under DDP ``batch_size`` is the *global* batch: every process reads its slice
``batch[rank::world]`` (the in-memory path and an iterable dataset shard each global batch
after reading it; a map-style dataset's sampler gives each process only its slice). A ready
``DataLoader`` whose sampler is a ``DistributedSampler`` already yields per-process batches
and is not sharded again (its ``set_epoch`` is called every epoch).

A ready ``DataLoader`` over an in-memory ``TensorDataset`` (or a ``Subset`` of one) with the
default collation is read a batch at a time: its batch sampler's indices select rows of the
tensors (one ``index_select`` per batch instead of ``batch_size`` ``__getitem__`` calls and a
``default_collate``; no worker processes) — the same batches in the same order, and the one
draw a ``DataLoader`` iterator makes from its generator (the workers' base seed) is made too,
so a generator it shares with its sampler sees the draws it would see.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.data import (
    DataLoader,
    Dataset,
    DistributedSampler,
    Subset,
    TensorDataset,
    default_collate,
)

from losskit.core import distributed
from losskit.core.errors import ConfigError
from losskit.core.ranking import binary_scores
from losskit.data.base import DataSplits
from losskit.data.batches import BatchKeys, unpack_batch
from losskit.data.loading import (
    EpochBatchSampler,
    PairDataset,
    as_tensor_dataset,
    first_batch,
    is_map_style,
    length,
    make_loader,
    underlying_dataset,
)
from losskit.data.splits import generator as stream

#: tasks whose outputs are a few logits read as binary scores
BINARY_TASKS = ("binary",)


def resolve_splits(config: Any, data: DataSplits | None, train: Any, val: Any, test: Any
                   ) -> DataSplits:
    """The run's splits: ``data`` (a :class:`DataSplits`), or ``train`` / ``val`` / ``test``
    (datasets or loaders; ``num_classes`` / ``input_shape`` left ``None`` to infer), or the
    registry's ``config.data``."""
    given = {k: v for k, v in (("train", train), ("val", val), ("test", test)) if v is not None}
    if data is not None and not isinstance(data, DataSplits):
        raise ConfigError(
            f"data must be a losskit DataSplits, got {type(data).__name__}; pass a Dataset or "
            "DataLoader as train= (and val=, test=)", "data")
    if given:
        if data is not None:
            raise ConfigError("pass data= (a DataSplits) or train= / val= / test=, not both",
                              "data")
        if train is None:
            raise ConfigError("train= is required when val= or test= is given", "train")
        for name, source in given.items():
            if not isinstance(source, (Dataset, DataLoader)) and not is_map_style(source):
                raise ConfigError(
                    f"{name} must be a torch.utils.data.Dataset or DataLoader, got "
                    f"{type(source).__name__}", name)
        return DataSplits(name="custom", train=train, val=val, test=test,
                          num_classes=config.num_classes, input_shape=None,
                          meta={} if config.task is None else {"task": config.task})
    if data is None:
        from losskit import data as data_registry

        data = data_registry.load(config.data, **config.data_kwargs)
    return data


def take_subset(ds: Any, n: int | None, seed: int, name: str) -> Any:
    """A seeded random subset of ``n`` samples (the whole set when ``n`` is None): a
    ``TensorDataset`` of the chosen rows for an in-memory set, a ``Subset`` of the same
    indices for any other map-style dataset."""
    if n is None or ds is None:
        return ds
    if isinstance(ds, DataLoader) or not is_map_style(ds):
        raise ConfigError(f"{name} needs a map-style Dataset to draw a subset from, got "
                          f"{type(ds).__name__}; subset the data yourself", name)
    idx = subset_indices(len(ds), n, seed, name)
    memory = as_tensor_dataset(ds)
    if memory is not None:
        return TensorDataset(*(t[idx] for t in memory.tensors))
    return Subset(ds, idx.tolist())


def subset_indices(total: int, n: int, seed: int, name: str = "train_size") -> torch.Tensor:
    """The sorted indices of :func:`take_subset`'s seeded subset of ``n`` of ``total``."""
    if not 0 < n <= total:
        raise ValueError(f"{name} must be in [1, {total}], got {n}")
    g = torch.Generator().manual_seed(int(seed))
    return torch.randperm(total, generator=g)[:n].sort().values


def infer_task(target: torch.Tensor, width: int | None) -> str:
    """The task of targets ``target`` for a model with ``width`` outputs: integer targets are
    ``"binary"`` for one output, else ``"classification"``; real-valued targets are
    ``"binary"`` for one output when they are all 0 or 1, else ``"regression"`` (set
    ``TrainConfig.task`` when this guess is wrong)."""
    if not target.is_floating_point():
        return "binary" if width == 1 else "classification"
    if width == 1 and bool(((target == 0) | (target == 1)).all()):
        return "binary"
    return "regression"


def check_task_width(task: str, width: int | None) -> None:
    """One :class:`ConfigError` naming ``task`` when the model's outputs cannot serve it."""
    if width is None:
        return
    if task == "classification" and width < 2:
        raise ConfigError(
            f"task 'classification' needs a model with at least 2 outputs, got {width}; a "
            "one-output model is a binary model (task='binary': accuracy at logit 0, AP, AUC)",
            "task")
    if task in BINARY_TASKS and width > 2:
        raise ConfigError(f"task 'binary' needs a model with 1 or 2 outputs, got {width}",
                          "task")


def batch_hits(logits: torch.Tensor | None, y: torch.Tensor, task: str) -> torch.Tensor | None:
    """Correct predictions in one training batch (a device tensor, no host sync), or ``None``
    when the batch has no accuracy: argmax for class indices, score > 0 for binary tasks."""
    if logits is None:
        return None
    if task in BINARY_TASKS and logits.dim() in (1, 2) and (
            logits.dim() == 1 or logits.shape[1] <= 2) and y.numel() == logits.shape[0]:
        scores = binary_scores(logits.detach(), validate_args=False)
        return ((scores > 0).long() == y.reshape(-1).long()).sum()
    if logits.dim() == 2 and y.dim() == 1 and not y.is_floating_point():
        return (logits.argmax(1) == y).sum()
    return None


@dataclass
class SplitReader:
    """How the Trainer reads one split (module doc): ``memory`` (in-memory, on the device) or
    ``loader``; ``dataset`` is what methods draw samples from (``memory``, else the data
    as ``(x, y)`` pairs)."""

    memory: TensorDataset | None
    loader: DataLoader | None
    dataset: Any
    keys: BatchKeys
    device: torch.device
    shard: bool = False  # the loader yields global batches: take this rank's slice
    size: int | None = None
    per_rank: bool = False  # a user's DistributedSampler: already this rank's batches
    user_loader: bool = False  # a DataLoader given by the user (its batches, its order)
    rows: TensorDataset | None = None  # a user loader's in-memory tensors (batched reads)
    _iterated: bool = field(default=False, repr=False)
    _epoch: int = field(default=0, repr=False)

    def __len__(self) -> int:
        if self.size is None:
            raise TypeError("the length of an iterable dataset is unknown")
        return self.size

    def num_batches(self, batch_size: int) -> int | None:
        if self.memory is not None:
            return math.ceil(len(self.memory) / batch_size)
        try:
            return len(self.loader)  # type: ignore[arg-type]
        except TypeError:
            return None

    def batches(self, epoch: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """This split's ``(x, y)`` batches of one epoch from the loader, on the device."""
        assert self.loader is not None
        sampler = getattr(self.loader, "sampler", None)
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)
        if self.rows is not None:
            yield from self._rows(epoch)
            return
        blocking = not (self.loader.pin_memory and self.device.type == "cuda")
        for batch in self.loader:
            x, y = unpack_batch(batch, self.keys)
            x = x.to(self.device, non_blocking=not blocking)
            y = y.to(self.device, non_blocking=not blocking)
            if self.shard:
                x, y = distributed.shard((x, y))
            yield x, y


    def _rows(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """A user loader's batches, read from its in-memory tensors (module doc)."""
        loader, rows = self.loader, self.rows
        assert loader is not None and rows is not None
        persistent = loader.persistent_workers and loader.num_workers > 0
        if not (persistent and self._iterated):  # a DataLoader iterator's base-seed draw
            torch.empty((), dtype=torch.int64).random_(generator=loader.generator)
        self._iterated = True
        x, y = rows.tensors[:2]
        for indices in loader.batch_sampler:  # type: ignore[union-attr]
            idx = torch.as_tensor(indices, dtype=torch.long, device=x.device)
            xb, yb = x.index_select(0, idx), y.index_select(0, idx)
            if self.shard:
                xb, yb = distributed.shard((xb, yb))
            yield xb, yb


def loader_rows(loader: DataLoader) -> TensorDataset | None:
    """The in-memory tensors behind a user ``DataLoader`` that reads them with the default
    collation (module doc), else ``None``."""
    if loader.batch_sampler is None or loader.collate_fn is not default_collate:
        return None
    return as_tensor_dataset(loader.dataset)


def _on_device(ds: TensorDataset, device: torch.device) -> TensorDataset:
    if device.type == "cpu":
        return ds
    return TensorDataset(*(t.to(device) for t in ds.tensors))


def reader(source: Any, config: Any, device: torch.device, keys: BatchKeys, *, train: bool,
           generator: torch.Generator | None, name: str) -> SplitReader | None:
    """The :class:`SplitReader` of one split (``None`` for a missing split)."""
    if source is None:
        return None
    memory = None if isinstance(source, DataLoader) else as_tensor_dataset(source)
    if memory is not None:
        memory = _on_device(memory, device)
        return SplitReader(memory, None, memory, keys, device, size=len(memory))
    world = distributed.world_size()
    per_rank = isinstance(source, DataLoader) and (
        isinstance(source.sampler, DistributedSampler)
        or (isinstance(source.batch_sampler, EpochBatchSampler) and source.batch_sampler.world > 1))
    batch_size = config.batch_size if train else config.eval_batch_size
    map_style = is_map_style(source)
    shard_here = train and map_style and not isinstance(source, DataLoader)
    loader = make_loader(
        source, batch_size, shuffle=train, generator=generator if train else None,
        num_workers=config.num_workers, pin_memory=config.pin_memory,
        persistent_workers=config.persistent_workers,
        worker_generator=stream(config.seed, f"loader-{name}"),
        rank=distributed.rank() if shard_here else 0, world=world if shard_here else 1)
    data = underlying_dataset(source)
    dataset = PairDataset(data, keys) if is_map_style(data) else data
    rows = loader_rows(source) if isinstance(source, DataLoader) else None
    return SplitReader(None, loader, dataset, keys, device,
                       shard=train and world > 1 and not shard_here and not per_rank,
                       size=length(source), per_rank=per_rank,
                       user_loader=isinstance(source, DataLoader),
                       rows=None if rows is None else _on_device(rows, device))


def probe(source: SplitReader, keys: BatchKeys) -> tuple[torch.Tensor, torch.Tensor]:
    """A first small ``(x, y)`` of a split (on the CPU), for shapes and checks."""
    if source.memory is not None:
        x, y = source.memory.tensors[:2]
        return x[:2], y[:2]
    return first_batch(source.loader, keys)


def declared_classes(data: DataSplits, source: Any) -> int | None:
    """The number of classes the data declares: the splits', else the dataset's
    ``num_classes`` attribute or ``len(classes)`` (the ``ImageFolder`` convention)."""
    if data.num_classes is not None:
        return int(data.num_classes)
    ds = underlying_dataset(source)
    while isinstance(ds, Subset):
        ds = ds.dataset
    value = getattr(ds, "num_classes", None)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    classes = getattr(ds, "classes", None)
    return len(classes) if isinstance(classes, (list, tuple)) and classes else None


def per_process_batch(config: Any, train: SplitReader) -> int | None:
    """The largest batch one process trains on: ``batch_size`` is global (module doc), so
    ``⌈batch_size / world⌉``; a user's ``DataLoader`` sets its own batch (per process under a
    ``DistributedSampler``). ``None`` when the loader does not say."""
    world = distributed.world_size()
    if train.memory is not None or not train.user_loader:
        return math.ceil(config.batch_size / world)
    loader = train.loader
    assert loader is not None
    size = loader.batch_size or getattr(loader.batch_sampler, "batch_size", None)
    if size is None:
        return None
    return int(size) if train.per_rank else math.ceil(int(size) / world)
