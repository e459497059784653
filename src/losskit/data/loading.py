"""Any dataset, any loader: the one place that turns a user's data into ``(x, y)`` batches.

The Trainer (:func:`losskit.train.fit`), :class:`~losskit.integrations.lightning.LossKitModule`,
MILS's observation set and SLF's bilevel validation batches all read data through these
functions, so a ``torch.utils.data.Dataset`` (map-style or iterable), a ready ``DataLoader``
and losskit's in-memory ``TensorDataset`` splits behave the same everywhere:

* :func:`make_loader` — a ``DataLoader`` for a dataset (a ready ``DataLoader`` is returned as
  it is). A map-style dataset is batched by :class:`EpochBatchSampler`, which draws **one**
  ``torch.randperm(n, generator=…)`` per epoch and cuts it into consecutive batches: the very
  draws and batches of the in-memory path (:func:`losskit.train.batches`), so the same data
  and seed give the same batches whichever path reads them. The loader's own ``generator``
  (worker base seeds) is a separate one, so it never consumes the shuffling stream (nor the
  global RNG).
* :func:`as_tensor_dataset` — the in-memory fast path: a ``TensorDataset`` (or a ``Subset``
  chain over one) as one ``TensorDataset`` that is indexed a batch at a time.
* :func:`take` / :func:`draw_subset` — given samples (or a seeded random subset, drawn as
  MILS draws its observation set) materialised once as ``(x, y)`` tensors.
* :func:`sample_targets` / :func:`first_batch` — what set-up checks and shape inference need,
  without reading a whole dataset.

Batches are read by :func:`~losskit.data.batches.unpack_batch` (tuples or dicts, keys
:class:`~losskit.data.batches.BatchKeys`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sized
from typing import Any

import torch
from torch.utils.data import (
    DataLoader,
    Dataset,
    IterableDataset,
    Sampler,
    Subset,
    TensorDataset,
    default_collate,
)

from losskit.core.errors import ConfigError
from losskit.data.batches import DEFAULT_KEYS, BatchKeys, unpack_batch

DataSource = Dataset | DataLoader


class EpochBatchSampler(Sampler[list[int]]):
    """Batches of indices of ``0 … n−1``: one ``torch.randperm(n, generator=generator)`` per
    epoch (``generator=None``: in order) cut into consecutive runs of ``batch_size`` (the last
    one shorter). Under ``world > 1`` rank ``rank`` gets ``batch[rank::world]`` of every
    global batch — the samples :func:`losskit.core.distributed.shard` gives it on the in-memory
    path, so ``batch_size`` is the *global* batch either way."""

    def __init__(self, n: int, batch_size: int, generator: torch.Generator | None = None,
                 rank: int = 0, world: int = 1) -> None:
        if n < 1:
            raise ConfigError("the dataset is empty; it needs at least one sample", "dataset")
        self.n, self.batch_size, self.generator = int(n), int(batch_size), generator
        self.rank, self.world = int(rank), int(world)

    def __iter__(self) -> Iterator[list[int]]:
        order = (torch.randperm(self.n, generator=self.generator) if self.generator is not None
                 else torch.arange(self.n))
        for start in range(0, self.n, self.batch_size):
            yield order[start : start + self.batch_size][self.rank :: self.world].tolist()

    def __len__(self) -> int:
        return math.ceil(self.n / self.batch_size)


def is_map_style(source: Any) -> bool:
    """A dataset indexed by position (``__getitem__`` and ``__len__``), not an iterable one."""
    return (not isinstance(source, (IterableDataset, DataLoader))
            and hasattr(source, "__getitem__") and isinstance(source, Sized))


def as_tensor_dataset(source: Any) -> TensorDataset | None:
    """``source`` as one in-memory ``TensorDataset`` when it is one — or a (nested)
    ``torch.utils.data.Subset`` of one, indexed once here — else ``None``. A subclass that
    overrides ``__getitem__`` is not in memory in this sense (it transforms its samples)."""
    indices: torch.Tensor | None = None
    while isinstance(source, Subset):
        idx = torch.as_tensor(source.indices, dtype=torch.long)
        indices = idx if indices is None else idx[indices]
        source = source.dataset
    if not (isinstance(source, TensorDataset)
            and type(source).__getitem__ is TensorDataset.__getitem__):
        return None
    if indices is None:
        return source
    return TensorDataset(*(t[indices] for t in source.tensors))


def make_loader(
    source: DataSource,
    batch_size: int,
    *,
    shuffle: bool = False,
    generator: torch.Generator | None = None,
    num_workers: int = 0,
    pin_memory: bool = False,
    persistent_workers: bool = False,
    worker_generator: torch.Generator | None = None,
    rank: int = 0,
    world: int = 1,
) -> DataLoader:
    """A ``DataLoader`` over ``source`` (a ready ``DataLoader`` is returned unchanged).

    Map-style datasets: :class:`EpochBatchSampler` (shuffled with ``generator`` when
    ``shuffle``; rank ``rank`` of ``world`` gets its slice of each global batch). Iterable
    datasets: ``batch_size`` consecutive samples (shuffling and sharding are the dataset's
    business; the Trainer shards each global batch instead). ``worker_generator`` seeds the
    workers (``get_worker_info().seed``; random transforms seed themselves from it) and keeps
    the DataLoader off the global RNG; ``persistent_workers`` needs ``num_workers > 0``.
    """
    if isinstance(source, DataLoader):
        return source
    if shuffle and generator is None:
        raise ValueError("shuffle=True needs a generator (the shuffling stream)")
    if persistent_workers and num_workers == 0:
        raise ConfigError("persistent_workers needs num_workers > 0", "persistent_workers")
    if worker_generator is None:
        worker_generator = torch.Generator().manual_seed(0)
    common: dict[str, Any] = dict(num_workers=num_workers, pin_memory=pin_memory,
                                  persistent_workers=persistent_workers,
                                  generator=worker_generator)
    if isinstance(source, IterableDataset):
        return DataLoader(source, batch_size=batch_size, **common)
    if not is_map_style(source):
        raise ConfigError(
            "data must be a torch.utils.data.Dataset (map-style or iterable) or a DataLoader, "
            f"got {type(source).__name__}", "data",
        )
    sampler = EpochBatchSampler(len(source), batch_size, generator if shuffle else None,
                                rank, world)
    return DataLoader(source, batch_sampler=sampler, **common)


def iter_xy(batches: Iterable[Any], keys: BatchKeys = DEFAULT_KEYS
            ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``(x, y)`` of every batch (:func:`~losskit.data.batches.unpack_batch`)."""
    for batch in batches:
        yield unpack_batch(batch, keys)


def underlying_dataset(source: DataSource) -> Dataset:
    """The dataset of a ``DataLoader`` (``source`` itself otherwise)."""
    return source.dataset if isinstance(source, DataLoader) else source


def _require_map_style(source: Any, why: str) -> Any:
    ds = underlying_dataset(source)
    if not is_map_style(ds):
        raise ConfigError(
            f"{why} needs a map-style dataset (indexable, with a length), got "
            f"{type(ds).__name__}; give a map-style Dataset (or a DataLoader over one)", "data",
        )
    return ds


def _collate_of(source: DataSource) -> Any:
    """How ``source`` turns a list of samples into a batch: a DataLoader's own ``collate_fn``
    (when it batches samples itself), else ``default_collate``."""
    if isinstance(source, DataLoader) and source.batch_sampler is not None:
        return source.collate_fn
    return default_collate


def _as_tensor(value: Any, what: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    try:
        return torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError):
        raise ConfigError(f"{what} must be a tensor (or convertible to one), got "
                          f"{type(value).__name__}", "batch") from None


class PairDataset(Dataset):
    """A map-style ``dataset`` whose samples are read as ``(x, y)`` tuples
    (:func:`~losskit.data.batches.unpack_batch` with ``keys``): what methods that draw samples
    by index (MILS's observation set, SLF's validation batches) are given, whatever the form
    of the user's samples (dicts, extra items)."""

    def __init__(self, dataset: Dataset, keys: BatchKeys = DEFAULT_KEYS) -> None:
        self.dataset, self.keys = dataset, keys

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        return unpack_batch(self.dataset[index], self.keys)


def take(source: DataSource, indices: torch.Tensor | list[int],
         keys: BatchKeys = DEFAULT_KEYS) -> tuple[torch.Tensor, torch.Tensor]:
    """Samples ``indices`` of a map-style dataset as ``(x, y)`` tensors (fresh copies).

    A ``TensorDataset`` is indexed directly (``x[indices]``: the tensors MILS and SLF have
    always drawn); any other dataset reads ``dataset[i]`` for each index and collates them
    (with a ``DataLoader``'s own ``collate_fn``, else ``default_collate``).
    """
    ds = _require_map_style(source, "drawing samples by index")
    idx = torch.as_tensor(indices, dtype=torch.long)
    memory = as_tensor_dataset(ds)
    if memory is not None:
        x, y = memory.tensors[:2]
        return x[idx].clone(), y[idx].clone()
    batch = _collate_of(source)([ds[i] for i in idx.tolist()])
    x, y = unpack_batch(batch, keys)
    return _as_tensor(x, "input"), _as_tensor(y, "target")


def draw_subset(
    source: DataSource, size: int, generator: torch.Generator,
    keys: BatchKeys = DEFAULT_KEYS, name: str = "size",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``size`` distinct samples drawn with ``generator``, materialised once:
    ``(x, y, indices)`` with ``indices = randperm(n, generator)[:size]`` sorted — the draws
    of MILS's observation set, for any map-style dataset. ``ValueError`` naming ``name``
    unless ``1 ≤ size ≤ n``."""
    ds = _require_map_style(source, "a seeded random subset")
    n = len(ds)
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= n:
        raise ValueError(f"{name} must be an integer in [1, {n}], got {size!r}")
    idx = torch.randperm(n, generator=generator)[:size].sort().values
    x, y = take(ds, idx, keys)
    return x, y, idx


def first_batch(source: DataSource, keys: BatchKeys = DEFAULT_KEYS, size: int = 2
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """A first small batch ``(x, y)`` of ``source`` for shape and target checks: samples
    ``0 … size−1`` of a map-style dataset (also of a ``DataLoader``'s, collated by its
    ``collate_fn``: no sampler draw, no worker started), the first samples of an iterable
    one; else the first batch of the ``DataLoader``."""
    if isinstance(source, DataLoader):
        if source.batch_sampler is not None and is_map_style(source.dataset):
            return take(source, list(range(min(size, len(source.dataset)))), keys)
        try:
            batch = next(iter(source))
        except StopIteration:
            raise ConfigError("the DataLoader yields no batch; it needs at least one",
                              "data") from None
        return unpack_batch(batch, keys)
    if is_map_style(source):
        n = len(source)
        if n == 0:
            raise ConfigError("the dataset is empty; it needs at least one sample", "data")
        return take(source, list(range(min(size, n))), keys)
    samples = []
    for sample in source:
        samples.append(sample)
        if len(samples) == size:
            break
    if not samples:
        raise ConfigError("the dataset yields no sample; it needs at least one", "data")
    x, y = unpack_batch(default_collate(samples), keys)
    return _as_tensor(x, "input"), _as_tensor(y, "target")


def sample_targets(source: DataSource, keys: BatchKeys = DEFAULT_KEYS) -> torch.Tensor:
    """Targets for set-up checks (dtype, shape, task): all of them for an in-memory
    ``TensorDataset``, else those of :func:`first_batch`."""
    memory = as_tensor_dataset(underlying_dataset(source))
    if memory is not None:
        return memory.tensors[1]
    return first_batch(source, keys)[1]


def length(source: DataSource) -> int | None:
    """Number of samples of a dataset (or of a DataLoader's dataset), ``None`` if unknown."""
    ds = underlying_dataset(source)
    try:
        return len(ds)  # type: ignore[arg-type]
    except TypeError:
        return None
