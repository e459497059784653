"""One-vs-rest binary subsets with a fixed positive:negative ratio (UniLoss paper §4.2 / §5.3).

UniLoss evaluates average precision on "zeros vs non-zeros" with positives to negatives 1:9.
"""

from __future__ import annotations

import math

import torch


def one_vs_rest(
    x: torch.Tensor,
    y: torch.Tensor,
    positive_class: int,
    neg_per_pos: float,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """All samples of ``positive_class`` (label 1) plus ``neg_per_pos`` negatives each (label 0).

    Negatives are a seeded random subset of the other classes, ``min(round(neg_per_pos * P), N)``
    of them (``P`` positives, ``N`` available negatives); original order is preserved.
    Returns ``(x_subset, y01)`` with ``y01`` int64 in {0, 1}.
    """
    if isinstance(positive_class, bool) or not isinstance(positive_class, int):
        raise ValueError(f"positive_class must be an int class index, got {positive_class!r}")
    if (
        isinstance(neg_per_pos, bool)
        or not isinstance(neg_per_pos, (int, float))
        or not math.isfinite(neg_per_pos)
        or neg_per_pos <= 0
    ):
        raise ValueError(f"neg_per_pos must be a positive number, got {neg_per_pos!r}")
    pos = y == positive_class
    n_pos = int(pos.sum())
    if n_pos == 0:
        raise ValueError(f"positive_class {positive_class} has no samples")
    neg_idx = torch.nonzero(~pos).flatten()
    n_neg = min(int(round(neg_per_pos * n_pos)), neg_idx.numel())
    chosen = neg_idx[torch.randperm(neg_idx.numel(), generator=generator)[:n_neg]]
    keep = pos.clone()
    keep[chosen] = True
    return x[keep], pos[keep].long()
