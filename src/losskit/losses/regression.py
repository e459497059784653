"""Regression losses on real-valued predictions, with torch's meaning of their names.

* :func:`mse` — mean squared error (``F.mse_loss``);
* :func:`mae` — mean absolute error (``F.l1_loss``);
* :func:`huber` — Huber loss (Huber 1964, "Robust Estimation of a Location Parameter";
  ``F.huber_loss``);
* :func:`smooth_l1` — smooth L1 (Girshick 2015, "Fast R-CNN", Eq. 3; ``F.smooth_l1_loss``);
* :func:`log_cosh` — ``log(cosh(r))``, smooth between ``½ r²`` and ``|r| - log 2``.

They take predictions ``input`` ``(N,)`` or ``(N, D)`` and a floating-point ``target`` of the
same shape (``(N, 1)`` against ``(N,)`` is accepted either way round, never broadcast to
``(N, N)``). Per sample they average over the ``D`` outputs, so ``reduction="mean"`` equals
torch's loss; ``"sum"`` sums the per-sample means (torch's ``"sum"`` divided by ``D``). Integer
class-index targets raise one ``ValueError`` naming the loss — except the **deprecated** old
call of :func:`mse` / :func:`mae` with ``(N, C ≥ 2)`` logits and class indices, which computes
:func:`~losskit.losses.probability.prob_mse` / ``prob_mae`` with a
:class:`~losskit.losses.base.LosskitDeprecationWarning` until losskit 0.2.

Module forms (registry names): :class:`MSELoss` (``mse``), :class:`MAELoss` (``mae``),
:class:`HuberLoss` (``huber``), :class:`SmoothL1Loss` (``smooth_l1``), :class:`LogCoshLoss`
(``log_cosh``); they declare ``task = "regression"``.
"""

from __future__ import annotations

import math
import warnings

import torch
import torch.nn.functional as F

from losskit.core._validation import (
    _all_true,
    check_finite_float,
    check_reduction,
    check_values,
    checks,
    finite_flag,
    number,
    reduce,
)
from losskit.core.errors import NonFiniteError
from losskit.losses._common import per_sample_mean
from losskit.losses.base import LosskitDeprecationWarning, class_index_call, require_real_target
from losskit.losses.mirror import FunctionalLoss
from losskit.losses.probability import prob_mae, prob_mse
from losskit.losses.registry import LOSSES

__all__ = ["mse", "mae", "huber", "smooth_l1", "log_cosh",
           "MSELoss", "MAELoss", "HuberLoss", "SmoothL1Loss", "LogCoshLoss"]


def _regression(
    input: torch.Tensor,
    target: torch.Tensor,
    reduction: str,
    name: str,
    validate_args: bool | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Checks of the regression loss ``name``; returns ``(input, target)`` of one shape, the
    target in the input's dtype (``(N, 1)`` against ``(N,)`` is aligned, never broadcast).
    The value checks (finite input and target) cost one host sync."""
    check_reduction(reduction)
    check_finite_float(input, "input", validate_args=False)  # dtype; values below
    if input.dim() == 0 or input.shape[0] == 0:
        raise ValueError(f"input must have shape (N,) or (N, D) with N >= 1, got "
                         f"{tuple(input.shape)}")
    if not isinstance(target, torch.Tensor):
        raise ValueError(f"target must be a torch.Tensor, got {type(target).__name__}")
    require_real_target(name, target)
    if target.shape != input.shape:
        if input.dim() == 2 and input.shape[1] == 1 and target.shape == input.shape[:1]:
            target = target.unsqueeze(1)
        elif target.dim() == 2 and target.shape[1] == 1 and input.shape == target.shape[:1]:
            target = target.squeeze(1)
        else:
            raise ValueError(f"target must have the shape of input {tuple(input.shape)} for the "
                             f"regression loss {name!r}, got {tuple(target.shape)}")
    if check_values(validate_args):
        input_ok = finite_flag(input)
        if not _all_true([input_ok, finite_flag(target)]):
            if not bool(input_ok):
                raise NonFiniteError("input contains NaN or Inf")
            raise ValueError("target contains NaN or Inf")
    return input, target.to(dtype=input.dtype, device=input.device)


def _deprecated_class_call(name: str, input: object, target: object) -> bool:
    """``True`` (with a deprecation warning) for the old classification call of ``mse`` / ``mae``:
    ``(N, C ≥ 2)`` logits with integer class indices ``(N,)``. Removed in losskit 0.2."""
    legacy = isinstance(input, torch.Tensor) and class_index_call(tuple(input.shape), target)
    if legacy:
        warnings.warn(
            f"loss {name!r} with integer class-index targets is deprecated: it computes "
            f"'prob_{name}' (softmax probabilities vs one-hot), the old meaning of {name!r}; "
            f"{name!r} is now the real-valued regression loss. Use 'prob_{name}' (until "
            "losskit 0.2 the old call still works).",
            LosskitDeprecationWarning,
            stacklevel=3,
        )
    return legacy


def mse(
    input: torch.Tensor,
    target: torch.Tensor,
    reduction: str = "mean",
    *,
    validate_args: bool | None = None,
) -> torch.Tensor:
    """Mean squared error ``(input - target)²`` of real-valued predictions (regression).

    ``reduction="mean"`` equals ``F.mse_loss(input, target)``. Deprecated old call (module
    doc): ``(N, C)`` logits with class indices compute :func:`prob_mse` and warn.
    """
    if _deprecated_class_call("mse", input, target):
        return prob_mse(input, target, reduction, validate_args=validate_args)
    x, t = _regression(input, target, reduction, "mse", validate_args)
    return reduce(per_sample_mean((x - t).pow(2)), reduction)


def mae(
    input: torch.Tensor,
    target: torch.Tensor,
    reduction: str = "mean",
    *,
    validate_args: bool | None = None,
) -> torch.Tensor:
    """Mean absolute error ``|input - target|`` of real-valued predictions (regression).

    ``reduction="mean"`` equals ``F.l1_loss(input, target)``. Deprecated old call (module
    doc): ``(N, C)`` logits with class indices compute :func:`prob_mae` and warn.
    """
    if _deprecated_class_call("mae", input, target):
        return prob_mae(input, target, reduction, validate_args=validate_args)
    x, t = _regression(input, target, reduction, "mae", validate_args)
    return reduce(per_sample_mean((x - t).abs()), reduction)


@checks(delta=number(low=0.0, low_open=True))
def huber(
    input: torch.Tensor,
    target: torch.Tensor,
    delta: float = 1.0,
    reduction: str = "mean",
    *,
    validate_args: bool | None = None,
) -> torch.Tensor:
    """Huber loss (Huber 1964): ``½ r²`` for ``|r| ≤ δ``, ``δ (|r| - ½ δ)`` beyond, ``r =
    input - target``; ``delta > 0``. ``"mean"`` equals ``F.huber_loss(input, target, delta=δ)``.
    """
    x, t = _regression(input, target, reduction, "huber", validate_args)
    return reduce(per_sample_mean(F.huber_loss(x, t, reduction="none", delta=delta)), reduction)


@checks(beta=number(low=0.0))
def smooth_l1(
    input: torch.Tensor,
    target: torch.Tensor,
    beta: float = 1.0,
    reduction: str = "mean",
    *,
    validate_args: bool | None = None,
) -> torch.Tensor:
    """Smooth L1 (Girshick 2015): ``½ r² / β`` for ``|r| < β``, ``|r| - ½ β`` beyond (``= huber
    / β``; ``beta = 0`` is L1). ``"mean"`` equals ``F.smooth_l1_loss(input, target, beta=β)``.
    """
    x, t = _regression(input, target, reduction, "smooth_l1", validate_args)
    return reduce(per_sample_mean(F.smooth_l1_loss(x, t, reduction="none", beta=beta)), reduction)


def log_cosh(
    input: torch.Tensor,
    target: torch.Tensor,
    reduction: str = "mean",
    *,
    validate_args: bool | None = None,
) -> torch.Tensor:
    """Log-cosh loss ``log(cosh(r))``, ``r = input - target``: ``≈ ½ r²`` near 0, ``≈ |r| - log 2``
    for large ``|r|``; gradient ``tanh(r)``. Computed as ``r + softplus(-2r) - log 2`` (no
    overflow of ``cosh``).
    """
    x, t = _regression(input, target, reduction, "log_cosh", validate_args)
    r = x - t
    return reduce(per_sample_mean(r + F.softplus(-2.0 * r) - math.log(2.0)), reduction)


# --------------------------------------------------------------------------- module forms
@LOSSES.register("mse", help="mean squared error, regression (torch F.mse_loss)")
class MSELoss(FunctionalLoss):
    """Mean squared error of real-valued predictions, the module form of :func:`mse`
    (deprecated until losskit 0.2: class-index targets compute ``prob_mse`` and warn)."""

    function = staticmethod(mse)
    task = "regression"
    class_index_fallback = True  # the deprecated prob_mse call, until 0.2

    def __init__(self, reduction: str = "mean", *, validate_args: bool | None = None) -> None:
        super().__init__(reduction, validate_args=validate_args)


@LOSSES.register("mae", help="mean absolute error, regression (torch F.l1_loss)")
class MAELoss(FunctionalLoss):
    """Mean absolute error of real-valued predictions, the module form of :func:`mae`
    (deprecated until losskit 0.2: class-index targets compute ``prob_mae`` and warn)."""

    function = staticmethod(mae)
    task = "regression"
    class_index_fallback = True  # the deprecated prob_mae call, until 0.2

    def __init__(self, reduction: str = "mean", *, validate_args: bool | None = None) -> None:
        super().__init__(reduction, validate_args=validate_args)


@LOSSES.register("huber", help="Huber loss with threshold delta, regression (torch F.huber_loss)")
class HuberLoss(FunctionalLoss):
    """Huber loss with threshold ``delta > 0`` (Huber 1964), the module form of
    :func:`huber`."""

    function = staticmethod(huber)
    task = "regression"

    def __init__(self, delta: float = 1.0, reduction: str = "mean", *,
                 validate_args: bool | None = None) -> None:
        super().__init__(reduction, validate_args=validate_args)
        self._set_hyperparameters(delta=delta)


@LOSSES.register("smooth_l1",
                 help="smooth L1 with threshold beta, regression (F.smooth_l1_loss)")
class SmoothL1Loss(FunctionalLoss):
    """Smooth L1 loss with threshold ``beta >= 0`` (Girshick 2015), the module form of
    :func:`smooth_l1`."""

    function = staticmethod(smooth_l1)
    task = "regression"

    def __init__(self, beta: float = 1.0, reduction: str = "mean", *,
                 validate_args: bool | None = None) -> None:
        super().__init__(reduction, validate_args=validate_args)
        self._set_hyperparameters(beta=beta)


@LOSSES.register("log_cosh", help="log(cosh(input - target)), regression")
class LogCoshLoss(FunctionalLoss):
    """Log-cosh loss ``log(cosh(input - target))``, the module form of :func:`log_cosh`."""

    function = staticmethod(log_cosh)
    task = "regression"

    def __init__(self, reduction: str = "mean", *, validate_args: bool | None = None) -> None:
        super().__init__(reduction, validate_args=validate_args)
