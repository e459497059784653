"""The installed Fashion-MNIST (skipped when its files are absent)."""

from __future__ import annotations

import pytest
import torch

from losskit import data
from losskit.data import fashion_mnist as fm

ROOT = fm.resolve_root(None)
pytestmark = pytest.mark.skipif(
    not all((ROOT / f"{stem}.gz").is_file() for stem in fm.mnist_style.FILES.values()),
    reason=f"Fashion-MNIST not installed at {ROOT}",
)


@pytest.fixture(scope="module")
def full() -> data.DataSplits:
    return data.load("fashion-mnist")


def test_shapes_labels_balanced_and_normalised(full):
    x, y = full.train.tensors
    xt, yt = full.test.tensors
    assert x.shape == (60000, 1, 28, 28) and xt.shape == (10000, 1, 28, 28)
    assert x.dtype == torch.float32 and y.dtype == torch.int64
    assert torch.bincount(y).tolist() == [6000] * 10
    assert torch.bincount(yt).tolist() == [1000] * 10
    # mean 0.2860 / std 0.3530 are the train statistics of the [0, 1] pixels.
    assert abs(float(x.mean())) < 1e-3 and abs(float(x.std()) - 1) < 2e-3
    assert float(x.min()) == pytest.approx(-0.2860 / 0.3530, abs=1e-5)
    assert full.meta["task"] == "classification" and full.num_classes == 10


def test_retention_subset(full):
    d = data.load("fashion-mnist", retention=0.1, seed=0)
    kept = torch.bincount(d.train.tensors[1]).double() / 6000
    expected = torch.tensor([0.1 + 0.9 * c / 9 for c in range(10)], dtype=torch.float64)
    assert torch.all((kept - expected).abs() < 0.025), kept  # binomial std <= 0.0065
    assert kept[9] == 1.0
    assert torch.equal(d.test.tensors[1], full.test.tensors[1])


def test_binary_is_exactly_one_to_nine():
    d = data.load("fashion-mnist-binary", val_fraction=0.1)
    assert torch.bincount(d.train.tensors[1]).tolist() == [48600, 5400]
    assert torch.bincount(d.val.tensors[1]).tolist() == [5400, 600]
    assert torch.bincount(d.test.tensors[1]).tolist() == [9000, 1000]
    assert d.meta["task"] == "binary" and d.num_classes == 2


def test_binary_one_to_nineteen_thins_positives():
    d = data.load("fashion-mnist-binary", positive_class=9, neg_per_pos=19, val_fraction=0.1)
    for part, (neg, pos) in {"train": (48602, 2558), "val": (5396, 284),
                             "test": (8987, 473)}.items():
        assert torch.bincount(getattr(d, part).tensors[1]).tolist() == [neg, pos]
        assert neg == 19 * pos
        assert d.meta["counts"][part] == {"positives": pos, "negatives": neg, "ratio": 19.0}


@pytest.mark.parametrize("kind", ["symmetric", "asymmetric"])
def test_noise_on_the_real_files(full, kind):
    d = data.load("fashion-mnist", noise=kind, noise_rate=0.4, val_fraction=0.1, seed=0)
    for part in ("train", "val"):
        y, y0 = getattr(d, part).tensors[1], d.meta[f"clean_{part}_targets"]
        eligible = len(y0) if kind == "symmetric" else int(
            torch.isin(y0, torch.tensor([0, 2, 4, 5, 7])).sum())
        assert abs(int((y != y0).sum()) / eligible - 0.4) <= 0.005
    assert torch.equal(d.test.tensors[1], full.test.tensors[1])


def test_long_tail_on_the_real_files():
    d = data.load("fashion-mnist", imbalance="long_tail", imbalance_ratio=100)
    counts = torch.bincount(d.train.tensors[1]).tolist()
    assert counts[0] == 6000 and counts[-1] == 60 and sum(counts) == 14886
    assert torch.bincount(d.test.tensors[1]).tolist() == [1000] * 10
