"""The decision network ``h(f(x; w); v)`` of SLF (paper Eq. 4 and Eq. 11)."""

from __future__ import annotations

from numbers import Integral

import torch
from torch import nn


class DecisionNet(nn.Module):
    """A small MLP mapping model outputs ``(N, num_outputs)`` to loss logits ``(N, num_losses)``.

    ``hidden > 0``: ``Linear → ReLU → Linear``; ``hidden = 0``: a single ``Linear``. The last
    layer starts at zero, so the initial selection probabilities are exactly uniform
    (``p_i = 1/n``): no loss is favoured before the decision network has learnt anything.
    """

    def __init__(self, num_outputs: int, num_losses: int, hidden: int = 32) -> None:
        super().__init__()
        for name, value, low in (
            ("num_outputs", num_outputs, 1),
            ("num_losses", num_losses, 2),
            ("hidden", hidden, 0),
        ):
            if isinstance(value, bool) or not isinstance(value, Integral) or int(value) < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        self.num_outputs = int(num_outputs)
        self.num_losses = int(num_losses)
        if hidden:
            self.net: nn.Module = nn.Sequential(
                nn.Linear(num_outputs, hidden), nn.ReLU(), nn.Linear(hidden, num_losses)
            )
        else:
            self.net = nn.Linear(num_outputs, num_losses)
        last = self.net[-1] if isinstance(self.net, nn.Sequential) else self.net
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
