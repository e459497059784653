"""Model contract and registry.

Every model is a :class:`Classifier`: ``model(x)`` returns logits ``(N, C)`` and
``model(x, return_features=True)`` returns ``(logits, features)`` where ``features`` are the
penultimate activations ``(N, feature_dim)`` that center / L-GM losses need.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from losskit.core.registry import Registry


class Classifier(nn.Module):
    """A feature extractor followed by a linear head.

    Subclasses set ``self.head`` (an ``nn.Linear``) and implement :meth:`features`.
    """

    num_classes: int
    feature_dim: int
    head: nn.Linear

    def features(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(
        self, x: torch.Tensor, return_features: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        feats = self.features(x)
        logits = self.head(feats)
        return (logits, feats) if return_features else logits


MODELS: Registry[Classifier] = Registry("model")


def build(
    name: str, input_shape: tuple[int, ...], num_classes: int, **kwargs: Any
) -> Classifier:
    """Build model ``name`` for inputs of shape ``input_shape`` (without batch dim)."""
    return MODELS.get(name, input_shape=tuple(input_shape), num_classes=num_classes, **kwargs)


def names() -> list[str]:
    return MODELS.names()
