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

import torch
import torch.nn.functional as F
from torch import nn

from losskit._validation import check_labels
from losskit.losses import modules as LM
from losskit.losses.base import require_class_target
from losskit.losses.functional import _softmax_bce

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

    Column ``i`` equals ``functional.<kind>(input, target, reduction="none")``. ``validate``
    checks the labels (shape, dtype, range; real-valued targets get the ``ValueError`` of the
    classification loss ``kinds[0]``); the caller is responsible for ``input`` being finite
    (one check per batch, not per loss).
    """
    if validate:
        require_class_target(kinds[0] if kinds else "ce", input, target)
        check_labels(input, target)
    unknown = [k for k in kinds if k not in FUSABLE_KINDS]
    if unknown:
        raise ValueError(f"kinds must be among {FUSABLE_KINDS}, got {unknown}")
    index = target.long().unsqueeze(1)
    num_classes = input.shape[1]
    # one-hot products instead of gathers: their backward is a cheap multiply
    onehot = torch.zeros_like(input).scatter_(1, index, 1.0)
    logp = F.log_softmax(input, dim=1)
    cols: dict[str, torch.Tensor] = {}
    if "ce" in kinds:
        cols["ce"] = -(logp * onehot).sum(1)
    if {"prob_mse", "prob_mae", "cosine"} & set(kinds):
        p = logp.exp()
        if {"prob_mse", "prob_mae"} & set(kinds):
            diff = p - onehot
            if "prob_mse" in kinds:
                cols["prob_mse"] = diff.pow(2).sum(1) / num_classes
            if "prob_mae" in kinds:
                cols["prob_mae"] = diff.abs().sum(1) / num_classes
        if "cosine" in kinds:
            cols["cosine"] = 1.0 - (p * onehot).sum(1) / p.norm(dim=1)
    if "hinge" in kinds:
        z_y = (input * onehot).sum(1)
        others = input.masked_fill(onehot.bool(), float("-inf"))
        cols["hinge"] = F.relu(1.0 + others.max(1).values - z_y)
    if "prob_bce" in kinds:
        if num_classes < 2:
            raise ValueError(f"input must have at least 2 classes for prob_bce, got {num_classes}")
        cols["prob_bce"] = _softmax_bce(input, onehot, logp)
    return torch.stack([cols[k] for k in kinds], dim=1)
