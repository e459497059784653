"""Trainer plug-in: ``--method uniloss`` trains with :class:`~losskit.uniloss.UniLoss`."""

from __future__ import annotations

from typing import Any

import torch

from losskit.method import Method, TrainContext
from losskit.step import StepResult, loss_step
from losskit.uniloss.loss import UniLoss


class UniLossMethod(Method):
    """Minimise ``1 − g̃`` of :class:`UniLoss` with the plain update of
    :func:`~losskit.step.loss_step`.

    The anchor generator is seeded with ``seed`` and saved in :meth:`state_dict`, so a resumed
    run draws the same anchors as an uninterrupted one. ``on_epoch_end`` logs the epoch's mean
    surrogate ``uniloss_surrogate`` (``g̃``) and mean exact batch metric ``uniloss_metric``.
    Every other keyword argument goes to :class:`UniLoss` (``relaxation``, ``num_anchors``,
    ``temperature``, ``power``, ``subsample``, ``k``, ``radius``, ``scope``, ``flip_bits``,
    ``nearby``, ``nearby_unit``, …), e.g. ``{"metric": "ap", "relaxation": "authors"}``.
    A batch on which the metric is undefined (AP without positives, e.g. a small last batch of a
    1:9 task) contributes a zero loss (``on_degenerate="zero"``) and is counted in the epoch's
    ``uniloss_skipped``. A step reads nothing back to the host (the sums stay on the device
    until the epoch ends).
    """

    name = "uniloss"

    def __init__(self, metric: str = "accuracy", seed: int = 0, **kwargs: Any) -> None:
        kwargs.setdefault("on_degenerate", "zero")
        self.generator = torch.Generator()
        self.loss = UniLoss(metric, generator=self.generator, **kwargs)
        self.seed = int(seed)
        self.generator.manual_seed(self.seed)
        self._sums = torch.zeros(3, dtype=torch.float64)  # surrogate, metric, batches counted
        self._calls = 0

    def setup(self, ctx: TrainContext) -> None:
        self._sums = torch.zeros(3, dtype=torch.float64, device=ctx.device)

    def step(self, ctx: TrainContext, inputs: torch.Tensor, targets: torch.Tensor) -> StepResult:
        result = loss_step(ctx, inputs, targets, self.loss)
        self._calls += 1
        surrogate, metric = self.loss.last_surrogate, self.loss.last_metric
        if surrogate is not None and metric is not None:
            # NaN when the batch was degenerate but not checked on the host: not counted
            values = torch.stack([surrogate, metric, torch.ones_like(metric)]).to(self._sums)
            self._sums += values.masked_fill_(values[1].isnan(), 0.0)
        result.info["uniloss_surrogate"] = surrogate
        return result

    def on_epoch_end(self, ctx: TrainContext, epoch: int) -> dict[str, Any]:
        surrogate, metric, counted = self._sums.tolist()
        logs: dict[str, Any] = {"uniloss_skipped": self._calls - int(counted)}
        if counted:
            logs.update(uniloss_surrogate=surrogate / counted, uniloss_metric=metric / counted)
        self._sums.zero_()
        self._calls = 0
        return logs

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state(), "sums": self._sums.cpu(),
                "calls": self._calls}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "generator" in state:
            self.generator.set_state(state["generator"])
        if "sums" in state:
            sums = state["sums"]
            if sums.numel() == 2:  # before the batch count moved into the sums
                sums = torch.cat([sums, sums.new_tensor([float(state.get("steps", 0))])])
            self._sums = sums.to(self._sums)
            self._calls = int(state.get("calls", self._sums[2]))
