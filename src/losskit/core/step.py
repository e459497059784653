"""The one training step: forward under autocast, the loss in float32, backward through the
gradient scaler, the optimizer step.

:func:`train_step` is the only place in the library that writes the sequence

    train mode → zero_grad → forward (autocast) → objective → backward (scaled)
    → [unscale, ``before_step``] → optimizer step (through the scaler)

Every update goes through it — the plain loss (:func:`loss_step`), SLF (joint and bilevel),
UniLoss, the loss weightings and MILS (primary, auxiliary and the gradient tests). A method
that needs more than "a loss of the logits" composes it instead of re-writing it: the
``objective`` callable sees the logits and features (MILS estimates class means there, SLF's
bilevel update builds its two-part objective), ``gradients`` replaces the backward (MILS's
gradient tests set the chosen gradient themselves), ``before_step`` runs after the backward and
before the step on unscaled gradients (clipping). Autocast is entered only through
:func:`autocast` / :func:`autocast_for` (the observation evaluation of MILS uses it too).

They act on a :class:`StepTarget`: anything holding the ``model``, ``optimizer``, ``scaler``,
``autocast_dtype`` and ``device`` of a run (the Trainer's
:class:`~losskit.core.method.TrainContext`, or a :class:`~losskit.mils.MILS` object).

>>> import torch
>>> from torch import nn
>>> from losskit.core.step import Step, loss_step
>>> model = nn.Linear(3, 2)
>>> step = Step(model, torch.optim.SGD(model.parameters(), lr=0.1))
>>> loss_step(step, torch.randn(4, 3), torch.tensor([0, 1, 1, 0]), nn.CrossEntropyLoss(),
...           features=False).loss.shape
torch.Size([])
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import nn

from losskit.core._validation import validate_args
from losskit.core.errors import ConfigError

LossFn = Callable[..., torch.Tensor]
#: ``objective(logits, features) -> loss``: what one :func:`train_step` minimises
Objective = Callable[[torch.Tensor, "torch.Tensor | None"], torch.Tensor]


class StepTarget(Protocol):
    """What a step acts on (attributes, read at every call)."""

    model: nn.Module
    optimizer: torch.optim.Optimizer | None
    scaler: Any  # torch.amp.GradScaler or None
    autocast_dtype: torch.dtype | None
    device: torch.device


@dataclass
class Step:
    """A plain :class:`StepTarget` (for a hand-written loop or a test)."""

    model: nn.Module
    optimizer: torch.optim.Optimizer | None = None
    scaler: Any = None
    autocast_dtype: torch.dtype | None = None
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))


@dataclass
class StepResult:
    """Outcome of one training step.

    ``loss``: the scalar that was minimised (detached); ``logits``: the training batch's logits
    (detached, for running train accuracy) or ``None``; ``info``: method-specific scalars.
    """

    loss: torch.Tensor
    logits: torch.Tensor | None = None
    info: dict[str, Any] = field(default_factory=dict)


def needs_features(*loss_fns: Any) -> bool:
    """Whether any of the losses declares ``needs_features`` (center, L-GM, SLF with one)."""
    return any(getattr(fn, "needs_features", False) for fn in loss_fns)


def missing_features_message(loss: Any) -> str:
    name = getattr(loss, "name", None) or type(loss).__name__
    return (
        f"features: loss {name!r} needs the model's penultimate features, but the model gives "
        "only logits; pass features='<layer name>' (forward hook on that layer) or "
        "features=fn(model, x) -> (logits, features) to fit() / Trainer / LossKitModule, or use "
        "a losskit Classifier"
    )


def autocast_for(
    device: torch.device | str, dtype: torch.dtype | None
) -> AbstractContextManager[Any]:
    """``torch.autocast`` on ``device``'s type with ``dtype`` (a no-op context for ``None``):
    the one place losskit enters autocast."""
    if dtype is None:
        return nullcontext()
    device_type = device if isinstance(device, str) else device.type
    return torch.autocast(device_type=device_type, dtype=dtype)


def autocast(target: StepTarget) -> AbstractContextManager[Any]:
    """``torch.autocast`` with the target's dtype (a no-op context without one)."""
    return autocast_for(target.device, target.autocast_dtype)


def forward(
    target: StepTarget, inputs: torch.Tensor, features: bool = True
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Model forward returning ``(logits, features)``, under autocast when configured.

    ``features=True`` calls ``model(inputs, return_features=True)`` (a losskit ``Classifier``,
    or any module wrapped by :func:`~losskit.train.features.with_features`; ``features`` is
    ``None`` for a plain module without a feature source, and only losses that need them
    complain); ``features=False`` calls ``model(inputs)`` (any module) and gives ``None``."""
    with autocast(target):
        if features:
            return target.model(inputs, return_features=True)
        return target.model(inputs), None


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
    (:class:`~losskit.core.errors.ConfigError` when it does and the model gave none).

    Losses are evaluated in float32 even under autocast (numerical safety of log/sigmoid).
    While an enabled ``GradScaler`` is given, the loss runs with value checks off (the global
    switch; an instance's explicit ``validate_args=True`` still checks): non-finite logits then
    give a non-finite loss as in torch, and the scaler skips that step instead of the run
    stopping on a ``ValueError``.
    """
    logits = full_precision(logits)
    amp = scaler is not None and scaler.is_enabled()
    with validate_args(False) if amp else nullcontext():
        if needs_features(loss_fn):
            if features is None:
                raise ConfigError(missing_features_message(loss_fn), "features")
            features = features.float() if features.dtype != logits.dtype else features
            return loss_fn(logits, targets, features=features)
        return loss_fn(logits, targets)


def optimizer_step(target: StepTarget) -> None:
    """``optimizer.step()`` — through the scaler (unscale, skip on Inf/NaN, update) when one
    is set."""
    assert target.optimizer is not None, "the optimizer must be bound before stepping"
    if target.scaler is not None:
        target.scaler.step(target.optimizer)
        target.scaler.update()
    else:
        target.optimizer.step()


def backward(target: StepTarget, loss: torch.Tensor) -> None:
    """``loss.backward()``, scaled when the target has a scaler."""
    if target.scaler is not None:
        target.scaler.scale(loss).backward()
    else:
        loss.backward()


def backward_and_step(target: StepTarget, loss: torch.Tensor) -> None:
    """:func:`backward`, then :func:`optimizer_step`."""
    backward(target, loss)
    optimizer_step(target)


def train_step(
    target: StepTarget,
    inputs: torch.Tensor,
    objective: Objective,
    *,
    features: bool = True,
    sync: bool = True,
    gradients: Callable[[torch.Tensor], None] | None = None,
    before_step: Callable[[], None] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One update: train mode, ``zero_grad``, :func:`forward`, ``loss = objective(logits,
    features)``, :func:`backward` of ``loss``, ``before_step()``, :func:`optimizer_step`.
    Returns ``(loss, logits)``, both detached.

    ``features``: as in :func:`forward`. ``sync=False``: the forward runs in the model's
    ``no_sync()`` (DDP: no gradient all-reduce; the caller synchronises its gradients).
    ``gradients(loss)``: instead of the backward — sets every ``.grad`` the step uses itself
    (MILS's gradient tests). ``before_step()``: after the backward, before the step, on
    unscaled gradients (with a scaler: ``scaler.unscale_`` first), e.g. clipping.
    """
    assert target.optimizer is not None, "the optimizer must be bound before stepping"
    model = target.model
    model.train()
    target.optimizer.zero_grad(set_to_none=True)
    no_sync = getattr(model, "no_sync", None)
    with nullcontext() if sync or no_sync is None else no_sync():
        logits, feats = forward(target, inputs, features)
    loss = objective(logits, feats)
    if gradients is None:
        backward(target, loss)
    else:
        gradients(loss)
    if before_step is not None:
        if target.scaler is not None:
            target.scaler.unscale_(target.optimizer)
        before_step()
    optimizer_step(target)
    return loss.detach(), logits.detach()


def loss_step(
    target: StepTarget,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    loss_fn: LossFn,
    features: bool = True,
) -> StepResult:
    """One plain update (:func:`train_step`) minimising :func:`compute_loss` of ``loss_fn``.
    ``features``: as in :func:`forward`."""

    def objective(logits: torch.Tensor, feats: torch.Tensor | None) -> torch.Tensor:
        return compute_loss(loss_fn, logits, targets, feats, target.scaler)

    loss, logits = train_step(target, inputs, objective, features=features)
    return StepResult(loss=loss, logits=logits)
