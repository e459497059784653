"""``"slf:<loss>+<loss>+…"``: a :class:`~losskit.slf.StochasticLoss` over those zoo losses as a
composite loss name (``+`` because ``,`` separates a list of losses, e.g. MILS auxiliaries);
registered in :data:`losskit.core.composites.COMPOSITE_LOSSES` by :mod:`losskit.slf.method`."""

from __future__ import annotations

from typing import Any

from losskit.core._validation import split_list
from losskit.slf.loss import StochasticLoss

SYNTAX = "slf:<loss>+<loss>+…"


def slf_from_name(arg: str, context: dict[str, Any], name: str) -> StochasticLoss:
    """``StochasticLoss`` over the ``+``-separated losses of ``arg`` (at least two), with the
    model's ``num_classes`` outputs (``ValueError`` naming ``name`` without it)."""
    if "num_classes" not in context:
        raise ValueError(f"{name!r} needs the model's num_classes")
    return StochasticLoss(
        split_list(arg, name, separator="+", min_items=2),
        num_outputs=context["num_classes"], context=context,
    )
