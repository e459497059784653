"""The loss registry: ``get("focal", gamma=2.0)``, ``names()``."""

from __future__ import annotations

from typing import Any

from losskit.core.registry import Registry
from losskit.losses.base import Loss

LOSSES: Registry[Loss] = Registry("loss")


def get(name: str, **kwargs: Any) -> Loss:
    """Build the loss registered as ``name`` (``ValueError`` listing valid names if unknown)."""
    return LOSSES.get(name, **kwargs)


def build(name: str, context: dict[str, Any] | None = None, **kwargs: Any) -> Loss:
    """Like :func:`get`, also passing the ``context`` keys (``num_classes``, ``feature_dim``)
    that the loss's constructor accepts."""
    return LOSSES.build(name, context, **kwargs)


def names() -> list[str]:
    return LOSSES.names()
