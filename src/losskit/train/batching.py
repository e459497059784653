"""Seeded shuffling of in-memory data: the run's generator and its mini-batches (re-exported
by :mod:`losskit.train.trainer`, where they were first)."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import TensorDataset


def seeded_generator(seed: int) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with ``seed``."""
    g = torch.Generator()
    g.manual_seed(int(seed))
    return g


def batches(
    ds: TensorDataset, batch_size: int, generator: torch.Generator | None = None
) -> Iterator[tuple[torch.Tensor, ...]]:
    """Shuffled (when ``generator`` is given) in-memory mini-batches of a ``TensorDataset``."""
    n = len(ds)
    order = torch.randperm(n, generator=generator) if generator is not None else None
    for start in range(0, n, batch_size):
        if order is None:
            yield tuple(t[start : start + batch_size] for t in ds.tensors)
        else:
            idx = order[start : start + batch_size]
            yield tuple(t.index_select(0, idx) for t in ds.tensors)
