"""The decision network ``h(f(x; w); v)`` of SLF (paper Eq. 4 and Eq. 11)."""

from __future__ import annotations

from numbers import Integral

import torch
from torch import nn
from torch.autograd.function import once_differentiable


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
        if isinstance(self.net, nn.Sequential) and x.dim() == 2:  # Linear→ReLU→Linear: 1 node
            first, last = self.net[0], self.net[2]
            return _TwoLayer.apply(x, first.weight, first.bias, last.weight, last.bias)
        return self.net(x)


class _TwoLayer(torch.autograd.Function):
    """``linear(relu(linear(x, w1, b1)), w2, b2)`` with the backward autograd would run (the
    same products in the same layouts, so gradients are bitwise autograd's) but without its
    per-node bookkeeping: about half the dispatched ops of ``nn.Sequential``'s graph."""

    @staticmethod
    def forward(ctx, x, w1, b1, w2, b2):  # noqa: ANN001, ANN205
        hidden = torch.relu(torch.addmm(b1, x, w1.t()))
        ctx.save_for_backward(x, w1, hidden, w2)
        return torch.addmm(b2, hidden, w2.t())

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):  # noqa: ANN001, ANN205
        x, w1, hidden, w2 = ctx.saved_tensors
        d_hidden = torch.ops.aten.threshold_backward(grad.mm(w2), hidden, 0)
        d_x = d_hidden.mm(w1) if ctx.needs_input_grad[0] else None
        # autograd's addmm backward for mat2 = wᵀ (column-major): d w = gᵀ·mat1
        return (d_x, d_hidden.t().mm(x), d_hidden.sum(0), grad.t().mm(hidden), grad.sum(0))
