"""Temperature schedules for the Gumbel-softmax (the paper's τ in Eq. 6).

With straight-through one-hot samples (the default), ``tau`` does not change the *forward*
value of ``p̂``; it sets how sharp the relaxed softmax is whose gradient the decision network
receives. Annealing from a high to a low ``tau`` trades low-variance early gradients for
less-biased late ones.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from numbers import Integral

import torch

from losskit.slf.gumbel import check_tau

_KINDS = ("exponential", "linear", "cosine")


class TauSchedule:
    """``tau(step)`` going from ``start`` to ``end`` over ``steps`` calls, then constant.

    ``kind="exponential"``: ``start · (end/start)^(t/steps)`` (geometric, the usual
    Gumbel-softmax annealing); ``"linear"``: ``start + (end − start) · t/steps``;
    ``"cosine"``: ``end + (start − end) · (1 + cos(π t/steps)) / 2``.

    >>> s = TauSchedule(2.0, 0.5, 2)
    >>> [s(0), s(1), s(2), s(10)]
    [2.0, 1.0, 0.5, 0.5]
    """

    def __init__(self, start: float, end: float, steps: int, kind: str = "exponential") -> None:
        self.start = check_tau(start, "start")
        self.end = check_tau(end, "end")
        if isinstance(steps, bool) or not isinstance(steps, Integral) or int(steps) < 1:
            raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
        if kind not in _KINDS:
            raise ValueError(f"kind must be one of {_KINDS}, got {kind!r}")
        self.steps = int(steps)
        self.kind = kind

    def __call__(self, step: int) -> float:
        if step < 0:
            raise ValueError(f"step must be >= 0, got {step!r}")
        t = min(step, self.steps) / self.steps
        if self.kind == "exponential":
            return self.start * (self.end / self.start) ** t
        if self.kind == "linear":
            return self.start + (self.end - self.start) * t
        return self.end + (self.start - self.end) * (1 + math.cos(math.pi * t)) / 2

    def at(self, step: torch.Tensor) -> torch.Tensor:
        """``tau(step)`` of a step-counter tensor, as a float64 0-dim tensor on its device: no
        host read of the step (no sync, and no recompile of a compiled module per step)."""
        t = step.clamp(max=self.steps).double() / self.steps
        if self.kind == "exponential":
            return self.start * (self.end / self.start) ** t
        if self.kind == "linear":
            return self.start + (self.end - self.start) * t
        return self.end + (self.start - self.end) * (1 + torch.cos(math.pi * t)) / 2

    def __repr__(self) -> str:
        return (
            f"TauSchedule(start={self.start}, end={self.end}, steps={self.steps}, "
            f"kind={self.kind!r})"
        )


def as_schedule(tau: object) -> Callable[[int], float]:
    """Normalise ``tau`` (a number, a :class:`TauSchedule`, a ``dict`` of its arguments or any
    callable ``step -> float``) to a callable; ``ValueError`` for anything else."""
    if isinstance(tau, TauSchedule):
        return tau
    if isinstance(tau, dict):
        try:
            return TauSchedule(**tau)
        except TypeError as exc:
            raise ValueError(f"tau as a dict must hold TauSchedule arguments: {exc}") from None
    if callable(tau):
        return _CheckedCallable(tau)
    value = check_tau(tau)
    return _Constant(value)


class _Constant:
    def __init__(self, value: float) -> None:
        self.value = value

    def __call__(self, step: int) -> float:
        return self.value

    def __repr__(self) -> str:
        return repr(self.value)


class _CheckedCallable:
    def __init__(self, fn: Callable[[int], float]) -> None:
        self.fn = fn

    def __call__(self, step: int) -> float:
        return check_tau(self.fn(step), "tau(step)")

    def __repr__(self) -> str:
        return repr(self.fn)
