"""SLF's objective in the paper's setting as one autograd node (Liu & Lai, "Stochastic Loss
Function", AAAI 2020, Eq. 9–11): per-sample straight-through Gumbel weights over fused zoo
candidates (:mod:`losskit.losses.fused`), the fast path of
:meth:`~losskit.slf.loss.StochasticLoss.forward`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from losskit.losses.fused import fused_backward, fused_forward
from losskit.slf.gumbel import (
    save_with_tau,
    saved_with_tau,
    straight_through_backward,
    straight_through_forward,
)

__all__ = ["SampleObjective"]


class SampleObjective(torch.autograd.Function):
    """SLF's ``H = mean_j Σ_i p̂_ji l_i(x_j)`` with per-sample straight-through Gumbel weights
    ``p̂_j`` (Eq. 9–11) and fused zoo candidates, as one autograd node.

    Inputs: logits ``z``, labels ``index (N, 1)``, decision logits ``h (N, n)``, the negated
    Gumbel noise ``(K, N, n)``, ``tau``; outputs ``H`` and, without gradient, the values
    ``(N, n)``, ``p̂`` and ``log p = log_softmax(h)``. The forward runs the ops of the generic path
    (:func:`~losskit.losses.fused.fused_forward`, ``log_softmax``, the Gumbel-max one-hots,
    ``(p̂ · l).sum(-1).mean()``); the backward applies the candidates' closed-form gradient to
    ``∂H/∂l = p̂/N`` and the straight-through gradient to ``∂H/∂p̂ = l/N``.
    """

    @staticmethod
    def forward(ctx, z, index, h, neg_noise, tau, kinds):  # noqa: ANN001, ANN205
        ctx.set_materialize_grads(False)  # no zero gradients for the bookkeeping outputs
        values, ctx.fused = fused_forward(z, index, kinds)
        log_p = F.log_softmax(h, dim=-1)
        weights, scores = straight_through_forward(log_p, neg_noise)
        objective = (weights * values).sum(-1).mean()
        save_with_tau(ctx, tau, values, weights, log_p, scores)
        ctx.mark_non_differentiable(values, weights, log_p)
        return objective, values, weights, log_p

    @staticmethod
    @once_differentiable
    def backward(ctx, grad, *_):  # noqa: ANN001, ANN205
        tau, values, weights, log_p, scores = saved_with_tau(ctx)
        scale = grad / values.shape[0]
        dz = fused_backward(ctx.fused, weights * scale)
        d_log_p = straight_through_backward(scores, tau, values * scale, mean_first=False)
        dh = torch._log_softmax_backward_data(d_log_p, log_p, -1, log_p.dtype)
        return dz, None, dh, None, None, None
