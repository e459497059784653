"""Dynamic Weight Average (Liu, Johns & Davison 2019, "End-to-End Multi-Task Learning with
Attention", Eq. 4).

    ``w_i(t) = K · exp(r_i(t−1)/T) / Σ_j exp(r_j(t−1)/T)``,  ``r_i(t−1) = L_i(t−1) / L_i(t−2)``

with ``L_i(t)`` the average of loss ``i`` over the training steps of epoch ``t`` and
temperature ``T`` (default 2, the paper's); ``w_i = 1`` in the first two epochs. A loss that
falls more slowly than the others gets more weight. The weights change once per epoch:
:meth:`DynamicWeightAverage.end_epoch` (called by the training method at each epoch's end)
computes the next epoch's. The epoch averages are summed over ranks under
``torch.distributed``, so every rank uses the same weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from losskit.core._validation import checks, number
from losskit.weighting.base import EpochMeans, LossSpec, LossWeighting

__all__ = ["DynamicWeightAverage", "dwa_weights"]


def dwa_weights(previous: torch.Tensor, before: torch.Tensor, temperature: float) -> torch.Tensor:
    """``K · softmax(r / T)`` with ``r = previous / before`` (epoch averages ``L(t−1)``,
    ``L(t−2)``; a zero ``L(t−2)`` counts as the smallest positive float)."""
    ratio = previous / before.clamp_min(torch.finfo(before.dtype).tiny)
    return before.numel() * torch.softmax(ratio / temperature, dim=0)


class DynamicWeightAverage(LossWeighting):
    """Dynamic Weight Average: ``L = Σ_i w_i L_i``, ``w`` from the last two epochs' average
    losses (:func:`dwa_weights`); ``temperature`` ``T > 0``."""

    @checks(temperature=number(low=0.0, low_open=True))
    def __init__(
        self,
        losses: str | Sequence[LossSpec],
        temperature: float = 2.0,
        *,
        context: dict[str, Any] | None = None,
        names: Sequence[str] | None = None,
    ) -> None:
        super().__init__(losses, context=context, names=names)
        self.temperature = float(temperature)
        k = self.num_losses
        self.register_buffer("loss_weights", torch.ones(k))
        # the epoch averages L(t−2), L(t−1) and the epochs seen (saved: exact resume)
        self.register_buffer("history", torch.zeros(2, k, dtype=torch.float64))
        self.register_buffer("epochs_seen", torch.zeros((), dtype=torch.long))

    def weights(self) -> torch.Tensor:
        return self.loss_weights

    def end_epoch(self) -> EpochMeans:
        means = super().end_epoch()
        if means.steps == 0:
            return means
        self.history.copy_(torch.stack([self.history[1], means.losses.to(self.history)]))
        self.epochs_seen += 1
        if int(self.epochs_seen) >= 2:
            w = dwa_weights(self.history[1], self.history[0], self.temperature)
            self.loss_weights.copy_(w.to(self.loss_weights))
        return means

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, temperature={self.temperature}"
