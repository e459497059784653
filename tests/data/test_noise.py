"""Label noise: exact realised rates, the stated flips only, seeded, clean test set, reachable
from the loaders, the CLI's --data-arg and experiment specs."""

from __future__ import annotations

import pytest
import torch

from losskit import data
from losskit.data.noise import (
    FASHION_MNIST_PAIRS,
    MNIST_PAIRS,
    asymmetric_noise,
    check_noise,
    symmetric_noise,
)
from losskit.data.splits import generator
from tests.data.helpers import write_mnist_folder


def _labels(n: int = 3000, classes: int = 10, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, classes, (n,), generator=torch.Generator().manual_seed(seed))


# ------------------------------------------------------------------ symmetric
@pytest.mark.parametrize("rate", [0.0, 0.2, 0.4, 0.8])
def test_symmetric_rate_is_exact_and_every_flip_changes_the_label(rate):
    y = _labels()
    noisy = symmetric_noise(y, rate, 10, generator(0, "n"))
    changed = noisy != y
    assert abs(float(changed.double().mean()) - rate) <= 0.5 / y.numel()  # well within 0.5 %
    assert noisy.dtype == y.dtype and int(noisy.min()) >= 0 and int(noisy.max()) <= 9


def test_symmetric_replacement_is_uniform_over_the_other_classes():
    y = torch.zeros(18000, dtype=torch.int64)
    noisy = symmetric_noise(y, 0.5, 10, generator(1, "n"))
    counts = torch.bincount(noisy, minlength=10)
    assert counts[0] == 9000  # kept; replaced labels never land on the clean class
    # 9000 replacements over 9 classes: 1000 each, binomial std ≈ 31
    assert torch.all((counts[1:] - 1000).abs() < 150), counts


# ------------------------------------------------------------------ asymmetric
@pytest.mark.parametrize("pairs", [MNIST_PAIRS, FASHION_MNIST_PAIRS])
def test_asymmetric_flips_follow_the_pairs_only(pairs):
    y = _labels(5000)
    noisy = asymmetric_noise(y, 0.4, pairs, generator(2, "n"))
    changed = torch.nonzero(noisy != y).flatten()
    for i in changed.tolist():
        assert pairs[int(y[i])] == int(noisy[i])
    for c in range(10):
        members = y == c
        rate = float((noisy[members] != c).double().mean())
        expected = 0.4 if c in pairs else 0.0
        assert abs(rate - expected) <= 0.5 / int(members.sum()), (c, rate)


def test_asymmetric_pairs_are_the_stated_ones():
    assert MNIST_PAIRS == {2: 7, 3: 8, 5: 6, 6: 5, 7: 1}  # Patrini et al. 2017
    assert FASHION_MNIST_PAIRS == {0: 6, 2: 4, 4: 2, 5: 7, 7: 9}


@pytest.mark.parametrize("kind", ["symmetric", "asymmetric"])
def test_same_seed_same_labels_different_seed_different_labels(tmp_path, kind):
    write_mnist_folder(tmp_path, n_train=1000, n_test=100)
    kw = {"root": str(tmp_path), "noise": kind, "noise_rate": 0.3, "val_fraction": 0.2}
    a = data.load("fashion-mnist", seed=1, **kw)
    b = data.load("fashion-mnist", seed=1, **kw)
    c = data.load("fashion-mnist", seed=2, **kw)
    assert torch.equal(a.train.tensors[1], b.train.tensors[1])
    assert torch.equal(a.val.tensors[1], b.val.tensors[1])
    assert not torch.equal(a.train.tensors[1], c.train.tensors[1])


# ------------------------------------------------------------------ loaders
@pytest.mark.parametrize("kind", ["symmetric", "asymmetric"])
def test_loader_noisy_train_and_val_clean_test_same_images(tmp_path, kind):
    write_mnist_folder(tmp_path, n_train=2000, n_test=200)
    clean = data.load("fashion-mnist", root=str(tmp_path), seed=3, val_fraction=0.1)
    noisy = data.load("fashion-mnist", root=str(tmp_path), seed=3, val_fraction=0.1,
                      noise=kind, noise_rate=0.4)
    meta = noisy.meta
    for part in ("train", "val"):
        x, y = getattr(noisy, part).tensors
        x0, y0 = getattr(clean, part).tensors
        assert torch.equal(x, x0)  # the same images (split taken on the clean labels)
        assert torch.equal(meta[f"clean_{part}_targets"], y0)
        flipped = y != y0
        eligible = (torch.ones_like(y0, dtype=torch.bool) if kind == "symmetric"
                    else torch.isin(y0, torch.tensor(sorted(FASHION_MNIST_PAIRS))))
        assert not bool(flipped[~eligible].any())
        realised = meta["noise"]["realised"][part]
        assert realised["flipped"] == int(flipped.sum())
        assert realised["eligible"] == int(eligible.sum())
        assert abs(realised["rate"] - 0.4) <= 0.005
        assert realised["class_counts"] == torch.bincount(y, minlength=10).tolist()
    assert torch.equal(noisy.test.tensors[1], clean.test.tensors[1])  # test stays clean
    assert torch.equal(noisy.test.tensors[0], clean.test.tensors[0])
    assert meta["noise"]["kind"] == kind and meta["noise"]["rate"] == 0.4
    assert meta["class_counts"] == clean.meta["class_counts"]  # of the clean labels


def test_mnist_asymmetric_uses_the_mnist_pairs(tmp_path):
    write_mnist_folder(tmp_path, n_train=1000, n_test=50)
    d = data.load("mnist", root=str(tmp_path), check=False, noise="asymmetric", noise_rate=0.5)
    y, y0 = d.train.tensors[1], d.meta["clean_train_targets"]
    pairs = {(int(a), int(b)) for a, b in zip(y0[y != y0], y[y != y0])}
    assert pairs == set(MNIST_PAIRS.items())
    assert d.meta["noise"]["pairs"] == [[2, 7], [3, 8], [5, 6], [6, 5], [7, 1]]


@pytest.mark.parametrize(
    "kwargs, name",
    [({"noise": "gaussian", "noise_rate": 0.1}, "noise must be"),
     ({"noise_rate": 0.1}, "noise_rate=0.1 needs noise"),
     ({"noise": "symmetric"}, "needs noise_rate"),
     ({"noise": "symmetric", "noise_rate": 1.0}, "noise_rate must be"),
     ({"noise": "asymmetric", "noise_rate": -0.1}, "noise_rate must be")],
)
def test_bad_noise_arguments(tmp_path, kwargs, name):
    write_mnist_folder(tmp_path, n_train=100, n_test=20)
    with pytest.raises(ValueError, match=name):
        data.load("fashion-mnist", root=str(tmp_path), **kwargs)
    with pytest.raises(ValueError, match=name):
        check_noise(kwargs.get("noise"), kwargs.get("noise_rate"))


# ------------------------------------------------------------------ reachable
def test_reachable_from_the_cli_and_experiment_specs(tmp_path):
    from losskit.cli import _parse_pairs
    from losskit.train import TrainConfig, fit

    kwargs = _parse_pairs(["noise=symmetric", "noise_rate=0.4", "imbalance=long_tail",
                           "imbalance_ratio=10"], "--data-arg")
    assert kwargs == {"noise": "symmetric", "noise_rate": 0.4, "imbalance": "long_tail",
                      "imbalance_ratio": 10}
    for name in ("mnist", "fashion-mnist"):
        data.DATASETS.check_kwargs(name, kwargs)  # no unknown keyword
    write_mnist_folder(tmp_path, n_train=300, n_test=50)
    run = fit(TrainConfig(data="fashion-mnist", model="mlp", epochs=1, seed=0,
                          data_kwargs={"root": str(tmp_path), **kwargs}))
    assert 0.0 <= run.final["test_acc"] <= 1.0
