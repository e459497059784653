"""The loss zoo as pure functions: ``loss(input, target, ..., reduction="mean")``.

Every function validates its arguments (one ``ValueError`` naming the argument), computes one
loss value per sample and reduces it with ``reduction`` (``"mean" | "sum" | "none"``; ``"none"``
gives the per-sample values, shape ``(N,)``). The output follows the input's dtype and device.

**Classification** losses take logits ``input`` of shape ``(N, C)`` and integer class indices
``target`` of shape ``(N,)``. The SLF paper's candidate set (Sec. "Experiments": mean squared,
mean absolute, hinge, cosine proximity, binary cross-entropy) compares **softmax
probabilities** ``p = softmax(input)`` with the **one-hot** target: :func:`prob_mse`,
:func:`prob_mae`, :func:`prob_bce`, :func:`cosine` (:func:`hinge` works on the logits).

**Regression** losses (:func:`mse`, :func:`mae`, :func:`huber`, :func:`smooth_l1`,
:func:`log_cosh`) take real-valued predictions ``input`` ``(N,)`` or ``(N, D)`` and a
floating-point ``target`` of the same shape (``(N, 1)`` against ``(N,)`` is accepted either
way round, never broadcast to ``(N, N)``). Per sample they average over the ``D`` outputs, so
``reduction="mean"`` equals torch's ``F.mse_loss`` / ``F.l1_loss`` / ``F.huber_loss`` /
``F.smooth_l1_loss``; ``"sum"`` sums the per-sample means (torch's ``"sum"`` divided by ``D``).

A target of the wrong task (real values for a classification loss — other than class
probabilities of the input's shape for the cross-entropy family —, class indices for a
regression loss) raises one ``ValueError`` naming the loss. **Deprecated until losskit 0.2**:
:func:`mse` / :func:`mae` called with ``(N, C ≥ 2)`` logits and integer class indices ``(N,)``
— the old meaning of these names — compute :func:`prob_mse` / :func:`prob_mae` (same numbers as
before) and emit a :class:`~losskit.losses.base.LosskitDeprecationWarning` (a
``DeprecationWarning``); from 0.2 that call raises the regression loss's ``ValueError``.

The cross-entropy family (:func:`cross_entropy`, :func:`label_smoothing`, :func:`focal`,
:func:`poly1`) follows ``torch.nn.functional.cross_entropy``'s conventions, so it is a drop-in:
``input`` ``(N, C)`` or ``(N, C, d1, …)``; ``target`` class indices ``(N,)`` / ``(N, d1, …)`` or
class probabilities of ``input``'s shape (soft targets); ``weight`` ``(C,)`` multiplies each
element's loss by ``weight[y]`` (soft targets: ``weight_c`` inside the sum over classes);
elements whose label is ``ignore_index`` (default ``-100``) contribute 0; ``"mean"`` divides by
``Σ weight[y]`` over the elements not ignored (their count without ``weight``; soft targets:
the number of elements); ``"none"`` returns shape ``(N, d1, …)``.

Value checks (NaN/Inf scan of the inputs, label range) read tensor values, i.e. synchronise
with the device. They follow :func:`losskit.check_values`: each function takes
``validate_args`` (``None``: the global switch :func:`losskit.set_validate_args`); they are off
while ``torch.compile`` traces. **Non-finite inputs**: with value checks on they raise
``ValueError``; with value checks off the losses follow torch and return inf/nan (which is what
an fp16 ``GradScaler`` needs to skip an overflowing step: the training loop evaluates losses
with value checks off while a ``GradScaler`` is in use). Shape and dtype checks always run.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from losskit._validation import (
    _all_true,
    check_class_target,
    check_finite_float,
    check_labels,
    check_logits_and_labels,
    check_number,
    check_reduction,
    check_values,
    checks,
    choice,
    finite_flag,
    number,
    reduce,
)
from losskit.errors import NonFiniteError
from losskit.losses.base import (
    LosskitDeprecationWarning,
    class_index_call,
    require_class_target,
    require_real_target,
)

__all__ = [
    "cross_entropy",
    "binary_cross_entropy_with_logits",
    "prob_mse",
    "prob_mae",
    "prob_bce",
    "log1m_softmax",
    "mse",
    "mae",
    "huber",
    "smooth_l1",
    "log_cosh",
    "hinge",
    "cosine",
    "focal",
    "binary_focal",
    "multi_margin",
    "label_smoothing",
    "poly1",
    "center",
    "lgm",
    "lgm_logits",
    "heatmap_mse",
    "gaussian_heatmap",
    "HINGE_VARIANTS",
]

HINGE_VARIANTS = ("crammer_singer", "ova_squared")

_INT_DTYPES = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)


# --------------------------------------------------------------------------- argument checks
def _classification(
    input: torch.Tensor,
    target: torch.Tensor,
    reduction: str,
    name: str,
    validate_args: bool | None = None,
) -> None:
    """Checks of the classification loss ``name``: logits ``(N, C)``, class indices ``(N,)``."""
    check_reduction(reduction)
    require_class_target(name, input, target)
    check_logits_and_labels(input, target, validate_args)


def _one_hot(target: torch.Tensor, num_classes: int, like: torch.Tensor) -> torch.Tensor:
    # a scatter into zeros of like's dtype: no int64 one-hot and cast, no value read
    index = target.long().to(like.device).unsqueeze(1)
    return like.new_zeros(target.shape[0], num_classes).scatter_(1, index, 1.0)


def _target_logit(input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return input.gather(1, target.long().unsqueeze(1)).squeeze(1)


def _per_sample_ce(input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(input, target.long(), reduction="none")


# --------------------------------------------------------------------------- cross-entropy family
def _ce_args(
    input: torch.Tensor,
    target: torch.Tensor,
    reduction: str,
    weight: torch.Tensor | None,
    ignore_index: int,
    validate_args: bool | None,
    name: str,
) -> tuple[bool, torch.Tensor, torch.Tensor | None]:
    """Validate the arguments of the cross-entropy-family loss ``name``; ``(soft, target,
    weight)`` ready for torch."""
    check_reduction(reduction)
    require_class_target(name, input, target, soft_ok=True)
    soft = check_class_target(
        input, target, validate_args, weight=weight, ignore_index=ignore_index
    )
    if weight is not None:
        weight = weight.to(input.dtype)
    return soft, (target.to(input.dtype) if soft else target.long()), weight


def _ce_reduce(
    values: torch.Tensor,
    target: torch.Tensor,
    reduction: str,
    soft: bool,
    weight: torch.Tensor | None,
    ignore_index: int,
) -> torch.Tensor:
    """torch's reductions of a cross-entropy-family loss (see the module docs): ``"mean"``
    divides by ``Σ weight[y]`` over the elements not ignored (by their count without
    ``weight``, by the number of elements for soft targets)."""
    if reduction != "mean" or soft:
        return reduce(values, reduction)
    kept = target != ignore_index
    if weight is None:
        return values.sum() / kept.sum()  # = values.mean() bitwise when nothing is ignored
    return values.sum() / _at_target(weight, target, kept).sum()


def _at_target(per_class: torch.Tensor, target: torch.Tensor, kept: torch.Tensor) -> torch.Tensor:
    """``per_class[y]`` per element, 0 where the label is ignored (``kept`` false)."""
    return per_class[target.masked_fill(~kept, 0)].masked_fill(~kept, 0.0)


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
    soft, target, weight = _ce_args(
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
                values = _at_target(per_class.to(input.dtype), target, kept) * values
    if isinstance(class_scale, float):
        values = class_scale * values
    return _ce_reduce(values, target, reduction, soft, weight, ignore_index)


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
    soft, target, weight = _ce_args(
        input, target, reduction, weight, ignore_index, validate_args, name
    )
    values = F.cross_entropy(
        input, target, weight=weight, ignore_index=ignore_index, reduction="none",
        label_smoothing=smoothing,
    )
    return _ce_reduce(values, target, reduction, soft, weight, ignore_index)


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


# ------------------------------------------------------------------------ binary (sigmoid) family
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
    is_int = target.dtype in _INT_DTYPES
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
        return input, _one_hot(target, input.shape[1], input)
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


def _per_sample_mean(values: torch.Tensor) -> torch.Tensor:
    """``(N, ...)`` elementwise values → ``(N,)`` per-sample means (``(N,)`` unchanged)."""
    return values.flatten(1).mean(dim=1) if values.dim() > 1 else values


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
    return reduce(_per_sample_mean(values), reduction)


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
    return reduce(_per_sample_mean(values), reduction)


# ---------------------------------------------------- softmax probabilities vs one-hot (SLF)
def prob_mse(
    input: torch.Tensor,
    target: torch.Tensor,
    reduction: str = "mean",
    *,
    validate_args: bool | None = None,
) -> torch.Tensor:
    """Mean squared error between **softmax probabilities** and the **one-hot** target (SLF's
    "mean squared" candidate on a classifier).

    Per sample: ``mean_j (softmax(z)_j - onehot(y)_j)^2``.
    """
    _classification(input, target, reduction, "prob_mse", validate_args)
    diff = F.softmax(input, dim=1) - _one_hot(target, input.shape[1], input)
    return reduce(diff.pow(2).mean(dim=1), reduction)


def prob_mae(
    input: torch.Tensor,
    target: torch.Tensor,
    reduction: str = "mean",
    *,
    validate_args: bool | None = None,
) -> torch.Tensor:
    """Mean absolute error between **softmax probabilities** and the **one-hot** target (SLF's
    "mean absolute" candidate).

    Per sample: ``mean_j |softmax(z)_j - onehot(y)_j|`` (``= 2 (1 - p_y) / C``).
    """
    _classification(input, target, reduction, "prob_mae", validate_args)
    diff = F.softmax(input, dim=1) - _one_hot(target, input.shape[1], input)
    return reduce(diff.abs().mean(dim=1), reduction)


def log1m_softmax(input: torch.Tensor, log_p: torch.Tensor | None = None) -> torch.Tensor:
    """``log(1 - softmax(input))`` over dim 1, finite and accurate for any logits (``C ≥ 2``).

    Off the row's arg-max ``p_j ≤ 1/2``, so ``log1p(-p_j)`` is accurate; at the arg-max, where
    ``p`` may round to 1, it is ``logsumexp_{k≠j} z_k - logsumexp_k z_k`` exactly. ``log_p``:
    ``log_softmax(input, 1)`` when the caller already has it.
    """
    if log_p is None:
        log_p = F.log_softmax(input, dim=1)
    return _log1m_softmax_parts(input, log_p, log_p.exp())[0]


def _log1m_softmax_parts(
    input: torch.Tensor, log_p: torch.Tensor, p: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`log1m_softmax` with ``p = exp(log_p)`` given; also returns the arg-max mask
    ``top`` and ``at_top`` ``(N, 1)`` (the closed-form backward of :mod:`.fused` needs them)."""
    top = torch.zeros_like(input, dtype=torch.bool).scatter_(1, input.argmax(1, keepdim=True), True)
    off_top = torch.log1p(-p.masked_fill(top, 0.0))
    lse = torch.logsumexp(input, dim=1, keepdim=True)
    at_top = torch.logsumexp(input.masked_fill(top, float("-inf")), dim=1, keepdim=True) - lse
    return torch.where(top, at_top, off_top), top, at_top


def _softmax_bce(input: torch.Tensor, onehot: torch.Tensor, log_p: torch.Tensor) -> torch.Tensor:
    """Per-sample ``mean_j -[t_j log p_j + (1 - t_j) log(1 - p_j)]`` for one-hot ``t``."""
    return _bce_from_log1m(onehot.bool(), log_p, log1m_softmax(input, log_p))


def _bce_from_log1m(
    is_y: torch.Tensor, log_p: torch.Tensor, log1m: torch.Tensor, keepdim: bool = False
) -> torch.Tensor:
    return -torch.where(is_y, log_p, log1m).mean(dim=1, keepdim=keepdim)


def prob_bce(
    input: torch.Tensor,
    target: torch.Tensor,
    reduction: str = "mean",
    *,
    validate_args: bool | None = None,
) -> torch.Tensor:
    """One-vs-all binary cross-entropy of **softmax probabilities** vs the **one-hot** target
    (SLF's "binary cross-entropy" candidate: Keras' ``binary_crossentropy`` on a softmax output).

    Per sample: ``mean_j -[t_j log p_j + (1 - t_j) log(1 - p_j)]``, ``p = softmax(z)``,
    ``t = onehot(y)``; computed from the logits in log space (finite for any logits, no
    clipping). ``bce`` with ``activation="softmax"`` is the same loss; plain ``bce`` applies a
    sigmoid per output instead (:func:`binary_cross_entropy_with_logits`).
    """
    _classification(input, target, reduction, "prob_bce", validate_args)
    if input.shape[1] < 2:
        raise ValueError(f"input must have at least 2 classes for prob_bce, got {input.shape[1]}")
    onehot = _one_hot(target, input.shape[1], input)
    return reduce(_softmax_bce(input, onehot, F.log_softmax(input, dim=1)), reduction)


def cosine(
    input: torch.Tensor,
    target: torch.Tensor,
    reduction: str = "mean",
    *,
    validate_args: bool | None = None,
) -> torch.Tensor:
    """Cosine-proximity loss between **softmax probabilities** and the **one-hot** target (SLF).

    Per sample: ``1 - cos(softmax(z), onehot(y)) = 1 - p_y / ||p||_2`` (in ``[0, 1)``; Keras'
    "cosine proximity" is ``-cos``, shifted here by 1 so the loss is non-negative).
    """
    _classification(input, target, reduction, "cosine", validate_args)
    p = F.softmax(input, dim=1)
    p_y = p.gather(1, target.long().unsqueeze(1)).squeeze(1)
    return reduce(1.0 - p_y / p.norm(dim=1), reduction)


# --------------------------------------------------------------------------- regression
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
    return reduce(_per_sample_mean((x - t).pow(2)), reduction)


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
    return reduce(_per_sample_mean((x - t).abs()), reduction)


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
    return reduce(_per_sample_mean(F.huber_loss(x, t, reduction="none", delta=delta)), reduction)


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
    return reduce(_per_sample_mean(F.smooth_l1_loss(x, t, reduction="none", beta=beta)), reduction)


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
    return reduce(_per_sample_mean(r + F.softplus(-2.0 * r) - math.log(2.0)), reduction)


# --------------------------------------------------------------------------- margin losses
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
    _classification(input, target, reduction, "hinge", validate_args)
    if input.shape[1] < 2:
        raise ValueError(f"input must have at least 2 classes for hinge, got {input.shape[1]}")
    onehot = _one_hot(target, input.shape[1], input)
    if variant == "crammer_singer":
        z_y = _target_logit(input, target)
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
    _classification(input, target, reduction, "multi_margin", validate_args)
    z_y = _target_logit(input, target).unsqueeze(1)
    values = F.relu(margin - z_y + input).pow(int(p))
    values = values * (1.0 - _one_hot(target, input.shape[1], input))
    return reduce(values.sum(dim=1) / input.shape[1], reduction)


# --------------------------------------------------------------------------- feature losses
def _check_features(
    features: torch.Tensor | None, n: int, dim: int, dim_name: str,
    validate_args: bool | None = None,
) -> torch.Tensor:
    if features is None:
        raise ValueError("features must be given (penultimate-layer features (N, D)), got None")
    check_finite_float(features, "features", validate_args)
    if features.dim() != 2 or features.shape[0] != n or features.shape[1] != dim:
        raise ValueError(
            f"features must have shape (N, D) = ({n}, {dim}) (N from input, D from {dim_name}), "
            f"got {tuple(features.shape)}"
        )
    return features


def _check_class_params(
    value: torch.Tensor, name: str, num_classes: int, like: torch.Tensor,
    validate_args: bool | None = None,
) -> None:
    check_finite_float(value, name, validate_args)
    if value.dim() != 2 or value.shape[0] != num_classes:
        raise ValueError(
            f"{name} must have shape (C, D) with C = {num_classes} classes, "
            f"got {tuple(value.shape)}"
        )
    if value.dtype != like.dtype:
        raise ValueError(f"{name} must have dtype {like.dtype} like input, got {value.dtype}")


@checks(lambda_=number(low=0.0), ce_weight=number(low=0.0))
def center(
    input: torch.Tensor,
    target: torch.Tensor,
    features: torch.Tensor | None,
    centers: torch.Tensor,
    lambda_: float = 0.01,
    ce_weight: float = 1.0,
    reduction: str = "mean",
    *,
    validate_args: bool | None = None,
) -> torch.Tensor:
    """Joint softmax + center loss (Wen et al. 2016, Eq. 2 and 5).

    Per sample: ``ce_weight · CE(z, y) + λ · ½ ||f - c_y||²`` with ``features`` ``f (N, D)`` and
    class ``centers`` ``(C, D)``. ``ce_weight = 1`` is the paper's joint supervision ("the
    module trains a classifier on its own"); ``ce_weight = 0, lambda_ = 1`` is the bare center
    term ``½ ||f - c_y||²`` (Eq. 2). Centers are ordinary tensors here: gradients flow to them
    (the paper's separate centre update rule, Eq. 4, is replaced by the optimizer).
    """

    _classification(input, target, reduction, "center", validate_args)
    _check_class_params(centers, "centers", input.shape[1], input, validate_args)
    f = _check_features(features, input.shape[0], centers.shape[1], "centers", validate_args)
    c_y = centers[target.long()]
    values = lambda_ * 0.5 * (f - c_y).pow(2).sum(dim=1)
    if ce_weight != 0:
        values = values + ce_weight * _per_sample_ce(input, target)
    return reduce(values, reduction)


def _mahalanobis_half(
    features: torch.Tensor, means: torch.Tensor, log_covs: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``d_k = ½ (f - μ_k)ᵀ Σ_k⁻¹ (f - μ_k)`` ``(N, C)`` and ``½ log|Σ_k|`` ``(C,)``,

    for diagonal ``Σ_k = diag(exp(log_covs_k))`` or identity ``Σ_k`` when ``log_covs`` is None.
    """
    diff = features.unsqueeze(1) - means.unsqueeze(0)  # (N, C, D)
    if log_covs is None:
        d = 0.5 * diff.pow(2).sum(dim=2)
        half_logdet = features.new_zeros(means.shape[0])
    else:
        d = 0.5 * (diff.pow(2) * torch.exp(-log_covs).unsqueeze(0)).sum(dim=2)
        half_logdet = 0.5 * log_covs.sum(dim=1)
    return d, half_logdet


def lgm_logits(
    features: torch.Tensor,
    means: torch.Tensor,
    log_covs: torch.Tensor | None = None,
    target: torch.Tensor | None = None,
    alpha: float = 0.0,
) -> torch.Tensor:
    """Gaussian-mixture logits of L-GM (Wan et al. 2018, Eq. 6/9), uniform class priors:

    ``logit_k = -d_k·(1 + α·[k = y]) - ½ log|Σ_k|`` (margin only where ``target`` is given).
    Without ``target`` (``alpha`` unused) these are the posterior logits used for prediction.
    """
    d, half_logdet = _mahalanobis_half(features, means, log_covs)
    if target is not None and alpha != 0:
        d = d * (1.0 + alpha * _one_hot(target, means.shape[0], d))
    return -d - half_logdet.unsqueeze(0)


@checks(alpha=number(low=0.0), lambda_=number(low=0.0), ce_weight=number(low=0.0))
def lgm(
    input: torch.Tensor,
    target: torch.Tensor,
    features: torch.Tensor | None,
    means: torch.Tensor,
    log_covs: torch.Tensor | None = None,
    alpha: float = 0.1,
    lambda_: float = 0.1,
    ce_weight: float = 1.0,
    reduction: str = "mean",
    *,
    validate_args: bool | None = None,
) -> torch.Tensor:
    """Large-margin Gaussian-mixture loss (Wan et al. 2018, Eq. 9-10) plus optional head CE.

    Per sample: ``L_cls + λ·L_lkd + ce_weight·CE(z, y)`` where
    ``L_cls = -log softmax(lgm_logits(f, μ, Σ, y, α))_y`` (margin-adjusted GM posterior, Eq. 9),
    ``L_lkd = d_y + ½ log|Σ_y|`` (negative log-likelihood of ``f`` under its class Gaussian, up to
    a constant, Eq. 10), ``d_k = ½ (f - μ_k)ᵀ Σ_k⁻¹ (f - μ_k)``. ``log_covs (C, D)``: log of
    diagonal covariances, or ``None`` for identity covariances. ``input`` are the model head's
    logits: L-GM replaces the head by the GM layer, so the head only learns through the
    ``ce_weight`` term (``ce_weight = 0`` gives the paper's loss alone).
    """
    _classification(input, target, reduction, "lgm", validate_args)
    _check_class_params(means, "means", input.shape[1], input, validate_args)
    if log_covs is not None:
        _check_class_params(log_covs, "log_covs", input.shape[1], input, validate_args)
        if log_covs.shape != means.shape:
            raise ValueError(
                f"log_covs must have the shape of means {tuple(means.shape)}, "
                f"got {tuple(log_covs.shape)}"
            )
    f = _check_features(features, input.shape[0], means.shape[1], "means", validate_args)
    d, half_logdet = _mahalanobis_half(f, means, log_covs)
    onehot = _one_hot(target, means.shape[0], d)
    logits = -d * (1.0 + alpha * onehot) - half_logdet.unsqueeze(0)
    cls = _per_sample_ce(logits, target)
    lkd = (d * onehot).sum(dim=1) + half_logdet[target.long()]
    values = cls + lambda_ * lkd
    if ce_weight != 0:
        values = values + ce_weight * _per_sample_ce(input, target)
    return reduce(values, reduction)


# --------------------------------------------------------------------------- keypoint heatmaps
def gaussian_heatmap(
    target: torch.Tensor, side: int, sigma: float, like: torch.Tensor
) -> torch.Tensor:
    """Flattened ``(N, side*side)`` Gaussian heatmaps, peak 1 at pixel ``target`` (row-major)."""
    coords = torch.arange(side, dtype=like.dtype, device=like.device)
    t = target.long().to(like.device)
    rows, cols = (t // side).to(like.dtype), (t % side).to(like.dtype)
    dr = (coords.unsqueeze(0) - rows.unsqueeze(1)).pow(2)  # (N, side)
    dc = (coords.unsqueeze(0) - cols.unsqueeze(1)).pow(2)
    sq = dr.unsqueeze(2) + dc.unsqueeze(1)  # (N, side, side)
    return torch.exp(-sq / (2.0 * sigma * sigma)).reshape(target.shape[0], side * side)


@checks(sigma=number(low=0.0, low_open=True))
def heatmap_mse(
    input: torch.Tensor,
    target: torch.Tensor,
    sigma: float = 1.0,
    reduction: str = "mean",
    *,
    validate_args: bool | None = None,
) -> torch.Tensor:
    """Keypoint heatmap regression loss (the usual pose-estimation MSE; UniLoss' PCK baseline).

    ``input``: raw scores ``(N, H·W)`` of a square ``H = W`` heatmap (row-major pixels);
    ``target``: the true pixel index ``(N,)``. The target heatmap is a Gaussian with standard
    deviation ``sigma`` pixels and peak 1 at the true pixel; per sample the mean over pixels of
    ``(z - heatmap)²``.
    """
    _classification(input, target, reduction, "heatmap_mse", validate_args)
    side = math.isqrt(input.shape[1])
    if side * side != input.shape[1]:
        raise ValueError(
            "input must have a square number H*W of columns (a square heatmap), "
            f"got {input.shape[1]}"
        )
    heat = gaussian_heatmap(target, side, sigma, input)
    return reduce((input - heat).pow(2).mean(dim=1), reduction)
