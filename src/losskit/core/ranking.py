"""Ranking metrics on model outputs, shared by the Trainer's evaluation and UniLoss's exact
metrics (one definition each)."""

from __future__ import annotations

import torch

from losskit.core._validation import check_finite_float


def binary_scores(input: torch.Tensor, validate_args: bool | None = None) -> torch.Tensor:
    """Positive-class score of a binary model ``(N,)``: ``logit_1 − logit_0`` for ``(N, 2)``
    logits (the log-odds under softmax), the logit for ``(N,)`` / ``(N, 1)``; ``ValueError``
    for another shape or (value checks on) a NaN / Inf score."""
    check_finite_float(input, "input", validate_args)
    if input.dim() == 2 and input.shape[1] == 2:
        return input[:, 1] - input[:, 0]
    if input.dim() == 1 or (input.dim() == 2 and input.shape[1] == 1):
        return input.reshape(input.shape[0])
    raise ValueError(
        f"input must hold binary scores of shape (N,), (N, 1) or (N, 2), got {tuple(input.shape)}"
    )


def average_precision(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """Average precision Σ_n (R_n − R_{n−1}) P_n over distinct thresholds, ties grouped —
    the same definition as ``sklearn.metrics.average_precision_score``."""
    labels = labels.reshape(-1).to(torch.float64)
    positives = float(labels.sum())
    if positives == 0:
        raise ValueError("labels contain no positive sample; average precision is undefined")
    order = torch.argsort(scores.reshape(-1), descending=True, stable=True)
    s, y = scores.reshape(-1)[order], labels[order]
    tp, fp = torch.cumsum(y, 0), torch.cumsum(1 - y, 0)
    last_of_tie = torch.ones_like(s, dtype=torch.bool)
    last_of_tie[:-1] = s[1:] != s[:-1]
    tp, fp = tp[last_of_tie], fp[last_of_tie]
    precision = tp / (tp + fp)
    recall_step = torch.diff(tp, prepend=tp.new_zeros(1)) / positives
    return float((recall_step * precision).sum())


def roc_auc(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """ROC-AUC: the probability that a random positive scores above a random negative, ties
    counting ½ (Mann–Whitney ``U / (P·N)`` with mid-ranks) — the definition of
    ``sklearn.metrics.roc_auc_score``. ``ValueError`` without a positive or a negative."""
    labels = labels.reshape(-1).to(torch.float64)
    scores = scores.reshape(-1).to(torch.float64)
    positives = float(labels.sum())
    negatives = labels.numel() - positives
    if positives == 0 or negatives == 0:
        raise ValueError("labels need at least one positive and one negative sample; ROC-AUC "
                         "is undefined otherwise")
    s, order = torch.sort(scores, stable=True)
    _, inverse, counts = torch.unique_consecutive(s, return_inverse=True, return_counts=True)
    last = torch.cumsum(counts, 0).to(torch.float64)  # 1-based rank of each tie group's end
    mid = last - (counts.to(torch.float64) - 1) / 2  # mid-rank of each tie group
    ranks = mid[inverse]
    rank_sum = float((ranks * labels[order]).sum())
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)
