"""The method interface: how a training method (plain loss, SLF, UniLoss, MILS) plugs into the
one :class:`~losskit.train.trainer.Trainer` without the Trainer knowing anything paper-specific.

Life cycle, driven by the Trainer::

    method.setup(ctx)                  # ctx.model, num_classes, feature_dim, train/val sets, device
    params = method.parameters()       # extra trainable params (parametric losses, decision nets)
    ctx.optimizer = make_optimizer(model.parameters() + params)   # w and v updated together
    for epoch:
        for x, y in batches:
            result = method.step(ctx, x, y)   # does zero_grad / backward / optimizer.step itself
        logs = method.on_epoch_end(ctx, epoch)   # method-specific per-epoch scalars / lists
    method.state_dict() / load_state_dict()   # saved in checkpoints (resume)

A method owns the whole update (so MILS can snapshot and roll back around it); the shared helper
:func:`loss_step` is the plain "forward, loss, backward, step" that every method reuses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils.data import TensorDataset

from losskit._validation import validate_args
from losskit.errors import ConfigError
from losskit.registry import Registry
from losskit.train.features import missing_features_message


@dataclass
class TrainContext:
    """Everything a method may need; filled in by the Trainer.

    ``num_classes``: the model's number of outputs (classes; regression outputs ``D``).
    ``val_set``: the data's held-out validation split (``None`` when it has none), e.g. for
    SLF's ``update="bilevel"``; methods must not train on it.
    """

    model: nn.Module
    num_classes: int
    feature_dim: int
    train_set: TensorDataset
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    generator: torch.Generator | None = None
    optimizer: torch.optim.Optimizer | None = None
    scheduler: Any = None  # torch.optim.lr_scheduler.LRScheduler, stepped by the Trainer per epoch
    scaler: Any = None  # torch.amp.GradScaler or None
    autocast_dtype: torch.dtype | None = None  # e.g. torch.bfloat16 for CPU autocast
    batch_size: int = 128
    epoch: int = 0
    global_step: int = 0
    val_set: TensorDataset | None = None

    @property
    def context(self) -> dict[str, Any]:
        """Keys handed to loss factories (``losses.build(name, ctx.context)``)."""
        return {"num_classes": self.num_classes, "feature_dim": self.feature_dim}


@dataclass
class StepResult:
    """Outcome of one training step.

    ``loss``: the scalar that was minimised (detached); ``logits``: the training batch's logits
    (detached, for running train accuracy) or ``None``; ``info``: method-specific scalars.
    """

    loss: torch.Tensor
    logits: torch.Tensor | None = None
    info: dict[str, Any] = field(default_factory=dict)


LossFn = Callable[..., torch.Tensor]


def forward(
    ctx: TrainContext, inputs: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Model forward returning ``(logits, features)``, under autocast when configured.

    ``ctx.model`` answers ``return_features=True`` (the Trainer wraps any module with
    :func:`~losskit.train.features.with_features`); ``features`` is ``None`` for a plain
    module without a feature source, and only losses that need them complain."""
    if ctx.autocast_dtype is not None:
        with torch.autocast(device_type=ctx.device.type, dtype=ctx.autocast_dtype):
            return ctx.model(inputs, return_features=True)
    return ctx.model(inputs, return_features=True)


def full_precision(t: torch.Tensor) -> torch.Tensor:
    """Half-precision (autocast) outputs as float32; other dtypes untouched (losses are
    evaluated in float32 even under autocast: numerical safety of log/sigmoid)."""
    return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t


def compute_loss(
    loss_fn: LossFn,
    logits: torch.Tensor,
    targets: torch.Tensor,
    features: torch.Tensor | None,
    scaler: Any = None,
) -> torch.Tensor:
    """Call ``loss_fn`` with features only when it declares ``needs_features``
    (:class:`~losskit.errors.ConfigError` when it does and the model gave none).

    Losses are evaluated in float32 even under autocast (numerical safety of log/sigmoid).
    While an enabled ``GradScaler`` is given, the loss runs with value checks off (the global
    switch; an instance's explicit ``validate_args=True`` still checks): non-finite logits then
    give a non-finite loss as in torch, and the scaler skips that step instead of the run
    stopping on a ``ValueError``.
    """
    logits = full_precision(logits)
    amp = scaler is not None and scaler.is_enabled()
    with validate_args(False) if amp else nullcontext():
        if getattr(loss_fn, "needs_features", False):
            if features is None:
                raise ConfigError(missing_features_message(loss_fn), "features")
            features = features.float() if features.dtype != logits.dtype else features
            return loss_fn(logits, targets, features=features)
        return loss_fn(logits, targets)


def loss_step(
    ctx: TrainContext, inputs: torch.Tensor, targets: torch.Tensor, loss_fn: LossFn
) -> StepResult:
    """One plain update: zero_grad, forward, ``loss_fn``, backward, ``optimizer.step()``."""
    assert ctx.optimizer is not None, "Trainer must set ctx.optimizer before stepping"
    ctx.model.train()
    ctx.optimizer.zero_grad(set_to_none=True)
    logits, feats = forward(ctx, inputs)
    loss = compute_loss(loss_fn, logits, targets, feats, ctx.scaler)
    if ctx.scaler is not None:
        ctx.scaler.scale(loss).backward()
        ctx.scaler.step(ctx.optimizer)
        ctx.scaler.update()
    else:
        loss.backward()
        ctx.optimizer.step()
    return StepResult(loss=loss.detach(), logits=logits.detach())


class Method:
    """Base class of training methods. Subclasses override :meth:`step` (and maybe others)."""

    name: str = "method"

    def setup(self, ctx: TrainContext) -> None:
        """Build anything that needs the model / data (called once, before the optimizer)."""

    def parameters(self) -> Iterator[nn.Parameter]:
        """Extra trainable parameters to put in the optimizer beside the model's."""
        return iter(())

    def step(
        self, ctx: TrainContext, inputs: torch.Tensor, targets: torch.Tensor
    ) -> StepResult:  # pragma: no cover - abstract
        raise NotImplementedError

    def on_epoch_end(self, ctx: TrainContext, epoch: int) -> dict[str, Any]:
        """Per-epoch method logs (merged into the epoch's metrics record)."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


class LossMethod(Method):
    """Plain training with one loss from the zoo (``--method loss --loss ce``)."""

    name = "loss"

    def __init__(self, loss: str | nn.Module = "ce", **loss_kwargs: Any) -> None:
        self.loss_spec = loss
        self.loss_kwargs = loss_kwargs
        self.loss: nn.Module | None = loss if isinstance(loss, nn.Module) else None

    def setup(self, ctx: TrainContext) -> None:
        if self.loss is None:
            from losskit import losses

            self.loss = losses.build(str(self.loss_spec), ctx.context, **self.loss_kwargs)
        self.loss.to(ctx.device)
        from losskit.losses.base import check_task

        name = self.loss_spec if isinstance(self.loss_spec, str) else type(self.loss).__name__
        check_task(name, self.loss, ctx.train_set.tensors[1], ctx.num_classes)

    def parameters(self) -> Iterator[nn.Parameter]:
        return self.loss.parameters() if self.loss is not None else iter(())

    def step(self, ctx: TrainContext, inputs: torch.Tensor, targets: torch.Tensor) -> StepResult:
        return loss_step(ctx, inputs, targets, self.loss)

    def state_dict(self) -> dict[str, Any]:
        return {"loss": self.loss.state_dict()} if self.loss is not None else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.loss is not None and "loss" in state:
            self.loss.load_state_dict(state["loss"])


METHODS: Registry[Method] = Registry("method")
METHODS.register("loss", help="plain training with one loss from the zoo")(LossMethod)
