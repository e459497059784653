"""Writers for tiny dataset files (hand-rolled, independent of the library's own writer)."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np

IDX_NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def idx_bytes(arr: np.ndarray, code: int, be_dtype: str) -> bytes:
    header = bytes([0, 0, code, arr.ndim]) + b"".join(struct.pack(">I", s) for s in arr.shape)
    return header + arr.astype(be_dtype).tobytes()


def write_mnist_folder(
    root: Path, n_train: int = 30, n_test: int = 20, gz: bool = True, seed: int = 0
) -> dict[str, np.ndarray]:
    """Random uint8 28x28 images and labels (each class 0..9 present) in the MNIST layout."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_labels": (np.arange(n_train) % 10).astype(np.uint8),
        "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_labels": (np.arange(n_test) % 10).astype(np.uint8),
    }
    root.mkdir(parents=True, exist_ok=True)
    for key, arr in arrays.items():
        payload = idx_bytes(arr, 0x08, ">u1")
        name = IDX_NAMES[key] + (".gz" if gz else "")
        (root / name).write_bytes(gzip.compress(payload) if gz else payload)
    return arrays


def write_cifar_batch(path: Path, data: np.ndarray, labels: list[int], label_key: bytes) -> None:
    with open(path, "wb") as fh:
        pickle.dump({b"data": data, label_key: labels, b"batch_label": b"x"}, fh)
