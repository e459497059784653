"""The installed MNIST (`make data`); skipped when it is not installed."""

from __future__ import annotations

import pytest
import torch

from losskit import data
from losskit.data import install, mnist

pytestmark = pytest.mark.skipif(not mnist.is_installed(),
                                reason=f"MNIST not installed in {mnist.resolve_root()}")


@pytest.fixture(scope="module")
def splits() -> data.DataSplits:
    return data.load("mnist", val_fraction=0.1)


def test_files_match_the_recorded_digests():
    if not all((mnist.resolve_root() / n).is_file() for n in mnist.SHA256):
        pytest.skip("installed as .gz files: digests are of the uncompressed originals")
    assert install.verify() == {}


def test_counts_shapes_and_normalisation(splits):
    x, y = splits.train.tensors
    xv, yv = splits.val.tensors
    xt, yt = splits.test.tensors
    assert (len(x), len(xv), len(xt)) == (54_000, 6_000, 10_000)
    assert x.shape[1:] == (1, 28, 28) and x.dtype == torch.float32
    full = torch.bincount(torch.cat([y, yv]), minlength=10).tolist()
    assert full == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert torch.bincount(yt).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    # stratified: each class's share of the 6,000 is within one image of 10 %
    assert (torch.bincount(yv, minlength=10) - torch.tensor(full) / 10).abs().max() <= 1
    allx = torch.cat([x, xv])
    assert abs(float(allx.mean())) < 1e-3 and abs(float(allx.std()) - 1) < 2e-3


def test_binary_is_the_natural_one_to_nine(splits):
    b = data.load("mnist-binary", val_fraction=0.1)
    assert int(b.train.tensors[1].sum()) + int(b.val.tensors[1].sum()) == 5923
    assert torch.bincount(b.test.tensors[1]).tolist() == [9020, 980]
    assert torch.equal(b.val.tensors[0], splits.val.tensors[0])
