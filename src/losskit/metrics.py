"""Ranking metrics on model outputs, shared by the Trainer's evaluation and UniLoss's exact
metrics (one definition each)."""

from __future__ import annotations

import torch


def binary_scores(logits: torch.Tensor) -> torch.Tensor:
    """Positive-class score of a binary model: ``logit_1 − logit_0`` for two logits (the
    log-odds under softmax), the logit itself for one."""
    if logits.dim() == 2 and logits.shape[1] == 2:
        return logits[:, 1] - logits[:, 0]
    return logits.reshape(len(logits))


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
