"""Gradient clipping and accumulation around a losskit method's own optimizer steps.

A method steps the raw optimizer itself (MILS may roll a step back), so Lightning's automatic
clipping and accumulation never see the step. :func:`clip_gradients` runs as a step pre-hook
of the optimizer (every method's steps, inside ``GradScaler.step`` after its unscale);
:class:`AccumulatingOptimizer` stands in for the optimizer of a method whose step is a plain
``zero_grad / backward / step`` (:func:`accumulation_refusal` says which cannot accumulate, and
why). The table per method is in :mod:`losskit.integrations.lightning`.
"""

from __future__ import annotations

from typing import Any

import torch

from losskit.core.method import Method
from losskit.losses.method import LossMethod
from losskit.mils.method import MILSMethod
from losskit.slf.method import SLFMethod
from losskit.uniloss.method import UniLossMethod

_ACCUMULATES = (LossMethod, UniLossMethod, SLFMethod)  # plain loss_step updates


def clip_gradients(optimizer: torch.optim.Optimizer, value: float, algorithm: str) -> None:
    """Lightning's clipping (``"norm"``: total 2-norm ≤ ``value``; ``"value"``: each entry in
    ``[−value, value]``) on every parameter of ``optimizer``."""
    params = [p for group in optimizer.param_groups for p in group["params"]
              if p.grad is not None]
    if algorithm == "value":
        torch.nn.utils.clip_grad_value_(params, value)
    else:
        torch.nn.utils.clip_grad_norm_(params, value)


class AccumulatingOptimizer:
    """``ctx.optimizer`` while accumulating ``k`` batches: ``zero_grad`` only at a window's
    first batch, ``step`` only at its last (gradients divided by ``k`` first); everything else
    is the wrapped optimizer's. :meth:`window` says where the next batch falls."""

    def __init__(self, optimizer: torch.optim.Optimizer, k: int) -> None:
        self.optimizer, self.k = optimizer, k
        self.first = self.last = True

    def window(self, batch_idx: int, is_last_batch: bool) -> bool:
        """Place the next batch; ``True`` when it ends a window (an optimizer step)."""
        self.first = batch_idx % self.k == 0
        self.last = (batch_idx + 1) % self.k == 0 or is_last_batch
        return self.last

    def zero_grad(self, set_to_none: bool = True) -> None:
        if self.first:
            self.optimizer.zero_grad(set_to_none=set_to_none)

    def step(self, closure: Any = None) -> Any:
        if not self.last:
            return None
        for group in self.optimizer.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.grad.div_(self.k)
        return self.optimizer.step(closure)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.optimizer, name)


def accumulation_refusal(method: Method, scaler: Any) -> str | None:
    """Why ``method`` cannot accumulate gradients (module doc table), or ``None``."""
    name = getattr(method, "name", type(method).__name__)
    if isinstance(method, MILSMethod):
        return ("method 'mils' cannot accumulate gradients: MILS accepts or rolls back each "
                "update as one whole optimizer step (its observation test and snapshot cover "
                "one batch); use a larger batch_size instead")
    if isinstance(method, SLFMethod) and method.options.update == "bilevel":
        return ("method 'slf' with update='bilevel' cannot accumulate gradients: it makes two "
                "updates per batch (model, then decision network on a validation batch)")
    if scaler is not None and scaler.is_enabled():
        return ("precision '16-mixed' cannot accumulate gradients: the method steps the "
                "gradient scaler every batch; use 'bf16-mixed' or '32-true'")
    if not getattr(method, "supports_accumulation", type(method) in _ACCUMULATES):
        return (f"method {name!r} does not declare supports_accumulation = True: losskit "
                "cannot tell whether its step is a plain zero_grad / backward / step")
    return None
