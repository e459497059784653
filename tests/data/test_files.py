"""Local-file readers on tiny files written in tmp_path: exact decoded values and errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from losskit import data
from losskit.data import fashion_mnist as fm
from losskit.data import files
from tests.data.helpers import write_cifar_batch, write_mnist_folder


def _undo(x: torch.Tensor, mean, std) -> np.ndarray:
    m = torch.as_tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    s = torch.as_tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
    return torch.round((x * s + m) * 255).to(torch.int64).numpy()


# ------------------------------------------------------------------------- MNIST-layout cache
def test_rewritten_file_is_not_served_from_cache(tmp_path):
    write_mnist_folder(tmp_path, seed=0)
    a = data.load("mnist", root=str(tmp_path), check=False).train.tensors[0]
    write_mnist_folder(tmp_path, n_train=31, seed=1)
    b = data.load("mnist", root=str(tmp_path), check=False).train.tensors[0]
    assert a.shape[0] == 30 and b.shape[0] == 31


def test_loaded_tensors_do_not_alias_the_cache(tmp_path):
    write_mnist_folder(tmp_path)
    a = data.load("mnist", root=str(tmp_path), check=False).train.tensors[0]
    a.zero_()
    b = data.load("mnist", root=str(tmp_path), check=False).train.tensors[0]
    assert b.abs().sum() > 0


# --------------------------------------------------------------------------- Fashion-MNIST
def test_fashion_mnist_root_env_and_normalisation(tmp_path, monkeypatch):
    arrays = write_mnist_folder(tmp_path / "fm")
    monkeypatch.setenv("LOSSKIT_FASHION_MNIST", str(tmp_path / "fm"))
    d = data.load("fashion-mnist")
    np.testing.assert_array_equal(_undo(d.train.tensors[0], 0.2860, 0.3530)[:, 0],
                                  arrays["train_images"])
    assert d.meta["task"] == "classification"
    monkeypatch.setenv("LOSSKIT_FASHION_MNIST", str(tmp_path / "elsewhere"))
    with pytest.raises(FileNotFoundError) as err:
        data.load("fashion-mnist")
    msg = str(err.value)
    assert str(tmp_path / "elsewhere" / "train-images-idx3-ubyte.gz") in msg
    assert "apt-get install dataset-fashion-mnist" in msg and "LOSSKIT_FASHION_MNIST" in msg


def test_fashion_mnist_default_root(monkeypatch):
    monkeypatch.delenv("LOSSKIT_FASHION_MNIST", raising=False)
    assert fm.resolve_root(None) == fm.DEFAULT_ROOT
    assert str(fm.resolve_root("/x/y")) == "/x/y"


def test_fashion_mnist_retention_on_train_only(tmp_path):
    write_mnist_folder(tmp_path, n_train=2000, n_test=50)
    full = data.load("fashion-mnist", root=str(tmp_path))
    d = data.load("fashion-mnist", root=str(tmp_path), retention=0.1, seed=3)
    counts = torch.bincount(d.train.tensors[1], minlength=10)
    assert counts[9] == 200  # class C-1 kept entirely
    assert counts[0] < 50  # expected 20 of 200
    assert torch.equal(d.test.tensors[0], full.test.tensors[0])  # test untouched
    again = data.load("fashion-mnist", root=str(tmp_path), retention=0.1, seed=3)
    assert torch.equal(d.train.tensors[1], again.train.tensors[1])


def test_fashion_mnist_binary_ratio_and_labels(tmp_path):
    write_mnist_folder(tmp_path, n_train=300, n_test=100)  # 30 / 10 per class
    d = data.load("fashion-mnist-binary", root=str(tmp_path), positive_class=3, neg_per_pos=4)
    assert d.num_classes == 2 and d.meta["task"] == "binary"
    assert d.train.tensors[0].shape[1:] == (1, 28, 28)
    assert torch.bincount(d.train.tensors[1]).tolist() == [120, 30]
    assert torch.bincount(d.test.tensors[1]).tolist() == [40, 10]
    with pytest.raises(ValueError, match="positive_class"):
        data.load("fashion-mnist-binary", root=str(tmp_path), positive_class=10)


# ----------------------------------------------------------------------------------- CIFAR
def _cifar10_folder(root, n=4):
    rng = np.random.default_rng(0)
    batches = []
    for i in range(1, 6):
        arr = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = [(i + j) % 10 for j in range(n)]
        write_cifar_batch(root / f"data_batch_{i}", arr, labels, b"labels")
        batches.append((arr, labels))
    test = rng.integers(0, 256, (3, 3072), dtype=np.uint8)
    write_cifar_batch(root / "test_batch", test, [9, 0, 5], b"labels")
    return batches, test


def test_cifar10_exact_decoding_channel_order(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    batches, test = _cifar10_folder(folder)
    d = data.load("cifar10", root=str(tmp_path))  # parent folder accepted
    x, y = d.train.tensors
    assert x.shape == (20, 3, 32, 32) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert d.num_classes == 10 and d.input_shape == (3, 32, 32)
    raw = np.concatenate([b[0] for b in batches])
    # CIFAR rows are 1024 red, 1024 green, 1024 blue values, each plane row-major.
    np.testing.assert_array_equal(_undo(x, files.CIFAR10_MEAN, files.CIFAR10_STD),
                                  raw.reshape(-1, 3, 32, 32))
    assert x[0, 1, 0, 2].item() == pytest.approx(
        (raw[0, 1024 + 2] / 255 - 0.4822) / 0.2435, abs=1e-6
    )
    assert y.tolist() == sum((b[1] for b in batches), [])
    assert d.test.tensors[1].tolist() == [9, 0, 5]
    np.testing.assert_array_equal(
        _undo(d.test.tensors[0], files.CIFAR10_MEAN, files.CIFAR10_STD), test.reshape(-1, 3, 32, 32)
    )


def test_cifar10_missing_batch_names_path(tmp_path):
    _cifar10_folder(tmp_path)
    (tmp_path / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError) as err:
        data.load("cifar10", root=str(tmp_path))
    assert str(tmp_path / "data_batch_3") in str(err.value)
    assert "cifar-10-python.tar.gz" in str(err.value)


def test_cifar100_fine_labels(tmp_path):
    rng = np.random.default_rng(1)
    train = rng.integers(0, 256, (6, 3072), dtype=np.uint8)
    write_cifar_batch(tmp_path / "train", train, [99, 0, 42, 7, 7, 1], b"fine_labels")
    write_cifar_batch(tmp_path / "test", train[:2], [5, 6], b"fine_labels")
    d = data.load("cifar100", root=str(tmp_path))
    assert d.num_classes == 100
    assert d.train.tensors[1].tolist() == [99, 0, 42, 7, 7, 1]
    np.testing.assert_array_equal(
        _undo(d.train.tensors[0], files.CIFAR100_MEAN, files.CIFAR100_STD),
        train.reshape(-1, 3, 32, 32),
    )


def test_cifar_wrong_keys_is_valueerror(tmp_path):
    write_cifar_batch(tmp_path / "train", np.zeros((1, 3072), np.uint8), [0], b"labels")
    write_cifar_batch(tmp_path / "test", np.zeros((1, 3072), np.uint8), [0], b"labels")
    with pytest.raises(ValueError, match="fine_labels"):
        data.load("cifar100", root=str(tmp_path))


# ------------------------------------------------------------------------------------ SVHN
def test_svhn_layout_and_label_ten_is_zero(tmp_path):
    scipy_io = pytest.importorskip("scipy.io")
    rng = np.random.default_rng(2)
    X = rng.integers(0, 256, (32, 32, 3, 5), dtype=np.uint8)  # (H, W, C, N) as in the files
    y = np.array([[10], [1], [9], [10], [5]], dtype=np.uint8)
    scipy_io.savemat(str(tmp_path / "train_32x32.mat"), {"X": X, "y": y})
    scipy_io.savemat(str(tmp_path / "test_32x32.mat"), {"X": X[..., :2], "y": y[:2]})
    d = data.load("svhn", root=str(tmp_path))
    x, labels = d.train.tensors
    assert x.shape == (5, 3, 32, 32) and labels.dtype == torch.int64
    assert labels.tolist() == [0, 1, 9, 0, 5]
    assert d.test.tensors[1].tolist() == [0, 1]
    decoded = _undo(x, files.SVHN_MEAN, files.SVHN_STD)
    np.testing.assert_array_equal(decoded, X.transpose(3, 2, 0, 1))
    assert decoded[4, 2, 7, 3] == X[7, 3, 2, 4]  # sample 4, blue channel, row 7, col 3


def test_svhn_missing_file_names_path(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        data.load("svhn", root=str(tmp_path))
    assert str(tmp_path / "train_32x32.mat") in str(err.value)
    assert "ufldl.stanford.edu" in str(err.value)
