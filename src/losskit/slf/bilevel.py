"""A first-order bilevel update of SLF's decision network (**our variant**, against collapse).

Minimising ``H = Σ_i p̂_i l_i`` over the decision network ``v`` (Algorithm 1) rewards whichever
candidate loss is *numerically smallest*, whatever it does to the model: on Fashion-MNIST with
CE and the probability losses joint SLF ends up selecting one small loss in every step, on
regression with MSE, MAE and Huber it selects Huber (always the smallest of the three) in every
step. Running-mean normalisation does not help: it collapses onto another loss.

Here ``v`` is instead trained to reduce a *validation* loss after the model's step (the
first-order approximation used by DARTS / learning-to-reweight). One step of
``w' = w − α ∇_w H`` (``p̂`` held fixed) changes a validation loss ``L_val`` by
``ΔL_val ≈ −α Σ_i p̂_i (∇_w l_i · ∇_w L_val)``, so ``v`` maximises ``Σ_i p̂_i c_i`` with

    c_i = ∇_w l_i · d,   d = ∇_w L_val / ‖∇_w L_val‖,

the alignment of loss ``i``'s gradient with the validation gradient (per sample, ``c_ji`` and
``mean_j Σ_i p̂_ji c_ji``, with ``granularity="sample"``). ``c`` is computed by a central finite
difference along ``d`` (two no-grad forwards of the training batch in eval mode). ``c_i`` grows
with the scale of ``l_i``: the update favours the candidate whose gradient is largest along ``d``
(the mirror image of the joint update's preference for the smallest loss), so candidates of
different scales are best put on one scale with ``normalize="running_mean"`` (then ``c_i`` is
that of ``l_i / m_i``). ``w`` still
minimises ``H`` with ``p̂`` held fixed (``h``'s input is detached here whatever
``detach_input`` says: the model must not move its outputs to steer the selection), and both
are updated by the same optimizer step (Algorithm 1, line 10). Cost per step: one extra
forward + backward (validation batch) and two extra forwards.

The validation objective ``val_loss`` fits the task: ``"ce"`` (classification), ``"mse"``
(regression), any other zoo loss name, or a callable ``fn(output, target) -> scalar``;
``None`` follows the declared task of the *first* candidate loss (``"ce"`` /
``"mse"``; for an undeclared callable, the dtype of the validation targets decides). A target
of the wrong task, or a validation gradient of norm 0 (a ``val_loss`` that does not depend on
the model, e.g. cross-entropy of a single output), raises ``ValueError`` instead of leaving
``p`` where it is (the norm is read on the first step, and on every step while value checks
are on: :func:`losskit.set_validate_args`). The validation batch is drawn by
:class:`~losskit.slf.SLFMethod` from the data's held-out validation split when it has one,
else from the training set (logged as ``slf_val_split``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from losskit.core import distributed
from losskit.core._validation import check_values
from losskit.core.errors import NonFiniteError
from losskit.core.step import StepResult, StepTarget, forward, full_precision, train_step
from losskit.slf.loss import StochasticLoss

DEFAULT_VAL_LOSS = {"classification": "ce", "regression": "mse"}


class ValidationLoss:
    """The bilevel validation objective ``L_val(output, target) -> scalar`` (module doc).

    ``spec``: a zoo loss name, a callable, or ``None`` (``default_task`` picks ``"ce"`` /
    ``"mse"``; ``default_task=None`` decides from the targets' dtype at the first call).
    """

    def __init__(self, spec: str | Callable[..., torch.Tensor] | None,
                 default_task: str | None = None) -> None:
        from losskit import losses

        self.spec = spec
        self.verified = False  # a non-zero validation gradient was seen (validation_direction)
        self._fn: Callable[..., torch.Tensor] | None = None
        self.task: str | None = None
        self.name = "?"
        if spec is None:
            if default_task is not None:
                self._set_name(DEFAULT_VAL_LOSS[default_task])
        elif isinstance(spec, str):
            if spec not in losses.LOSSES:
                raise ValueError(f"val_loss must be a loss name (one of: "
                                 f"{', '.join(losses.names())}) or a callable, got {spec!r}")
            self._set_name(spec)
        elif callable(spec):
            self._fn = spec
            task = getattr(spec, "task", None)
            self.task = task if isinstance(task, str) else None
            self.name = getattr(spec, "__name__", type(spec).__name__)
        else:
            raise ValueError(f"val_loss must be 'ce', 'mse', another loss name, a callable or "
                             f"None, got {spec!r}")

    def _set_name(self, name: str) -> None:
        from losskit import losses

        try:
            loss = losses.get(name)
        except ValueError as err:
            raise ValueError(f"val_loss {name!r} needs model context (classes, features); "
                             "choose a loss of the outputs such as 'ce' or 'mse'") from err
        if loss.needs_features:
            raise ValueError(f"val_loss {name!r} needs penultimate features; choose a loss of "
                             "the outputs such as 'ce' or 'mse'")
        self._fn, self.task, self.name = loss, loss.task, name

    def __call__(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        self.check_targets(target)
        assert self._fn is not None
        value = self._fn(output, target)
        if not isinstance(value, torch.Tensor) or value.dim() != 0:
            raise ValueError(f"val_loss {self.name!r} must return a scalar tensor, got "
                             f"{getattr(value, 'shape', type(value).__name__)}")
        return value

    def check_targets(self, target: torch.Tensor) -> None:
        """``ValueError`` when the validation targets are not of the objective's task (with
        ``spec=None`` and no declared task: pick ``"ce"`` / ``"mse"`` by their dtype)."""
        real = target.is_floating_point()
        if self._fn is None:  # spec None and no declared candidate task: follow the targets
            self._set_name(DEFAULT_VAL_LOSS["regression" if real else "classification"])
        if self.task == "classification" and real:
            raise ValueError(f"val_loss {self.name!r} is a classification loss but the "
                             f"validation targets are real-valued ({target.dtype}); pass "
                             "val_loss='mse' (or another regression loss)")
        if self.task == "regression" and not real:
            raise ValueError(f"val_loss {self.name!r} is a regression loss but the validation "
                             f"targets are class indices ({target.dtype}); pass val_loss='ce'")

    def __repr__(self) -> str:
        return f"ValidationLoss({self.name!r}, task={self.task!r})"


def _trainable(ctx: StepTarget) -> list[torch.nn.Parameter]:
    return [p for p in ctx.model.parameters() if p.requires_grad]


def validation_direction(
    ctx: StepTarget,
    x: torch.Tensor,
    y: torch.Tensor,
    val_loss: ValidationLoss | None = None,
) -> list[torch.Tensor]:
    """Unit-norm gradient ``d`` of ``val_loss`` (default: cross-entropy) on ``(x, y)`` w.r.t.
    the model parameters, in eval mode (the deployed model's validation loss; BatchNorm
    statistics untouched). ``ValueError`` when that gradient is 0 (a ``val_loss`` that cannot
    move the selection); :class:`~losskit.core.errors.NonFiniteError` when it is NaN or Inf (the
    model diverged; the Trainer ends the run as a divergence)."""
    val_loss = val_loss if val_loss is not None else ValidationLoss("ce")
    params = _trainable(ctx)
    was_training = ctx.model.training
    ctx.model.eval()
    try:
        logits, _ = forward(ctx, x)
        loss = val_loss(full_precision(logits), y)
        if not loss.requires_grad:
            raise ValueError(f"val_loss {val_loss.name!r} does not depend on the model output")
        grads = torch.autograd.grad(loss, params, allow_unused=True)
    finally:
        ctx.model.train(was_training)
    grads = [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads, strict=True)]
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    if check_values() or not val_loss.verified:  # a host read: every step only with checks on
        value = float(norm)
        if not math.isfinite(value):  # the model or its outputs overflowed: the run diverged
            raise NonFiniteError(
                f"the gradient of val_loss {val_loss.name!r} w.r.t. the model on the validation "
                f"batch has norm {value}: the model's outputs or parameters overflowed"
            )
        if value == 0.0:
            raise ValueError(
                f"the gradient of val_loss {val_loss.name!r} w.r.t. the model on the validation "
                f"batch has norm {value}, so update='bilevel' cannot move the loss selection; "
                "choose a val_loss that fits the task and the model's outputs ('ce' for "
                "classification, 'mse' for regression)"
            )
        val_loss.verified = True
    return [g / norm.clamp_min(torch.finfo(norm.dtype).tiny) for g in grads]


@torch.no_grad()
def loss_alignment(
    ctx: StepTarget,
    slf: StochasticLoss,
    x: torch.Tensor,
    y: Any,
    direction: list[torch.Tensor],
    eps: float = 1e-2,
) -> torch.Tensor:
    """``c_i ≈ ∇_w l_i · d`` for every candidate loss ``i`` (central difference, step ``eps``
    along ``d``): shape ``(n,)``, or ``(N, n)`` per sample for ``granularity="sample"``. Runs in
    eval mode; parameters are restored bitwise."""
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
    ctx: StepTarget,
    slf: StochasticLoss,
    inputs: torch.Tensor,
    targets: Any,
    val_inputs: torch.Tensor,
    val_targets: torch.Tensor,
    eps: float = 1e-2,
    val_loss: ValidationLoss | None = None,
) -> StepResult:
    """One SLF step whose decision network follows the validation alignment (module doc).

    ``info["slf_alignment"]``: the ``(n,)`` alignments ``c`` (batch mean per sample)."""
    if slf.decision_net is None:
        raise ValueError("update='bilevel' needs mode 'gumbel' or 'softmax' (a decision network)")
    if ctx.scaler is not None or distributed.is_distributed():
        raise ValueError("update='bilevel' supports neither fp16 GradScaler nor distributed runs")
    assert ctx.optimizer is not None, "the optimizer must be bound before stepping"
    ctx.model.train()
    direction = validation_direction(ctx, val_inputs, val_targets, val_loss)
    alignment = loss_alignment(ctx, slf, inputs, targets, direction, eps)
    parts: dict[str, torch.Tensor] = {}

    def objective(logits: torch.Tensor, feats: torch.Tensor | None) -> torch.Tensor:
        weights, values = slf.forward_parts(full_precision(logits), targets, feats,
                                            detach_input=True)
        aligned = alignment
        if slf.normalize == "running_mean":  # w minimises Σ p̂_i l_i / m_i: align on that scale
            aligned = aligned / slf.running_mean.to(aligned.dtype).clamp_min(slf.eps)
        if slf.granularity == "batch":
            h = (weights.detach() * values).sum()  # w: minimise H with the selection held fixed
            gain = (weights * aligned).sum()  # v: favour losses aligned with validation
        else:
            h = (weights.detach() * values).sum(-1).mean()
            gain = (weights * aligned).sum(-1).mean()
        parts.update(h=h, alignment=aligned)
        return h - gain

    _, logits = train_step(ctx, inputs, objective)  # no scaler here (refused above)
    aligned = parts["alignment"]
    mean_alignment = aligned if aligned.dim() == 1 else aligned.mean(0)
    return StepResult(loss=parts["h"].detach(), logits=logits,
                      info={"slf_alignment": mean_alignment.detach()})
