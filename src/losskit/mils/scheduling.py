"""MILS: Multiple Independent Losses Scheduling (the paper's Algorithm in §4, "Framework").

Each iteration the *primary* loss (softmax cross-entropy by default) trains the batch, except
that with probability ``participation`` an *auxiliary* loss (multi-margin, focal, center, L-GM,
…) performs the update instead. Such an auxiliary update is tentative: the observation set's
accuracy is measured before and after it; if it dropped, the model and optimizer are reloaded
and the same batch is trained with the primary loss (paper §4.1: "reload the last model
parameters and use other loss functions to train the model again").

Where we interpret or depart from the paper (its formulas were lost in extraction):

================================  ==============================  ===========================
paper                             our default                     options
================================  ==============================  ===========================
keep an auxiliary update iff      same; ties (equal accuracy)     ``accept_ties=False``;
observation accuracy does not     accepted; ``stats.ties``        ``accept="gradient"`` /
drop (§4.1)                       counts them                     ``"project"`` (below)
"reload the last model            the whole training state,       —
parameters" on a drop             bitwise: parameters, buffers,
                                  optimizer, scheduler, scaler,
                                  global RNG, loss modules'
                                  private state (SLF, UniLoss)
non-finite updates: not           never kept: a non-finite loss,  —
discussed                         updated parameter or
                                  observation logit rejects the
                                  attempt (``stats.nonfinite``);
                                  NaN logits are never correct
parametric auxiliaries (center,   their class means are set to    ``statistics="rollback"``
L-GM): not discussed              the batch's feature class       (rolled back with the
                                  means on every attempt, and     model: they never learn)
                                  never rolled back
                                  (:mod:`losskit.mils.statistics`)
MILS+center: "only center loss    ``center`` is the centre term   ``ce_center``: the joint
involved"                         alone, ``λ·½‖f − c_y‖²`` with   CE + centre loss
                                  the joint's λ = 0.01
participation rate (formula       Bernoulli(``participation``)    ``aux_selection``
lost)                             per step, uniform auxiliary     ``"adaptive"``
                                                                  (:mod:`.selection`)
"no scheduling" ablation (§5,     every auxiliary update with a   —
Fig. 7)                           finite loss is kept
                                  (``no_schedule=True``)
================================  ==============================  ===========================

Beyond the paper, ``accept="gradient"`` (Du et al. 2018) makes the auxiliary update iff the
cosine of its gradient with the primary gradient on the same batch is positive, and
``accept="project"`` (PCGrad) makes it with the conflicting component removed — no observation
set, no observation forward, no snapshot, one extra backward per attempt; the auxiliary
gradient they apply is capped at the primary gradient's norm (``norm_cap``; see
:mod:`losskit.mils.acceptance`). These tests decide before the step, so they cannot undo a
finite update that overflows the parameters; they reject non-finite losses and gradients.

Caveat of the observation test under momentum (measured, LeNet on Fashion-MNIST, 1 epoch,
participation 0.1, seeds 0-2): with SGD momentum β an auxiliary update is ``β·v + lr·g_aux``.
The test, made right after it, credits the auxiliary with the progress of the momentum ``v``
(the primary's recent steps), and a kept ``g_aux`` then keeps acting through the buffer for
~1/(1−β) steps, which no test sees. L-GM (gradients ~10× CE's) is kept on 28 % of attempts and
ends 5.4 points below CE (79.9 vs 85.3 %) at β = 0.9; at β = 0 it is kept on 0-1 of ~38
attempts and matches CE. The gradient tests judge ``g_aux`` alone: 98 % kept, 85.1 %.

The reported ``loss`` of a step is the loss that trained the update that stands.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Union

import torch
from torch import nn

from losskit.core._validation import checked_upstream, checks, choice, integer, split_list
from losskit.core.composites import build_composite, is_composite
from losskit.core.distributed import all_reduce_sum, is_distributed, world_size
from losskit.core.options import renamed
from losskit.core.step import compute_loss, needs_features, train_step
from losskit.losses.base import loss_name
from losskit.mils.acceptance import ACCEPTS, all_finite, capped, gradient_test, project
from losskit.mils.counters import MILSStats
from losskit.mils.guards import check_optimizer_owner, warn_all_ties
from losskit.mils.observation import check_observation, observation_counts
from losskit.mils.selection import PARTICIPATION, SELECTIONS, AuxSelector
from losskit.mils.snapshot import TrainingStateSnapshot
from losskit.mils.statistics import STATISTICS, class_statistics, estimate_class_means

LossSpec = Union[str, nn.Module, Callable[..., torch.Tensor]]  # noqa: UP007


@dataclass
class MILSStepResult:
    """Outcome of one :meth:`MILS.step`.

    ``loss``: the (detached) loss of the update that stands; ``logits``: the batch logits of that
    update (detached); ``trained``: ``"primary"`` or the auxiliary loss's name;
    ``attempted_aux``: the auxiliary that participated this step or ``None``; ``accepted``:
    whether its update stands as computed (``None`` when no auxiliary participated);
    ``obs_acc_before`` / ``obs_acc_after``: observation accuracy around the auxiliary update
    (``None`` when not evaluated); ``cosine``: the gradient test's cosine (``None`` unless
    ``accept`` is ``"gradient"`` / ``"project"``); ``nonfinite``: the attempt was rejected as
    non-finite; ``projected``: the auxiliary update was made with its conflicting component
    projected out (``accept="project"``).
    """

    loss: torch.Tensor
    logits: torch.Tensor | None
    trained: str
    attempted_aux: str | None = None
    accepted: bool | None = None
    obs_acc_before: float | None = None
    obs_acc_after: float | None = None
    cosine: float | None = None
    nonfinite: bool = False
    projected: bool = False


def _unwrap(model: nn.Module) -> nn.Module:
    return getattr(model, "module", model)


def observes(accept: str, no_schedule: bool, participation: float) -> bool:
    """Whether attempts are judged on an observation set (else none is needed: the gradient
    tests, the no-schedule ablation, or no participation)."""
    return accept == "observation" and not no_schedule and participation > 0


def resolve_loss(spec: LossSpec, context: dict[str, Any], arg: str) -> tuple[str, Any]:
    """``(name, loss)`` for a registered loss name, a composite name ``"<prefix>:<arg>"``
    (``"uniloss:<metric>"``, ``"slf:<loss>+<loss>"``: built by the package that registered the
    prefix, :mod:`losskit.core.composites`) or a ready loss module / callable."""
    if isinstance(spec, str):
        name = spec.strip()
        from losskit import losses

        try:
            if is_composite(name):
                return name, build_composite(name, context)
            return name, losses.build(name, context)
        except ValueError as err:
            raise ValueError(f"{arg}: {err}") from None
    if isinstance(spec, nn.Module) or callable(spec):
        return loss_name(spec), spec
    raise ValueError(f"{arg} must be a loss name, an nn.Module or a callable, got {spec!r}")


def resolve_auxiliaries(
    auxiliaries: str | Sequence[LossSpec] | Mapping[str, LossSpec], context: dict[str, Any]
) -> list[tuple[str, Any]]:
    """Auxiliary losses from ``"a,b"``, a list of names/modules, or a ``{name: loss}`` mapping."""
    if isinstance(auxiliaries, Mapping):
        items: list[tuple[str | None, LossSpec]] = [(str(k), v) for k, v in auxiliaries.items()]
        if not items:
            raise ValueError("aux must name at least one loss, got none")
    else:
        items = [(None, a) for a in split_list(auxiliaries, "aux")]
    out: list[tuple[str, Any]] = []
    seen: dict[str, int] = {}
    for given, spec in items:
        name, loss = resolve_loss(spec, context, "aux")
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
            L-GM centres, SLF's decision network); ``ValueError`` if a loss parameter is
            missing from it or if it holds a parameter that is neither the model's nor a
            loss's (an optimizer of another model would never change this one: every
            attempt would tie).
        primary: the primary loss (name in the zoo, module or callable), default ``"ce"``.
        aux: the auxiliary losses: ``"multi_margin,focal"``, a list of names / modules, or
            ``{name: loss}`` (``auxiliaries=``: the deprecated spelling).
            Names are built with ``losses.build(name, context)`` where ``context`` holds the
            model's ``num_classes`` / ``feature_dim``; ``"uniloss:<metric>"`` and
            ``"slf:<loss>+<loss>"`` build a UniLoss / SLF module.
        participation: probability in [0, 1] that an auxiliary loss trains a step.
        observation: ``(x, y)`` observation set (required under ``accept="observation"`` unless
            ``no_schedule`` or ``participation == 0``); replace it with
            :meth:`set_observation`. Validated: non-empty, same length, finite inputs, labels
            in ``[0, num_classes)`` — with the model's ``num_classes``, else the width of its
            logits, checked on the first observation evaluation (any ``nn.Module`` works).
        scheduler, scaler: LR scheduler / ``torch.amp.GradScaler`` whose state is restored on a
            rollback (MILS never steps the scheduler; the scaler scales every update).
        aux_selection: ``"uniform"`` or ``"adaptive"`` (see :mod:`losskit.mils.selection`).
        accept_ties: keep an auxiliary update the test cannot order (equal observation accuracy,
            zero cosine).
        no_schedule: the paper's ablation: keep every (finite) auxiliary update, no test.
        generator: CPU generator for the participation / choice draws (default seeded with 0).
        autocast_dtype: run forwards under ``torch.autocast`` with this dtype.
        observation_batch_size: evaluate the observation set in chunks of this size (all at
            once when ``None``).
        accept: ``"observation"`` (the paper), ``"gradient"`` or ``"project"`` (see
            :mod:`losskit.mils.acceptance`).
        statistics: ``"learn"`` or ``"rollback"``: how the class statistics of parametric
            auxiliaries learn (see :mod:`losskit.mils.statistics`).
        norm_cap: gradient tests only: an applied auxiliary gradient longer than the primary
            one is scaled down to its norm (see :mod:`losskit.mils.acceptance`).
    """

    @renamed(auxiliaries="aux")
    @checks(participation=PARTICIPATION, aux_selection=choice(*SELECTIONS),
            observation_batch_size=integer(low=1, optional=True), accept=choice(*ACCEPTS),
            statistics=choice(*STATISTICS))
    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        primary: LossSpec = "ce",
        aux: str | Sequence[LossSpec] | Mapping[str, LossSpec] = "multi_margin",
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
        accept: str = "observation",
        statistics: str = "learn",
        norm_cap: bool = True,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise ValueError(f"model must be an nn.Module, got {type(model).__name__}")
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise ValueError(f"optimizer must be a torch.optim.Optimizer, got {optimizer!r}")
        self.accept = accept  # the single arguments are checked as declared (@checks)
        self.statistics = statistics
        self.norm_cap = bool(norm_cap)
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
        self.num_classes: int | None = context.get("num_classes")
        self.primary_name, self.primary = resolve_loss(primary, context, "primary")
        self.auxiliaries = resolve_auxiliaries(aux, context)
        self._move_losses()
        self._check_loss_parameters()
        check_optimizer_owner(optimizer, model, self._loss_modules())
        self._unchecked_label: int | None = None  # a label to check against the logits' width
        self._last_obs_acc: float | None = None
        self._warned_ties = False
        with checked_upstream():  # participation / aux_selection: checked above, once
            self.selector = AuxSelector(len(self.auxiliaries), participation, aux_selection,
                                        generator)
        self.stats = MILSStats()
        self.observation: tuple[torch.Tensor, torch.Tensor] | None = None
        if observation is not None:
            self.set_observation(*observation)
        elif self.needs_observation:
            raise ValueError(
                "observation must be an (x, y) pair of tensors unless accept is 'gradient' or "
                "'project', no_schedule=True or participation == 0, got None"
            )
        # class statistics of the auxiliaries: kept through rollbacks under statistics="learn"
        self._statistics = (
            [p for _, aux in self.auxiliaries for p in class_statistics(aux)]
            if self.statistics == "learn"
            else []
        )
        self._stat_ids = {id(p) for p in self._statistics}
        modules = [model, self.primary] + [loss for _, loss in self.auxiliaries]
        self._snapshot = TrainingStateSnapshot(
            modules, optimizer, scheduler, scaler, keep=self._statistics
        )

    # ------------------------------------------------------------------ set-up helpers
    def _move_losses(self) -> None:
        """Move parameter-free loss modules (e.g. built from names) to the model's device;
        parametric ones must already be there (their parameters are in the optimizer)."""
        for loss in [self.primary] + [loss for _, loss in self.auxiliaries]:
            if isinstance(loss, nn.Module) and not any(True for _ in loss.parameters()):
                loss.to(self.device)

    def _check_loss_parameters(self) -> None:
        in_opt = {id(p) for p in self._optimizer_params()}
        for name, loss in [(self.primary_name, self.primary), *self.auxiliaries]:
            if not isinstance(loss, nn.Module):
                continue
            missing = [p for p in loss.parameters() if p.requires_grad and id(p) not in in_opt]
            if missing:
                arg = "primary" if loss is self.primary else "aux"
                raise ValueError(
                    f"{arg}: loss {name!r} has parameters that are not in the optimizer; build "
                    "it first and give its parameters to the optimizer (MILSMethod does this)"
                )

    def _loss_modules(self) -> list[nn.Module]:
        losses = [self.primary] + [loss for _, loss in self.auxiliaries]
        return [loss for loss in losses if isinstance(loss, nn.Module)]

    def _optimizer_params(self) -> list[torch.Tensor]:
        return [p for g in self.optimizer.param_groups for p in g["params"]]

    @property
    def participation(self) -> float:
        return self.selector.participation

    @property
    def needs_observation(self) -> bool:
        """Whether attempts are judged on the observation set."""
        return observes(self.accept, self.no_schedule, self.participation)

    def set_observation(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """Use ``(x, y)`` as the observation set from now on (e.g. resampled each epoch).

        Without the model's ``num_classes`` the labels are checked against the width of its
        logits on the next observation evaluation (one ``ValueError`` naming both)."""
        x, y = check_observation((x, y), num_classes=self.num_classes)
        self.observation = (x.to(self.device), y.to(self.device))
        self._unchecked_label = None if self.num_classes is not None else int(y.max())

    def reset_stats(self) -> MILSStats:
        """Start new per-epoch counters; returns the finished ones (an epoch's end: the first
        epoch whose every attempt was a tie gets one warning,
        :func:`~losskit.mils.guards.warn_all_ties`)."""
        old, self.stats = self.stats, MILSStats()
        if not self._warned_ties and old.attempts > 0 and old.ties == old.attempts:
            self._warned_ties = True
            warn_all_ties(old, self.accept, self.accept_ties, self._last_obs_acc,
                          None if self.observation is None else len(self.observation[1]))
        return old

    # ------------------------------------------------------------------ pieces of a step
    # (the step seam, losskit.core.step, acts on this object: model, optimizer, scaler, autocast;
    # every update is one losskit.core.step.train_step with a MILS-specific objective)
    def _loss(
        self,
        loss_fn: Any,
        logits: torch.Tensor,
        targets: torch.Tensor,
        features: torch.Tensor | None,
        aux: bool = False,
    ) -> torch.Tensor:
        """The loss; for an auxiliary, its class means are first estimated from the batch's
        features (statistics rule, :mod:`losskit.mils.statistics`)."""
        if aux and self.statistics == "learn" and features is not None:
            estimate_class_means(loss_fn, features, targets)
        loss = compute_loss(loss_fn, logits, targets, features, self.scaler)
        if aux and isinstance(self.model, nn.parallel.DistributedDataParallel):
            # DDP's reducer needs every parameter in the graph; an auxiliary may not reach
            # them all (the centre term never reaches the head): a zero-weighted logit sum
            # gives those parameters the zero gradient DDP would give them anyway
            loss = loss + 0.0 * logits.sum()
        return loss

    def _update(
        self, inputs: torch.Tensor, targets: torch.Tensor, loss_fn: Any, aux: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One update with ``loss_fn`` (:func:`losskit.core.step.train_step`), the auxiliary's class
        statistics estimated between forward and loss (:meth:`_loss`)."""

        def objective(logits: torch.Tensor, feats: torch.Tensor | None) -> torch.Tensor:
            return self._loss(loss_fn, logits, targets, feats, aux)

        return train_step(self, inputs, objective, features=needs_features(loss_fn))

    def _observation_counts(self) -> torch.Tensor:
        """``[correct, non-finite]`` on the observation set (on the device, not synchronised)."""
        assert self.observation is not None
        x, y = self.observation
        counts = observation_counts(
            self.model, x, y, self.observation_batch_size, self.autocast_dtype,
            max_label=self._unchecked_label,
        )
        self._unchecked_label = None  # checked (it raises otherwise)
        chunk = self.observation_batch_size or len(x)
        self.stats.extra_forwards += -(-len(x) // chunk)
        return counts

    def _grads(
        self, loss: torch.Tensor, params: list[torch.Tensor], retain: bool
    ) -> list[torch.Tensor | None]:
        """``∂loss/∂params`` (``None`` where unused), averaged over ranks under DDP."""
        if self.scaler is not None:
            loss = self.scaler.scale(loss)
        if not loss.requires_grad:
            return [None] * len(params)
        grads: list[torch.Tensor | None] = list(
            torch.autograd.grad(loss, params, retain_graph=retain, allow_unused=True)
        )
        if is_distributed():
            present = [g for g in grads if g is not None]
            if present:
                flat = all_reduce_sum(torch.cat([g.reshape(-1) for g in present]))
                flat.div_(world_size())
                for g, new in zip(present, flat.split([g.numel() for g in present]), strict=True):
                    g.copy_(new.view_as(g))
        return grads

    # ------------------------------------------------------------------ the step
    def step(self, inputs: torch.Tensor, targets: torch.Tensor) -> MILSStepResult:
        """Train one batch: a primary update, or a scheduled auxiliary update judged by the
        acceptance test (kept, or replaced by a primary one)."""
        index = self.selector.draw()
        if index is None:
            loss, logits = self._update(inputs, targets, self.primary)
            return MILSStepResult(loss, logits, "primary")
        name, aux = self.auxiliaries[index]
        if self.no_schedule:
            result = self._attempt_unscheduled(name, aux, inputs, targets)
        elif self.accept == "observation":
            result = self._attempt_observation(name, aux, inputs, targets)
        else:
            result = self._attempt_gradient(name, aux, inputs, targets)
        self.selector.update(index, bool(result.accepted))
        return result

    def _attempt_unscheduled(
        self, name: str, aux: Any, inputs: torch.Tensor, targets: torch.Tensor
    ) -> MILSStepResult:
        """The ablation: the auxiliary update is kept untested — unless its loss is not finite,
        in which case the primary loss on the same forward trains the batch. (Without a
        snapshot, a finite update that overflows the parameters cannot be undone: the next
        step then reports non-finite logits.)"""
        kept = False

        def objective(logits: torch.Tensor, feats: torch.Tensor | None) -> torch.Tensor:
            nonlocal kept
            loss = self._loss(aux, logits, targets, feats, aux=True)
            finite = all_finite([loss.detach()])
            if is_distributed():
                finite = all_reduce_sum(finite.long().view(1)) == world_size()
            if bool(finite):
                kept = True
                return loss
            if not bool(all_finite([logits.detach()])):
                raise ValueError(
                    "MILS: the model's logits are not finite — an auxiliary update kept under "
                    "no_schedule=True (which keeps every update with a finite loss) broke the "
                    "model"
                )
            return compute_loss(self.primary, logits, targets, feats, self.scaler)

        loss, logits = train_step(self, inputs, objective,
                                  features=needs_features(self.primary, aux))
        if kept:
            self.stats.record(name, True)
            return MILSStepResult(loss, logits, name, name, True)
        self.stats.record(name, False, nonfinite=True)
        return MILSStepResult(loss, logits, "primary", name, False, nonfinite=True)

    def _attempt_observation(
        self, name: str, aux: Any, inputs: torch.Tensor, targets: torch.Tensor
    ) -> MILSStepResult:
        """The paper's test. Observation counts, the update's finiteness and the set size are
        all-reduced in one go under ``torch.distributed``, so every rank takes the same
        decision even when each holds a different observation shard."""
        if self.observation is None:
            raise ValueError("observation must be set (set_observation) before scheduling")
        t0 = time.perf_counter()
        self._snapshot.capture()
        before = self._observation_counts()
        t1 = time.perf_counter()
        loss, logits = self._update(inputs, targets, aux, aux=True)
        t2 = time.perf_counter()
        broken = ~(torch.isfinite(loss) & all_finite(self._optimizer_params()))
        after = self._observation_counts()
        size = torch.tensor(len(self.observation[1]), device=after.device)
        flags = torch.stack([broken.to(after.device).long(), size])
        counts = all_reduce_sum(torch.cat([before, after, flags])).tolist()
        b_correct, _, a_correct, a_bad, n_broken, n_obs = (int(c) for c in counts)
        nonfinite = n_broken > 0 or a_bad > 0
        tie = not nonfinite and a_correct == b_correct
        self._last_obs_acc = b_correct / n_obs
        accepted = not nonfinite and (a_correct > b_correct or (tie and self.accept_ties))
        if accepted:
            trained = name
            self.stats.extra_time_s += (time.perf_counter() - t0) - (t2 - t1)
        else:
            # a non-finite attempt also rolls back the class statistics
            self._snapshot.restore(keep=not nonfinite)
            self.stats.extra_forwards += 1  # the discarded auxiliary forward
            self.stats.extra_time_s += time.perf_counter() - t0
            loss, logits = self._update(inputs, targets, self.primary)
            trained = "primary"
        self.stats.record(name, accepted, tie=tie, nonfinite=nonfinite)
        return MILSStepResult(
            loss, logits, trained, name, accepted, b_correct / n_obs, a_correct / n_obs,
            nonfinite=nonfinite,
        )

    def _attempt_gradient(
        self, name: str, aux: Any, inputs: torch.Tensor, targets: torch.Tensor
    ) -> MILSStepResult:
        """The gradient tests: one forward, the primary and the auxiliary gradient, then the
        chosen gradient is set and the optimizer steps once."""
        losses: dict[str, torch.Tensor] = {}
        decided: dict[str, Any] = {}

        def objective(logits: torch.Tensor, feats: torch.Tensor | None) -> torch.Tensor:
            losses["primary"] = compute_loss(self.primary, logits, targets, feats, self.scaler)
            losses["aux"] = self._loss(aux, logits, targets, feats, aux=True)
            return losses["aux"]

        def gradients(loss_a: torch.Tensor) -> None:  # instead of the backward
            loss_p = losses["primary"]
            params = [p for p in self._optimizer_params() if p.requires_grad]
            g_p = self._grads(loss_p, params, retain=True)
            t0 = time.perf_counter()
            g_a = self._grads(loss_a, params, retain=False)
            test = gradient_test(g_p, g_a, loss_a)
            self.stats.extra_time_s += time.perf_counter() - t0
            accepted = test.finite and (test.cosine > 0 or (test.tie and self.accept_ties))
            projected = test.finite and not accepted and self.accept == "project"
            if accepted or projected:
                chosen = project(g_p, g_a, test) if projected else g_a
                if self.norm_cap:
                    chosen = capped(chosen, g_p, test.cap_scale(projected))
            else:
                # rejected: the primary gradient trains the batch; class statistics still
                # learn from the auxiliary gradient unless it is not finite
                chosen = list(g_p)
                if test.finite:
                    for i, p in enumerate(params):
                        if id(p) in self._stat_ids:
                            chosen[i] = g_a[i]
            for p, g in zip(params, chosen, strict=True):
                p.grad = g
            decided.update(test=test, accepted=accepted, projected=projected)

        _, logits = train_step(self, inputs, objective, sync=False, gradients=gradients,
                               features=needs_features(self.primary, aux))
        test, accepted, projected = decided["test"], decided["accepted"], decided["projected"]
        self.stats.record(name, accepted, tie=test.tie, nonfinite=not test.finite,
                          projected=projected)
        used = accepted or projected
        loss = losses["aux"] if used else losses["primary"]
        return MILSStepResult(
            loss.detach(), logits, name if used else "primary", name, accepted,
            cosine=test.cosine, nonfinite=not test.finite, projected=projected,
        )

    # ------------------------------------------------------------------ persistence
    def state_dict(self) -> dict[str, Any]:
        """Selector (generator, per-auxiliary counts) and the current epoch's counters."""
        return {"selector": self.selector.state_dict(), "stats": self.stats.as_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.selector.load_state_dict(state["selector"])
        self.stats = MILSStats.from_dict(state.get("stats", {}))
