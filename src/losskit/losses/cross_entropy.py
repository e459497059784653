"""The cross-entropy family: softmax cross-entropy and the losses built on ``-log p_y``.

* :func:`cross_entropy` — softmax cross-entropy (the "softmax loss", MILS's primary loss);
* :func:`label_smoothing` — cross-entropy against smoothed targets (Szegedy et al. 2016,
  "Rethinking the Inception Architecture", Sec. 7);
* :func:`poly1` — Poly-1 cross-entropy ``CE + ε (1 - p_t)`` (Leng et al. 2022, "PolyLoss",
  Eq. 3);
* :func:`focal` — the multi-class (softmax) focal loss (Lin et al. 2017, "Focal Loss for Dense
  Object Detection", Eq. 5; a MILS auxiliary).

They follow ``torch.nn.functional.cross_entropy``'s conventions, so they are drop-ins:
``input`` ``(N, C)`` or ``(N, C, d1, …)``; ``target`` class indices ``(N,)`` / ``(N, d1, …)``
or class probabilities of ``input``'s shape (soft targets); ``weight`` ``(C,)`` multiplies
each element's loss by ``weight[y]`` (soft targets: ``weight_c`` inside the sum over
classes); elements whose label is ``ignore_index`` (default ``-100``) contribute 0; ``"mean"``
divides by ``Σ weight[y]`` over the elements not ignored (their count without ``weight``; soft
targets: the number of elements); ``"none"`` returns shape ``(N, d1, …)``
(:mod:`losskit.losses.family`).

Module forms (registry names): :class:`CrossEntropyLoss` (``ce``), :class:`LabelSmoothingLoss`
(``label_smoothing``), :class:`Poly1Loss` (``poly1``), :class:`FocalLoss` (``focal``); they
also take the family's class-balanced weights and deferred re-weighting
(:class:`~losskit.losses.family.CrossEntropyFamily`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from losskit.core._validation import check_number, check_values, checks, number
from losskit.losses.family import FamilyLoss, at_target, ce_args, ce_reduce
from losskit.losses.registry import LOSSES

__all__ = ["cross_entropy", "label_smoothing", "poly1", "focal",
           "CrossEntropyLoss", "LabelSmoothingLoss", "Poly1Loss", "FocalLoss"]


def _nll_family(
    input: torch.Tensor,
    target: torch.Tensor,
    reduction: str,
    weight: torch.Tensor | None,
    ignore_index: int,
    validate_args: bool | None,
    term: Callable[[torch.Tensor], torch.Tensor],
    name: str,
    alpha: float | Sequence[float] | torch.Tensor | None = None,
) -> torch.Tensor:
    """A loss ``term(-log p)`` of the log-probability of the target class, with the
    conventions of ``F.cross_entropy`` (``term`` is the identity for cross-entropy).

    Class indices: ``term(-log p_y)`` per element (0 where ignored), times ``weight[y]`` and
    focal's ``alpha[y]`` (a number: times it). Soft targets ``t``: ``Σ_c t_c·weight_c·
    alpha_c·term(-log p_c)``, which is the class-index value for a one-hot ``t``.
    """
    soft, target, weight = ce_args(
        input, target, reduction, weight, ignore_index, validate_args, name
    )
    class_scale = _alpha_weights(alpha, input.shape[1], input, validate_args)
    logp = F.log_softmax(input, dim=1)
    if soft:
        scale = target
        for per_class in (weight, class_scale):
            if isinstance(per_class, torch.Tensor):
                view = [1] * input.dim()
                view[1] = -1
                scale = scale * per_class.to(input.dtype).view(view)
        values = (scale * term(-logp)).sum(dim=1)
    else:
        # nll_loss: -log p_y per element, 0 where the label is ignore_index
        values = term(F.nll_loss(logp, target, ignore_index=ignore_index, reduction="none"))
        kept = None
        for per_class in (class_scale, weight):
            if isinstance(per_class, torch.Tensor):
                kept = target != ignore_index if kept is None else kept
                values = at_target(per_class.to(input.dtype), target, kept) * values
    if isinstance(class_scale, float):
        values = class_scale * values
    return ce_reduce(values, target, reduction, soft, weight, ignore_index)


def cross_entropy(
    input: torch.Tensor,
    target: torch.Tensor,
    reduction: str = "mean",
    *,
    weight: torch.Tensor | None = None,
    ignore_index: int = -100,
    validate_args: bool | None = None,
) -> torch.Tensor:
    """Softmax cross-entropy ``-log softmax(z)_y`` (the "softmax loss" / MILS primary loss).

    Equals ``torch.nn.functional.cross_entropy(input, target, weight=weight,
    ignore_index=ignore_index, reduction=reduction)``, soft targets and ``(N, C, d1, …)``
    inputs included (module docs: conventions of the cross-entropy family).
    """
    return _smoothed_ce(input, target, 0.0, reduction, weight, ignore_index, validate_args, "ce")


def _smoothed_ce(
    input: torch.Tensor,
    target: torch.Tensor,
    smoothing: float,
    reduction: str,
    weight: torch.Tensor | None,
    ignore_index: int,
    validate_args: bool | None,
    name: str,
) -> torch.Tensor:
    soft, target, weight = ce_args(
        input, target, reduction, weight, ignore_index, validate_args, name
    )
    values = F.cross_entropy(
        input, target, weight=weight, ignore_index=ignore_index, reduction="none",
        label_smoothing=smoothing,
    )
    return ce_reduce(values, target, reduction, soft, weight, ignore_index)


@checks(smoothing=number(low=0.0, high=1.0))
def label_smoothing(
    input: torch.Tensor,
    target: torch.Tensor,
    smoothing: float = 0.1,
    reduction: str = "mean",
    *,
    weight: torch.Tensor | None = None,
    ignore_index: int = -100,
    validate_args: bool | None = None,
) -> torch.Tensor:
    """Cross-entropy against the smoothed target ``(1 - s)·onehot(y) + s/C`` (Szegedy et al. 2016).

    Per sample: ``(1 - s)·CE + s·mean_j(-log p_j)``; equals
    ``F.cross_entropy(input, target, label_smoothing=smoothing, ...)`` with the same ``weight``,
    ``ignore_index`` and target kind (soft targets ``t`` are smoothed to ``(1 - s)·t + s/C``).
    ``smoothing`` in ``[0, 1]``.
    """
    return _smoothed_ce(
        input, target, smoothing, reduction, weight, ignore_index, validate_args,
        "label_smoothing",
    )


@checks(epsilon=number())
def poly1(
    input: torch.Tensor,
    target: torch.Tensor,
    epsilon: float = 1.0,
    reduction: str = "mean",
    *,
    weight: torch.Tensor | None = None,
    ignore_index: int = -100,
    validate_args: bool | None = None,
) -> torch.Tensor:
    """Poly-1 cross-entropy (Leng et al. 2022, PolyLoss Eq. 3): ``CE + ε·(1 - p_t)``,

    with ``p_t = softmax(z)_y``. ``epsilon = 0`` gives plain cross-entropy (with the same
    ``weight`` / ``ignore_index`` / soft targets as ``F.cross_entropy``). Soft targets ``t``:
    ``Σ_c t_c·(-log p_c + ε(1 - p_c))`` ``= CE(t) + ε(1 - Σ_c t_c p_c)`` when ``t`` sums to 1
    (the paper's ``p_t`` for smoothed labels).
    """

    def term(nll: torch.Tensor) -> torch.Tensor:
        return nll + epsilon * (1.0 - (-nll).exp())

    return _nll_family(
        input, target, reduction, weight, ignore_index, validate_args, term, "poly1"
    )


def _focal_alpha(alpha: object, name: str) -> float | list[float] | torch.Tensor | None:
    """Focal ``α`` as declared: ``None``, a number ``>= 0``, a sequence of numbers ``>= 0`` (a
    list of floats) or a tensor (checked against the classes at the call)."""
    if alpha is None or isinstance(alpha, torch.Tensor):
        return alpha
    if isinstance(alpha, (int, float)) and not isinstance(alpha, bool):
        return check_number(alpha, name, low=0.0)
    try:
        weights = [float(a) for a in alpha]  # type: ignore[union-attr]
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a number or a sequence of numbers, got {alpha!r}"
                         ) from exc
    return [check_number(a, name, low=0.0) for a in weights]


def _alpha_weights(
    alpha: float | list[float] | torch.Tensor | None,
    num_classes: int,
    like: torch.Tensor,
    validate_args: bool | None = None,
) -> float | torch.Tensor | None:
    """Focal ``α`` (checked by :func:`_focal_alpha`): ``None``, a number, or one weight per
    class as a ``(C,)`` tensor."""
    if alpha is None or isinstance(alpha, float):
        return alpha
    if not isinstance(alpha, torch.Tensor):
        alpha = torch.tensor(alpha, dtype=like.dtype, device=like.device)
    elif not alpha.is_floating_point():
        raise ValueError(f"alpha must be a floating-point tensor, got dtype {alpha.dtype}")
    if alpha.dim() != 1 or alpha.shape[0] != num_classes:
        raise ValueError(
            f"alpha must be a number or have one weight per class ({num_classes}), "
            f"got shape {tuple(alpha.shape)}"
        )
    if check_values(validate_args) and not bool((torch.isfinite(alpha) & (alpha >= 0)).all()):
        raise ValueError("alpha weights must be finite and >= 0")
    return alpha


@checks(gamma=number(low=0.0), alpha=_focal_alpha)
def focal(
    input: torch.Tensor,
    target: torch.Tensor,
    gamma: float = 2.0,
    alpha: float | Sequence[float] | torch.Tensor | None = None,
    reduction: str = "mean",
    *,
    weight: torch.Tensor | None = None,
    ignore_index: int = -100,
    validate_args: bool | None = None,
) -> torch.Tensor:
    """Multi-class (softmax) focal loss (Lin et al. 2017, Eq. 5): ``-α_t (1 - p_t)^γ log p_t``.

    ``p_t = softmax(z)_y``; ``gamma >= 0`` (``0`` gives cross-entropy); ``alpha``: ``None`` (no
    weighting), a scalar, or one weight per class (``α_t = alpha[y]``); unlike ``weight``
    (torch's convention: ``"mean"`` divides by ``Σ weight[y]``), ``alpha`` leaves the mean a
    plain mean over elements, as in the paper. Soft targets ``t``:
    ``Σ_c t_c α_c (1 - p_c)^γ (-log p_c)``. ``gamma = 0`` equals ``F.cross_entropy`` with the
    same ``weight`` / ``ignore_index`` / targets.
    """

    def term(nll: torch.Tensor) -> torch.Tensor:
        if gamma == 0:  # (1 - p_t)^0 must be 1 even where p_t rounds to 1
            return nll
        return (1.0 - (-nll).exp()).clamp_min(0.0) ** gamma * nll

    return _nll_family(
        input, target, reduction, weight, ignore_index, validate_args, term, "focal", alpha
    )


# --------------------------------------------------------------------------- module forms
@LOSSES.register("ce", help="softmax cross-entropy (the MILS primary / 'softmax loss')")
class CrossEntropyLoss(FamilyLoss):
    """Softmax cross-entropy ``-log softmax(z)_y``, the module form of :func:`cross_entropy`.

    A drop-in for ``torch.nn.CrossEntropyLoss`` (``weight``, ``ignore_index``, soft targets,
    ``(N, C, d1, …)`` inputs), plus the family's keywords (``class_balanced_beta``,
    ``drw_epoch``, ``class_counts``: :class:`~losskit.losses.family.CrossEntropyFamily`).
    """

    function = staticmethod(cross_entropy)

    def __init__(self, reduction: str = "mean", **family: Any) -> None:
        super().__init__(reduction, **family)


@LOSSES.register("label_smoothing", help="cross-entropy with label smoothing")
class LabelSmoothingLoss(FamilyLoss):
    """Cross-entropy against the smoothed target ``(1 - s)·onehot(y) + s/C`` (Szegedy et al.
    2016), the module form of :func:`label_smoothing`; ``smoothing`` in ``[0, 1]``. Keywords
    of the family as :class:`CrossEntropyLoss`."""

    function = staticmethod(label_smoothing)

    def __init__(self, smoothing: float = 0.1, reduction: str = "mean", **family: Any) -> None:
        super().__init__(reduction, **family)
        self._set_hyperparameters(smoothing=smoothing)


@LOSSES.register("poly1", help="Poly-1 cross-entropy CE + epsilon (1 - p_t) (Leng et al. 2022)")
class Poly1Loss(FamilyLoss):
    """Poly-1 cross-entropy ``CE + ε·(1 - p_t)`` (Leng et al. 2022), the module form of
    :func:`poly1`; ``epsilon = 0`` is cross-entropy. Keywords of the family as
    :class:`CrossEntropyLoss`."""

    function = staticmethod(poly1)

    def __init__(self, epsilon: float = 1.0, reduction: str = "mean", **family: Any) -> None:
        super().__init__(reduction, **family)
        self._set_hyperparameters(epsilon=epsilon)


@LOSSES.register("focal", help="softmax focal loss -alpha_t (1-p_t)^gamma log p_t (Lin et al.)")
class FocalLoss(FamilyLoss):
    """Multi-class focal loss ``-α_t (1 - p_t)^γ log p_t`` (Lin et al. 2017), the module form
    of :func:`focal`; a per-class ``alpha`` is also kept as a buffer (moved with the module, no
    tensor built per call). Keywords of the family as :class:`CrossEntropyLoss`."""

    function = staticmethod(focal)

    def __init__(
        self,
        gamma: float = 2.0,
        alpha: float | Sequence[float] | torch.Tensor | None = None,
        reduction: str = "mean",
        **family: Any,
    ) -> None:
        super().__init__(reduction, **family)
        self._set_hyperparameters(gamma=gamma, alpha=alpha)
        alpha_t = torch.tensor(self.alpha) if isinstance(self.alpha, list) else None
        self.register_buffer("alpha_weights", alpha_t, persistent=False)

    def _hyper_values(self) -> list[Any]:
        return [self.gamma, self.alpha if self.alpha_weights is None else self.alpha_weights]
