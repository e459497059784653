"""Readers for datasets the user downloads: CIFAR-10/100 (python pickles), SVHN (.mat).

MNIST, which the project installs itself, lives in :mod:`losskit.data.mnist`.

Nothing is downloaded; a missing file raises one ``FileNotFoundError`` naming the path and where
to get it. Decoded uint8 arrays are cached per file (path, mtime, size) within the process.
"""

from __future__ import annotations

import functools
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from losskit.data.base import DATASETS, DataSplits
from losskit.data.splits import check_seed, make_splits
from losskit.data.transforms import with_transforms

# Per-channel statistics of the training sets (pixels in [0, 1]).
CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
CIFAR100_MEAN, CIFAR100_STD = (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)
SVHN_MEAN, SVHN_STD = (0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970)

CIFAR10_HINT = (
    "Download https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz and extract it; "
    "root is the cifar-10-batches-py folder (or its parent)."
)
CIFAR100_HINT = (
    "Download https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz and extract it; "
    "root is the cifar-100-python folder (or its parent)."
)
SVHN_HINT = (
    "Download train_32x32.mat and test_32x32.mat from http://ufldl.stanford.edu/housenumbers/ "
    "into root."
)


def _root(root: Any, name: str) -> Path:
    if root is None:
        raise ValueError(f"root is required for {name}: the folder holding its files")
    if not isinstance(root, (str, os.PathLike)):
        raise ValueError(f"root must be a folder path, got {root!r}")
    return Path(root).expanduser()


def _stamp(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_mtime_ns, st.st_size


def _missing(paths: list[Path], hint: str) -> FileNotFoundError:
    return FileNotFoundError(
        f"missing dataset file(s): {', '.join(str(p) for p in paths)}. {hint}"
    )


def _normalise_rgb(
    images: np.ndarray, mean: tuple[float, ...], std: tuple[float, ...]
) -> torch.Tensor:
    """uint8 (N,3,H,W) → float32, ``(x/255 - mean_c) / std_c`` per channel."""
    x = torch.from_numpy(np.array(images, dtype=np.float32)).div_(255.0)
    m = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
    return x.sub_(m).div_(s)


# ---------------------------------------------------------------------------------------- CIFAR
@functools.lru_cache(maxsize=16)
def _read_pickle_batch(
    path: Path, label_key: bytes, stamp: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    del stamp  # cache key only
    with open(path, "rb") as fh:
        try:
            batch = pickle.load(fh, encoding="bytes")
        except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError,
                TypeError, ValueError) as exc:  # what unpickling garbage raises
            raise ValueError(f"{path}: not a CIFAR python batch (unpickling failed: "
                             f"{type(exc).__name__}: {' '.join(str(exc).split())})") from exc
    if not isinstance(batch, dict) or b"data" not in batch or label_key not in batch:
        raise ValueError(
            f"{path}: expected a CIFAR python batch with keys b'data' and {label_key!r}"
        )
    data = np.asarray(batch[b"data"], dtype=np.uint8)
    labels = np.asarray(batch[label_key], dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or data.shape[0] != labels.shape[0]:
        raise ValueError(
            f"{path}: expected data (N, 3072) and labels (N,), got {data.shape} and {labels.shape}"
        )
    images = data.reshape(-1, 3, 32, 32)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def read_cifar_batches(
    root: Path, names: list[str], label_key: bytes, subfolder: str, hint: str
) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate the pickled batches ``names`` under ``root`` (or ``root/subfolder``)."""
    if not all((root / n).is_file() for n in names) and (root / subfolder).is_dir():
        root = root / subfolder
    missing = [root / n for n in names if not (root / n).is_file()]
    if missing:
        raise _missing(missing, hint)
    parts = [_read_pickle_batch(root / n, label_key, _stamp(root / n)) for n in names]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _cifar(
    name: str,
    root: Any,
    seed: int,
    val_fraction: float,
    *,
    train_files: list[str],
    test_files: list[str],
    label_key: bytes,
    subfolder: str,
    hint: str,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    num_classes: int,
) -> DataSplits:
    seed = check_seed(seed)
    folder = _root(root, name)
    tr_img, tr_lab = read_cifar_batches(folder, train_files, label_key, subfolder, hint)
    te_img, te_lab = read_cifar_batches(folder, test_files, label_key, subfolder, hint)
    return make_splits(
        name,
        _normalise_rgb(tr_img, mean, std), torch.from_numpy(tr_lab.copy()),
        _normalise_rgb(te_img, mean, std), torch.from_numpy(te_lab.copy()),
        num_classes, seed=seed, val_fraction=val_fraction, meta={"task": "classification"},
    )


@DATASETS.register("cifar10", help="CIFAR-10 from the local python pickles (root=...)")
def load_cifar10(
    root: str | None = None,
    seed: int = 0,
    val_fraction: float = 0.0,
    transform: Callable[[Any], Any] | None = None,
    target_transform: Callable[[Any], Any] | None = None,
) -> DataSplits:
    """CIFAR-10 from ``root`` (``data_batch_1..5``, ``test_batch``); x (N,3,32,32) per-channel
    normalised with the train-set mean/std.
    ``transform`` / ``target_transform``: applied to each sample's image / label of every
    split (:func:`~losskit.data.transforms.with_transforms`; the splits are then streamed).
    """
    splits = _cifar(
        "cifar10", root, seed, val_fraction,
        train_files=[f"data_batch_{i}" for i in range(1, 6)], test_files=["test_batch"],
        label_key=b"labels", subfolder="cifar-10-batches-py", hint=CIFAR10_HINT,
        mean=CIFAR10_MEAN, std=CIFAR10_STD, num_classes=10,
    )
    return with_transforms(splits, transform, target_transform)


@DATASETS.register("cifar100", help="CIFAR-100 (fine labels) from local python pickles (root=...)")
def load_cifar100(
    root: str | None = None,
    seed: int = 0,
    val_fraction: float = 0.0,
    transform: Callable[[Any], Any] | None = None,
    target_transform: Callable[[Any], Any] | None = None,
) -> DataSplits:
    """CIFAR-100 from ``root`` (``train``, ``test``), 100 fine labels; x (N,3,32,32) per-channel
    normalised with the train-set mean/std.
    ``transform`` / ``target_transform``: applied to each sample's image / label of every
    split (:func:`~losskit.data.transforms.with_transforms`; the splits are then streamed).
    """
    splits = _cifar(
        "cifar100", root, seed, val_fraction,
        train_files=["train"], test_files=["test"],
        label_key=b"fine_labels", subfolder="cifar-100-python", hint=CIFAR100_HINT,
        mean=CIFAR100_MEAN, std=CIFAR100_STD, num_classes=100,
    )
    return with_transforms(splits, transform, target_transform)


# ----------------------------------------------------------------------------------------- SVHN
@functools.lru_cache(maxsize=4)
def _read_svhn_mat(path: Path, stamp: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    del stamp  # cache key only
    from scipy.io import loadmat  # a dependency (pyproject)

    mat = loadmat(str(path))
    if "X" not in mat or "y" not in mat:
        raise ValueError(f"{path}: expected variables 'X' (32,32,3,N) and 'y' (N,1)")
    x = np.asarray(mat["X"], dtype=np.uint8)
    y = np.asarray(mat["y"], dtype=np.int64).reshape(-1)
    if x.ndim != 4 or x.shape[2] != 3 or x.shape[3] != y.shape[0]:
        raise ValueError(f"{path}: expected X (H,W,3,N) and y (N,), got {x.shape}, {y.shape}")
    images = np.ascontiguousarray(x.transpose(3, 2, 0, 1))  # (N, 3, H, W)
    labels = np.where(y == 10, 0, y)  # SVHN stores digit 0 as label 10
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"{path}: labels must be in 1..10, got {y.min()}..{y.max()}")
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def read_svhn(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (N,3,32,32) and int64 digits 0..9 (label 10 → 0) of one SVHN .mat file."""
    if not path.is_file():
        raise _missing([path], SVHN_HINT)
    return _read_svhn_mat(path, _stamp(path))


@DATASETS.register("svhn", help="SVHN cropped digits from local .mat files (root=...)")
def load_svhn(
    root: str | None = None,
    seed: int = 0,
    val_fraction: float = 0.0,
    transform: Callable[[Any], Any] | None = None,
    target_transform: Callable[[Any], Any] | None = None,
) -> DataSplits:
    """SVHN from ``root`` (``train_32x32.mat``, ``test_32x32.mat``); label 10 means digit 0.
    ``transform`` / ``target_transform``: applied to each sample's image / label of every
    split (:func:`~losskit.data.transforms.with_transforms`; the splits are then streamed).
    """
    seed = check_seed(seed)
    folder = _root(root, "svhn")
    paths = [folder / "train_32x32.mat", folder / "test_32x32.mat"]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise _missing(missing, SVHN_HINT)
    tr_img, tr_lab = read_svhn(paths[0])
    te_img, te_lab = read_svhn(paths[1])
    splits = make_splits(
        "svhn",
        _normalise_rgb(tr_img, SVHN_MEAN, SVHN_STD), torch.from_numpy(tr_lab.copy()),
        _normalise_rgb(te_img, SVHN_MEAN, SVHN_STD), torch.from_numpy(te_lab.copy()),
        10, seed=seed, val_fraction=val_fraction, meta={"task": "classification"},
    )
    return with_transforms(splits, transform, target_transform)
