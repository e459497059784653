"""Fully connected models: ``linear`` (multinomial logistic regression) and ``mlp``.

The SLF and UniLoss papers train a 784-500-300-10 ReLU MLP on (Fashion-)MNIST; ``mlp`` with
its defaults is exactly that network for ``input_shape=(1, 28, 28)`` (inputs are flattened).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from losskit.models._common import (
    check_input_shape,
    check_positive_int,
    check_probability,
    flat_dim,
    kaiming_init,
    parse_int_list,
)
from losskit.models.base import MODELS, Classifier


class LinearClassifier(Classifier):
    """Flatten → ``nn.Linear``. Features are the flattened input (``feature_dim = prod(shape)``)."""

    def __init__(self, input_shape: tuple[int, ...], num_classes: int) -> None:
        super().__init__()
        shape = check_input_shape(input_shape)
        self.num_classes = check_positive_int(num_classes, "num_classes")
        self.feature_dim = flat_dim(shape)
        self.head = nn.Linear(self.feature_dim, self.num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(len(x), self.feature_dim)


class MLP(Classifier):
    """Flatten → [Linear → (BatchNorm) → ReLU → (Dropout)] per hidden width → head.

    The default ``hidden=(500, 300)`` is the UniLoss paper's MNIST model (§4.2 and its
    appendix: 784-500-300 with ReLU, a 2-way output there). The SLF paper's Table 1 names an
    "MLP" on MNIST without giving its widths; our SLF experiments use this same network.
    Features are the last hidden activations (``feature_dim = hidden[-1]``).
    """

    def __init__(
        self,
        input_shape: tuple[int, ...],
        num_classes: int,
        hidden: Any = (500, 300),
        dropout: float = 0.0,
        batchnorm: bool = False,
    ) -> None:
        super().__init__()
        shape = check_input_shape(input_shape)
        self.num_classes = check_positive_int(num_classes, "num_classes")
        widths = parse_int_list(hidden, "hidden")
        if not widths:
            raise ValueError("hidden must list at least one width, got an empty sequence")
        p = check_probability(dropout, "dropout")
        if not isinstance(batchnorm, bool):
            raise ValueError(f"batchnorm must be a bool, got {batchnorm!r}")
        self.in_features = flat_dim(shape)
        layers: list[nn.Module] = []
        previous = self.in_features
        for width in widths:
            layers.append(nn.Linear(previous, width, bias=not batchnorm))
            if batchnorm:
                layers.append(nn.BatchNorm1d(width))
            layers.append(nn.ReLU(inplace=True))
            if p > 0:
                layers.append(nn.Dropout(p))
            previous = width
        self.body = nn.Sequential(*layers)
        kaiming_init(self.body)
        self.feature_dim = previous
        self.head = nn.Linear(previous, self.num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.reshape(len(x), self.in_features))


@MODELS.register("linear", help="flatten → linear head (logistic regression)")
def linear(input_shape: tuple[int, ...], num_classes: int) -> LinearClassifier:
    """Multinomial logistic regression on the flattened input."""
    return LinearClassifier(input_shape, num_classes)


@MODELS.register("mlp", help="ReLU MLP, default 784-500-300-10 (SLF / UniLoss papers)")
def mlp(
    input_shape: tuple[int, ...],
    num_classes: int,
    hidden: Any = (500, 300),
    dropout: float = 0.0,
    batchnorm: bool = False,
) -> MLP:
    """ReLU MLP on the flattened input; ``hidden`` is a list or ``"500,300"``."""
    return MLP(input_shape, num_classes, hidden=hidden, dropout=dropout, batchnorm=batchnorm)
