"""A first-order bilevel update of SLF's decision network (beyond the paper: against collapse).

Minimising ``H = Σ_i p̂_i l_i`` over the decision network ``v`` (Algorithm 1) rewards whichever
candidate loss is *numerically smallest*, whatever it does to the model: on Fashion-MNIST with
CE, MSE, MAE, hinge and cosine, joint SLF ends up selecting MSE in every step (see the E1
experiment). Running-mean normalisation does not help: it collapses onto another loss.

Here ``v`` is instead trained to reduce a *validation* loss after the model's step (the
first-order approximation used by DARTS / learning-to-reweight). One step of
``w' = w − α Σ_i p̂_i ∇_w l_i`` changes a validation loss ``L_val`` by
``ΔL_val ≈ −α Σ_i p̂_i (∇_w l_i · ∇_w L_val)``, so ``v`` maximises ``Σ_i p̂_i c_i`` with

    c_i = ∇_w l_i · d,   d = ∇_w L_val / ‖∇_w L_val‖,

the alignment of loss ``i``'s gradient with the validation gradient. ``c_i`` is computed by a
central finite difference along ``d`` (two no-grad forwards of the training batch in eval mode),
``L_val`` is cross-entropy on a fresh random training batch (both in eval mode, so BatchNorm
statistics are not touched). ``w`` still minimises ``H`` with
``p̂`` held fixed, and both are updated by the same optimizer step (Algorithm 1, line 10).
Cost per step: one extra forward + backward (validation batch) and two extra forwards.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from losskit import distributed
from losskit.slf.loss import StochasticLoss
from losskit.train.method import StepResult, TrainContext, forward, full_precision


def _trainable(ctx: TrainContext) -> list[torch.nn.Parameter]:
    return [p for p in ctx.model.parameters() if p.requires_grad]


def validation_direction(
    ctx: TrainContext, x: torch.Tensor, y: torch.Tensor
) -> list[torch.Tensor]:
    """Unit-norm gradient ``d`` of cross-entropy on ``(x, y)`` w.r.t. the model parameters,
    in eval mode (the deployed model's validation loss; BatchNorm statistics untouched)."""
    params = _trainable(ctx)
    was_training = ctx.model.training
    ctx.model.eval()
    try:
        logits, _ = forward(ctx, x)
        loss = F.cross_entropy(full_precision(logits), y)
        grads = torch.autograd.grad(loss, params, allow_unused=True)
    finally:
        ctx.model.train(was_training)
    grads = [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads, strict=True)]
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    return [g / norm.clamp_min(1e-12) for g in grads]


@torch.no_grad()
def loss_alignment(
    ctx: TrainContext,
    slf: StochasticLoss,
    x: torch.Tensor,
    y: torch.Tensor,
    direction: list[torch.Tensor],
    eps: float = 1e-2,
) -> torch.Tensor:
    """``c_i ≈ ∇_w l_i · d`` for every candidate loss ``i`` (central difference, step ``eps``
    along ``d``), shape ``(n,)``. Runs in eval mode; parameters are restored bitwise."""
    model = ctx.model
    params = _trainable(ctx)
    backup = [p.detach().clone() for p in params]
    was_training = model.training
    model.eval()
    try:
        values = []
        for sign in (1.0, -1.0):
            for p, b, d in zip(params, backup, direction, strict=True):
                p.copy_(b).add_(d, alpha=sign * eps)
            logits, feats = forward(ctx, x)
            values.append(slf.loss_values(full_precision(logits), y, feats))
    finally:
        for p, b in zip(params, backup, strict=True):
            p.copy_(b)
        model.train(was_training)
    return (values[0] - values[1]) / (2 * eps)


def bilevel_step(
    ctx: TrainContext,
    slf: StochasticLoss,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    val_inputs: torch.Tensor,
    val_targets: torch.Tensor,
    eps: float = 1e-2,
) -> StepResult:
    """One SLF step whose decision network follows the validation alignment (module doc)."""
    if slf.granularity != "batch" or slf.decision_net is None:
        raise ValueError("update='bilevel' needs granularity='batch' and mode 'gumbel'/'softmax'")
    if ctx.scaler is not None or distributed.is_distributed():
        raise ValueError("update='bilevel' supports neither fp16 GradScaler nor distributed runs")
    assert ctx.optimizer is not None, "Trainer must set ctx.optimizer before stepping"
    ctx.model.train()
    direction = validation_direction(ctx, val_inputs, val_targets)
    alignment = loss_alignment(ctx, slf, inputs, targets, direction, eps)
    ctx.optimizer.zero_grad(set_to_none=True)
    logits, feats = forward(ctx, inputs)
    weights, values = slf.forward_parts(full_precision(logits), targets, feats)
    h = (weights.detach() * values).sum()  # w: minimise H with the selection held fixed
    (h - (weights * alignment).sum()).backward()  # v: favour losses aligned with validation
    ctx.optimizer.step()
    return StepResult(loss=h.detach(), logits=logits.detach(), info={"slf_alignment": alignment})
