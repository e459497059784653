"""The binary (sigmoid) family: one-vs-all losses with a sigmoid per output.

* :func:`binary_cross_entropy_with_logits` — sigmoid binary cross-entropy (as
  ``torch.nn.functional.binary_cross_entropy_with_logits``, per-sample means);
* :func:`binary_focal` — the sigmoid focal loss (Lin et al. 2017, "Focal Loss for Dense Object
  Detection", Eq. 5, with the ``α``-balancing of Sec. 3.1).

Shapes: ``input (N,)`` or ``(N, 1)`` with binary targets, ``(N, C)`` with multi-hot targets
``(N, C)`` or class indices ``(N,)`` (one-hot encoded: one-vs-all, as in SLF's candidate
set). Module forms (registry names): :class:`BinaryCrossEntropyLoss` (``bce``; its
``activation="softmax"`` is SLF's ``prob_bce``), :class:`BinaryFocalLoss` (``binary_focal``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from losskit.core._validation import (
    check_choice,
    check_finite_float,
    check_labels,
    check_reduction,
    check_values,
    checks,
    number,
    reduce,
)
from losskit.losses._common import INT_DTYPES, one_hot, per_sample_mean
from losskit.losses.base import Loss
from losskit.losses.mirror import FunctionalLoss
from losskit.losses.probability import prob_bce
from losskit.losses.registry import LOSSES

__all__ = ["binary_cross_entropy_with_logits", "binary_focal", "BCE_ACTIVATIONS",
           "BinaryCrossEntropyLoss", "BinaryFocalLoss"]

BCE_ACTIVATIONS = ("sigmoid", "softmax")


def _binary_targets(
    input: torch.Tensor, target: torch.Tensor, validate_args: bool | None = None,
    name: str = "bce",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate the arguments of the sigmoid loss ``name``; return ``(logits, float
    targets)`` of equal shape.

    Accepted: ``input (N,)`` or ``(N, 1)`` with binary ``target (N,)`` or ``(N, 1)``;
    ``input (N, C)`` with multi-hot ``target (N, C)``; ``input (N, C)``, ``C >= 2``, with integer
    class indices ``target (N,)`` (one-hot encoded: one-vs-all BCE, as in SLF's candidate set).
    """
    check_finite_float(input, "input", validate_args)
    if input.dim() not in (1, 2):
        raise ValueError(f"input must have shape (N,), (N, 1) or (N, C), got {tuple(input.shape)}")
    if input.shape[0] == 0:
        raise ValueError("input is an empty batch (N = 0)")
    if not isinstance(target, torch.Tensor):
        raise ValueError(f"target must be a torch.Tensor, got {type(target).__name__}")
    is_int = target.dtype in INT_DTYPES
    if not is_int and not target.is_floating_point():
        raise ValueError(f"target must be an integer or floating-point tensor, got {target.dtype}")
    n = input.shape[0]
    if input.dim() == 2 and input.shape[1] >= 2 and target.dim() == 1:
        if not is_int:
            raise ValueError(
                f"target of the classification loss {name!r} must be integer class indices (N,) "
                f"or multi-hot (N, C) for input (N, C), got dtype {target.dtype} with shape "
                f"{tuple(target.shape)}"
            )
        check_labels(input, target, validate_args)
        return input, one_hot(target, input.shape[1], input)
    if input.dim() == 2 and input.shape[1] == 1 and target.dim() == 1:
        input = input.squeeze(1)
    if target.dim() == 2 and target.shape[1] == 1 and input.dim() == 1:
        target = target.squeeze(1)
    if target.shape != input.shape:
        raise ValueError(
            f"target must have shape {tuple(input.shape)} to match input (N = {n}), "
            f"got {tuple(target.shape)}"
        )
    if is_int:
        if check_values(validate_args) and not bool(((target == 0) | (target == 1)).all()):
            raise ValueError("target values must be 0 or 1")
    elif check_values(validate_args) and not bool(
        ((target >= 0) & (target <= 1)).all()  # False for NaN/Inf too
    ):
        if not bool(torch.isfinite(target).all()):
            raise ValueError("target contains NaN or Inf")
        raise ValueError(
            f"target values of the classification loss {name!r} must lie in [0, 1] "
            "(binary / multi-hot labels); real-valued targets need a regression loss"
        )
    return input, target.to(dtype=input.dtype, device=input.device)


def binary_cross_entropy_with_logits(
    input: torch.Tensor,
    target: torch.Tensor,
    reduction: str = "mean",
    *,
    validate_args: bool | None = None,
) -> torch.Tensor:
    """Sigmoid binary cross-entropy ``-[t log σ(z) + (1 - t) log(1 - σ(z))]``.

    Shapes: see :func:`_binary_targets` (binary, multi-hot, or class indices → one-hot). Per
    sample the mean over the ``C`` outputs, so ``"mean"`` equals
    ``F.binary_cross_entropy_with_logits(input, target)``; ``"none"`` returns shape ``(N,)``.
    """
    check_reduction(reduction)
    z, t = _binary_targets(input, target, validate_args, "bce")
    values = F.binary_cross_entropy_with_logits(z, t, reduction="none")
    return reduce(per_sample_mean(values), reduction)


@checks(gamma=number(low=0.0), alpha=number(low=0.0, high=1.0, optional=True))
def binary_focal(
    input: torch.Tensor,
    target: torch.Tensor,
    gamma: float = 2.0,
    alpha: float | None = 0.25,
    reduction: str = "mean",
    *,
    validate_args: bool | None = None,
) -> torch.Tensor:
    """Sigmoid focal loss (Lin et al. 2017, Eq. 5): ``-α_t (1 - p_t)^γ log p_t`` per output,

    ``p_t = σ(z)`` where ``t = 1`` and ``1 - σ(z)`` where ``t = 0``; ``α_t = α`` for positives
    and ``1 - α`` for negatives (``alpha=None``: no weighting). Soft targets interpolate
    linearly. Shapes as :func:`binary_cross_entropy_with_logits` (per-sample mean over outputs).
    """
    check_reduction(reduction)
    z, t = _binary_targets(input, target, validate_args, "binary_focal")
    ce = F.binary_cross_entropy_with_logits(z, t, reduction="none")
    p = torch.sigmoid(z)
    p_t = p * t + (1.0 - p) * (1.0 - t)
    values = ((1.0 - p_t).clamp_min(0.0) ** gamma if gamma != 0 else torch.ones_like(p_t)) * ce
    if alpha is not None:
        values = (alpha * t + (1.0 - alpha) * (1.0 - t)) * values
    return reduce(per_sample_mean(values), reduction)


# --------------------------------------------------------------------------- module forms
@LOSSES.register("bce", help="one-vs-all binary cross-entropy (activation sigmoid | softmax)")
class BinaryCrossEntropyLoss(Loss):
    """One-vs-all binary cross-entropy.

    ``activation="sigmoid"`` (default): a sigmoid per output, binary / multi-hot / class-index
    targets, see :func:`~losskit.losses.functional.binary_cross_entropy_with_logits`.
    ``activation="softmax"``: binary cross-entropy of the softmax probabilities against the
    one-hot class target, the SLF paper's "binary cross-entropy" candidate on a softmax
    classifier (= ``prob_bce``, :func:`~losskit.losses.functional.prob_bce`).
    """

    def __init__(
        self,
        activation: str = "sigmoid",
        reduction: str = "mean",
        *,
        validate_args: bool | None = None,
    ) -> None:
        super().__init__(reduction, validate_args=validate_args)
        self.activation = check_choice(activation, BCE_ACTIVATIONS, "activation")

    def forward(
        self, input: torch.Tensor, target: torch.Tensor, features: torch.Tensor | None = None
    ) -> torch.Tensor:
        fn = prob_bce if self.activation == "softmax" else binary_cross_entropy_with_logits
        return fn(input, target, reduction=self.reduction, **self._call_kwargs())

    def extra_repr(self) -> str:
        return f"activation={self.activation!r}, {super().extra_repr()}"


@LOSSES.register("binary_focal", help="sigmoid focal loss (Lin et al. 2017, Eq. 5)")
class BinaryFocalLoss(FunctionalLoss):
    """Sigmoid focal loss ``-α_t (1 - p_t)^γ log p_t`` per output (Lin et al. 2017), the
    module form of :func:`binary_focal`; ``alpha=None``: no ``α``-balancing."""

    function = staticmethod(binary_focal)

    def __init__(
        self,
        gamma: float = 2.0,
        alpha: float | None = 0.25,
        reduction: str = "mean",
        *,
        validate_args: bool | None = None,
    ) -> None:
        super().__init__(reduction, validate_args=validate_args)
        self._set_hyperparameters(gamma=gamma, alpha=alpha)
