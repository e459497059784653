"""MILS as a Trainer method: ``losskit train --method mils --primary ce --aux multi_margin``."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import chain
from typing import Any

import torch
from torch import nn

from losskit._validation import split_list
from losskit.method import Method, TrainContext
from losskit.mils.acceptance import check_accept
from losskit.mils.observation import sample_observation
from losskit.mils.scheduling import MILS, resolve_auxiliaries, resolve_loss
from losskit.mils.selection import check_participation, check_selection
from losskit.mils.statistics import check_statistics
from losskit.step import StepResult

REFRESH = ("fixed", "epoch")


class MILSMethod(Method):
    """Trainer plug-in around :class:`~losskit.mils.scheduling.MILS` (paper §4).

    ``setup`` builds the losses with the Trainer's context and samples the observation set
    (``observation_size`` training samples, drawn with a generator seeded by ``seed + 1``;
    none is drawn under ``no_schedule``, ``participation == 0`` or the gradient tests
    ``accept="gradient"`` / ``"project"``, where it is never used);
    ``observation_refresh="epoch"`` redraws it after every epoch. The participation /
    auxiliary draws use a generator seeded by ``seed``. ``bind`` creates the :class:`MILS`
    object around the optimizer (which includes :meth:`parameters`, i.e. center / L-GM
    centres), scheduler and scaler. ``on_epoch_end`` reports the epoch's
    counters (``mils_attempts``, ``mils_successes``, ``mils_rollbacks``,
    ``mils_success_ratio``, ``mils_ties``, ``mils_nonfinite``, ``mils_projected``,
    ``mils_extra_forwards``, ``mils_extra_time_s``, and per auxiliary ``mils_aux_attempts`` /
    ``mils_aux_successes``) and resets them. ``accept``, ``accept_ties``, ``statistics`` and
    ``norm_cap`` are :class:`MILS`'s.
    """

    name = "mils"

    def __init__(
        self,
        primary: str | nn.Module = "ce",
        aux: str | Sequence[Any] = "multi_margin",
        participation: float = 0.1,
        observation_size: int = 128,
        observation_refresh: str = "fixed",
        aux_selection: str = "uniform",
        accept_ties: bool = True,
        no_schedule: bool = False,
        seed: int = 0,
        accept: str = "observation",
        statistics: str = "learn",
        norm_cap: bool = True,
    ) -> None:
        self.participation = check_participation(participation)
        self.accept = check_accept(accept)
        self.statistics = check_statistics(statistics)
        self.norm_cap = bool(norm_cap)
        self.aux_selection = check_selection(aux_selection)
        if observation_refresh not in REFRESH:
            raise ValueError(
                f"observation_refresh must be one of {REFRESH}, got {observation_refresh!r}"
            )
        if (
            isinstance(observation_size, bool)
            or not isinstance(observation_size, int)
            or observation_size < 1
        ):
            raise ValueError(f"observation_size must be an integer ≥ 1, got {observation_size!r}")
        self.primary_spec = primary
        self.aux_specs = split_list(aux, "aux")
        self.observation_size = observation_size
        self.observation_refresh = observation_refresh
        self.accept_ties = bool(accept_ties)
        self.no_schedule = bool(no_schedule)
        self.seed = int(seed)
        self.primary: Any = None
        self.auxiliaries: list[tuple[str, Any]] = []
        self.mils: MILS | None = None
        self._obs_generator = torch.Generator().manual_seed(self.seed + 1)
        self._obs_indices: torch.Tensor | None = None
        self._observation: tuple[torch.Tensor, torch.Tensor] | None = None
        self._train_set: Any = None

    # ------------------------------------------------------------------ set-up
    def setup(self, ctx: TrainContext) -> None:
        context = ctx.context
        _, self.primary = resolve_loss(self.primary_spec, context, "primary")
        self.auxiliaries = resolve_auxiliaries(self.aux_specs, context)
        for loss in [self.primary] + [loss for _, loss in self.auxiliaries]:
            if isinstance(loss, nn.Module):
                loss.to(ctx.device)
        self._train_set = ctx.train_set
        if self._needs_observation:
            self._resample()

    @property
    def _needs_observation(self) -> bool:
        """No observation set is drawn when it would never be evaluated."""
        return self.accept == "observation" and not self.no_schedule and self.participation > 0

    def _resample(self) -> None:
        x, y, idx = sample_observation(self._train_set, self.observation_size, self._obs_generator)
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
        self.mils = MILS(
            ctx.model,
            ctx.optimizer,
            primary=self.primary,
            auxiliaries=dict(self.auxiliaries),
            participation=self.participation,
            observation=self._observation,
            scheduler=ctx.scheduler,
            scaler=ctx.scaler,
            aux_selection=self.aux_selection,
            accept_ties=self.accept_ties,
            no_schedule=self.no_schedule,
            generator=torch.Generator().manual_seed(self.seed),
            autocast_dtype=ctx.autocast_dtype,
            accept=self.accept,
            statistics=self.statistics,
            norm_cap=self.norm_cap,
        )

    def _bound(self) -> MILS:
        if self.mils is None:
            raise RuntimeError("MILSMethod: bind(ctx) (losskit.method.bind_method) must run "
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
            self.observation_refresh == "epoch"
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
            x, y = self._train_set.tensors[:2]
            self._obs_indices = idx
            self._observation = (x[idx].clone(), y[idx].clone())
            mils.set_observation(*self._observation)
        if state.get("mils") is not None:
            mils.load_state_dict(state["mils"])
