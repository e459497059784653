"""Margin losses on the logits of a classifier.

* :func:`hinge` — the multi-class hinge (SLF's "categorical hinge" candidate, Liu & Lai 2020):
  Crammer & Singer (2001, "On the Algorithmic Implementation of Multiclass Kernel-based Vector
  Machines") or the one-vs-all squared hinge;
* :func:`multi_margin` — the multi-class margin loss of Weston & Watkins (1999, "Support
  Vector Machines for Multi-Class Pattern Recognition"), ``torch.nn.MultiMarginLoss``'s form; a
  MILS auxiliary.

Logits ``(N, C)`` with class indices ``(N,)``. Module forms (registry names):
:class:`HingeLoss` (``hinge``), :class:`MultiMarginLoss` (``multi_margin``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from losskit.core._validation import checks, choice, number, reduce
from losskit.losses._common import check_classification, one_hot, target_logit
from losskit.losses.mirror import FunctionalLoss
from losskit.losses.registry import LOSSES

__all__ = ["hinge", "multi_margin", "HINGE_VARIANTS", "HingeLoss", "MultiMarginLoss"]

HINGE_VARIANTS = ("crammer_singer", "ova_squared")


@checks(variant=choice(*HINGE_VARIANTS))
def hinge(
    input: torch.Tensor,
    target: torch.Tensor,
    variant: str = "crammer_singer",
    reduction: str = "mean",
    *,
    validate_args: bool | None = None,
) -> torch.Tensor:
    """Multi-class hinge loss on the logits (SLF's "categorical hinge").

    * ``"crammer_singer"`` (Crammer & Singer 2001): ``max(0, 1 + max_{j≠y} z_j - z_y)``;
    * ``"ova_squared"`` (one-vs-all squared hinge): ``mean_j max(0, 1 - t_j z_j)^2`` with
      ``t_j = +1`` for ``j = y`` and ``-1`` otherwise.
    """
    check_classification(input, target, reduction, "hinge", validate_args)
    if input.shape[1] < 2:
        raise ValueError(f"input must have at least 2 classes for hinge, got {input.shape[1]}")
    onehot = one_hot(target, input.shape[1], input)
    if variant == "crammer_singer":
        z_y = target_logit(input, target)
        others = input.masked_fill(onehot.bool(), float("-inf"))
        values = F.relu(1.0 + others.max(dim=1).values - z_y)
    else:
        signs = 2.0 * onehot - 1.0
        values = F.relu(1.0 - signs * input).pow(2).mean(dim=1)
    return reduce(values, reduction)


@checks(p=choice(1, 2), margin=number())
def multi_margin(
    input: torch.Tensor,
    target: torch.Tensor,
    p: int = 1,
    margin: float = 1.0,
    reduction: str = "mean",
    *,
    validate_args: bool | None = None,
) -> torch.Tensor:
    """Multi-class margin loss (Weston & Watkins; ``torch.nn.MultiMarginLoss``, MILS auxiliary).

    Per sample: ``sum_{j≠y} max(0, margin - z_y + z_j)^p / C``; equals
    ``F.multi_margin_loss(input, target, p=p, margin=margin)``. ``p`` is 1 or 2.
    """
    check_classification(input, target, reduction, "multi_margin", validate_args)
    z_y = target_logit(input, target).unsqueeze(1)
    values = F.relu(margin - z_y + input).pow(int(p))
    values = values * (1.0 - one_hot(target, input.shape[1], input))
    return reduce(values.sum(dim=1) / input.shape[1], reduction)


# --------------------------------------------------------------------------- module forms
@LOSSES.register("hinge", help="multi-class hinge on logits (crammer_singer | ova_squared)")
class HingeLoss(FunctionalLoss):
    """Multi-class hinge loss on the logits (``variant``: ``"crammer_singer"`` or
    ``"ova_squared"``), the module form of :func:`hinge`."""

    function = staticmethod(hinge)

    def __init__(self, variant: str = "crammer_singer", reduction: str = "mean", *,
                 validate_args: bool | None = None) -> None:
        super().__init__(reduction, validate_args=validate_args)
        self._set_hyperparameters(variant=variant)


@LOSSES.register("multi_margin", help="multi-class margin loss (torch MultiMarginLoss)")
class MultiMarginLoss(FunctionalLoss):
    """Multi-class margin loss ``Σ_{j≠y} max(0, margin - z_y + z_j)^p / C`` (``p`` 1 or 2),
    the module form of :func:`multi_margin`."""

    function = staticmethod(multi_margin)

    def __init__(self, p: int = 1, margin: float = 1.0, reduction: str = "mean", *,
                 validate_args: bool | None = None) -> None:
        super().__init__(reduction, validate_args=validate_args)
        self._set_hyperparameters(p=p, margin=margin)
