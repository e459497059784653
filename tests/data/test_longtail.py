"""Long-tailed imbalance: the exponential profile of Cui et al. / Cao et al., seeded subsets,
train and validation long-tailed, test balanced."""

from __future__ import annotations

import math

import pytest
import torch

from losskit import data
from losskit.data.longtail import check_imbalance, long_tail, long_tail_counts
from losskit.data.splits import generator
from tests.data.helpers import write_mnist_folder


@pytest.mark.parametrize(
    "ratio, total",
    [(100, 12406), (50, 13996), (10, 20431)],  # CIFAR-10-LT train sizes (Cao et al., LDAM)
)
def test_counts_match_the_published_cifar10_lt_sizes(ratio, total):
    counts = long_tail_counts([5000] * 10, ratio)
    assert sum(counts) == total
    assert counts[0] == 5000 and counts[-1] == 5000 // ratio
    assert counts == sorted(counts, reverse=True)


def test_counts_for_unequal_classes_use_the_smallest_class():
    sizes = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]  # MNIST train
    counts = long_tail_counts(sizes, 10)
    assert counts[0] == 5421 and counts[-1] == 542
    for c, n in enumerate(counts):
        assert n == math.floor(5421 * 10 ** (-c / 9) + 1e-9) and n <= sizes[c]


def test_subset_follows_the_profile_and_is_seeded():
    y = torch.randint(0, 5, (5000,), generator=torch.Generator().manual_seed(0))
    x = torch.arange(5000)
    xs, ys = long_tail(x, y, 20.0, 5, generator(0, "long_tail"))
    sizes = torch.bincount(y, minlength=5).tolist()
    assert torch.bincount(ys, minlength=5).tolist() == long_tail_counts(sizes, 20.0)
    assert torch.equal(y[xs], ys) and torch.all(xs[1:] > xs[:-1])  # real rows, order kept
    assert torch.equal(xs, long_tail(x, y, 20.0, 5, generator(0, "long_tail"))[0])
    assert not torch.equal(xs, long_tail(x, y, 20.0, 5, generator(1, "long_tail"))[0])


def test_loader_train_and_val_long_tailed_test_balanced(tmp_path):
    write_mnist_folder(tmp_path, n_train=2000, n_test=100)  # 200 per class
    clean = data.load("fashion-mnist", root=str(tmp_path))
    d = data.load("fashion-mnist", root=str(tmp_path), imbalance="long_tail",
                  imbalance_ratio=10, val_fraction=0.2, seed=5)
    profile = long_tail_counts([200] * 10, 10)
    assert d.meta["imbalance"] == {"kind": "long_tail", "ratio": 10.0, "counts": profile}
    train = torch.bincount(d.train.tensors[1], minlength=10)
    val = torch.bincount(d.val.tensors[1], minlength=10)
    assert (train + val).tolist() == profile
    for n_c, v in zip(profile, val.tolist()):  # validation: the same profile (stratified)
        assert math.floor(0.2 * n_c) <= v <= math.ceil(0.2 * n_c)
    assert d.meta["class_counts"]["train"] == train.tolist()
    assert torch.bincount(d.test.tensors[1]).tolist() == [10] * 10
    assert torch.equal(d.test.tensors[0], clean.test.tensors[0])


def test_long_tail_with_noise(tmp_path):
    write_mnist_folder(tmp_path, n_train=2000, n_test=100)
    d = data.load("fashion-mnist", root=str(tmp_path), imbalance="long_tail",
                  imbalance_ratio=10, noise="symmetric", noise_rate=0.2)
    clean = d.meta["clean_train_targets"]
    assert torch.bincount(clean, minlength=10).tolist() == long_tail_counts([200] * 10, 10)
    assert abs(float((d.train.tensors[1] != clean).double().mean()) - 0.2) <= 0.005


@pytest.mark.parametrize(
    "imbalance, ratio, retention, match",
    [("zipf", 10, 1.0, "imbalance must be"),
     (None, 10, 1.0, "imbalance_ratio=10 needs imbalance"),
     ("long_tail", None, 1.0, "needs imbalance_ratio"),
     ("long_tail", 0.5, 1.0, "needs imbalance_ratio"),
     ("long_tail", float("inf"), 1.0, "needs imbalance_ratio"),
     ("long_tail", 10, 0.5, "two imbalance profiles")],
)
def test_bad_imbalance_arguments(imbalance, ratio, retention, match):
    with pytest.raises(ValueError, match=match):
        check_imbalance(imbalance, ratio, retention)


def test_a_ratio_that_empties_the_tail_is_refused(tmp_path):
    write_mnist_folder(tmp_path, n_train=200, n_test=20)  # 20 per class
    with pytest.raises(ValueError, match="imbalance_ratio=50.0 leaves the tail class empty"):
        data.load("fashion-mnist", root=str(tmp_path), imbalance="long_tail", imbalance_ratio=50)
