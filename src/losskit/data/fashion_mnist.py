"""Fashion-MNIST (Xiao et al. 2017) from the installed IDX files, plus its paper variants.

* ``fashion-mnist``: 10 classes; ``retention < 1`` gives the SLF imbalanced train subset.
* ``fashion-mnist-binary``: class ``positive_class`` vs the rest at exactly 1:``neg_per_pos``
  (UniLoss §5.3 uses 1:9 for average precision).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from losskit.data import mnist_style
from losskit.data.base import DATASETS, INSTALL_CHECKS, DataSplits
from losskit.data.binary import binary_splits
from losskit.data.noise import FASHION_MNIST_PAIRS
from losskit.data.splits import check_seed
from losskit.data.transforms import with_transforms

ENV_VAR = "LOSSKIT_FASHION_MNIST"
DEFAULT_ROOT = Path("/usr/share/datasets/fashion-mnist")
MEAN, STD = 0.2860, 0.3530
NUM_CLASSES = 10
HINT = (
    f"Install it with `apt-get install dataset-fashion-mnist` (files go to {DEFAULT_ROOT}) "
    f"or set {ENV_VAR} (or root=) to a folder holding the four IDX files."
)


def resolve_root(root: str | os.PathLike[str] | None) -> Path:
    """``root``, else ``$LOSSKIT_FASHION_MNIST``, else ``/usr/share/datasets/fashion-mnist``."""
    if root is None:
        root = os.environ.get(ENV_VAR) or DEFAULT_ROOT
    if not isinstance(root, (str, os.PathLike)):
        raise ValueError(f"root must be a folder path, got {root!r}")
    return Path(root).expanduser()


def fashion_mnist_tensors(
    root: str | os.PathLike[str] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(x_train, y_train, x_test, y_test)``: x float32 (N,1,28,28) normalised, y int64."""
    return mnist_style.tensors(mnist_style.load_arrays(resolve_root(root), HINT), MEAN, STD)


def _install_check() -> str | None:
    try:
        mnist_style.resolve(resolve_root(None), HINT)
    except FileNotFoundError:
        return "apt-get install dataset-fashion-mnist (or `make data`)"
    return None


INSTALL_CHECKS["fashion-mnist"] = INSTALL_CHECKS["fashion-mnist-binary"] = _install_check


@DATASETS.register("fashion-mnist", help="Fashion-MNIST 10 classes; retention<1: SLF imbalance")
def load_fashion_mnist(
    root: str | None = None,
    seed: int = 0,
    val_fraction: float = 0.0,
    retention: float = 1.0,
    noise: str | None = None,
    noise_rate: float | None = None,
    imbalance: str | None = None,
    imbalance_ratio: float | None = None,
    transform: Callable[[Any], Any] | None = None,
    target_transform: Callable[[Any], Any] | None = None,
) -> DataSplits:
    """Fashion-MNIST, pixels scaled to [0, 1] then normalised with mean 0.2860 / std 0.3530.

    ``retention=r < 1`` keeps a random imbalanced train subset (SLF paper, "Performance on
    Imbalanced Datasets"): class 0 with probability ``r``, class 9 always, linear in between.
    ``imbalance="long_tail"`` with ``imbalance_ratio=ρ`` keeps ``⌊6000 · ρ^(−c/9)⌋`` of class
    ``c`` instead (:mod:`losskit.data.longtail`). The test set is untouched. ``val_fraction``
    is taken (stratified, seeded) from the train set after the imbalance.
    ``noise="symmetric"`` / ``"asymmetric"`` with ``noise_rate`` corrupts the train and
    validation labels (:mod:`losskit.data.noise`; asymmetric pairs: T-shirt/top (0)→Shirt (6),
    Pullover (2)↔Coat (4), Sandal (5)→Sneaker (7), Sneaker (7)→Ankle boot (9)); the clean
    labels are in ``meta["clean_train_targets"]`` / ``meta["clean_val_targets"]``. All draws
    come from the data ``seed``.
    ``transform`` / ``target_transform``: applied to each sample's image / label of every
    split (:func:`~losskit.data.transforms.with_transforms`; the splits are then streamed).
    """
    splits = mnist_style.class_splits("fashion-mnist", fashion_mnist_tensors(root), NUM_CLASSES,
                                      seed=check_seed(seed), val_fraction=val_fraction,
                                      retention=retention, noise=noise, noise_rate=noise_rate,
                                      noise_pairs=FASHION_MNIST_PAIRS, imbalance_kind=imbalance,
                                      imbalance_ratio=imbalance_ratio)
    return with_transforms(splits, transform, target_transform)


@DATASETS.register("fashion-mnist-binary", help="Fashion-MNIST one class vs rest, 1:9 (UniLoss AP)")
def load_fashion_mnist_binary(
    root: str | None = None,
    seed: int = 0,
    val_fraction: float = 0.0,
    positive_class: int = 0,
    neg_per_pos: float = 9,
    transform: Callable[[Any], Any] | None = None,
    target_transform: Callable[[Any], Any] | None = None,
) -> DataSplits:
    """Fashion-MNIST ``positive_class`` (label 1) vs the rest (label 0), UniLoss §5.3.

    Train, validation and test are each exactly 1:``neg_per_pos`` (for an integer
    ``neg_per_pos``): negatives are subsampled (seeded), and when there are too few of them the
    positives are thinned instead (:mod:`losskit.data.binary`). The defaults give 6000:54000
    and 1000:9000; ``positive_class=9, neg_per_pos=19`` gives 2842:53998 and 473:8987. The
    realised counts are in ``meta["counts"]``. ``x`` stays (N,1,28,28).
    ``transform`` / ``target_transform``: applied to each sample's image / label of every
    split (:func:`~losskit.data.transforms.with_transforms`; the splits are then streamed).
    """
    seed = check_seed(seed)
    if isinstance(positive_class, bool) or positive_class not in range(NUM_CLASSES):
        raise ValueError(f"positive_class must be an int in [0, 9], got {positive_class!r}")
    splits = binary_splits("fashion-mnist-binary", fashion_mnist_tensors(root),
                           positive_class=positive_class, neg_per_pos=neg_per_pos, seed=seed,
                           val_fraction=val_fraction)
    return with_transforms(splits, transform, target_transform)
