"""Shared test fixtures: tiny synthetic datasets and models (fast, no files needed)."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from losskit.data.base import DataSplits
from losskit.models.base import Classifier

torch.set_num_threads(1)


class TinyNet(Classifier):
    """Linear → BatchNorm → ReLU → head: small, with buffers (BatchNorm) to exercise state."""

    def __init__(self, in_features: int = 8, num_classes: int = 3, hidden: int = 16) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.feature_dim = hidden
        self.body = nn.Sequential(nn.Linear(in_features, hidden), nn.BatchNorm1d(hidden), nn.ReLU())
        self.head = nn.Linear(hidden, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.flatten(1))


def make_blobs(
    n: int = 240, in_features: int = 8, num_classes: int = 3, seed: int = 0
) -> DataSplits:
    """Gaussian blobs, linearly separable-ish: a classification task that trains in milliseconds."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(num_classes, in_features, generator=g) * 2.0
    y = torch.randint(0, num_classes, (n,), generator=g)
    x = centres[y] + torch.randn(n, in_features, generator=g)
    cut = int(0.75 * n)
    return DataSplits(
        name="blobs",
        train=TensorDataset(x[:cut], y[:cut]),
        val=None,
        test=TensorDataset(x[cut:], y[cut:]),
        num_classes=num_classes,
        input_shape=(in_features,),
    )


@pytest.fixture
def blobs() -> DataSplits:
    return make_blobs()


@pytest.fixture
def tiny_net() -> TinyNet:
    torch.manual_seed(0)
    return TinyNet()
