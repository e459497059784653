"""Softmax probabilities against the one-hot target: the SLF paper's candidate losses.

Liu & Lai, "Stochastic Loss Function" (AAAI 2020), Sec. "Experiments": the candidate set is
mean squared, mean absolute, hinge, cosine proximity and binary cross-entropy. On a softmax
classifier these compare the **softmax probabilities** ``p = softmax(input)`` of logits
``(N, C)`` with the **one-hot** target of class indices ``(N,)``: :func:`prob_mse`,
:func:`prob_mae`, :func:`prob_bce` (Keras' ``binary_crossentropy`` on a softmax output,
computed in log space by :func:`log1m_softmax`) and :func:`cosine` (Keras' "cosine proximity",
shifted by 1). The hinge candidate works on the logits (:mod:`losskit.losses.margin`).

Module forms (registry names): :class:`ProbMSELoss` (``prob_mse``), :class:`ProbMAELoss`
(``prob_mae``), :class:`ProbBCELoss` (``prob_bce``), :class:`CosineLoss` (``cosine``).
:mod:`losskit.losses.fused` computes several of them from one softmax (SLF's hot path).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from losskit.core._validation import reduce
from losskit.losses._common import check_classification, one_hot
from losskit.losses.mirror import FunctionalLoss
from losskit.losses.registry import LOSSES

__all__ = ["prob_mse", "prob_mae", "prob_bce", "cosine", "log1m_softmax",
           "ProbMSELoss", "ProbMAELoss", "ProbBCELoss", "CosineLoss"]


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
    check_classification(input, target, reduction, "prob_mse", validate_args)
    diff = F.softmax(input, dim=1) - one_hot(target, input.shape[1], input)
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
    check_classification(input, target, reduction, "prob_mae", validate_args)
    diff = F.softmax(input, dim=1) - one_hot(target, input.shape[1], input)
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
    check_classification(input, target, reduction, "prob_bce", validate_args)
    if input.shape[1] < 2:
        raise ValueError(f"input must have at least 2 classes for prob_bce, got {input.shape[1]}")
    onehot = one_hot(target, input.shape[1], input)
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
    check_classification(input, target, reduction, "cosine", validate_args)
    p = F.softmax(input, dim=1)
    p_y = p.gather(1, target.long().unsqueeze(1)).squeeze(1)
    return reduce(1.0 - p_y / p.norm(dim=1), reduction)


# --------------------------------------------------------------------------- module forms
@LOSSES.register("prob_mse", help="mean squared error of softmax probabilities vs one-hot (SLF)")
class ProbMSELoss(FunctionalLoss):
    """Mean squared error of the softmax probabilities against the one-hot target (SLF's
    "mean squared" candidate), the module form of :func:`prob_mse`."""

    function = staticmethod(prob_mse)

    def __init__(self, reduction: str = "mean", *, validate_args: bool | None = None) -> None:
        super().__init__(reduction, validate_args=validate_args)


@LOSSES.register("prob_mae", help="mean absolute error of softmax probabilities vs one-hot (SLF)")
class ProbMAELoss(FunctionalLoss):
    """Mean absolute error of the softmax probabilities against the one-hot target (SLF's
    "mean absolute" candidate), the module form of :func:`prob_mae`."""

    function = staticmethod(prob_mae)

    def __init__(self, reduction: str = "mean", *, validate_args: bool | None = None) -> None:
        super().__init__(reduction, validate_args=validate_args)


@LOSSES.register("prob_bce", help="binary cross-entropy of softmax probabilities vs one-hot (SLF)")
class ProbBCELoss(FunctionalLoss):
    """One-vs-all binary cross-entropy of the softmax probabilities against the one-hot target
    (SLF's "binary cross-entropy" candidate), the module form of :func:`prob_bce`."""

    function = staticmethod(prob_bce)

    def __init__(self, reduction: str = "mean", *, validate_args: bool | None = None) -> None:
        super().__init__(reduction, validate_args=validate_args)


@LOSSES.register("cosine", help="1 - cosine(softmax probabilities, one-hot) (SLF)")
class CosineLoss(FunctionalLoss):
    """Cosine-proximity loss ``1 - cos(softmax(z), onehot(y))`` (SLF's candidate), the module
    form of :func:`cosine`."""

    function = staticmethod(cosine)

    def __init__(self, reduction: str = "mean", *, validate_args: bool | None = None) -> None:
        super().__init__(reduction, validate_args=validate_args)
