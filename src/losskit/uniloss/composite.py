"""``"uniloss:<metric>"``: a :class:`~losskit.uniloss.UniLoss` of that metric as a composite
loss name (e.g. a MILS auxiliary); registered in :data:`losskit.core.composites.COMPOSITE_LOSSES`
by :mod:`losskit.uniloss.method`."""

from __future__ import annotations

from typing import Any

from losskit.uniloss.loss import UniLoss

SYNTAX = "uniloss:<metric>"


def uniloss_from_name(arg: str, context: dict[str, Any], name: str) -> UniLoss:
    """``UniLoss(arg)`` (the metric's name)."""
    return UniLoss(arg)
