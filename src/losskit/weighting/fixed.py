"""Fixed loss weights: ``L = Σ_i w_i L_i`` with constant ``w`` (default all 1: the plain sum).

The baseline of the learned weightings; SLF's ``mode="fixed"`` is the same objective with
weights ``1/K`` by default (the mean).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from losskit.slf.loss import parse_weights
from losskit.weighting.base import LossSpec, LossWeighting

__all__ = ["FixedWeighting"]


class FixedWeighting(LossWeighting):
    """``L = Σ_i w_i L_i``; ``weights``: ``K`` finite numbers ``≥ 0``, not all zero (a list,
    a tensor or ``"1,0.5"``; used as given), default ``1`` each."""

    def __init__(
        self,
        losses: str | Sequence[LossSpec],
        weights: Sequence[float] | str | None = None,
        *,
        context: dict[str, Any] | None = None,
        names: Sequence[str] | None = None,
    ) -> None:
        super().__init__(losses, context=context, names=names)
        w = [1.0] * self.num_losses if weights is None else parse_weights(weights,
                                                                            self.num_losses)
        self.register_buffer("loss_weights", torch.tensor(w))

    def weights(self) -> torch.Tensor:
        return self.loss_weights
