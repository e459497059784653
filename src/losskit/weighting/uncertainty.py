"""Uncertainty weighting (Kendall, Gal & Cipolla 2018, "Multi-Task Learning Using Uncertainty to
Weigh Losses for Scene Geometry and Semantics").

One learned log-variance ``s_i = log σ_i²`` per loss; the objective is

    ``L = Σ_i exp(−s_i) · L_i + s_i``

and ``s`` is trained with the model by the same optimizer (the training method returns it from
``parameters()``, as SLF returns its decision network). For fixed ``L_i`` the minimiser is
``s_i = log L_i``: every weighted loss is driven to ``exp(−s_i) L_i = 1``.

======================================  ==================================  =================
paper                                   ours                                options
======================================  ==================================  =================
Eq. 7 (Gaussian likelihood):            ``exp(−s_i) L_i + s_i``: twice      ``init``: the
``L/(2σ²) + log σ``; Eq. 10 (softmax    Eq. 7 in ``s = log σ²`` (the same   starting
likelihood): ``L/σ² + log σ``           minimiser ``s_i = log L_i``); no    ``s_i`` (0:
                                        ½ factors, for every task (the      weights 1)
                                        common implementation's form)
σ (or log σ²) learned per task          ``s_i`` learned, ``s_i = 0`` at     —
                                        the start
======================================  ==================================  =================
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from losskit.core._validation import checks, number
from losskit.weighting.base import LossSpec, LossWeighting

__all__ = ["UncertaintyWeighting"]


class UncertaintyWeighting(LossWeighting):
    """``L = Σ_i exp(−s_i) L_i + s_i`` with learned log-variances ``log_vars`` ``s`` (an
    ``nn.Parameter`` ``(K,)``, starting at ``init``); weights ``w_i = exp(−s_i)``. Give
    ``parameters()`` to the optimizer (the training method does)."""

    has_parameters = True

    @checks(init=number())
    def __init__(
        self,
        losses: str | Sequence[LossSpec],
        init: float = 0.0,
        *,
        context: dict[str, Any] | None = None,
        names: Sequence[str] | None = None,
    ) -> None:
        super().__init__(losses, context=context, names=names)
        self.log_vars = nn.Parameter(torch.full((self.num_losses,), float(init)))

    def weights(self) -> torch.Tensor:
        return torch.exp(-self.log_vars)

    def combine(self, values: torch.Tensor) -> torch.Tensor:
        s = self.log_vars.to(values.dtype)
        return (torch.exp(-s) * values + s).sum()
