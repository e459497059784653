"""Class counts of integer labels (what the training context hands to the losses that need
priors; :mod:`losskit.losses.priors` builds on it)."""

from __future__ import annotations

import torch

_INT_DTYPES = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)


def class_counts(targets: torch.Tensor, num_classes: int | None = None) -> torch.Tensor | None:
    """``(C,)`` int64 counts of the integer class labels ``targets`` (``(N,)``), ``C =
    num_classes`` (default: the largest label + 1); ``None`` when ``targets`` are not class
    labels (real-valued regression targets, multi-hot rows, negative labels) — there are no
    class counts to give then."""
    if not isinstance(targets, torch.Tensor) or targets.dtype not in _INT_DTYPES:
        return None
    if targets.dim() != 1 or targets.numel() == 0 or int(targets.min()) < 0:
        return None
    return torch.bincount(targets.long().cpu(), minlength=num_classes or 0)
