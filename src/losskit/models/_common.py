"""Argument checks and weight initialisation shared by the model factories."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from torch import nn

from losskit.core._validation import check_int, split_list


def check_input_shape(input_shape: Any) -> tuple[int, ...]:
    """``input_shape`` as a tuple of positive ints (no batch dim)."""
    try:
        shape = tuple(int(d) for d in input_shape)
        ok = all(int(d) == d for d in input_shape)
    except (TypeError, ValueError):
        shape, ok = (), False
    if not ok or not shape or any(d <= 0 for d in shape):
        raise ValueError(
            f"input_shape must be a non-empty tuple of positive ints, got {input_shape!r}"
        )
    return shape


def as_image_shape(input_shape: Any) -> tuple[int, int, int]:
    """``input_shape`` as ``(C, H, W)`` for conv models: ``(H, W)`` → ``(1, H, W)`` and a flat
    ``(D,)`` with ``D`` a perfect square → ``(1, √D, √D)``; other shapes raise ``ValueError``."""
    shape = check_input_shape(input_shape)
    if len(shape) == 2:
        return (1, shape[0], shape[1])
    if len(shape) == 1:
        side = math.isqrt(shape[0])
        if side * side == shape[0]:
            return (1, side, side)
    if len(shape) != 3:
        raise ValueError(
            f"input_shape must be (C, H, W), (H, W) or a flat (D,) with D a perfect square "
            f"for this model, got {shape}"
        )
    return (shape[0], shape[1], shape[2])


def check_positive_int(value: Any, name: str) -> int:
    """``value`` as an int ≥ 1 (bools rejected)."""
    return check_int(value, name, low=1)


def check_probability(value: Any, name: str) -> float:
    """``value`` as a float in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"{name} must be a float in [0, 1), got {value!r}")
    return float(value)


def parse_int_list(value: Any, name: str) -> tuple[int, ...]:
    """An int sequence given as a list/tuple, a single int or a comma-separated string."""
    if isinstance(value, str):
        try:
            items: Sequence[Any] = [int(p) for p in split_list(value, name)]
        except ValueError:
            raise ValueError(
                f"{name} must be comma-separated positive ints, got {value!r}"
            ) from None
    elif isinstance(value, int) and not isinstance(value, bool):
        items = [value]
    elif isinstance(value, Sequence):
        items = list(value)
    else:
        raise ValueError(f"{name} must be a sequence of positive ints, got {value!r}")
    for item in items:
        if isinstance(item, bool) or not isinstance(item, int) or item < 1:
            raise ValueError(f"{name} must contain positive ints only, got {value!r}")
    return tuple(items)


def kaiming_init(module: nn.Module) -> None:
    """He et al. (2015) normal init for convs and hidden linear layers feeding a ReLU,
    zero biases, BatchNorm at (γ=1, β=0). Heads keep PyTorch's default init."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def flat_dim(shape: tuple[int, ...]) -> int:
    return math.prod(shape)
