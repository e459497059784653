"""Every registered dataset honours the common loader contract."""

from __future__ import annotations

import inspect

import pytest
import torch

from losskit import data

EXPECTED = {
    "fashion-mnist", "fashion-mnist-binary", "digits", "breast-cancer", "wine",
    "mnist", "mnist-binary", "cifar10", "cifar100", "svhn", "keypoints",
}


def test_all_datasets_registered_and_exported():
    assert EXPECTED <= set(data.names())
    assert data.DATASETS is data.base.DATASETS
    for name in data.__all__:
        assert hasattr(data, name), name


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_loader_accepts_seed_and_val_fraction(name):
    params = inspect.signature(data.DATASETS.factory(name)).parameters
    assert params["seed"].default == 0 and params["val_fraction"].default == 0.0


@pytest.mark.parametrize(
    "name, kwargs",
    [("digits", {}), ("wine", {}), ("keypoints", {"n_train": 20, "n_test": 10})],
)
def test_offline_sets_meta_task_and_bad_val_fraction(name, kwargs):
    d = data.load(name, **kwargs)
    assert isinstance(d, data.DataSplits) and d.meta["task"] in {"classification", "keypoints"}
    assert tuple(d.train.tensors[0].shape[1:]) == d.input_shape
    assert d.train.tensors[1].dtype == torch.int64
    with pytest.raises(ValueError, match="val_fraction"):
        data.load(name, val_fraction=1.5, **kwargs)


def test_unknown_dataset_lists_names():
    with pytest.raises(ValueError, match="fashion-mnist"):
        data.load("imagenet")
