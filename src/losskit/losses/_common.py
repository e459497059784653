"""Argument checks and small tensor helpers shared by the loss families (private).

:func:`check_classification` is the boundary check of the classification losses that take
logits ``(N, C)`` and class indices ``(N,)`` (one ``ValueError`` naming the argument or the
loss); :func:`one_hot`, :func:`target_logit`, :func:`per_sample_ce` and
:func:`per_sample_mean` are the building blocks the families share.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from losskit.core._validation import check_logits_and_labels, check_reduction
from losskit.losses.base import require_class_target

__all__ = ["INT_DTYPES", "check_classification", "one_hot", "per_sample_ce", "per_sample_mean",
           "target_logit"]

INT_DTYPES = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)

def check_classification(
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


def one_hot(target: torch.Tensor, num_classes: int, like: torch.Tensor) -> torch.Tensor:
    # a scatter into zeros of like's dtype: no int64 one-hot and cast, no value read
    index = target.long().to(like.device).unsqueeze(1)
    return like.new_zeros(target.shape[0], num_classes).scatter_(1, index, 1.0)


def target_logit(input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return input.gather(1, target.long().unsqueeze(1)).squeeze(1)


def per_sample_ce(input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(input, target.long(), reduction="none")


def per_sample_mean(values: torch.Tensor) -> torch.Tensor:
    """``(N, ...)`` elementwise values → ``(N,)`` per-sample means (``(N,)`` unchanged)."""
    return values.flatten(1).mean(dim=1) if values.dim() > 1 else values
