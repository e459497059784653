"""Several softmax-family classification losses from one shared softmax.

SLF evaluates all its candidate losses on every batch (paper Eq. 11). The SLF paper's set —
MSE, MAE, binary cross-entropy and cosine proximity on softmax probabilities vs the one-hot
target (``prob_mse``, ``prob_mae``, ``prob_bce``, ``cosine``), the (Crammer–Singer) hinge on the
logits, and cross-entropy often next to them — shares almost all of its work: one
``log_softmax``, one one-hot, one ``p − onehot``. :func:`fused_losses` computes the per-sample
values of any subset in one pass, equal (up to float rounding) to the individual functions of
:mod:`losskit.losses.functional`, with a single input validation instead of one per loss.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from losskit._validation import check_labels, check_logits_and_labels
from losskit.losses import modules as LM
from losskit.losses.base import require_class_target
from losskit.losses.functional import _bce_from_log1m, _log1m_softmax_parts

FUSABLE_KINDS = ("ce", "prob_mse", "prob_mae", "cosine", "hinge", "prob_bce")


def fusable_kind(loss: object) -> str | None:
    """The fused kind computing ``loss`` (a zoo module with the default settings and
    ``reduction`` ``"mean"`` or ``"none"``), or ``None`` when it must be called itself."""
    if not isinstance(loss, nn.Module) or getattr(loss, "reduction", None) not in ("mean", "none"):
        return None
    kind = {
        LM.CrossEntropyLoss: "ce",
        LM.ProbMSELoss: "prob_mse",
        LM.ProbMAELoss: "prob_mae",
        LM.CosineLoss: "cosine",
        LM.HingeLoss: "hinge",
        LM.ProbBCELoss: "prob_bce",
        LM.BinaryCrossEntropyLoss: "prob_bce",
    }.get(type(loss))
    if kind == "hinge" and loss.variant != "crammer_singer":
        return None
    if type(loss) is LM.BinaryCrossEntropyLoss and loss.activation != "softmax":
        return None
    if getattr(loss, "weight", None) is not None or getattr(loss, "ignore_index", -100) != -100:
        return None  # class weights / a real ignored class: computed by the loss itself
    return kind


def fused_losses(
    input: torch.Tensor, target: torch.Tensor, kinds: Sequence[str], validate: bool = True
) -> torch.Tensor:
    """Per-sample values ``(N, len(kinds))`` of the named losses on logits ``input (N, C)``.

    Column ``i`` equals ``functional.<kind>(input, target, reduction="none")`` (bitwise: the
    same forward ops). ``validate`` checks the labels (shape, dtype, range; real-valued targets
    get the ``ValueError`` of the classification loss ``kinds[0]``; the range read follows
    :func:`losskit.check_values`); the caller is responsible for ``input`` being finite (one
    check per batch, not per loss). The gradient is one closed-form node
    (:class:`_FusedSoftmaxLosses`), equal to autograd's up to float rounding.
    """
    check_fused_arguments(input, target, kinds, validate)
    return _FusedSoftmaxLosses.apply(input, target.long().unsqueeze(1), tuple(kinds))


def check_fused_arguments(
    input: torch.Tensor,
    target: torch.Tensor,
    kinds: Sequence[str],
    validate: bool = True,
    finite: str | None = None,
) -> None:
    """The checks of :func:`fused_losses` (``validate``: also the targets; ``finite``: also
    the NaN/Inf scan of ``input``, under that name, in the same host sync)."""
    if validate:
        require_class_target(kinds[0] if kinds else "ce", input, target)
        if finite is None:
            check_labels(input, target)
        else:
            check_logits_and_labels(input, target, name=finite)
    unknown = [k for k in kinds if k not in FUSABLE_KINDS]
    if unknown:
        raise ValueError(f"kinds must be among {FUSABLE_KINDS}, got {unknown}")
    if "prob_bce" in kinds and input.shape[1] < 2:
        raise ValueError(f"input must have at least 2 classes for prob_bce, got {input.shape[1]}")


_NEEDS_P = frozenset({"prob_mse", "prob_mae", "cosine", "prob_bce"})
# d value / d logits = scale · LSB(direction), LSB the log-softmax backward (see backward)
_SCALE = {"ce": -1.0, "prob_mse": 2.0, "prob_mae": 1.0, "cosine": -1.0, "hinge": 1.0,
          "prob_bce": -1.0}
_PER_CLASS = frozenset({"prob_mse", "prob_mae", "prob_bce"})  # scale also divided by C


class _FusedSoftmaxLosses(torch.autograd.Function):
    """The softmax-family losses as one autograd node with a closed-form backward.

    With ``p = softmax(z)``, ``e`` the one-hot target and ``LSB(u) = u - p·Σu`` the
    log-softmax backward, each loss's gradient is ``scale · LSB(d)`` for a direction ``d``:
    ``ce``: ``-e``; ``prob_mse``: ``(2/C)(p - e)⊙p``; ``prob_mae``: ``(1/C) sign(p - e)⊙p``;
    ``cosine`` ``1 - p_y/‖p‖``: ``-(p_y/‖p‖)(e - (p/‖p‖)²)``; ``hinge``: ``e_j* - e`` where the
    margin is active (``j*`` the arg-max of the other logits; zero-sum, so LSB leaves it);
    ``prob_bce``: ``-(1/C)[e - r + [top ≠ y](q - p)]`` with ``r_j = p_j/(1 - p_j)`` off the
    arg-max ``top`` and ``y``, and ``q = p / (1 - p_top)`` off ``top`` (the derivative of
    ``log(1 - p_top) = logsumexp_{k≠top} z_k - logsumexp z``, zero-sum, computed from the
    stable ``log(1 - p_top)`` so it stays finite when ``p_top`` rounds to 1). The backward is
    then one batched product of the upstream gradients with the stacked directions and one
    LSB: about 30 ops where autograd's graph of the same forward takes about 75.
    """

    @staticmethod
    def forward(ctx, z, index, kinds):  # noqa: ANN001, ANN205
        values, ctx.state = fused_forward(z, index, kinds)
        return values

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):  # noqa: ANN001, ANN205
        return fused_backward(ctx.state, grad), None, None


def fused_forward(
    z: torch.Tensor, index: torch.Tensor, kinds: tuple[str, ...]
) -> tuple[torch.Tensor, dict[str, Any]]:
    """Values ``(N, k)`` of :class:`_FusedSoftmaxLosses` and the state its backward needs
    (for autograd Functions that embed these losses, e.g. SLF's objective)."""
    num_classes = z.shape[1]
    onehot = torch.zeros_like(z).scatter_(1, index, 1.0)
    logp = F.log_softmax(z, dim=1)
    p = logp.exp() if _NEEDS_P.intersection(kinds) else logp
    is_y = onehot.bool() if {"hinge", "prob_bce"}.intersection(kinds) else None
    diff = p - onehot if {"prob_mse", "prob_mae"}.intersection(kinds) else None
    state: dict[str, Any] = {"kinds": kinds, "logp": logp, "onehot": onehot, "p": p,
                             "is_y": is_y, "diff": diff}
    cols = []
    for kind in kinds:
        if kind == "ce":
            cols.append(-(logp * onehot).sum(1, keepdim=True))
        elif kind == "prob_mse":
            cols.append(diff.pow(2).sum(1, keepdim=True) / num_classes)
        elif kind == "prob_mae":
            cols.append(diff.abs().sum(1, keepdim=True) / num_classes)
        elif kind == "cosine":
            norm = p.norm(dim=1, keepdim=True)
            ratio = p.gather(1, index) / norm  # = (p ⊙ e).sum(1) exactly
            state["cosine"] = (norm, ratio)
            cols.append(1.0 - ratio)
        elif kind == "hinge":
            z_y = z.gather(1, index)
            top, arg = z.masked_fill(is_y, float("-inf")).max(1, keepdim=True)
            value = F.relu(1.0 + top - z_y)
            state["hinge"] = (arg, value)
            cols.append(value)
        elif kind == "prob_bce":
            log1m, top_mask, at_top = _log1m_softmax_parts(z, logp, p)
            state["prob_bce"] = (top_mask, at_top)
            cols.append(_bce_from_log1m(is_y, logp, log1m, keepdim=True))
    return torch.cat(cols, dim=1), state


def fused_backward(state: dict[str, Any], grad: torch.Tensor) -> torch.Tensor:
    """Gradient w.r.t. the logits of ``Σ grad ⊙ values`` (see :class:`_FusedSoftmaxLosses`)."""
    logp, onehot, p, is_y, diff = (state[k] for k in ("logp", "onehot", "p", "is_y", "diff"))
    num_classes = logp.shape[1]
    directions = []
    for kind in state["kinds"]:
        if kind == "ce":
            directions.append(onehot)
        elif kind == "prob_mse":
            directions.append(diff * p)
        elif kind == "prob_mae":
            directions.append(diff.sign() * p)
        elif kind == "cosine":
            norm, ratio = state["cosine"]
            directions.append(ratio * (onehot - (p / norm).square()))
        elif kind == "hinge":
            arg, value = state["hinge"]
            to_other = torch.zeros_like(p).scatter_(1, arg, 1.0) - onehot
            directions.append(to_other * (value > 0))
        elif kind == "prob_bce":
            top, at_top = state["prob_bce"]
            r = (p / (1.0 - p)).masked_fill(top | is_y, 0.0)
            q = torch.exp(logp - at_top).masked_fill(top, 0.0)
            top_is_y = (top & is_y).any(1, keepdim=True)
            directions.append(onehot - r + (q - p).masked_fill(top_is_y, 0.0))
    scale = [_SCALE[k] / (num_classes if k in _PER_CLASS else 1) for k in state["kinds"]]
    coef = grad * torch.tensor(scale, dtype=grad.dtype, device=grad.device)
    g = torch.bmm(coef.unsqueeze(1), torch.stack(directions, dim=1)).squeeze(1)
    return torch._log_softmax_backward_data(g, logp, 1, logp.dtype)
