"""Small tabular sets bundled with scikit-learn: digits, breast-cancer, wine.

Split (seeded, stratified) into train / test with ``test_fraction``; ``val_fraction`` is then
taken from train; features are standardised with the statistics of the final train part only
(no leakage from validation or test rows).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch.utils.data import TensorDataset

from losskit.data.base import DATASETS, DataSplits
from losskit.data.splits import (
    check_fraction,
    check_seed,
    generator,
    make_splits,
    stratified_split,
)


def _bundled(loader_name: str) -> Callable[[], tuple[np.ndarray, np.ndarray]]:
    def fetch() -> tuple[np.ndarray, np.ndarray]:
        from sklearn import datasets  # a dependency (pyproject)

        bunch = getattr(datasets, loader_name)()
        return np.asarray(bunch.data), np.asarray(bunch.target)

    return fetch


def standardize(
    x_train: torch.Tensor, *others: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    """``(mean, std, [standardised x_train, *others])`` using train statistics only.

    ``std`` is the population standard deviation (as scikit-learn's ``StandardScaler``); constant
    features (std 0) are only centred.
    """
    x64 = x_train.double()
    mean = x64.mean(0)
    std = x64.std(0, correction=0)
    std = torch.where(std > 0, std, torch.ones_like(std))
    scaled = [((t.double() - mean) / std).float() for t in (x_train, *others)]
    return mean, std, scaled


def tabular_splits(
    name: str,
    x: np.ndarray,
    y: np.ndarray,
    *,
    seed: int,
    val_fraction: float,
    test_fraction: float,
) -> DataSplits:
    """Stratified seeded train/val/test split of ``(x, y)``, standardised with train stats.

    ``meta`` records ``feature_mean`` / ``feature_std`` (raw units, train part only).
    """
    seed = check_seed(seed)
    test_fraction = check_fraction(test_fraction, "test_fraction", allow_zero=False)
    val_fraction = check_fraction(val_fraction, "val_fraction")
    xt = torch.as_tensor(np.asarray(x, dtype=np.float64))
    yt = torch.as_tensor(np.asarray(y, dtype=np.int64))
    keep, test = stratified_split(yt, test_fraction, generator(seed, "test"))
    x_tr, y_tr, x_te, y_te = xt[keep], yt[keep], xt[test], yt[test]
    val: tuple[torch.Tensor, torch.Tensor] | None = None
    if val_fraction > 0:
        kept, held = stratified_split(y_tr, val_fraction, generator(seed, "val"))
        val = (x_tr[held], y_tr[held])
        x_tr, y_tr = x_tr[kept], y_tr[kept]
    mean, std, scaled = standardize(x_tr, x_te, *(val[:1] if val else ()))
    num_classes = int(yt.max()) + 1
    meta: dict[str, Any] = {
        "task": "classification",
        "feature_mean": mean.tolist(),
        "feature_std": std.tolist(),
    }
    splits = make_splits(
        name, scaled[0], y_tr, scaled[1], y_te, num_classes,
        seed=seed, val_fraction=0.0, meta=meta,
    )
    if val is not None:
        splits.val = TensorDataset(scaled[2], val[1])
    return splits


def _register(name: str, loader_name: str, description: str) -> None:
    fetch = _bundled(loader_name)

    def load(seed: int = 0, val_fraction: float = 0.0, test_fraction: float = 0.25) -> DataSplits:
        x, y = fetch()
        return tabular_splits(
            name, x, y, seed=seed, val_fraction=val_fraction, test_fraction=test_fraction
        )

    load.__name__ = "load_" + name.replace("-", "_")
    load.__doc__ = (
        f"{description} (scikit-learn bundled): x (N, D) float32 standardised with train "
        "statistics; seeded stratified split, ``test_fraction`` of each class to test, "
        "``val_fraction`` of the rest to validation."
    )
    DATASETS.register(name, help=description)(load)


_register("digits", "load_digits", "8x8 handwritten digits, 1797 x 64, 10 classes")
_register("breast-cancer", "load_breast_cancer", "Wisconsin breast cancer, 569 x 30, 2 classes")
_register("wine", "load_wine", "wine cultivars, 178 x 13, 3 classes")
