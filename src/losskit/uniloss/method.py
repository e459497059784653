"""Trainer plug-in: ``--method uniloss`` trains with :class:`~losskit.uniloss.UniLoss`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from losskit.core._validation import integer
from losskit.core.composites import COMPOSITE_LOSSES
from losskit.core.method import Method, TrainContext
from losskit.core.options import core_kwargs, core_options, option
from losskit.core.step import StepResult, loss_step
from losskit.uniloss.composite import SYNTAX as UNILOSS_SYNTAX
from losskit.uniloss.composite import uniloss_from_name
from losskit.uniloss.loss import UniLoss
from losskit.uniloss.refactor import parse_subsample

COMPOSITE_LOSSES.register("uniloss", uniloss_from_name, help=UNILOSS_SYNTAX)  # "uniloss:ap"


def _optional_int(text: str) -> int | None:
    return None if text.strip().lower() in ("", "none") else int(text)


@dataclass(frozen=True, kw_only=True)
class UniLossOptions(core_options(  # type: ignore[misc]
    UniLoss, "UniLossCoreOptions",
    skip=("generator", "seed"),
    defaults={"on_degenerate": "zero"},  # a degenerate batch contributes 0 and is counted
    help={"metric": "accuracy | ap | pck | …",
          "num_anchors": "per type",
          "temperature": "sigmoid relaxation temperature",
          "scope": "local | global (all-gather the batch across ranks)",
          "relaxation": "logit | authors (sigmoid outputs, temperature 2): the relaxation preset",
          "subsample": "an int k (each group's k highest competitors) or a fraction of the "
                       "binaries per step"},
    aliases={"num_anchors": ("--uniloss-anchors",)},
    parse={"temperature": float, "subsample": parse_subsample, "num_good": _optional_int,
           "num_bad": _optional_int, "num_nearby": _optional_int},
)):
    """``--method uniloss``: :class:`~losskit.uniloss.UniLoss`'s arguments (its defaults,
    except ``on_degenerate="zero"``) and the method's ``seed``."""

    seed: int = option(0, check=integer())  # the run's seed (no flag)


class UniLossMethod(Method):
    """Minimise ``1 − g̃`` of :class:`UniLoss` with the plain update of
    :func:`~losskit.core.step.loss_step`.

    The anchor generator is seeded with ``seed`` and saved in :meth:`state_dict`, so a resumed
    run draws the same anchors as an uninterrupted one. ``on_epoch_end`` logs the epoch's mean
    surrogate ``uniloss_surrogate`` (``g̃``) and mean exact batch metric ``uniloss_metric``.
    Options (:class:`UniLossOptions`): every argument of :class:`UniLoss` (``relaxation``,
    ``num_anchors``, ``temperature``, ``power``, ``subsample``, ``k``, ``radius``, ``scope``,
    ``flip_bits``, ``nearby``, ``nearby_unit``, …), e.g. ``{"metric": "ap", "num_anchors":
    8}``, and ``seed``. Each option is checked when the options are built, by the check
    ``UniLoss`` declares for it (:data:`~losskit.uniloss.loss.CHECKS`).
    A batch on which the metric is undefined (AP without positives, e.g. a small last batch of a
    1:9 task) contributes a zero loss (``on_degenerate="zero"``) and is counted in the epoch's
    ``uniloss_skipped``. A step reads nothing back to the host (the sums stay on the device
    until the epoch ends).
    """

    name = "uniloss"
    Options = UniLossOptions

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.generator = torch.Generator()
        self.loss = UniLoss(generator=self.generator, **core_kwargs(self.options))
        self.generator.manual_seed(self.options.seed)
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
