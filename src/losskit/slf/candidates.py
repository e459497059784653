"""The candidate losses ``L = {l_1, …, l_n}`` of SLF (Liu & Lai, "Stochastic Loss Function",
AAAI 2020, Eq. 11): the paper's set (:data:`PAPER_LOSSES`), how a list of names / modules /
callables is read (:func:`parse_loss_list`) and built (:func:`build_candidate`), and the fixed
weights of ``mode="fixed"`` (:func:`parse_weights`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from numbers import Real
from typing import Any

import torch
from torch import nn

from losskit.core._validation import split_list
from losskit.losses.base import loss_name

__all__ = ["PAPER_LOSSES", "FunctionLoss", "build_candidate", "candidate_task",
           "parse_loss_list", "parse_weights"]

#: The SLF paper's candidate set (Sec. "Experiments", classification and clustering): mean
#: squared, mean absolute, hinge, cosine proximity and binary cross-entropy, here on the softmax
#: probabilities vs the one-hot target (hinge: Crammer–Singer on the logits).
PAPER_LOSSES = ("prob_mse", "prob_mae", "hinge", "cosine", "prob_bce")


class FunctionLoss(nn.Module):
    """Wraps a plain callable ``fn(output, target) -> tensor`` as a module (for ``from_parts``)."""

    def __init__(self, fn: Callable[..., torch.Tensor], needs_features: bool = False) -> None:
        super().__init__()
        self.fn = fn
        self.needs_features = bool(getattr(fn, "needs_features", needs_features))

    def forward(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        return self.fn(*args, **kwargs)

    def extra_repr(self) -> str:
        return getattr(self.fn, "__name__", repr(self.fn))


def parse_loss_list(losses: object) -> list[Any]:
    """``"ce,mse"`` or a sequence of names / modules / callables → a list (≥ 2 entries)."""
    if isinstance(losses, Mapping):
        raise ValueError("losses must be a list or comma-separated string; for named parts use "
                         "StochasticLoss.from_parts({...})")
    items = split_list(losses, "losses", min_items=2)
    for item in items:
        if not (isinstance(item, str) or callable(item)):
            raise ValueError(f"losses entries must be loss names or callables, got {item!r}")
    return items


def build_candidate(
    item: Any, num_outputs: int, context: dict[str, Any] | None, per_sample: bool
) -> nn.Module:
    """The module of one candidate: a registry name built with ``context`` (default
    ``{"num_classes": num_outputs}``; ``reduction="none"`` when ``per_sample``), a module as
    given (per-sample: it must not reduce), a callable wrapped in :class:`FunctionLoss`."""
    if isinstance(item, str):
        from losskit import losses as zoo

        ctx = {"num_classes": num_outputs, **(context or {})}
        kwargs = {"reduction": "none"} if per_sample else {}
        return zoo.build(item, ctx, **kwargs)
    if per_sample and getattr(item, "reduction", "none") != "none":
        raise ValueError(
            f"granularity='sample' needs per-sample losses: loss {loss_name(item)!r} has "
            f"reduction={item.reduction!r}; build it with reduction='none'"
        )
    if isinstance(item, nn.Module):
        return item
    return FunctionLoss(item)


def candidate_task(module: nn.Module) -> object:
    """What declares a candidate's task: the wrapped callable of a :class:`FunctionLoss`, else
    the module itself."""
    return module.fn if isinstance(module, FunctionLoss) else module


def parse_weights(weights: object, n: int) -> list[float]:
    """Fixed-mode weights: ``None`` → ``[1/n] * n``; else ``n`` finite numbers ``≥ 0``, not all
    zero (used as given, not renormalised)."""
    if weights is None:
        return [1.0 / n] * n
    if isinstance(weights, str):
        try:
            values = [float(s) for s in split_list(weights, "weights")]
        except ValueError:
            raise ValueError(f"weights must be comma-separated numbers, got {weights!r}") from None
    elif isinstance(weights, torch.Tensor):
        values = [float(v) for v in weights.detach().flatten().tolist()]
    elif isinstance(weights, Sequence):
        if not all(isinstance(v, Real) and not isinstance(v, bool) for v in weights):
            raise ValueError(f"weights must be numbers, got {weights!r}")
        values = [float(v) for v in weights]
    else:
        raise ValueError(f"weights must be a list of {n} numbers, got {weights!r}")
    if len(values) != n:
        raise ValueError(f"weights must have one entry per loss ({n}), got {len(values)}")
    if not all(math.isfinite(v) and v >= 0 for v in values) or sum(values) <= 0:
        raise ValueError(f"weights must be finite, >= 0 and not all zero, got {values}")
    return values
