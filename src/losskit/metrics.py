"""Ranking metrics on model outputs, shared by the Trainer's evaluation and UniLoss's exact
metrics (one definition each)."""

from __future__ import annotations

import torch

from losskit._validation import check_finite_float


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
