"""MILS as a Trainer method: ``losskit train --method mils --mils-aux multi_margin``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import chain
from typing import Any

import torch
from torch import nn

from losskit.core._validation import checked_upstream, choice, integer, split_list
from losskit.core.method import Method, TrainContext
from losskit.core.options import core_kwargs, core_options, option
from losskit.core.step import StepResult
from losskit.mils.observation import materialise, observation_set_from
from losskit.mils.scheduling import MILS, observes, resolve_auxiliaries, resolve_loss

REFRESH = ("fixed", "epoch")


@dataclass(frozen=True, kw_only=True)
class MILSOptions(core_options(  # type: ignore[misc]
    MILS, "MILSCoreOptions",
    skip=("model", "optimizer", "observation", "scheduler", "scaler", "generator",
          "autocast_dtype"),
    help={"primary": "primary loss",
          "aux": "comma-separated auxiliary losses (zoo names, uniloss:<metric>, "
                 "slf:<loss>+<loss>)",
          "participation": "rate in [0, 1]",
          "no_schedule": "accept every auxiliary update (paper's ablation)",
          "accept": "observation (paper) | gradient | project: the acceptance test",
          "accept_ties": "keep updates the test cannot order",
          "aux_selection": "uniform | adaptive: which auxiliary participates",
          "statistics": "learn | rollback: class statistics of center / L-GM auxiliaries",
          "norm_cap": "gradient tests: cap the auxiliary gradient at the primary's norm"},
    aliases={"primary": ("--primary",), "aux": ("--aux",),
             "participation": ("--participation",), "no_schedule": ("--no-schedule",),
             "accept_ties": ("--accept-ties",)},
    parse={"aux": lambda text: split_list(text, "aux")},
)):
    """``--method mils``: :class:`~losskit.mils.MILS`'s arguments (defaults and checks its
    own) and the method's."""

    observation_size: int = option(128, "samples", aliases=("--observation-size",),
                                   check=integer(low=1))
    observation_refresh: str = option("fixed", "fixed | epoch: redraw the observation set "
                                               "after every epoch", check=choice(*REFRESH))
    seed: int = option(0, check=integer())  # the run's seed (no flag)


class MILSMethod(Method):
    """Trainer plug-in around :class:`~losskit.mils.scheduling.MILS` (paper §4).

    ``setup`` builds the losses with the Trainer's context and samples the observation set
    (``observation_size`` training samples of any map-style dataset,
    :func:`~losskit.mils.observation.observation_set_from`, drawn with a generator seeded by
    ``seed + 1``;
    none is drawn under ``no_schedule``, ``participation == 0`` or the gradient tests
    ``accept="gradient"`` / ``"project"``, where it is never used);
    ``observation_refresh="epoch"`` redraws it after every epoch. The participation /
    auxiliary draws use a generator seeded by ``seed``. ``bind`` creates the :class:`MILS`
    object around the optimizer (which includes :meth:`parameters`, i.e. center / L-GM
    centres), scheduler and scaler. ``on_epoch_end`` reports the epoch's
    counters (``mils_attempts``, ``mils_successes``, ``mils_rollbacks``,
    ``mils_success_ratio``, ``mils_ties``, ``mils_nonfinite``, ``mils_projected``,
    ``mils_extra_forwards``, ``mils_extra_time_s``, and per auxiliary ``mils_aux_attempts`` /
    ``mils_aux_successes``) and resets them. Options (:class:`MILSOptions`): :class:`MILS`'s
    arguments with its defaults and checks, and the method's.
    """

    name = "mils"
    Options = MILSOptions

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.primary: Any = None
        self.auxiliaries: list[tuple[str, Any]] = []
        self.mils: MILS | None = None
        self._obs_generator = torch.Generator().manual_seed(self.options.seed + 1)
        self._obs_indices: torch.Tensor | None = None
        self._observation: tuple[torch.Tensor, torch.Tensor] | None = None
        self._train_set: Any = None

    # ------------------------------------------------------------------ set-up
    def setup(self, ctx: TrainContext) -> None:
        context = ctx.context
        _, self.primary = resolve_loss(self.options.primary, context, "primary")
        self.auxiliaries = resolve_auxiliaries(self.options.aux, context)
        for loss in [self.primary] + [loss for _, loss in self.auxiliaries]:
            if isinstance(loss, nn.Module):
                loss.to(ctx.device)
        self._train_set = ctx.train_set
        if self._needs_observation:
            self._resample()

    @property
    def _needs_observation(self) -> bool:
        """No observation set is drawn when it would never be evaluated."""
        o = self.options
        return observes(o.accept, o.no_schedule, o.participation)

    def _resample(self) -> None:
        x, y, idx = observation_set_from(self._train_set, self.options.observation_size,
                                         self._obs_generator)
        self._obs_indices = idx
        self._observation = (x, y)
        if self.mils is not None:
            self.mils.set_observation(x, y)

    def _loss_modules(self) -> list[nn.Module]:
        losses = [self.primary] + [loss for _, loss in self.auxiliaries]
        return [loss for loss in losses if isinstance(loss, nn.Module)]

    def parameters(self) -> Iterator[nn.Parameter]:
        return chain.from_iterable(m.parameters() for m in self._loss_modules())

    def bind(self, ctx: TrainContext) -> None:
        assert ctx.optimizer is not None, "bind_method sets ctx.optimizer"
        kwargs = {**core_kwargs(self.options), "primary": self.primary,
                  "aux": dict(self.auxiliaries)}  # the losses built by setup
        with checked_upstream():  # the options ran the core's declared checks: once per build
            self.mils = MILS(ctx.model, ctx.optimizer, observation=self._observation,
                             scheduler=ctx.scheduler, scaler=ctx.scaler,
                             generator=torch.Generator().manual_seed(self.options.seed),
                             autocast_dtype=ctx.autocast_dtype, **kwargs)

    def _bound(self) -> MILS:
        if self.mils is None:
            raise RuntimeError("MILSMethod: bind(ctx) (losskit.core.method.bind_method) must run "
                               "after setup and before training or loading a state")
        return self.mils

    # ------------------------------------------------------------------ training
    def step(self, ctx: TrainContext, inputs: torch.Tensor, targets: torch.Tensor) -> StepResult:
        result = self._bound().step(inputs, targets)
        info: dict[str, Any] = {"trained": result.trained}
        if result.attempted_aux is not None:
            info.update(
                attempted_aux=result.attempted_aux,
                accepted=result.accepted,
                obs_acc_before=result.obs_acc_before,
                obs_acc_after=result.obs_acc_after,
            )
            if result.cosine is not None:
                info["cosine"] = result.cosine
        return StepResult(loss=result.loss, logits=result.logits, info=info)

    def on_epoch_end(self, ctx: TrainContext, epoch: int) -> dict[str, Any]:
        stats = self._bound().reset_stats()
        if (
            self.options.observation_refresh == "epoch"
            and self._train_set is not None
            and self._needs_observation
        ):
            self._resample()
        return {
            "mils_attempts": stats.attempts,
            "mils_successes": stats.successes,
            "mils_rollbacks": stats.rollbacks,
            "mils_success_ratio": stats.success_ratio,
            "mils_ties": stats.ties,
            "mils_nonfinite": stats.nonfinite,
            "mils_projected": stats.projected,
            "mils_extra_forwards": stats.extra_forwards,
            "mils_extra_time_s": stats.extra_time_s,
            "mils_aux_attempts": dict(stats.aux_attempts),
            "mils_aux_successes": dict(stats.aux_successes),
        }

    # ------------------------------------------------------------------ resume
    def state_dict(self) -> dict[str, Any]:
        return {
            "mils": self._bound().state_dict(),
            "obs_generator": self._obs_generator.get_state(),
            "obs_indices": self._obs_indices,
            "losses": [m.state_dict() for m in self._loss_modules()],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        mils = self._bound()
        self._obs_generator.set_state(state["obs_generator"])
        for module, saved in zip(self._loss_modules(), state.get("losses", []), strict=False):
            module.load_state_dict(saved)
        idx = state.get("obs_indices")
        if idx is not None and self._train_set is not None:
            self._obs_indices = idx
            self._observation = materialise(self._train_set, idx)
            mils.set_observation(*self._observation)
        if state.get("mils") is not None:
            mils.load_state_dict(state["mils"])
