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

from losskit.core._validation import check_labels, check_logits_and_labels
from losskit.losses import modules as LM
from losskit.losses.base import require_class_target

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
# value = (Σ_c term_c) / _DIVISOR: the functional losses' own reductions (mean = sum / C),
# so every column equals its loss bitwise (x / ±1 and x / -C = -(x / C) are exact)
_DIVISOR = {"ce": -1.0, "prob_mse": "C", "prob_mae": "C", "cosine": 1.0, "hinge": 1.0,
            "prob_bce": "-C"}
# d value / d logits = scale · LSB(direction), LSB the log-softmax backward (see backward)
_SCALE = {"ce": -1.0, "prob_mse": 2.0, "prob_mae": 1.0, "cosine": -1.0, "hinge": -1.0,
          "prob_bce": -1.0}
_PER_CLASS = frozenset({"prob_mse", "prob_mae", "prob_bce"})  # scale also divided by C


class _FusedSoftmaxLosses(torch.autograd.Function):
    """The softmax-family losses as one autograd node with a closed-form backward.

    With ``p = softmax(z)``, ``e`` the one-hot target and ``LSB(u) = u - p·Σu`` the
    log-softmax backward, each loss's gradient is ``scale · LSB(d)`` for a direction ``d``:
    ``ce``: ``-e``; ``prob_mse``: ``(2/C)(p - e)⊙p``; ``prob_mae``: ``(1/C) sign(p - e)⊙p``;
    ``cosine`` ``1 - p_y/‖p‖``: ``-(p_y/‖p‖)(e - (p/‖p‖)²)``; ``hinge``: ``-(e - e_j*)`` where
    the margin is active (``j*`` the arg-max of the other logits; zero-sum, so LSB leaves it);
    ``prob_bce``: ``-(1/C)[e - r + [top ≠ y](q - p)]`` with ``r_j = p_j/(1 - p_j)`` off the
    arg-max ``top`` and ``y``, and ``q = p / (1 - p_top)`` off ``top`` (the derivative of
    ``log(1 - p_top) = logsumexp_{k≠top} z_k - logsumexp z``, zero-sum, computed from the
    stable ``log(1 - p_top)`` so it stays finite when ``p_top`` rounds to 1). The backward is
    then one weighted sum of the stacked directions with the upstream gradients and one
    LSB. The forward reduces all losses at once: each is a sum over classes of one term
    (``hinge`` and ``cosine``: their value at ``y``, zero elsewhere), stacked and summed in
    one op, then divided by its loss's divisor.
    """

    @staticmethod
    def forward(ctx, z, index, kinds):  # noqa: ANN001, ANN205
        values, ctx.state = fused_forward(z, index, kinds)
        return values

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):  # noqa: ANN001, ANN205
        return fused_backward(ctx.state, grad), None, None


_CONSTANTS: dict[tuple[Any, ...], torch.Tensor] = {}


def _constant(kinds: tuple[str, ...], table: dict[str, Any], c: int, like: torch.Tensor,
              per_class: bool = False) -> torch.Tensor:
    """The ``(k,)`` vector of ``table``'s entries for ``kinds`` (``"C"`` / ``"-C"``: ±C;
    ``per_class``: kinds in :data:`_PER_CLASS` divided by C), made once per dtype and device:
    no tensor construction per step (outside ``torch.compile``, which folds it anyway)."""
    key = (kinds, id(table), c, per_class, like.dtype, like.device)
    vec = _CONSTANTS.get(key)
    if vec is None:
        entries = [{"C": float(c), "-C": -float(c)}.get(table[k], table[k]) for k in kinds]
        if per_class:
            entries = [v / c if k in _PER_CLASS else v for k, v in zip(kinds, entries)]
        vec = torch.tensor(entries, dtype=like.dtype, device=like.device)
        if torch.compiler.is_compiling():
            return vec
        _CONSTANTS[key] = vec
    return vec


def fused_forward(
    z: torch.Tensor, index: torch.Tensor, kinds: tuple[str, ...]
) -> tuple[torch.Tensor, dict[str, Any]]:
    """Values ``(N, k)`` of :class:`_FusedSoftmaxLosses` and the state its backward needs
    (for autograd Functions that embed these losses, e.g. SLF's objective)."""
    num_classes = z.shape[1]
    onehot = torch.zeros_like(z).scatter_(1, index, 1.0)
    logp = F.log_softmax(z, dim=1)
    # p as the functional losses compute it (F.softmax: bitwise their values; exp(logp) can
    # differ in the last bit, which 1 - p_y/‖p‖ near 0 amplifies); the backward needs logp
    p = F.softmax(z, dim=1) if _NEEDS_P.intersection(kinds) else logp
    diff = p - onehot if {"prob_mse", "prob_mae"}.intersection(kinds) else None
    state: dict[str, Any] = {"kinds": kinds, "logp": logp, "onehot": onehot, "p": p,
                             "diff": diff, "index": index}
    terms = []
    for kind in kinds:
        if kind == "ce":
            terms.append(logp * onehot)
        elif kind == "prob_mse":
            terms.append(diff.pow(2))
        elif kind == "prob_mae":
            terms.append(diff.abs())
        elif kind == "cosine":
            q = p / p.norm(dim=1, keepdim=True)  # q_y = p_y / ‖p‖
            state["cosine"] = q
            terms.append((1.0 - q) * onehot)
        elif kind == "hinge":
            top, arg = z.scatter(1, index, float("-inf")).max(1, keepdim=True)
            state["hinge"] = arg
            terms.append(F.relu((1.0 + top) - z) * onehot)
        elif kind == "prob_bce":
            log1m, state["prob_bce"] = _log1m_softmax_scatter(z, logp, p)
            # -mean_j of log p_y at y and log(1 - p_j) elsewhere
            terms.append(log1m.scatter_(1, index, logp.gather(1, index)))
    sums = torch.stack(terms, dim=1).sum(2)  # (N, k): the classes summed in each loss's order
    values = sums / _constant(kinds, _DIVISOR, num_classes, sums)
    state["values"] = values
    return values, state


def _log1m_softmax_scatter(
    z: torch.Tensor, logp: torch.Tensor, p: torch.Tensor
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """``log(1 - p)`` as :func:`~losskit.losses.functional.log1m_softmax` computes it
    (``log1p(-p)`` off the arg-max, ``log Σ_{k≠top} p_k`` at it, finite when ``p_top`` rounds
    to 1), with the arg-max as an index (no mask), and ``(top, at_top, p_off)`` for the
    backward. At the arg-max: ``logsumexp_{k≠top} log p_k``, one ``logsumexp`` (the functional
    form, ``logsumexp_{k≠top} z - logsumexp z``, takes two; equal up to rounding)."""
    top = z.argmax(1, keepdim=True)
    p_off = p.scatter(1, top, 0.0)
    at_top = torch.logsumexp(logp.scatter(1, top, float("-inf")), dim=1, keepdim=True)
    log1m = torch.log1p(-p_off).scatter_(1, top, at_top)
    return log1m, (top, at_top, p_off)


def fused_backward(state: dict[str, Any], grad: torch.Tensor) -> torch.Tensor:
    """Gradient w.r.t. the logits of ``Σ grad ⊙ values`` (see :class:`_FusedSoftmaxLosses`)."""
    logp, onehot, p, diff, index = (state[k] for k in ("logp", "onehot", "p", "diff", "index"))
    kinds = state["kinds"]
    directions = []
    for i, kind in enumerate(kinds):
        if kind == "ce":
            directions.append(onehot)
        elif kind == "prob_mse":
            directions.append(diff * p)
        elif kind == "prob_mae":
            directions.append(diff.sign() * p)
        elif kind == "cosine":
            q = state["cosine"]
            directions.append((onehot - q.square()) * q.gather(1, index))
        elif kind == "hinge":  # e - e_j* (scale -1), where the margin is active
            active = state["values"].narrow(1, i, 1) > 0
            directions.append(onehot.scatter(1, state["hinge"], -1.0) * active)
        elif kind == "prob_bce":
            top, at_top, p_off = state["prob_bce"]
            r = (p_off / (1.0 - p_off)).scatter_(1, index, 0.0)  # zero at top and y
            q = torch.exp(logp - at_top).scatter_(1, top, 0.0)
            directions.append((onehot - r) + (q - p) * (top != index))
    coef = grad * _constant(kinds, _SCALE, logp.shape[1], grad, per_class=True)
    # Σ_i coef_i d_i: a broadcast product and a sum (at these sizes ~10x faster than bmm)
    g = (torch.stack(directions, dim=1) * coef.unsqueeze(2)).sum(1)
    return torch._log_softmax_backward_data(g, logp, 1, logp.dtype)
