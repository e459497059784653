from __future__ import annotations

import numpy as np
import pytest
import torch

from losskit import data

sk_datasets = pytest.importorskip("sklearn.datasets")
StandardScaler = pytest.importorskip("sklearn.preprocessing").StandardScaler

SETS = {  # name: (sklearn loader, n, d, classes)
    "digits": ("load_digits", 1797, 64, 10),
    "breast-cancer": ("load_breast_cancer", 569, 30, 2),
    "wine": ("load_wine", 178, 13, 3),
}


@pytest.mark.parametrize("name", sorted(SETS))
def test_shapes_dtypes_and_stratified_test_split(name):
    loader, n, dim, classes = SETS[name]
    d = data.load(name)
    x, y = d.train.tensors
    xt, yt = d.test.tensors
    assert x.dtype == torch.float32 and y.dtype == torch.int64
    assert x.shape[1] == dim and d.input_shape == (dim,) and d.num_classes == classes
    assert x.shape[0] + xt.shape[0] == n and d.val is None
    assert xt.shape[0] == int(np.floor(0.25 * n + 0.5))
    assert d.meta["task"] == "classification"
    full = np.bincount(getattr(sk_datasets, loader)().target)
    test_counts = torch.bincount(yt, minlength=classes).numpy()
    assert np.all(np.abs(test_counts - 0.25 * full) <= 1)  # stratified


@pytest.mark.parametrize("name", sorted(SETS))
def test_standardised_with_train_statistics_only(name):
    d = data.load(name, val_fraction=0.2, seed=4)
    x = d.train.tensors[0].double()
    mean, std = np.array(d.meta["feature_mean"]), np.array(d.meta["feature_std"])
    varying = std != 1.0  # constant columns are only centred
    torch.testing.assert_close(x.mean(0), torch.zeros(x.shape[1], dtype=torch.float64),
                               atol=1e-5, rtol=0)
    torch.testing.assert_close(x.std(0, correction=0)[torch.from_numpy(varying)],
                               torch.ones(int(varying.sum()), dtype=torch.float64),
                               atol=1e-5, rtol=0)
    # The same transform as sklearn's StandardScaler fitted on the raw train rows.
    raw_train = x.numpy() * std + mean
    scaler = StandardScaler().fit(raw_train)
    np.testing.assert_allclose(scaler.mean_, mean, rtol=1e-5, atol=1e-5 * np.abs(mean).max())
    raw_all = getattr(sk_datasets, SETS[name][0])().data
    # ... and not the statistics of the whole data set (that would leak val/test rows).
    assert np.abs(raw_all.mean(0) - mean).max() > 1e-4 * np.abs(mean).max()
    raw_test = d.test.tensors[0].double().numpy() * std + mean
    np.testing.assert_allclose(scaler.transform(raw_test), d.test.tensors[0].numpy(),
                               rtol=1e-4, atol=1e-4)


def test_digits_rows_partition_the_dataset_exactly():
    d = data.load("digits", val_fraction=0.1, seed=2)
    mean, std = np.array(d.meta["feature_mean"]), np.array(d.meta["feature_std"])
    parts = [d.train, d.val, d.test]
    rows = [np.rint(p.tensors[0].double().numpy() * std + mean).astype(int) for p in parts]
    labels = [p.tensors[1].numpy() for p in parts]
    got = np.concatenate([np.concatenate(rows), np.concatenate(labels)[:, None]], axis=1)
    bunch = sk_datasets.load_digits()
    want = np.concatenate([bunch.data.astype(int), bunch.target[:, None]], axis=1)
    # Same multiset of (pixels, label) rows: nothing lost, duplicated or mislabelled.
    assert sorted(map(tuple, got)) == sorted(map(tuple, want))
    assert len(d.val) == int(np.floor(0.1 * (1797 - 449) + 0.5))


def test_split_is_seeded():
    a, b, c = data.load("wine", seed=1), data.load("wine", seed=1), data.load("wine", seed=2)
    assert torch.equal(a.test.tensors[0], b.test.tensors[0])
    assert a.test.tensors[0].shape != c.test.tensors[0].shape or not torch.equal(
        a.test.tensors[0], c.test.tensors[0]
    )


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.5])
def test_bad_test_fraction(bad):
    with pytest.raises(ValueError, match="test_fraction"):
        data.load("wine", test_fraction=bad)
