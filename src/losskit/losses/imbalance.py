"""Losses for class imbalance: logit-adjusted cross-entropy and LDAM (with deferred
re-weighting). Functional and ``nn.Module`` forms, registered as ``logit_adjusted_ce`` and
``ldam``. Class-balanced weights (Cui et al. 2019) are an option of the whole cross-entropy
family (``ce``, ``focal``, ``ldam``, …: ``class_balanced_beta=``, see
:mod:`losskit.losses.priors`).

Both need the training set's class counts ``n_c``: the training methods pass them
(``class_counts``, :mod:`losskit.losses.priors`); outside them pass ``class_counts=`` (or, for
logit adjustment, ``priors=``) yourself.

* ``logit_adjusted_ce`` (Menon et al. 2021, "Long-tail learning via logit adjustment", Eq. 10):
  ``CE(z + τ·log π, y)`` with the class priors ``π_c = n_c / N``; predict with the plain
  ``argmax z`` (the adjustment only shapes training). Supports every cross-entropy
  convention (soft targets, ``(N, C, d1, …)``, ``weight``, ``ignore_index``).
* ``ldam`` (Cao et al. 2019, "Learning Imbalanced Datasets with Label-Distribution-Aware
  Margin Loss", Eq. 13): ``CE(s·(z − Δ_y e_y), y)`` with per-class margins
  ``Δ_j = K / n_j^{1/4}``, ``K`` such that ``max_j Δ_j = max_m``. Deferred re-weighting (DRW,
  Sec. 3.3): ``class_balanced_beta=0.9999, drw_epoch=k`` — the class-balanced weights from
  epoch ``k`` on; the training method calls ``set_epoch`` (:func:`~losskit.losses.priors.
  sync_epoch`) with the 0-based epoch before each step. Class-index targets only.

=============================  ============================  ================================
paper                          our default                   options
=============================  ============================  ================================
logit adjustment: ``τ = 1``,   ``tau = 1``, ``π`` from the   ``tau``; ``priors=`` (any
``π`` = training label         training labels               positive ``(C,)``; normalising
frequencies                                                  them does not change the loss)
LDAM: ``max_m = 0.5``,         ``max_m = 0.5, s = 30``       ``s = 1`` suits a plain linear
``s = 30`` on a cosine                                       head (the authors normalise
(normalised) classifier                                      features and weights; ``s``
(authors' code)                                              scales all logits)
DRW: ``β = 0.9999`` from       off (``drw_epoch=None``)      ``class_balanced_beta=0.9999,
epoch 160 of 200                                             drw_epoch=160``
class-balanced weights         ``weight`` semantics:         Cui et al. divide ``"mean"`` by
(Cui et al.): ``Σ w = C``,     ``"mean"`` divides by         ``N``: ``focal`` with ``alpha=
loss ``× w_y``                 ``Σ w_y`` (torch, Cao et al.) class_balanced_weights(...)``
=============================  ============================  ================================
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from losskit.core._validation import check_values, checks, number
from losskit.losses.family import FamilyLoss, ce_args, ce_reduce, class_index_loss
from losskit.losses.priors import check_class_counts, class_priors
from losskit.losses.registry import LOSSES

__all__ = ["logit_adjusted_ce", "ldam", "ldam_margins", "LogitAdjustedLoss", "LDAMLoss"]


def _class_view(per_class: torch.Tensor, like: torch.Tensor, name: str) -> torch.Tensor:
    """``per_class`` ``(C,)`` shaped to broadcast over ``like``'s class dimension 1."""
    if like.dim() < 2 or per_class.dim() != 1 or per_class.shape[0] != like.shape[1]:
        raise ValueError(f"{name} must have one entry per class of input "
                         f"({like.shape[1] if like.dim() >= 2 else '?'}), got shape "
                         f"{tuple(per_class.shape)}")
    view = [1] * like.dim()
    view[1] = -1
    return per_class.to(dtype=like.dtype, device=like.device).view(view)


def _check_priors(priors: object, validate_args: bool | None = None) -> torch.Tensor:
    if not isinstance(priors, torch.Tensor) or not priors.is_floating_point():
        raise ValueError(f"priors must be a floating-point tensor (C,), got {priors!r}")
    if check_values(validate_args) and not bool((torch.isfinite(priors) & (priors > 0)).all()):
        raise ValueError("priors must be finite and > 0 (every class needs a prior)")
    return priors


# --------------------------------------------------------------------------- logit adjustment
def _adjusted_ce(
    input: torch.Tensor,
    target: torch.Tensor,
    shift: torch.Tensor,
    reduction: str,
    weight: torch.Tensor | None,
    ignore_index: int,
    validate_args: bool | None,
) -> torch.Tensor:
    """``CE(input + shift, target)`` with the family's conventions (``shift`` ``(C,)``)."""
    soft, target, weight = ce_args(
        input, target, reduction, weight, ignore_index, validate_args, "logit_adjusted_ce"
    )
    adjusted = input + _class_view(shift, input, "priors")
    values = F.cross_entropy(adjusted, target, weight=weight, ignore_index=ignore_index,
                             reduction="none")
    return ce_reduce(values, target, reduction, soft, weight, ignore_index)


@checks(tau=number(low=0.0))
def logit_adjusted_ce(
    input: torch.Tensor,
    target: torch.Tensor,
    priors: torch.Tensor,
    tau: float = 1.0,
    reduction: str = "mean",
    *,
    weight: torch.Tensor | None = None,
    ignore_index: int = -100,
    validate_args: bool | None = None,
) -> torch.Tensor:
    """Logit-adjusted cross-entropy (Menon et al. 2021, Eq. 10): ``CE(z + τ·log π, y)``.

    ``priors`` ``π`` ``(C,)``: class priors (positive; e.g.
    :func:`~losskit.losses.priors.class_priors` of the training counts); ``tau ≥ 0``
    (``0``: plain cross-entropy). The same conventions as :func:`~losskit.losses.cross_entropy.
    cross_entropy` (soft targets, ``(N, C, d1, …)``, ``weight``, ``ignore_index``).
    """
    shift = tau * _check_priors(priors, validate_args).log()
    return _adjusted_ce(input, target, shift, reduction, weight, ignore_index, validate_args)


class LogitAdjustedLoss(FamilyLoss):
    """Logit-adjusted cross-entropy, see :func:`logit_adjusted_ce`. The priors come from
    ``priors=`` or, by default, from ``class_counts`` (``π_c = n_c / N``; the training methods
    pass the training labels' counts)."""

    function = staticmethod(logit_adjusted_ce)

    def __init__(self, tau: float = 1.0, reduction: str = "mean", *,
                 priors: torch.Tensor | None = None, **family: Any) -> None:
        counts = family.get("class_counts")
        super().__init__(reduction, **family)
        self._set_hyperparameters(tau=tau)
        if priors is None:
            pi = class_priors(check_class_counts(counts, "class_counts (or priors)"))
        else:
            pi = _check_priors(torch.as_tensor(priors, dtype=torch.float64), True)
        self.register_buffer("log_priors", pi.log().float(), persistent=False)

    def forward(
        self, input: torch.Tensor, target: torch.Tensor, features: torch.Tensor | None = None
    ) -> torch.Tensor:
        return _adjusted_ce(input, target, self.tau * self.log_priors, self.reduction,
                            **self._call_kwargs())


# --------------------------------------------------------------------------- LDAM
def ldam_margins(class_counts: torch.Tensor, max_m: float = 0.5) -> torch.Tensor:
    """LDAM's per-class margins (Cao et al. 2019, Eq. 13): ``Δ_j = K / n_j^{1/4}`` with ``K``
    such that the largest margin (the rarest class's) is ``max_m``; float64 ``(C,)``."""
    inv = check_class_counts(class_counts).pow(-0.25)
    return inv * (max_m / inv.max())


def _ldam(
    input: torch.Tensor,
    target: torch.Tensor,
    margins: torch.Tensor,
    s: float,
    reduction: str,
    weight: torch.Tensor | None,
    ignore_index: int,
    validate_args: bool | None,
) -> torch.Tensor:
    def values(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        at_target = torch.zeros_like(z).scatter_(1, y.unsqueeze(1), 1.0)
        shifted = z - at_target * _class_view(margins, z, "class_counts")
        return F.cross_entropy(s * shifted, y, reduction="none")

    return class_index_loss(input, target, reduction, weight, ignore_index, validate_args,
                            "ldam", values)


@checks(max_m=number(low=0.0, low_open=True), s=number(low=0.0, low_open=True))
def ldam(
    input: torch.Tensor,
    target: torch.Tensor,
    class_counts: torch.Tensor,
    max_m: float = 0.5,
    s: float = 30.0,
    reduction: str = "mean",
    *,
    weight: torch.Tensor | None = None,
    ignore_index: int = -100,
    validate_args: bool | None = None,
) -> torch.Tensor:
    """Label-distribution-aware margin loss (Cao et al. 2019, Eq. 13):
    ``CE(s·(z − Δ_y e_y), y)``, margins :func:`ldam_margins` of ``class_counts`` ``(C,)``
    (largest ``max_m > 0``), logit scale ``s > 0``. ``weight`` / ``ignore_index`` as in
    ``F.cross_entropy`` (DRW passes class-balanced weights); class-index targets only."""
    margins = ldam_margins(class_counts, max_m)
    return _ldam(input, target, margins, s, reduction, weight, ignore_index, validate_args)


class LDAMLoss(FamilyLoss):
    """LDAM loss, see :func:`ldam`; margins from ``class_counts`` (passed by the training
    methods). LDAM-DRW: ``class_balanced_beta=0.9999, drw_epoch=k``."""

    function = staticmethod(ldam)

    def __init__(self, max_m: float = 0.5, s: float = 30.0, reduction: str = "mean",
                 **family: Any) -> None:
        counts = family.get("class_counts")
        super().__init__(reduction, **family)
        self._set_hyperparameters(max_m=max_m, s=s)
        self.register_buffer("margins", ldam_margins(counts, self.max_m).float(),
                             persistent=False)

    def forward(
        self, input: torch.Tensor, target: torch.Tensor, features: torch.Tensor | None = None
    ) -> torch.Tensor:
        return _ldam(input, target, self.margins, self.s, self.reduction, **self._call_kwargs())


LOSSES.register("logit_adjusted_ce", LogitAdjustedLoss,
                help="logit-adjusted CE, CE(z + tau log prior) (Menon et al. 2021)")
LOSSES.register("ldam", LDAMLoss,
                help="label-distribution-aware margin loss, + DRW (Cao et al. 2019)")
