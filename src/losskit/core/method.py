"""The method interface: how a training method (plain loss, SLF, UniLoss, MILS) plugs into the
one :class:`~losskit.train.trainer.Trainer` (and into Lightning) without either knowing anything
paper-specific. Each paper package holds its adapter next to its core
(``losskit/<pkg>/method.py``); :data:`losskit.train.METHODS` names them.

Life cycle — the one set-up path, :func:`build_run` (the Trainer, the benchmarks; Lightning
calls its two halves around its own ``configure_optimizers``)::

    params = setup_method(method, ctx)    # method.setup(ctx): build losses, decision nets, …
                                          #   (ctx: model, num_classes, feature_dim, data, device)
                                          # → the method's trainable parameters
    optimizer = make(model params + params)   # w and v updated together
    bind_method(method, ctx, optimizer, scheduler, scaler)   # method.bind(ctx): what needs them
    method.load_state_dict(...)           # resume (after bind)
    for epoch:
        for x, y in batches:
            result = method.step(ctx, x, y)    # the whole update (MILS may roll it back)
        logs = method.on_epoch_end(ctx, epoch)
    method.state_dict()                   # saved in checkpoints

A method owns the whole update; :func:`losskit.core.step.loss_step` is the plain "forward, loss,
backward, step" that every method reuses.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn
from torch.utils.data import Dataset

from losskit.core.labels import class_counts
from losskit.core.options import Options, signature_of
from losskit.core.step import StepResult


@dataclass
class TrainContext:
    """Everything a method may need; filled in by the Trainer (or ``LossKitModule``).

    ``num_classes``: the model's number of outputs (classes; regression outputs ``D``).
    ``train_set`` / ``val_set``: the training data and the held-out validation split as the
    Trainer reads them — an in-memory ``TensorDataset``, else the data with ``(x, y)`` samples
    (:class:`~losskit.data.loading.PairDataset`; an iterable dataset as given); draw samples
    with :func:`~losskit.data.loading.take` / :func:`~losskit.data.loading.draw_subset`.
    ``val_set``: the data's held-out validation split (``None`` when it has none), e.g. for
    SLF's ``update="bilevel"``; methods must not train on it. ``optimizer``, ``scheduler`` and
    ``scaler`` are set by :func:`bind_method`. A :class:`~losskit.core.step.StepTarget`.
    """

    model: nn.Module
    num_classes: int
    feature_dim: int
    train_set: Dataset
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    generator: torch.Generator | None = None
    optimizer: torch.optim.Optimizer | None = None
    scheduler: Any = None  # torch.optim.lr_scheduler.LRScheduler, stepped by the Trainer per epoch
    scaler: Any = None  # torch.amp.GradScaler or None
    autocast_dtype: torch.dtype | None = None  # e.g. torch.bfloat16 for CPU autocast
    batch_size: int = 128
    epoch: int = 0
    global_step: int = 0
    val_set: Dataset | None = None

    @property
    def context(self) -> dict[str, Any]:
        """Keys handed to loss factories (``losses.build(name, ctx.context)``): the model's
        ``num_classes`` and ``feature_dim``, and ``class_counts`` — the training labels' counts
        per class (``None`` for real-valued targets), for the losses that take them
        (:mod:`losskit.losses.priors`)."""
        tensors = getattr(self.train_set, "tensors", ())
        counts = class_counts(tensors[1], self.num_classes) if len(tensors) > 1 else None
        return {"num_classes": self.num_classes, "feature_dim": self.feature_dim,
                "class_counts": counts}


class Method:
    """Base class of training methods. Subclasses override :meth:`step` (and maybe others).

    A method's parameters are its :attr:`Options` declaration (:mod:`losskit.core.options`): the
    constructor takes them as keywords (``inspect.signature(SLFMethod)`` lists them) and keeps
    the parsed, checked values in ``self.options``. Registering the class
    (``METHODS.register("name", Cls)``, :mod:`losskit.train.methods`) gives it its
    ``losskit train`` flags, ``--method-arg`` keys and experiment-spec keys.
    """

    name: str = "method"
    Options: ClassVar[type[Options]] = Options

    def __init__(self, **options: Any) -> None:
        self.options = self.Options(**options)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        takes = [] if init is None else list(inspect.signature(init).parameters.values())[1:]
        if all(p.kind is inspect.Parameter.VAR_KEYWORD for p in takes):
            # the options are the constructor's arguments
            cls.__signature__ = signature_of(cls.Options)  # type: ignore[attr-defined]
        else:  # a constructor of its own (LossMethod: loss keywords forwarded to the loss)
            cls.__signature__ = None  # type: ignore[attr-defined]

    def setup(self, ctx: TrainContext) -> None:
        """Build what needs the model / data (called once, before the optimizer exists)."""

    def parameters(self) -> Iterator[nn.Parameter]:
        """Extra trainable parameters to put in the optimizer beside the model's."""
        return iter(())

    def bind(self, ctx: TrainContext) -> None:
        """Build what needs ``ctx.optimizer`` / ``scheduler`` / ``scaler`` (called once, after
        :meth:`setup` and before the first step or :meth:`load_state_dict`)."""

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


def setup_method(method: Method, ctx: TrainContext) -> list[nn.Parameter]:
    """First half of the set-up path: ``method.setup(ctx)``, then the method's trainable
    parameters (each once) for the optimizer, beside the model's."""
    method.setup(ctx)
    seen: set[int] = set()
    params = []
    for p in method.parameters():
        if id(p) not in seen:
            seen.add(id(p))
            params.append(p)
    return params


def bind_method(
    method: Method,
    ctx: TrainContext,
    optimizer: torch.optim.Optimizer,
    scheduler: Any = None,
    scaler: Any = None,
) -> None:
    """Second half: put the optimizer, LR scheduler and gradient scaler in ``ctx`` and
    ``method.bind(ctx)``."""
    ctx.optimizer, ctx.scheduler, ctx.scaler = optimizer, scheduler, scaler
    method.bind(ctx)


@dataclass
class Run:
    """What :func:`build_run` made: the optimizer (model and method parameters), the LR
    scheduler (or ``None``) and the method's own trainable parameters."""

    optimizer: torch.optim.Optimizer
    scheduler: Any
    method_params: list[nn.Parameter]


def build_run(
    method: Method,
    ctx: TrainContext,
    make_optimizer: Callable[[list[nn.Parameter]], torch.optim.Optimizer],
    make_scheduler: Callable[[torch.optim.Optimizer], Any] | None = None,
    scaler: Any = None,
    prepare: Callable[[list[nn.Parameter]], None] | None = None,
) -> Run:
    """The whole set-up path: :func:`setup_method`, ``prepare(method_params)`` (checks, DDP
    gradient hooks), ``make_optimizer(model params + method params)`` (``w`` and ``v``
    updated together), ``make_scheduler(optimizer)``, :func:`bind_method` with ``scaler``."""
    method_params = setup_method(method, ctx)
    if prepare is not None:
        prepare(method_params)
    optimizer = make_optimizer([*ctx.model.parameters(), *method_params])
    scheduler = make_scheduler(optimizer) if make_scheduler is not None else None
    bind_method(method, ctx, optimizer, scheduler, scaler)
    return Run(optimizer, scheduler, method_params)
