"""Trainer plug-in: ``--method uniloss`` trains with :class:`~losskit.uniloss.UniLoss`."""

from __future__ import annotations

from typing import Any

import torch

from losskit.train.method import METHODS, Method, StepResult, TrainContext, loss_step
from losskit.uniloss.loss import UniLoss


@METHODS.register("uniloss", help="UniLoss: a metric refactored into binaries + IDW surrogate")
class UniLossMethod(Method):
    """Minimise ``1 − g̃`` of :class:`UniLoss` with the plain update of
    :func:`~losskit.train.method.loss_step`.

    The anchor generator is seeded with ``seed`` and saved in :meth:`state_dict`, so a resumed
    run draws the same anchors as an uninterrupted one. ``on_epoch_end`` logs the epoch's mean
    surrogate ``uniloss_surrogate`` (``g̃``) and mean exact batch metric ``uniloss_metric``.
    Every other keyword argument goes to :class:`UniLoss` (``num_anchors``, ``temperature``,
    ``power``, ``subsample``, ``k``, ``radius``, ``scope``, ``flip_bits``, ``nearby``, …).
    A batch on which the metric is undefined (AP without positives, e.g. a small last batch of a
    1:9 task) contributes a zero loss (``on_degenerate="zero"``) and is counted in the epoch's
    ``uniloss_skipped``.
    """

    name = "uniloss"

    def __init__(self, metric: str = "accuracy", seed: int = 0, **kwargs: Any) -> None:
        kwargs.setdefault("on_degenerate", "zero")
        self.generator = torch.Generator()
        self.loss = UniLoss(metric, generator=self.generator, **kwargs)
        self.seed = int(seed)
        self.generator.manual_seed(self.seed)
        self._sums = torch.zeros(2, dtype=torch.float64)
        self._steps = 0
        self._skipped = 0

    def setup(self, ctx: TrainContext) -> None:
        self._sums = torch.zeros(2, dtype=torch.float64, device=ctx.device)

    def step(self, ctx: TrainContext, inputs: torch.Tensor, targets: torch.Tensor) -> StepResult:
        result = loss_step(ctx, inputs, targets, self.loss)
        if self.loss.last_surrogate is not None and self.loss.last_metric is not None:
            self._sums += torch.stack([self.loss.last_surrogate, self.loss.last_metric]).to(
                self._sums
            )
            self._steps += 1
        else:
            self._skipped += 1
        result.info["uniloss_surrogate"] = self.loss.last_surrogate
        return result

    def on_epoch_end(self, ctx: TrainContext, epoch: int) -> dict[str, Any]:
        logs: dict[str, Any] = {"uniloss_skipped": self._skipped}
        if self._steps:
            means = (self._sums / self._steps).tolist()
            logs.update(uniloss_surrogate=means[0], uniloss_metric=means[1])
        self._sums.zero_()
        self._steps = self._skipped = 0
        return logs

    def state_dict(self) -> dict[str, Any]:
        return {
            "generator": self.generator.get_state(),
            "sums": self._sums.cpu(),
            "steps": self._steps,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "generator" in state:
            self.generator.set_state(state["generator"])
        if "sums" in state:
            self._sums = state["sums"].to(self._sums)
            self._steps = int(state["steps"])
