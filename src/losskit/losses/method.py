"""``--method loss``: plain training with one loss from the zoo, as a Trainer method."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from losskit.core.method import Method, TrainContext
from losskit.core.options import Options, option
from losskit.core.step import StepResult, loss_step
from losskit.data.loading import sample_targets
from losskit.losses.base import check_task
from losskit.losses.priors import epoch_losses, sync_epoch
from losskit.losses.registry import build


@dataclass(frozen=True, kw_only=True)
class LossOptions(Options):
    """``--method loss``: the loss (the zoo's name or a module); any other keyword is the
    loss's own (``LossMethod(loss="focal", gamma=2.0)``; checked by the zoo)."""

    loss: Any = option("ce", "loss name", flag="--loss")


class LossMethod(Method):
    """Plain training with one loss from the zoo (``--method loss --loss ce``)."""

    name = "loss"
    Options = LossOptions

    def __init__(self, loss: str | nn.Module = "ce", **loss_kwargs: Any) -> None:
        super().__init__(loss=loss)
        self.loss_kwargs = loss_kwargs
        self.loss: nn.Module | None = loss if isinstance(loss, nn.Module) else None
        self._epoch_losses: list[nn.Module] = []

    def setup(self, ctx: TrainContext) -> None:
        spec = self.options.loss
        if self.loss is None:
            self.loss = build(str(spec), ctx.context, **self.loss_kwargs)
        self.loss.to(ctx.device)
        name = spec if isinstance(spec, str) else type(self.loss).__name__
        check_task(name, self.loss, sample_targets(ctx.train_set), ctx.num_classes)
        self._epoch_losses = epoch_losses(self.loss)  # deferred re-weighting (set_epoch)

    def parameters(self) -> Iterator[nn.Parameter]:
        return self.loss.parameters() if self.loss is not None else iter(())

    def step(self, ctx: TrainContext, inputs: torch.Tensor, targets: torch.Tensor) -> StepResult:
        sync_epoch(self._epoch_losses, ctx.epoch)
        return loss_step(ctx, inputs, targets, self.loss)

    def state_dict(self) -> dict[str, Any]:
        return {"loss": self.loss.state_dict()} if self.loss is not None else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.loss is not None and "loss" in state:
            self.loss.load_state_dict(state["loss"])
