"""Building a run from its config: device, checks, optimizer, LR schedule, method."""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import nn

from losskit.core.errors import ConfigError
from losskit.core.method import Method
from losskit.train.config import TrainConfig
from losskit.train.methods import METHODS


def resolve_device(spec: str) -> torch.device:
    """``torch.device(spec)`` after checking that it exists here (one
    :class:`~losskit.core.errors.ConfigError` naming ``device`` and the valid forms otherwise)."""
    forms = "cpu, cuda, cuda:N or mps"
    try:
        device = torch.device(spec)
    except (RuntimeError, TypeError, ValueError):
        raise ConfigError(f"device {spec!r} is not a device; expected {forms}", "device") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            why = "torch was built without CUDA" if torch.version.cuda is None else "no GPU visible"
            raise ConfigError(
                f"device {spec!r}: CUDA is not available ({why}; torch {torch.__version__}); "
                "use --device cpu", "device",
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(
                f"device {spec!r}: there are {torch.cuda.device_count()} GPU(s), "
                f"cuda:0 … cuda:{torch.cuda.device_count() - 1}", "device",
            )
    elif device.type == "mps":
        if not torch.backends.mps.is_available():
            raise ConfigError(f"device {spec!r}: MPS is not available here; use --device cpu",
                              "device")
    elif device.type != "cpu":
        raise ConfigError(f"device {spec!r} is not supported; expected {forms}", "device")
    return device


def validate_config(config: TrainConfig) -> None:
    """The run settings, each by the check its field declares (:meth:`TrainConfig.check`)."""
    config.check()


def build_optimizer(config: TrainConfig, params: list[nn.Parameter]) -> torch.optim.Optimizer:
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
        )
    cls = torch.optim.Adam if config.optimizer == "adam" else torch.optim.AdamW
    return cls(params, lr=config.lr, weight_decay=config.weight_decay)


def build_scheduler(config: TrainConfig, optimizer: torch.optim.Optimizer) -> Any:
    if config.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, config.step_size, config.gamma)
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    return None


def build_method(config: TrainConfig) -> Method:
    """``config.method`` built with ``config.method_kwargs``; the run seed drives the method's
    own randomness (SLF Gumbel noise, UniLoss anchors, MILS draws): a method whose constructor
    takes ``seed`` gets ``config.seed`` unless ``method_kwargs`` sets one."""
    kwargs = dict(config.method_kwargs)
    if "seed" not in kwargs and "seed" in inspect.signature(
            METHODS.factory(config.method)).parameters:
        kwargs["seed"] = config.seed
    return METHODS.get(config.method, **kwargs)


def check_one_output(method: Method, target_dtype: torch.dtype, device: torch.device) -> None:
    """A plain loss that cannot take one output per sample fails here, naming itself,
    instead of deep inside its first step (e.g. ``ce`` over one column: ``Target 1 is out
    of bounds``)."""
    from losskit.losses.method import LossMethod

    if not isinstance(method, LossMethod) or method.loss is None:
        return
    name = method.options.loss
    name = name if isinstance(name, str) else type(method.loss).__name__
    logits = torch.zeros(2, 1, device=device)
    target = torch.tensor([0, 1], dtype=target_dtype, device=device)
    try:
        with torch.no_grad():
            method.loss(logits, target)
    except (ValueError, IndexError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"loss {name!r} cannot train a model with one output per sample ({first}); "
            "a one-logit binary model trains with bce, binary_focal or --method uniloss "
            "(metric ap / auc / accuracy), else give the model 2 outputs",
            "method_kwargs") from exc
