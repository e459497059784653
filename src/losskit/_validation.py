"""Input checks shared by losses and metrics: one clear ``ValueError`` naming the argument.

Two kinds of check (the torchmetrics / ``torch.distributions`` convention):

- **metadata checks** (type, dtype, shape): free, always on;
- **value checks** (NaN/Inf scan, label range): they read tensor values and so synchronise the
  host with the device. On by default at the public boundary; switched off globally with
  :func:`set_validate_args` / the :func:`validate_args` context manager, per instance with a
  ``validate_args=`` argument (``None`` follows the global switch), and always off while
  ``torch.compile`` traces (no graph breaks). :func:`check_values` is the one place that decides.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

_VALIDATE_ARGS = True


def set_validate_args(enabled: bool) -> None:
    """Turn value checks (NaN/Inf scans, label ranges) on or off globally."""
    global _VALIDATE_ARGS
    if not isinstance(enabled, bool):
        raise ValueError(f"enabled must be a bool, got {enabled!r}")
    _VALIDATE_ARGS = enabled


def validate_args_enabled() -> bool:
    """Whether value checks are globally on (see :func:`set_validate_args`)."""
    return _VALIDATE_ARGS


@contextmanager
def validate_args(enabled: bool) -> Iterator[None]:
    """Context manager: value checks on/off inside the block, restored afterwards."""
    previous = _VALIDATE_ARGS
    set_validate_args(enabled)
    try:
        yield
    finally:
        set_validate_args(previous)


def check_values(validate_args: bool | None = None) -> bool:
    """Whether value checks run: the per-instance flag if given, else the global switch; never
    while ``torch.compile`` traces."""
    if torch.compiler.is_compiling():
        return False
    return _VALIDATE_ARGS if validate_args is None else bool(validate_args)

REDUCTIONS = ("mean", "sum", "none")


def check_reduction(reduction: str) -> str:
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return reduction


def reduce(values: torch.Tensor, reduction: str) -> torch.Tensor:
    """Apply a torch-style reduction to per-sample ``values``."""
    if reduction == "mean":
        return values.mean()
    if reduction == "sum":
        return values.sum()
    if reduction == "none":
        return values
    raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")


def check_finite_float(x: torch.Tensor, name: str, validate_args: bool | None = None) -> None:
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if x.numel() and check_values(validate_args) and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or Inf")


def check_logits_and_labels(
    input: torch.Tensor, target: torch.Tensor, validate_args: bool | None = None
) -> None:
    """Validate classification logits ``(N, C)`` and integer labels ``(N,)`` in ``[0, C)``."""
    check_finite_float(input, "input", validate_args)
    check_labels(input, target, validate_args)


def check_labels(
    input: torch.Tensor, target: torch.Tensor, validate_args: bool | None = None
) -> None:
    """Shape checks of logits ``(N, C)`` and integer labels ``(N,)`` in ``[0, C)`` (without
    the NaN/Inf scan of ``input``; :func:`check_logits_and_labels` does both)."""
    if not isinstance(input, torch.Tensor):
        raise ValueError(f"input must be a torch.Tensor, got {type(input).__name__}")
    if input.dim() != 2:
        raise ValueError(f"input must have shape (N, C), got {tuple(input.shape)}")
    if input.shape[0] == 0:
        raise ValueError("input is an empty batch (N = 0)")
    if not isinstance(target, torch.Tensor):
        raise ValueError(f"target must be a torch.Tensor, got {type(target).__name__}")
    if target.dtype not in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
        raise ValueError(f"target must be an integer class-index tensor, got dtype {target.dtype}")
    if target.shape != input.shape[:1]:
        raise ValueError(
            f"target must have shape (N,) = ({input.shape[0]},) to match input, "
            f"got {tuple(target.shape)}"
        )
    if not check_values(validate_args):
        return
    num_classes = input.shape[1]
    low, high = (int(v) for v in torch.aminmax(target))
    if low < 0 or high >= num_classes:
        raise ValueError(
            f"target values must lie in [0, {num_classes}), got range [{low}, {high}]"
        )
