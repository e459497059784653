"""Folders in the MNIST layout (MNIST, Fashion-MNIST): four IDX files → normalised tensors."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from losskit.data.base import DataSplits
from losskit.data.idx import read_idx
from losskit.data.longtail import check_imbalance, long_tail
from losskit.data.noise import add_noise, check_noise
from losskit.data.splits import generator, imbalance, make_splits

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def resolve(root: Path, hint: str) -> dict[str, Path]:
    """Paths of the four files under ``root`` (``NAME.gz`` preferred, raw ``NAME`` accepted).

    Raises one ``FileNotFoundError`` naming every missing path and ``hint`` (how to get them).
    """
    found: dict[str, Path] = {}
    missing: list[str] = []
    for key, stem in FILES.items():
        for candidate in (root / f"{stem}.gz", root / stem):
            if candidate.is_file():
                found[key] = candidate
                break
        else:
            missing.append(str(root / f"{stem}.gz"))
    if missing:
        raise FileNotFoundError(f"missing dataset file(s): {', '.join(missing)}. {hint}")
    return found


@functools.lru_cache(maxsize=4)
def _decode(paths: tuple[Path, ...], stamps: tuple[tuple[int, int], ...]) -> tuple[np.ndarray, ...]:
    """Decoded uint8 images / int64 labels, cached per (paths, mtime+size) in this process."""
    del stamps  # part of the cache key only: a rewritten file is decoded again
    arrays = tuple(read_idx(p) for p in paths)
    for arr in arrays:
        arr.setflags(write=False)
    return arrays


def load_arrays(root: Path, hint: str) -> dict[str, np.ndarray]:
    """Raw arrays (images uint8 (N,28,28), labels) of an MNIST-layout folder, checked."""
    files = resolve(root, hint)
    paths = tuple(files[k] for k in FILES)
    stamps = tuple((p.stat().st_mtime_ns, p.stat().st_size) for p in paths)
    arrays = dict(zip(FILES, _decode(paths, stamps)))
    for part in ("train", "test"):
        images, labels = arrays[f"{part}_images"], arrays[f"{part}_labels"]
        if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
            raise ValueError(
                f"{files[f'{part}_images']}: expected images (N,H,W) and labels (N,) with equal "
                f"N, got {images.shape} and {labels.shape}"
            )
    return arrays


def to_tensors(
    images: np.ndarray, labels: np.ndarray, mean: float, std: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """``x`` float32 (N,1,H,W): pixels / 255, then ``(x - mean) / std``; ``y`` int64 (N,)."""
    x = torch.from_numpy(np.array(images, dtype=np.float32))  # fresh copy: cache stays intact
    x = x.div_(255.0).sub_(mean).div_(std).unsqueeze(1)
    y = torch.from_numpy(np.array(labels, dtype=np.int64))
    return x, y


def tensors(
    arrays: dict[str, np.ndarray], mean: float, std: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(x_train, y_train, x_test, y_test)`` of :func:`load_arrays` output (:func:`to_tensors`)."""
    x_tr, y_tr = to_tensors(arrays["train_images"], arrays["train_labels"], mean, std)
    x_te, y_te = to_tensors(arrays["test_images"], arrays["test_labels"], mean, std)
    return x_tr, y_tr, x_te, y_te


def class_splits(
    name: str,
    data: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
    num_classes: int,
    *,
    seed: int,
    val_fraction: float,
    retention: float,
    noise: str | None = None,
    noise_rate: float | None = None,
    noise_pairs: Mapping[int, int] | None = None,
    imbalance_kind: str | None = None,
    imbalance_ratio: float | None = None,
) -> DataSplits:
    """Train/val/test of a 10-class MNIST-layout set: ``retention < 1`` (SLF imbalance, stream
    ``"imbalance"`` of ``seed``) or ``imbalance_kind="long_tail"`` (:mod:`losskit.data.longtail`,
    stream ``"long_tail"``) first thins the train set, then ``val_fraction`` of it is held out
    (stratified on the clean labels, stream ``"val"``), then ``noise`` corrupts the train and
    validation labels (:mod:`losskit.data.noise`); the test set is untouched.
    ``meta["class_counts"]`` holds each split's class counts of the clean labels."""
    noise, noise_rate = check_noise(noise, noise_rate)
    ratio = check_imbalance(imbalance_kind, imbalance_ratio, retention)
    x_tr, y_tr, x_te, y_te = data
    if retention != 1.0:
        x_tr, y_tr = imbalance(x_tr, y_tr, retention, num_classes, generator(seed, "imbalance"))
    meta: dict[str, Any] = {"task": "classification", "retention": float(retention)}
    if ratio is not None:
        x_tr, y_tr = long_tail(x_tr, y_tr, ratio, num_classes, generator(seed, "long_tail"))
        meta["imbalance"] = {"kind": imbalance_kind, "ratio": ratio,
                             "counts": torch.bincount(y_tr, minlength=num_classes).tolist()}
    splits = make_splits(
        name, x_tr, y_tr, x_te, y_te, num_classes, seed=seed, val_fraction=val_fraction,
        meta=meta,
    )
    assert splits.meta is not None
    splits.meta["class_counts"] = {  # of the clean labels (noisy ones: meta["noise"])
        part: torch.bincount(ds.tensors[1], minlength=num_classes).tolist()
        for part, ds in (("train", splits.train), ("val", splits.val), ("test", splits.test))
        if ds is not None
    }
    if noise is not None:
        add_noise(splits, noise, noise_rate, seed=seed, pairs=noise_pairs)
    return splits
