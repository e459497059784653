"""Helpers for the MILS tests: full-state capture (deep copies) and bitwise comparison."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from tests.conftest import TinyNet


class DropNet(TinyNet):
    """TinyNet with dropout after the hidden layer: exercises the global RNG stream."""

    def __init__(self, in_features: int = 8, num_classes: int = 3, hidden: int = 16) -> None:
        super().__init__(in_features, num_classes, hidden)
        self.drop = nn.Dropout(0.3)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.body(x.flatten(1)))


def neg_ce(input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """A loss that always hurts: sign-flipped cross-entropy, scaled so that one step of gradient
    ascent wrecks the accuracy (even momentum and BatchNorm statistics cannot save it)."""
    return -10000.0 * torch.nn.functional.cross_entropy(input, target)


def bits_equal(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Same dtype, shape and bytes (distinguishes -0.0 from 0.0, unlike ``torch.equal``)."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    a8 = a.detach().contiguous().reshape(-1).view(torch.uint8)
    b8 = b.detach().contiguous().reshape(-1).view(torch.uint8)
    return torch.equal(a8, b8)


def full_state(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    modules: list[nn.Module] | tuple = (),
    scheduler: Any = None,
    scaler: Any = None,
) -> dict[str, Any]:
    """Deep copy of every piece of training state (the slow, obviously-correct way)."""
    return copy.deepcopy(
        {
            "model": model.state_dict(),
            "modules": [m.state_dict() for m in modules],
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "scaler": scaler.state_dict() if scaler is not None else None,
            "rng": torch.get_rng_state(),
        }
    )


def assert_same(a: Any, b: Any, path: str = "state") -> None:
    """Recursive bitwise equality of nested dicts / lists / tensors / scalars."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        assert isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor), path
        assert bits_equal(a, b), f"{path} differs"
    elif isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), f"{path} keys {set(a)} != {set(b)}"
        for k in a:
            assert_same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), f"{path} length differs"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{path}[{i}]")
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"
