"""MILS: Multiple Independent Losses Scheduling (the paper's Algorithm in §4, "Framework").

Each iteration the *primary* loss (softmax cross-entropy by default) trains the batch, except
that with probability ``participation`` an *auxiliary* loss (multi-margin, focal, center, L-GM,
…) performs the update instead. Such an auxiliary update is tentative: the observation set's
accuracy is measured before and after it; if it dropped, the model and optimizer are reloaded
and the same batch is trained with the primary loss (paper §4.1: "reload the last model
parameters and use other loss functions to train the model again").

Choices where the paper is silent (its formulas were lost in extraction), all configurable:

* ties (equal observation accuracy) are accepted by default (``accept_ties=True``);
* the whole training state is restored on a rollback — parameters, buffers (BatchNorm running
  statistics), optimizer state and hyper-parameters, scheduler and GradScaler state, loss-module
  parameters (center/L-GM) and the global RNG — so a rejected update leaves no trace and
  training continues exactly as if only the primary loss had been used on that batch;
* ``no_schedule=True`` is the paper's "no scheduling" ablation (§5, Fig. 7): every auxiliary
  update is kept and the observation set is never evaluated;
* auxiliary choice: ``"uniform"`` or ``"adaptive"`` (see :mod:`losskit.mils.selection`);
* the reported ``loss`` of a step is the loss that trained the update that stands.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, Union

import torch
from torch import nn

from losskit.distributed import all_reduce_sum
from losskit.mils.observation import check_observation, observation_correct
from losskit.mils.selection import AuxSelector, check_participation, check_selection
from losskit.mils.snapshot import TrainingStateSnapshot
from losskit.mils.stats import MILSStats
from losskit.train.method import compute_loss

LossSpec = Union[str, nn.Module, Callable[..., torch.Tensor]]  # noqa: UP007


@dataclass
class MILSStepResult:
    """Outcome of one :meth:`MILS.step`.

    ``loss``: the (detached) loss of the update that stands; ``logits``: the batch logits of that
    update (detached); ``trained``: ``"primary"`` or the auxiliary loss's name;
    ``attempted_aux``: the auxiliary that participated this step or ``None``; ``accepted``:
    whether its update was kept (``None`` when no auxiliary participated);
    ``obs_acc_before`` / ``obs_acc_after``: observation accuracy around the auxiliary update
    (``None`` when not evaluated).
    """

    loss: torch.Tensor
    logits: torch.Tensor | None
    trained: str
    attempted_aux: str | None = None
    accepted: bool | None = None
    obs_acc_before: float | None = None
    obs_acc_after: float | None = None


def _unwrap(model: nn.Module) -> nn.Module:
    return getattr(model, "module", model)


def _loss_name(spec: Any) -> str:
    name = getattr(spec, "name", None)
    if isinstance(name, str) and name and name != "method":
        return name
    if isinstance(spec, nn.Module):
        return type(spec).__name__.lower()
    return getattr(spec, "__name__", type(spec).__name__).lower()


def resolve_loss(spec: LossSpec, context: dict[str, Any], arg: str) -> tuple[str, Any]:
    """``(name, loss)`` for a registered loss name or a ready loss module / callable."""
    if isinstance(spec, str):
        name = spec.strip()
        from losskit import losses

        try:
            return name, losses.build(name, context)
        except ValueError as err:
            raise ValueError(f"{arg}: {err}") from None
    if isinstance(spec, nn.Module) or callable(spec):
        return _loss_name(spec), spec
    raise ValueError(f"{arg} must be a loss name, an nn.Module or a callable, got {spec!r}")


def resolve_auxiliaries(
    auxiliaries: str | Sequence[LossSpec] | Mapping[str, LossSpec], context: dict[str, Any]
) -> list[tuple[str, Any]]:
    """Auxiliary losses from ``"a,b"``, a list of names/modules, or a ``{name: loss}`` mapping."""
    if isinstance(auxiliaries, str):
        items: list[tuple[str | None, LossSpec]] = [
            (None, s.strip()) for s in auxiliaries.split(",") if s.strip()
        ]
    elif isinstance(auxiliaries, Mapping):
        items = [(str(k), v) for k, v in auxiliaries.items()]
    elif isinstance(auxiliaries, (nn.Module,)) or callable(auxiliaries):
        items = [(None, auxiliaries)]
    elif isinstance(auxiliaries, Sequence):
        items = [(None, a) for a in auxiliaries]
    else:
        raise ValueError(
            "auxiliaries must be a comma-separated string, a list or a mapping, "
            f"got {auxiliaries!r}"
        )
    if not items:
        raise ValueError("auxiliaries must name at least one loss, got none")
    out: list[tuple[str, Any]] = []
    seen: dict[str, int] = {}
    for given, spec in items:
        name, loss = resolve_loss(spec, context, "auxiliaries")
        name = given or name
        seen[name] = seen.get(name, 0) + 1
        out.append((name if seen[name] == 1 else f"{name}#{seen[name]}", loss))
    return out


class MILS:
    """Schedules auxiliary losses around a primary loss with exact rollback (paper §4).

    Args:
        model: a :class:`~losskit.models.base.Classifier` (``model(x, return_features=True)``
            is used only for losses with ``needs_features``) or any module returning logits.
        optimizer: optimises the model *and* every parameter of the loss modules (center /
            L-GM centres); ``ValueError`` if a loss parameter is missing from it.
        primary: the primary loss (name in the zoo, module or callable), default ``"ce"``.
        auxiliaries: ``"multi_margin,focal"``, a list of names / modules, or ``{name: loss}``.
            Names are built with ``losses.build(name, context)`` where ``context`` holds the
            model's ``num_classes`` / ``feature_dim``.
        participation: probability in [0, 1] that an auxiliary loss trains a step.
        observation: ``(x, y)`` observation set (required unless ``no_schedule`` or
            ``participation == 0``); replace it with :meth:`set_observation`.
        scheduler, scaler: LR scheduler / ``torch.amp.GradScaler`` whose state is restored on a
            rollback (MILS never steps the scheduler; the scaler scales every update).
        aux_selection: ``"uniform"`` or ``"adaptive"`` (see :mod:`losskit.mils.selection`).
        accept_ties: keep an auxiliary update when observation accuracy is unchanged.
        no_schedule: the paper's ablation: keep every auxiliary update, no evaluation.
        generator: CPU generator for the participation / choice draws (default seeded with 0).
        autocast_dtype: run forwards under ``torch.autocast`` with this dtype.
        observation_batch_size: evaluate the observation set in chunks of this size (all at
            once when ``None``).
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        primary: LossSpec = "ce",
        auxiliaries: str | Sequence[LossSpec] | Mapping[str, LossSpec] = "multi_margin",
        participation: float = 0.1,
        observation: tuple[torch.Tensor, torch.Tensor] | None = None,
        scheduler: Any = None,
        scaler: Any = None,
        aux_selection: str = "uniform",
        accept_ties: bool = True,
        no_schedule: bool = False,
        generator: torch.Generator | None = None,
        autocast_dtype: torch.dtype | None = None,
        observation_batch_size: int | None = None,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise ValueError(f"model must be an nn.Module, got {type(model).__name__}")
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise ValueError(f"optimizer must be a torch.optim.Optimizer, got {optimizer!r}")
        participation = check_participation(participation)
        check_selection(aux_selection)
        if observation_batch_size is not None and observation_batch_size < 1:
            raise ValueError(
                f"observation_batch_size must be ≥ 1 or None, got {observation_batch_size!r}"
            )
        self.model = model
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.scaler = scaler
        self.accept_ties = bool(accept_ties)
        self.no_schedule = bool(no_schedule)
        self.autocast_dtype = autocast_dtype
        self.observation_batch_size = observation_batch_size
        first = next(iter(model.parameters()), None)
        self.device = first.device if first is not None else torch.device("cpu")

        inner = _unwrap(model)
        context = {
            k: getattr(inner, k) for k in ("num_classes", "feature_dim") if hasattr(inner, k)
        }
        self.primary_name, self.primary = resolve_loss(primary, context, "primary")
        self.auxiliaries = resolve_auxiliaries(auxiliaries, context)
        self._move_losses()
        self._check_loss_parameters()
        self.selector = AuxSelector(len(self.auxiliaries), participation, aux_selection, generator)
        self.stats = MILSStats()
        self.observation: tuple[torch.Tensor, torch.Tensor] | None = None
        if observation is not None:
            self.set_observation(*observation)
        elif not self.no_schedule and participation > 0:
            raise ValueError(
                "observation must be an (x, y) pair of tensors unless no_schedule=True or "
                "participation == 0, got None"
            )
        modules = [model, self.primary] + [loss for _, loss in self.auxiliaries]
        self._snapshot = TrainingStateSnapshot(modules, optimizer, scheduler, scaler)

    # ------------------------------------------------------------------ set-up helpers
    def _move_losses(self) -> None:
        """Move parameter-free loss modules (e.g. built from names) to the model's device;
        parametric ones must already be there (their parameters are in the optimizer)."""
        for loss in [self.primary] + [loss for _, loss in self.auxiliaries]:
            if isinstance(loss, nn.Module) and not any(True for _ in loss.parameters()):
                loss.to(self.device)

    def _check_loss_parameters(self) -> None:
        in_opt = {id(p) for g in self.optimizer.param_groups for p in g["params"]}
        for name, loss in [(self.primary_name, self.primary), *self.auxiliaries]:
            if not isinstance(loss, nn.Module):
                continue
            missing = [p for p in loss.parameters() if p.requires_grad and id(p) not in in_opt]
            if missing:
                arg = "primary" if loss is self.primary else "auxiliaries"
                raise ValueError(
                    f"{arg}: loss {name!r} has parameters that are not in the optimizer; build "
                    "it first and give its parameters to the optimizer (MILSMethod does this)"
                )

    @property
    def participation(self) -> float:
        return self.selector.participation

    @property
    def aux_names(self) -> list[str]:
        return [name for name, _ in self.auxiliaries]

    def set_observation(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """Use ``(x, y)`` as the observation set from now on (e.g. resampled each epoch)."""
        x, y = check_observation((x, y))
        self.observation = (x.to(self.device), y.to(self.device))

    def reset_stats(self) -> MILSStats:
        """Start new per-epoch counters; returns the finished ones."""
        old, self.stats = self.stats, MILSStats()
        return old

    # ------------------------------------------------------------------ pieces of a step
    def _autocast(self) -> Any:
        if self.autocast_dtype is None:
            return nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype)

    def _update(
        self, inputs: torch.Tensor, targets: torch.Tensor, loss_fn: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One plain update with ``loss_fn`` — the same operations as
        :func:`losskit.train.method.loss_step`."""
        model, optimizer = self.model, self.optimizer
        model.train()
        optimizer.zero_grad(set_to_none=True)
        with self._autocast():
            if getattr(loss_fn, "needs_features", False):
                logits, feats = model(inputs, return_features=True)
            else:
                logits, feats = model(inputs), None
        loss = compute_loss(loss_fn, logits, targets, feats)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(optimizer)
            self.scaler.update()
        else:
            loss.backward()
            optimizer.step()
        return loss.detach(), logits.detach()

    def _observe(self) -> tuple[int, int]:
        """``(correct, total)`` on the observation set, summed over ranks under
        ``torch.distributed`` so that every rank takes the same accept/reject decision even
        when each holds a different observation shard."""
        assert self.observation is not None
        x, y = self.observation
        correct = observation_correct(
            self.model, x, y, self.observation_batch_size, self.autocast_dtype
        )
        chunk = self.observation_batch_size or len(x)
        self.stats.extra_forwards += -(-len(x) // chunk)
        counts = torch.stack([correct, torch.tensor(len(y), device=correct.device)])
        correct, total = all_reduce_sum(counts).tolist()
        return int(correct), int(total)

    # ------------------------------------------------------------------ the step
    def step(self, inputs: torch.Tensor, targets: torch.Tensor) -> MILSStepResult:
        """Train one batch: primary update, or a scheduled auxiliary update (kept when the
        observation accuracy does not drop, else rolled back and replaced by a primary one)."""
        index = self.selector.draw()
        if index is None:
            loss, logits = self._update(inputs, targets, self.primary)
            return MILSStepResult(loss, logits, "primary")
        name, aux = self.auxiliaries[index]
        if self.no_schedule:
            loss, logits = self._update(inputs, targets, aux)
            self.selector.update(index, True)
            self.stats.record(name, True)
            return MILSStepResult(loss, logits, name, name, True)
        if self.observation is None:
            raise ValueError("observation must be set (set_observation) before scheduling")
        t0 = time.perf_counter()
        self._snapshot.capture()
        before, n_obs = self._observe()
        t1 = time.perf_counter()
        loss, logits = self._update(inputs, targets, aux)
        t2 = time.perf_counter()
        after, _ = self._observe()
        accepted = after >= before if self.accept_ties else after > before
        if accepted:
            trained = name
            self.stats.extra_time_s += (time.perf_counter() - t0) - (t2 - t1)
        else:
            self._snapshot.restore()
            self.stats.extra_forwards += 1  # the discarded auxiliary forward
            self.stats.extra_time_s += time.perf_counter() - t0
            loss, logits = self._update(inputs, targets, self.primary)
            trained = "primary"
        self.selector.update(index, accepted)
        self.stats.record(name, accepted)
        return MILSStepResult(loss, logits, trained, name, accepted, before / n_obs, after / n_obs)

    # ------------------------------------------------------------------ persistence
    def state_dict(self) -> dict[str, Any]:
        """Selector (generator, per-auxiliary counts) and the current epoch's counters."""
        return {"selector": self.selector.state_dict(), "stats": self.stats.as_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.selector.load_state_dict(state["selector"])
        self.stats = MILSStats.from_dict(state.get("stats", {}))
