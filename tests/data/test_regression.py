"""Regression datasets: the bundled diabetes set and the heavy-tailed synthetic set."""

from __future__ import annotations

import inspect

import pytest
import torch
from sklearn.datasets import load_diabetes as sk_diabetes

from losskit import data
from losskit.data.regression import heavy_tail_function, make_heavy_tail


@pytest.mark.parametrize("name", ["diabetes", "heavy-tail"])
def test_registered_with_the_loader_contract(name):
    assert name in data.names()
    params = inspect.signature(data.DATASETS.factory(name)).parameters
    assert params["seed"].default == 0 and params["val_fraction"].default == 0.0
    d = data.load(name, **({"n_train": 50, "n_test": 20} if name == "heavy-tail" else {}))
    assert d.meta["task"] == "regression" and d.num_classes == 1 and d.val is None
    for split in (d.train, d.test):
        x, y = split.tensors
        assert x.dtype == y.dtype == torch.float32 and y.shape == (len(x), 1)
        assert tuple(x.shape[1:]) == d.input_shape
    with pytest.raises(ValueError, match="val_fraction"):
        data.load(name, val_fraction=1.0)


def test_diabetes_is_sklearns_split_disjointly_and_standardised_with_train_statistics():
    d = data.load("diabetes", seed=3, val_fraction=0.2, test_fraction=0.25)
    sk = sk_diabetes()
    sizes = [len(d.train), len(d.val), len(d.test)]
    assert sum(sizes) == 442 and sizes[2] == int(0.25 * 442 + 0.5)  # half rounds up
    assert sizes[1] == int(0.2 * (442 - sizes[2]) + 0.5)
    y_train = d.train.tensors[1].double()
    assert abs(float(y_train.mean())) < 1e-5 and abs(float(y_train.std(correction=0)) - 1) < 1e-5
    # every row is a row of sklearn's set (found back after un-standardising), with its target
    mean, std = torch.tensor(d.meta["feature_mean"]), torch.tensor(d.meta["feature_std"])
    sk_x, sk_y = torch.as_tensor(sk.data), torch.as_tensor(sk.target)
    seen = []
    for split in (d.train, d.val, d.test):
        x, y = split.tensors
        dist, idx = torch.cdist(x.double() * std + mean, sk_x).min(1)
        assert float(dist.max()) < 1e-6
        target = y.double().squeeze(1) * d.meta["target_std"] + d.meta["target_mean"]
        torch.testing.assert_close(target, sk_y[idx], rtol=1e-5, atol=1e-4)
        seen += idx.tolist()
    assert sorted(seen) == list(range(442))  # disjoint and complete
    again = data.load("diabetes", seed=3, val_fraction=0.2)
    assert torch.equal(again.test.tensors[0], d.test.tensors[0])
    other = data.load("diabetes", seed=4, val_fraction=0.2)
    assert not torch.equal(other.test.tensors[0], d.test.tensors[0])


def test_heavy_tail_targets_noise_and_determinism():
    d = data.load("heavy-tail", seed=1, n_train=4000, val_fraction=0.25, n_test=500)
    assert (len(d.train), len(d.val), len(d.test)) == (3000, 1000, 500)
    xt, yt = d.test.tensors
    torch.testing.assert_close(yt.squeeze(1), heavy_tail_function(xt.double()).float())
    noisy = data.load("heavy-tail", seed=1, n_train=10, n_test=500, clean_test=False)
    assert torch.equal(noisy.test.tensors[0], xt) and not torch.equal(noisy.test.tensors[1], yt)
    x, y = d.train.tensors
    residual = (y.squeeze(1) - heavy_tail_function(x.double()).float()) / 0.5  # ε ~ t_2
    # Student-t, df 2: P(|ε| > 4) = 1 - 4/sqrt(18) ≈ 0.057 (Gaussian: 6e-5)
    tail = float((residual.abs() > 4).double().mean())
    assert 0.04 < tail < 0.08
    gauss = data.load("heavy-tail", seed=1, n_train=3000, n_test=10, df=None)
    xg, yg = gauss.train.tensors
    eps = (yg.squeeze(1) - heavy_tail_function(xg.double()).float()) / 0.5
    assert float((eps.abs() > 4).double().mean()) < 0.002 and abs(float(eps.std()) - 1) < 0.05
    again = data.load("heavy-tail", seed=1, n_train=4000, val_fraction=0.25, n_test=500)
    assert all(torch.equal(a, b) for a, b in zip(again.train.tensors, d.train.tensors))
    assert not torch.equal(data.load("heavy-tail", seed=2, n_train=10, n_test=5).test.tensors[0],
                           data.load("heavy-tail", seed=1, n_train=10, n_test=5).test.tensors[0])


@pytest.mark.parametrize(
    "kwargs, match",
    [({"n": 0}, "n must be"), ({"dim": 3}, "dim must be"), ({"df": 0.0}, "df must be"),
     ({"df": "t"}, "df must be"), ({"noise_scale": -1.0}, "noise_scale")],
)
def test_make_heavy_tail_bad_arguments(kwargs, match):
    args = {"n": 5, "gen": torch.Generator().manual_seed(0), **kwargs}
    with pytest.raises(ValueError, match=match):
        make_heavy_tail(**args)


def test_load_heavy_tail_bad_arguments():
    with pytest.raises(ValueError, match="clean_test"):
        data.load("heavy-tail", clean_test="yes")
    with pytest.raises(ValueError, match="seed"):
        data.load("heavy-tail", seed=1.5)
