"""Dataset contract: every loader returns a :class:`DataSplits` (in-memory tensors, or any
``torch.utils.data.Dataset``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import Dataset, TensorDataset

from losskit.core.registry import Registry


@dataclass
class DataSplits:
    """Train / validation / test splits of one dataset.

    The built-in loaders give in-memory ``TensorDataset`` s: ``x`` float32, already
    normalised; ``y`` int64 class indices (or, for dense-prediction tasks, whatever the task
    documents). Any ``torch.utils.data.Dataset`` may stand in (``transform=``, the ``folder``
    and ``csv`` loaders, your own); the Trainer streams those through a ``DataLoader``.
    """

    name: str
    train: Dataset
    val: Dataset | None
    test: Dataset
    num_classes: int
    input_shape: tuple[int, ...]
    meta: dict[str, Any] | None = None


DATASETS: Registry[DataSplits] = Registry("dataset")

#: dataset name → a check returning ``None`` when its files are installed, else how to install
#: them (datasets without an entry need nothing or take ``root=``).
INSTALL_CHECKS: dict[str, Callable[[], str | None]] = {}


def availability(name: str) -> str:
    """``"available"``, ``"not installed: HOW"`` or ``""`` (nothing to install / ``root=``)."""
    check = INSTALL_CHECKS.get(name)
    if check is None:
        return ""
    missing = check()
    return "available" if missing is None else f"not installed: {missing}"


def load(name: str, **kwargs: Any) -> DataSplits:
    """Load dataset ``name`` (see ``names()``) with loader-specific ``kwargs``."""
    return DATASETS.get(name, **kwargs)


def names() -> list[str]:
    return DATASETS.names()


def as_tensors(ds: TensorDataset) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = ds.tensors[:2]
    return x, y
