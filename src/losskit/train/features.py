"""Features for the losses that need them (center, L-GM), from *any* ``nn.Module``.

Every loss needs only the model's logits, except those with ``needs_features = True`` (center,
L-GM, and SLF / MILS when one of their candidates is such a loss): they also need the
penultimate activations. A losskit :class:`~losskit.models.base.Classifier` returns them with
``model(x, return_features=True)``. For any other module, say where they are with ``features=``
(``fit``, :class:`~losskit.train.Trainer`, ``LossKitModule``):

* ``features="body.2"``: a forward hook on the sub-module of that name (as in
  ``model.named_modules()``); its output, flattened to ``(N, D)``, are the features;
* ``features=fn``: ``fn(model, x) -> (logits, features)``.

Without it a plain module trains with every logits-only loss, and a feature loss raises one
:class:`~losskit.core.errors.ConfigError` that says how to provide them.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from losskit.core.errors import ConfigError

FeatureFn = Callable[[nn.Module, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
FeatureSpec = str | FeatureFn | None


def provides_features(model: nn.Module) -> bool:
    """Whether ``model.forward`` takes ``return_features`` (a losskit ``Classifier``, also
    under ``torch.compile`` or DDP)."""
    inner = getattr(model, "_orig_mod", getattr(model, "module", model))
    try:
        return "return_features" in inspect.signature(inner.forward).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        return False


class FeatureModel(nn.Module):
    """``model`` with ``forward(x, return_features=False)``: logits, or ``(logits, features)``
    with features from the ``features`` spec (module doc); ``features`` is ``None`` when no spec
    was given. ``num_classes`` / ``feature_dim`` are copied from ``model`` when it has them."""

    def __init__(self, model: nn.Module, features: FeatureSpec = None) -> None:
        super().__init__()
        self.model = model
        self.spec = features
        self._captured: torch.Tensor | None = None
        self._capturing = False
        for attr in ("num_classes", "feature_dim"):
            if hasattr(model, attr):
                setattr(self, attr, getattr(model, attr))
        if isinstance(features, str):
            layers = dict(model.named_modules())
            if not features or features not in layers:
                named = [n for n in layers if n]
                raise ConfigError(
                    f"features {features!r} names no layer of the model; expected one of: "
                    f"{', '.join(named)}", "features",
                )
            layers[features].register_forward_hook(self._capture)
        elif features is not None and not callable(features):
            raise ConfigError(
                "features must be a layer name, a callable fn(model, x) -> (logits, features) "
                f"or None, got {features!r}", "features",
            )

    def _capture(self, module: nn.Module, inputs: Any, output: Any) -> None:
        if self._capturing:
            self._captured = output

    def forward(
        self, x: torch.Tensor, return_features: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor | None]:
        if not return_features:
            return self.model(x)
        if self.spec is None:
            return self.model(x), None
        if callable(self.spec):
            logits, feats = self.spec(self.model, x)
            return logits, feats.flatten(1)
        self._capturing = True
        try:
            logits = self.model(x)
        finally:
            self._capturing = False
        feats, self._captured = self._captured, None
        if not isinstance(feats, torch.Tensor):
            raise ConfigError(
                f"features layer {self.spec!r} did not produce a tensor in the forward pass",
                "features",
            )
        return logits, feats.flatten(1)


def with_features(model: nn.Module, features: FeatureSpec = None) -> nn.Module:
    """``model`` itself when it already returns features (and no ``features`` spec is given),
    else a :class:`FeatureModel` around it. The result answers ``return_features=True``."""
    if features is None and provides_features(model):
        return model
    return FeatureModel(model, features)


@torch.no_grad()
def infer_dims(model: nn.Module, sample: torch.Tensor) -> tuple[int, int | None]:
    """``(number of outputs, feature dimension or None)`` of a features-capable ``model`` from
    one forward pass on ``sample[:1]`` in eval mode (no state changes: BatchNorm statistics,
    dropout and RNG untouched)."""
    was_training = model.training
    model.eval()
    try:
        logits, feats = model(sample[:1], return_features=True)
    finally:
        model.train(was_training)
    return int(logits.reshape(1, -1).shape[1]), (None if feats is None else int(feats.shape[1]))
