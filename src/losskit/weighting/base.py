"""The base of the loss-weighting methods: ``L = Σ_i w_i · L_i`` over ``K ≥ 2`` candidate losses
``L_i`` of the same model output, with weights ``w`` that a method learns or schedules.

The candidates are given as SLF's are (:func:`~losskit.core._validation.split_list`: ``"ce,
prob_mae,rce"`` or a list of zoo names / loss modules / callables ``fn(input, target)``); a name
is built with :func:`losskit.losses.build` and the ``context`` (``num_classes``,
``feature_dim``, ``class_counts``: the training methods pass theirs). Each candidate must give
a scalar (reduction ``"mean"`` or ``"sum"``).

A weighting is an ``nn.Module`` called like a loss, ``weighting(input, target, features=None)
-> scalar``, so it trains through the one step seam (:func:`losskit.core.step.loss_step`). In
training mode it adds each step's detached losses and weights to running sums (on the device,
no host synchronisation); :meth:`LossWeighting.end_epoch` returns their epoch means and starts
new sums (summed over ranks under ``torch.distributed``). After each call ``last_losses`` and
``last_weights`` hold the step's detached ``(K,)`` vectors.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from losskit.core._validation import split_list
from losskit.core.distributed import all_reduce_sum, is_distributed
from losskit.core.step import needs_features
from losskit.losses.base import loss_name

__all__ = ["EpochMeans", "LossWeighting", "build_losses"]

LossSpec = str | nn.Module | Callable[..., torch.Tensor]


class _Callable(nn.Module):
    """A plain callable ``fn(input, target)`` as a module (for ``nn.ModuleList``)."""

    def __init__(self, fn: Callable[..., torch.Tensor]) -> None:
        super().__init__()
        self.fn = fn
        self.needs_features = bool(getattr(fn, "needs_features", False))

    def forward(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        return self.fn(*args, **kwargs)


def build_losses(
    losses: str | Sequence[LossSpec], context: dict[str, Any] | None = None
) -> tuple[list[str], nn.ModuleList]:
    """``(names, modules)`` of the candidate losses (at least 2): zoo names built with
    ``context``, modules kept, callables wrapped."""
    from losskit import losses as zoo

    items = split_list(losses, "losses", min_items=2)
    modules = []
    for item in items:
        if isinstance(item, str):
            modules.append(zoo.build(item, dict(context or {})))
        elif isinstance(item, nn.Module):
            modules.append(item)
        elif callable(item):
            modules.append(_Callable(item))
        else:
            raise ValueError(f"losses entries must be loss names, modules or callables, got "
                             f"{item!r}")
    return [loss_name(i) for i in items], nn.ModuleList(modules)


@dataclass
class EpochMeans:
    """An epoch's means (float64, on the CPU) of the raw losses ``L_i`` and of the weights
    ``w_i`` used, over its ``steps`` training calls."""

    losses: torch.Tensor
    weights: torch.Tensor
    steps: int


class LossWeighting(nn.Module):
    """``L = Σ_i w_i L_i`` with weights from :meth:`combine` (subclasses).

    Args:
        losses: the candidates, ``K ≥ 2`` (see the module docs).
        context: keys for building named losses (``num_classes``, ``class_counts``, …).
        names: display names (default: the registry / class names).
    """

    has_parameters = False  # a weighting that learns its weights owns parameters

    def __init__(
        self,
        losses: str | Sequence[LossSpec],
        *,
        context: dict[str, Any] | None = None,
        names: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        self.loss_names, self.losses = build_losses(losses, context)
        if names is not None:
            if len(names) != len(self.losses):
                raise ValueError(f"names must have one entry per loss ({len(self.losses)}), "
                                 f"got {len(names)}")
            self.loss_names = [str(n) for n in names]
        self.num_losses = len(self.losses)
        self._features = [needs_features(fn) for fn in self.losses]
        self.needs_features = any(self._features)
        k = self.num_losses
        self.register_buffer("epoch_loss_sum", torch.zeros(k, dtype=torch.float64),
                             persistent=False)
        self.register_buffer("epoch_weight_sum", torch.zeros(k, dtype=torch.float64),
                             persistent=False)
        self._epoch_steps = 0
        self.last_losses: torch.Tensor | None = None
        self.last_weights: torch.Tensor | None = None

    # ------------------------------------------------------------------ subclasses
    def weights(self) -> torch.Tensor:  # pragma: no cover - abstract
        """The current weights ``w`` ``(K,)`` (what :meth:`combine` multiplies ``L_i`` by)."""
        raise NotImplementedError

    def combine(self, values: torch.Tensor) -> torch.Tensor:
        """The objective from the losses ``values`` ``(K,)``; default ``Σ_i w_i L_i``."""
        return (self.weights().to(values.dtype) * values).sum()

    def after_step(self) -> None:
        """Called by the training method after each optimizer step (GradNorm renormalises)."""

    # ------------------------------------------------------------------ the loss
    def loss_values(
        self, input: torch.Tensor, target: torch.Tensor, features: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``(L_1, …, L_K)`` on one batch (a ``ValueError`` naming a candidate that does not
        give a scalar)."""
        values = []
        for name, fn, feats in zip(self.loss_names, self.losses, self._features, strict=True):
            value = fn(input, target, features=features) if feats else fn(input, target)
            if not isinstance(value, torch.Tensor) or value.dim() != 0:
                shape = tuple(value.shape) if isinstance(value, torch.Tensor) else value
                raise ValueError(f"losses: {name!r} must give a scalar (reduction 'mean' or "
                                 f"'sum'), got {shape}")
            values.append(value)
        return torch.stack(values)

    def forward(
        self, input: torch.Tensor, target: torch.Tensor, features: torch.Tensor | None = None
    ) -> torch.Tensor:
        values = self.loss_values(input, target, features)
        total = self.combine(values)
        self.last_losses = values.detach()
        self.last_weights = self.weights().detach()
        if self.training:
            self.epoch_loss_sum += self.last_losses.to(torch.float64)
            self.epoch_weight_sum += self.last_weights.to(torch.float64)
            self._epoch_steps += 1
        return total

    # ------------------------------------------------------------------ epochs
    def end_epoch(self) -> EpochMeans:
        """The finished epoch's means (summed over ranks under ``torch.distributed``; one host
        synchronisation), and new sums."""
        sums = torch.cat([self.epoch_loss_sum, self.epoch_weight_sum,
                          self.epoch_loss_sum.new_full((1,), float(self._epoch_steps))])
        if is_distributed():
            all_reduce_sum(sums)
        sums = sums.cpu()
        k = self.num_losses
        steps = int(sums[-1])
        means = sums[:-1] / max(steps, 1)
        self.epoch_loss_sum.zero_()
        self.epoch_weight_sum.zero_()
        self._epoch_steps = 0
        return EpochMeans(means[:k], means[k:], steps)

    def extra_repr(self) -> str:
        return f"losses={self.loss_names}"
