"""Building a run from its config: device, checks, optimizer, LR schedule, method."""

from __future__ import annotations

import inspect
import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from losskit.data.transforms import AUGMENTATIONS
from losskit.errors import ConfigError
from losskit.method import Method
from losskit.train.config import TrainConfig
from losskit.train.evaluation import EVALUATORS, TASK_METRICS
from losskit.train.methods import METHODS


def resolve_device(spec: str) -> torch.device:
    """``torch.device(spec)`` after checking that it exists here (one
    :class:`~losskit.errors.ConfigError` naming ``device`` and the valid forms otherwise)."""
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
    def whole(v: Any, low: int) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= low

    checks = [
        ("epochs", whole(config.epochs, 1), "an integer ≥ 1"),
        ("batch_size", whole(config.batch_size, 1), "an integer ≥ 1"),
        ("threads", config.threads is None or whole(config.threads, 1),
         "an integer ≥ 1 (or None: torch's default)"),
        ("lr", config.lr > 0 and math.isfinite(config.lr), "a finite number > 0"),
        ("momentum", 0 <= config.momentum < 1, "in [0, 1)"),
        ("weight_decay", config.weight_decay >= 0, "≥ 0"),
        ("optimizer", config.optimizer in ("sgd", "adam", "adamw"), "one of sgd, adam, adamw"),
        ("schedule", config.schedule in ("none", "step", "cosine"), "one of none, step, cosine"),
        ("amp", config.amp in (None, "bf16", "fp16"), "one of None, bf16, fp16"),
        ("num_workers", whole(config.num_workers, 0), "an integer ≥ 0"),
        ("pin_memory", isinstance(config.pin_memory, bool), "True or False"),
        ("persistent_workers", isinstance(config.persistent_workers, bool)
         and not (config.persistent_workers and config.num_workers == 0),
         "True or False (True needs num_workers > 0)"),
        ("input_key", isinstance(config.input_key, str), "a string (a dict batch's key)"),
        ("target_key", isinstance(config.target_key, str), "a string (a dict batch's key)"),
        ("augment", config.augment is None or config.augment in AUGMENTATIONS,
         f"None or one of {', '.join(AUGMENTATIONS)}"),
        ("task", config.task is None or config.task in TASK_METRICS or config.task in EVALUATORS,
         f"None or one of {', '.join(sorted({*TASK_METRICS.names(), *EVALUATORS.names()}))}"),
        ("num_classes", config.num_classes is None or whole(config.num_classes, 1),
         "an integer ≥ 1 (or None: the data's, else the model's outputs)"),
    ]
    for name, ok, expected in checks:
        if not ok:
            raise ConfigError(f"{name} must be {expected}, got {getattr(config, name)!r}", name)
    if config.out_dir is not None and Path(config.out_dir).exists() and not Path(
        config.out_dir
    ).is_dir():
        raise ConfigError(
            f"out_dir {config.out_dir!r} is a file; expected a run directory (new or existing)",
            "out_dir",
        )


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
