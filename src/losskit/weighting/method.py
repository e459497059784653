"""The loss-weighting methods as Trainer methods: ``--method uncertainty | dwa | gradnorm |
fixed``, each with the candidate losses as SLF takes them (``--dwa-losses ce,prob_mae,rce``).

Their options are the cores' arguments (:func:`~losskit.core.options.core_options`: the defaults
and checks are the cores') plus ``losses``; the flags derive from them (``--dwa-temperature``,
``--gradnorm-alpha``, ``--gradnorm-layer``, ``--fixed-weights``, ``--uncertainty-init``).

Every step is :func:`losskit.core.step.loss_step` on the weighting module (the weighted objective is
its value); GradNorm then renormalises its weights. The weighting's own parameters (the
log-variances, GradNorm's weights) and those of parametric candidates go to the optimizer
through :meth:`~WeightingMethod.parameters`. Per epoch the method logs ``<name>_losses`` (the
candidates' names), ``<name>_loss_values`` (epoch means of the raw ``L_i``) and
``<name>_weights`` (epoch means of the ``w_i`` used).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from losskit.core._validation import split_list
from losskit.core.method import Method, TrainContext
from losskit.core.options import core_kwargs, core_options, option
from losskit.core.step import StepResult, loss_step
from losskit.losses.base import check_task
from losskit.losses.priors import epoch_losses, sync_epoch
from losskit.weighting.base import LossWeighting
from losskit.weighting.dwa import DynamicWeightAverage
from losskit.weighting.fixed import FixedWeighting
from losskit.weighting.gradnorm import GradNorm, shared_parameter
from losskit.weighting.uncertainty import UncertaintyWeighting

__all__ = ["WeightingMethod", "UncertaintyMethod", "DWAMethod", "GradNormMethod",
           "FixedMethod"]

_SKIP = ("losses", "context", "names", "shared")


def _losses(value: Any, name: str) -> Any:
    if value is None:
        raise ValueError(f"{name} must name the losses to weight (at least 2), e.g. "
                         "'ce,prob_mae,rce'")
    split_list(value, name, min_items=2)
    return value


def _losses_option() -> Any:
    return option(None, "comma-separated losses to weight (at least 2), e.g. ce,prob_mae,rce",
                  parse=lambda text: split_list(text, "losses", min_items=2), check=_losses)


def _numbers(text: str) -> list[float]:
    try:
        return [float(v) for v in split_list(text, "weights")]
    except ValueError:
        raise ValueError(f"weights must be comma-separated numbers, got {text!r}") from None


@dataclass(frozen=True, kw_only=True)
class UncertaintyOptions(core_options(  # type: ignore[misc]
    UncertaintyWeighting, "UncertaintyCoreOptions", skip=_SKIP,
    help={"init": "initial log-variance s_i of every loss (0: weights 1)"},
)):
    """``--method uncertainty``."""

    losses: Any = _losses_option()


@dataclass(frozen=True, kw_only=True)
class DWAOptions(core_options(  # type: ignore[misc]
    DynamicWeightAverage, "DWACoreOptions", skip=_SKIP,
    help={"temperature": "temperature T of the softmax over loss ratios"},
)):
    """``--method dwa``."""

    losses: Any = _losses_option()


@dataclass(frozen=True, kw_only=True)
class GradNormOptions(core_options(  # type: ignore[misc]
    GradNorm, "GradNormCoreOptions", skip=_SKIP,
    help={"alpha": "asymmetry alpha (restoring force towards equal training rates)"},
)):
    """``--method gradnorm``."""

    losses: Any = _losses_option()
    layer: str | None = option(None, "the last shared layer's parameter name (default: the "
                                     "last nn.Linear's weight)")


@dataclass(frozen=True, kw_only=True)
class FixedOptions(core_options(  # type: ignore[misc]
    FixedWeighting, "FixedCoreOptions", skip=_SKIP,
    help={"weights": "comma-separated weights, one per loss (default: 1 each)"},
    parse={"weights": _numbers},
)):
    """``--method fixed``."""

    losses: Any = _losses_option()


class WeightingMethod(Method):
    """Training with a :class:`~losskit.weighting.base.LossWeighting` (subclasses name the
    core; :meth:`build` may complete it from the run, as GradNorm's shared layer)."""

    Core: ClassVar[type[LossWeighting]]

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.weighting: LossWeighting | None = None
        self._epoch_losses: list[nn.Module] = []

    def build(self, ctx: TrainContext) -> LossWeighting:
        return self.Core(self.options.losses, context=ctx.context,  # type: ignore[call-arg]
                         **core_kwargs(self.options))

    def setup(self, ctx: TrainContext) -> None:
        self.weighting = self.build(ctx).to(ctx.device)
        targets = ctx.train_set.tensors[1]
        for name, loss in zip(self.weighting.loss_names, self.weighting.losses, strict=True):
            check_task(name, loss, targets, ctx.num_classes)
        self._epoch_losses = epoch_losses(self.weighting)  # deferred re-weighting (set_epoch)

    def parameters(self) -> Iterator[nn.Parameter]:
        return self.weighting.parameters() if self.weighting is not None else iter(())

    def step(self, ctx: TrainContext, inputs: torch.Tensor, targets: torch.Tensor) -> StepResult:
        assert self.weighting is not None, "setup() must run before step()"
        sync_epoch(self._epoch_losses, ctx.epoch)
        result = loss_step(ctx, inputs, targets, self.weighting)
        self.weighting.after_step()
        assert self.weighting.last_weights is not None
        result.info[f"{self.name}_weights"] = self.weighting.last_weights
        return result

    def on_epoch_end(self, ctx: TrainContext, epoch: int) -> dict[str, Any]:
        assert self.weighting is not None
        means = self.weighting.end_epoch()
        return {f"{self.name}_losses": list(self.weighting.loss_names),
                f"{self.name}_loss_values": means.losses.tolist(),
                f"{self.name}_weights": means.weights.tolist()}

    def state_dict(self) -> dict[str, Any]:
        return {"weighting": self.weighting.state_dict()} if self.weighting is not None else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.weighting is not None and "weighting" in state:
            self.weighting.load_state_dict(state["weighting"])


class UncertaintyMethod(WeightingMethod):
    """Uncertainty weighting (Kendall et al. 2018): ``Σ_i exp(−s_i) L_i + s_i``, ``s`` learned
    (:class:`~losskit.weighting.uncertainty.UncertaintyWeighting`)."""

    name = "uncertainty"
    Options = UncertaintyOptions
    Core = UncertaintyWeighting


class DWAMethod(WeightingMethod):
    """Dynamic Weight Average (Liu et al. 2019): weights from the last two epochs' loss
    ratios (:class:`~losskit.weighting.dwa.DynamicWeightAverage`)."""

    name = "dwa"
    Options = DWAOptions
    Core = DynamicWeightAverage


class GradNormMethod(WeightingMethod):
    """GradNorm (Chen et al. 2018) on the model's last shared layer (``layer``; default the
    last ``nn.Linear``'s weight; :class:`~losskit.weighting.gradnorm.GradNorm`)."""

    name = "gradnorm"
    Options = GradNormOptions
    Core = GradNorm

    def build(self, ctx: TrainContext) -> LossWeighting:
        weighting = super().build(ctx)
        assert isinstance(weighting, GradNorm)
        weighting.set_shared(shared_parameter(ctx.model, self.options.layer))
        return weighting


class FixedMethod(WeightingMethod):
    """Fixed weights ``Σ_i w_i L_i`` (default all 1;
    :class:`~losskit.weighting.fixed.FixedWeighting`)."""

    name = "fixed"
    Options = FixedOptions
    Core = FixedWeighting
