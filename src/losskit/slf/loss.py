"""The Stochastic Loss Function module (Liu & Lai, "Stochastic Loss Function", AAAI 2020).

``H(L, w, v) = Σ_i p̂_i · l_i(f(x; w), y)`` with ``p̂ = (1/K) Σ_k 𝒢(p)_k`` and
``p = h(f(x; w); v)`` (paper Eq. 9–11, Algorithm 1).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from losskit.core._random import register_generator
from losskit.core._validation import check_finite_float, checks, choice, integer, number
from losskit.core.options import renamed
from losskit.losses.base import loss_name
from losskit.losses.fused import check_fused_arguments, fusable_kind, fused_losses
from losskit.slf.candidates import (
    PAPER_LOSSES,
    FunctionLoss,
    build_candidate,
    candidate_task,
    parse_loss_list,
    parse_weights,
)
from losskit.slf.decision import DecisionNet
from losskit.slf.guard import OptimizerCheck
from losskit.slf.gumbel import check_k, multi_gumbel_softmax_keyed, neg_gumbel_noise
from losskit.slf.objective import SampleObjective
from losskit.slf.record import LAST_FIELDS, read_last
from losskit.slf.schedule import TauSchedule, as_schedule
from losskit.slf.settings import (
    GRANULARITIES,
    MODES,
    NORMALIZATIONS,
    PAPER_SETTINGS,
    generator_or_seed,
    momentum_value,
    tau_like,
)

# the names this module has always offered (their concepts now live in their own modules)
__all__ = ["GRANULARITIES", "MODES", "NORMALIZATIONS", "PAPER_LOSSES", "PAPER_SETTINGS",
           "FunctionLoss", "SampleObjective", "StochasticLoss", "parse_loss_list",
           "parse_weights", "read_last"]

_FunctionLoss = FunctionLoss  # the old private names (pickles of modules built before the split)
_SampleObjective = SampleObjective

class StochasticLoss(nn.Module):
    """Stochastic Loss Function ``H = Σ_i p̂_i · l_i(output, target)`` (paper Eq. 11).

    Call as ``slf(output, target, features=None) -> scalar``. The defaults are the paper's
    setting (:data:`PAPER_SETTINGS`); :meth:`paper` also picks the paper's candidate losses.

    Args:
        losses: the candidate losses ``L = {l_1, …, l_n}``, ``n ≥ 2``: registry names
            (``"prob_mse,prob_mae,hinge,cosine,prob_bce"`` or ``["mse", "mae", "huber"]`` for
            regression), loss modules or callables ``fn(output, target)``.
        num_outputs: size of one sample's model output (classes for a classifier, outputs
            ``D`` for a regressor); the decision network's input size.
        k: ``K``, the number of one-hot Gumbel-softmax samples averaged into ``p̂``
            (Eq. 9–10), ``≥ 1`` (``K=`` still works, deprecated).
        tau: Gumbel-softmax temperature (Eq. 6): a number, a :class:`TauSchedule` (or a dict of
            its arguments) or a callable ``step -> tau``; the step counts training-mode calls.
        mode: ``"gumbel"`` (the paper's SLF: ``p̂`` = mean of ``K`` one-hot samples with
            straight-through gradients); ``"softmax"`` (the SLF-Softmax ablation: ``p̂ = p``);
            ``"fixed"``: ``H = Σ_i w_i l_i`` with the given ``weights`` (no decision network).
        decision_net: a module mapping ``(N, num_outputs)`` outputs to ``(N, n)`` logits;
            default :class:`DecisionNet` with ``hidden`` units (last layer zero: ``p`` starts
            uniform).
        weights: ``mode="fixed"`` only: ``n`` non-negative weights used as given. The default
            ``1/n`` each makes ``H`` the *mean* of the losses (weights sum to 1, the same scale
            as the stochastic modes, whose ``p̂`` always sums to 1).
        granularity: ``"sample"`` (the paper, Eq. 11: each sample ``j`` gets its own
            ``p_j = h(f(x_j; w); v)`` and its own ``p̂_j`` from ``K`` draws, and
            ``H = mean_j Σ_i p̂_ji l_i(x_j)``; losses named here are built with
            ``reduction="none"``, modules and callables must return per-sample values) or
            ``"batch"`` (**our variant**: one ``p`` per mini-batch, the batch-mean of the
            per-sample decisions, ``K`` draws per batch weighting the batch-mean losses).
        normalize: ``"none"`` (paper) or ``"running_mean"`` (**our variant**, against
            collapse): each ``l_i`` is divided by an exponential running mean ``m_i`` of its
            detached batch value (``m_i ← β m_i + (1 − β) l_i``, initialised with the first
            value; kept in the ``running_mean`` buffer, updated in training mode only). All
            losses then sit near 1, so minimising ``H`` over ``v`` no longer just picks the
            numerically smallest loss.
        hidden: hidden units of the default decision network (0: a single linear layer).
        detach_input: ``False`` (the paper: Algorithm 1 stops no gradient, so ``∂H/∂w`` also
            flows through ``h(f(x; w); v)`` into the model) or ``True`` (**our variant**: ``h``
            sees ``f(x; w).detach()``, the model is trained only through the weighted losses
            and cannot move its outputs to steer the selection towards small losses).
        generator: ``torch.Generator`` for the Gumbel noise, or an ``int`` seed (a generator is
            then created on the first input's device); ``None`` uses torch's global RNG. Its
            state is saved in ``state_dict()`` (``_extra_state``) for exact resume.
        names: display names of the losses (default: registry names / class names).
        context: extra keys for building named losses (default ``{"num_classes": num_outputs}``).
        momentum: ``β`` of the running mean (``normalize="running_mean"``).
        eps: floor of the running mean in the division.

    Optimisation (Algorithm 1, line 10): ``w`` and ``v`` are updated together by one
    optimizer step on ``H``; give the optimizer both parameter sets:
    ``torch.optim.SGD(slf.parameters_with(model), lr=…)`` (``= [*model.parameters(),
    *slf.parameters()]``; ``slf.parameters()`` holds the decision network's ``v`` and the
    parameters of any parametric candidate loss). An optimizer without the decision network's
    trainable parameters is refused with a ``ValueError``: at once by :meth:`check_optimizer`
    (``--method slf`` / the Trainer / Lightning call it when they bind the optimizer), else,
    in a hand-written loop, at the training-mode call after the first optimizer steps
    (:mod:`losskit.slf.guard`; no op, no sync).

    After each call three detached ``(n,)`` vectors describe it:

    * ``last_losses``: the raw candidate values ``l_i`` (batch means, before ``normalize``);
    * ``last_probs``: ``p = h(f(x); v)``; for ``granularity="sample"`` the batch mean of the
      per-sample ``p_j``;
    * ``last_weights``: the weights ``p̂`` of Eq. 11. ``granularity="batch"``: the batch's
      ``p̂``, in ``mode="gumbel"`` the mean of ``K`` one-hot draws, so each entry is a multiple
      of ``1/K``. ``granularity="sample"`` (the default): the batch mean of the per-sample
      ``p̂_j`` — the share of the batch's ``N·K`` draws that picked each loss, a multiple of
      ``1/(K·N)`` (e.g. ``0.0833`` at ``K = 3``, ``N = 128``), not the weights any one sample
      used. ``mode="softmax"``: ``p̂ = p`` (as ``last_probs``); ``mode="fixed"``: the given
      ``weights``.

    :attr:`tasks` lists each candidate's declared task (``"classification"`` /
    ``"regression"``; ``None`` for callables that declare none).
    """

    @renamed(K="k")  # one spelling (spec key, --slf-k); K= still works, deprecated
    @checks(num_outputs=integer(low=1), k=check_k, tau=tau_like, mode=choice(*MODES),
            granularity=choice(*GRANULARITIES), normalize=choice(*NORMALIZATIONS),
            hidden=integer(low=0), generator=generator_or_seed, momentum=momentum_value,
            eps=number(low=0.0, low_open=True))
    def __init__(
        self,
        losses: str | Sequence[str | nn.Module | Callable[..., torch.Tensor]],
        num_outputs: int,
        k: int = 3,
        tau: Any = 1.0,
        mode: str = "gumbel",
        decision_net: nn.Module | None = None,
        weights: Sequence[float] | str | None = None,
        granularity: str = "sample",
        normalize: str = "none",
        hidden: int = 32,
        detach_input: bool = False,
        generator: torch.Generator | int | None = None,
        *,
        names: Sequence[str] | None = None,
        context: dict[str, Any] | None = None,
        momentum: float = 0.99,
        eps: float = 1e-8,
    ) -> None:
        super().__init__()  # single arguments: checked as declared (@checks), then:
        if mode != "fixed" and weights is not None:
            raise ValueError("weights is only used with mode='fixed'")
        if mode == "fixed" and decision_net is not None:
            raise ValueError("decision_net is not used with mode='fixed'")
        self.K = k
        self.tau_schedule = as_schedule(tau)
        self.mode = mode
        self.granularity = granularity
        self.normalize = normalize
        self.detach_input = bool(detach_input)
        self.num_outputs = num_outputs
        self.momentum = momentum
        self.eps = eps

        items = parse_loss_list(losses)
        self.loss_names: list[str] = [loss_name(i) for i in items]
        if names is not None:
            names = [str(s) for s in names]
            if len(names) != len(items):
                raise ValueError(f"names must have one entry per loss ({len(items)}), got "
                                 f"{len(names)}")
            self.loss_names = names
        self.losses = nn.ModuleList(self._build_loss(i, num_outputs, context) for i in items)
        self.num_losses = len(self.losses)
        kinds = [fusable_kind(m) for m in self.losses]
        # zoo losses sharing a softmax are computed in one pass (losskit.losses.fused)
        self._fused = [(i, k) for i, k in enumerate(kinds) if k is not None]
        self.needs_features = any(getattr(m, "needs_features", False) for m in self.losses)
        self.has_parameters = True

        if mode == "fixed":
            w = parse_weights(weights, self.num_losses)
            self.register_buffer("fixed_weights", torch.tensor(w, dtype=torch.float64))
            self.decision_net: nn.Module | None = None
        else:
            self.decision_net = (
                decision_net
                if decision_net is not None
                else DecisionNet(num_outputs, self.num_losses, hidden)
            )
        self.register_buffer("running_mean", torch.zeros(self.num_losses))

        self._generator = generator if isinstance(generator, torch.Generator) else None
        self._seed = generator if isinstance(generator, int) else None
        self._pending_generator_state: torch.Tensor | None = None
        # the Gumbel noise is drawn through losskit.core._random (traceable by torch.compile)
        self._rng_key = 0 if generator is None else register_generator(self._get_generator)
        # counters as tensors: no host read per step, no recompile of a compiled module
        self.register_buffer("step_counter", torch.zeros((), dtype=torch.long), persistent=False)
        self.register_buffer("norm_counter", torch.zeros((), dtype=torch.long), persistent=False)
        # last_*: one record per call (read_last): (n,) vectors, or (N, n) tensors reduced
        # when first read
        self._last: dict[str, Any] = {}
        self._optimizer_check = OptimizerCheck()

    # ------------------------------------------------------------------ construction
    @classmethod
    def paper(cls, num_outputs: int, **overrides: Any) -> StochasticLoss:
        """The SLF paper's setting on a classifier with ``num_outputs`` classes.

        Candidates :data:`PAPER_LOSSES` (MSE, MAE, hinge, cosine proximity, binary
        cross-entropy; Sec. "Experiments"), per-sample decisions, ``K = 3``, ``τ = 1``, the
        gradient through ``h`` kept (:data:`PAPER_SETTINGS`). ``overrides`` replace any other
        constructor argument (``K=4``, ``mode="softmax"``, ``mode="fixed", weights=…``,
        ``generator=0``, …); the candidate set is the preset's, so ``losses`` is refused.
        """
        if "losses" in overrides:
            raise ValueError("StochasticLoss.paper fixes the candidate losses (PAPER_LOSSES); "
                             "use StochasticLoss(losses, num_outputs, ...) for another set")
        return cls(list(PAPER_LOSSES), num_outputs, **{**PAPER_SETTINGS, **overrides})

    @classmethod
    def from_parts(
        cls,
        parts: Mapping[str, Callable[..., torch.Tensor]],
        num_outputs: int,
        **kwargs: Any,
    ) -> StochasticLoss:
        """SLF over the named parts of one multi-part loss (paper's YOLO experiment).

        ``parts`` maps a part name (``"coord"``, ``"obj"``, ``"noobj"``, …) to a callable
        ``fn(output, target) -> scalar`` (or a loss module). ``H = Σ_i p̂_i · part_i`` learns the
        balancing coefficients ``λ_i`` (here ``p̂_i``, summing to 1: a global scale of the
        ``λ``s is the learning rate's job). ``kwargs`` go to the constructor.
        """
        if not isinstance(parts, Mapping) or not parts:
            raise ValueError(f"parts must be a non-empty mapping name -> loss, got {parts!r}")
        if any(not callable(fn) for fn in parts.values()):
            raise ValueError("parts values must be callables fn(output, target) -> tensor")
        return cls(list(parts.values()), num_outputs, names=list(parts.keys()), **kwargs)

    def _build_loss(
        self, item: Any, num_outputs: int, context: dict[str, Any] | None
    ) -> nn.Module:
        return build_candidate(item, num_outputs, context, self.granularity == "sample")

    @property
    def tasks(self) -> list[str | None]:
        """Each candidate's declared task (``"classification"`` / ``"regression"``), ``None``
        for callables that declare none (an attribute ``task`` on a callable counts)."""
        out = []
        for m in self.losses:
            task = getattr(candidate_task(m), "task", None)
            out.append(task if isinstance(task, str) else None)
        return out

    def check_targets(self, target: torch.Tensor) -> None:
        """Set-up check that every candidate's declared task fits ``target`` (the data's
        targets): the ``ValueError`` naming the candidate that its first batch would raise."""
        from losskit.losses.base import check_task

        for name, m in zip(self.loss_names, self.losses, strict=True):
            check_task(name, candidate_task(m), target, self.num_outputs)

    # ------------------------------------------------------------------ last call
    @property
    def last_record(self) -> dict[str, Any]:
        """The last call's bookkeeping, unreduced: keep it and :func:`read_last` it later
        (e.g. at the end of an epoch) to spend no op per step on it."""
        return self._last

    @property
    def last_losses(self) -> torch.Tensor | None:
        """The last call's raw candidate values (class doc)."""
        return read_last(self._last, "losses")

    @property
    def last_weights(self) -> torch.Tensor | None:
        """The last call's weights ``p̂`` (class doc: what they are at each granularity)."""
        return read_last(self._last, "weights")

    @property
    def last_probs(self) -> torch.Tensor | None:
        """The last call's decision probabilities ``p`` (class doc)."""
        return read_last(self._last, "probs")

    # ------------------------------------------------------------------ optimizer
    def parameters_with(self, model: nn.Module) -> list[nn.Parameter]:
        """The parameters one optimizer must update (Algorithm 1, line 10): ``model``'s ``w``,
        then this module's (the decision network's ``v`` and those of parametric candidate
        losses), each once: ``torch.optim.SGD(slf.parameters_with(model), lr=0.1)``."""
        seen: set[int] = set()
        params = []
        for p in (*model.parameters(), *self.parameters()):
            if id(p) not in seen:
                seen.add(id(p))
                params.append(p)
        return params

    def check_optimizer(self, optimizer: torch.optim.Optimizer) -> None:
        """``ValueError`` unless ``optimizer`` holds every trainable parameter of the decision
        network (else ``p`` would never train); once it passes, no step is watched."""
        if self.decision_net is not None:
            self._optimizer_check.check(optimizer, self.decision_net.parameters())

    def _training_call(self) -> None:
        """Until an optimizer holding the decision network has stepped: watch the steps and
        refuse a training step after steps that left it out (:mod:`losskit.slf.guard`)."""
        if torch.compiler.is_compiling() or self._optimizer_check.done:
            return
        if self.training and torch.is_grad_enabled():
            net = self.decision_net
            self._optimizer_check.training_call(() if net is None else net.parameters())

    # ------------------------------------------------------------------ state
    @property
    def generator(self) -> torch.Generator | None:
        return self._generator

    def _get_generator(self, device: torch.device) -> torch.Generator | None:
        if self._generator is None and self._seed is not None:
            self._generator = torch.Generator(device=device)
            self._generator.manual_seed(self._seed)
            if self._pending_generator_state is not None:
                self._generator.set_state(self._pending_generator_state)
                self._pending_generator_state = None
        return self._generator

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        if self._rng_key:  # a copy (deepcopy, unpickling) draws from its own generator
            self._rng_key = register_generator(self._get_generator)

    @property
    def step_count(self) -> int:
        """Training-mode calls so far (drives the ``tau`` schedule); reads the device counter."""
        return int(self.step_counter)

    @property
    def tau(self) -> float:
        """The temperature the next call uses."""
        return float(self._tau())

    def _tau(self) -> float | torch.Tensor:
        """The temperature now: a number, or a 0-dim tensor of the step counter for a
        :class:`TauSchedule` (no host read); only a custom callable ``step -> tau`` reads the
        counter on the host (one sync per step, and not traceable by ``torch.compile``)."""
        schedule = self.tau_schedule
        if isinstance(schedule, TauSchedule):
            return schedule.at(self.step_counter)
        value = getattr(schedule, "value", None)  # a constant
        return value if value is not None else schedule(int(self.step_counter))

    def get_extra_state(self) -> dict[str, Any]:
        gen_state = (
            self._generator.get_state()
            if self._generator is not None
            else self._pending_generator_state
        )
        return {"step": int(self.step_counter), "norm_count": int(self.norm_counter),
                "generator": gen_state}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.step_counter.fill_(int(state.get("step", 0)))
        self.norm_counter.fill_(int(state.get("norm_count", 0)))
        gen_state = state.get("generator")
        if gen_state is None:
            return
        if self._generator is not None:
            self._generator.set_state(gen_state.cpu())
        else:
            self._pending_generator_state = gen_state.cpu()

    # ------------------------------------------------------------------ forward
    def loss_values(
        self, output: torch.Tensor, target: Any, features: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The candidate losses: ``(n,)`` batch means, or ``(N, n)`` per sample."""
        n_batch = output.shape[0]
        values: list[torch.Tensor | None] = [None] * self.num_losses
        if self._fused:
            block = fused_losses(output, target, [k for _, k in self._fused])
            if self.granularity == "batch":
                block = block.mean(0)
            if len(self._fused) == self.num_losses:
                return block
            for (i, _), column in zip(self._fused, block.unbind(-1), strict=True):
                values[i] = column
        for i, (name, fn) in enumerate(zip(self.loss_names, self.losses, strict=True)):
            if values[i] is not None:
                continue
            if getattr(fn, "needs_features", False):
                if features is None:
                    raise ValueError(f"features is required: loss {name!r} needs the "
                                     "penultimate features")
                v = fn(output, target, features=features)
            else:
                v = fn(output, target)
            if not isinstance(v, torch.Tensor):
                raise ValueError(f"loss {name!r} must return a tensor, got {type(v).__name__}")
            if self.granularity == "batch":
                v = v if v.dim() == 0 else v.mean()
            else:
                if v.dim() == 0 or v.shape[0] != n_batch:
                    raise ValueError(
                        f"granularity='sample' needs per-sample values of shape ({n_batch},): "
                        f"loss {name!r} returned shape {tuple(v.shape)}"
                    )
                v = v if v.dim() == 1 else v.flatten(1).mean(1)
            values[i] = v.to(output.dtype)
        return torch.stack(values, dim=-1)

    def _normalize(self, values: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            batch = values if values.dim() == 1 else values.mean(0)
            if self.training:  # the first value, then m ← β m + (1 − β) l (device-side choice)
                ema = (self.running_mean * self.momentum).add_(batch, alpha=1.0 - self.momentum)
                self.running_mean.copy_(torch.where(self.norm_counter == 0, batch, ema))
                self.norm_counter.add_(1)
                scale = self.running_mean
            else:
                scale = torch.where(self.norm_counter > 0, self.running_mean, batch)
        return values / scale.to(values.dtype).clamp_min(self.eps)

    def selection(
        self, output: torch.Tensor, detach_input: bool | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(p̂, p)``: the weights and the decision network's probabilities (Eq. 10–11).

        Shapes ``(n,)`` for ``granularity="batch"``, ``(N, n)`` for ``"sample"``.
        ``detach_input`` overrides the module's setting for this call.
        """
        detach = self.detach_input if detach_input is None else detach_input
        n_batch = output.shape[0]
        if self.decision_net is None:  # mode == "fixed"
            w = self.fixed_weights.to(output.dtype)
            p = w / w.sum()
            if self.granularity == "sample":
                w, p = w.expand(n_batch, -1), p.expand(n_batch, -1)
            return w, p
        log_p = F.log_softmax(self._decision_logits(output, detach), dim=-1)
        if self.granularity == "batch":  # p = mean_j softmax(h(f(x_j))), in log space
            shift = log_p.detach().amax(0)  # a constant shift: exact value, cheap backward
            log_p = shift + (log_p - shift).exp().mean(0).log()
        p = log_p.exp()
        if self.mode == "softmax":
            return p, p
        return multi_gumbel_softmax_keyed(log_p, self.K, self._tau(), self._rng_key), p

    def _decision_logits(self, output: torch.Tensor, detach: bool) -> torch.Tensor:
        """``h(f(x); v)``: the decision network's ``(N, n)`` logits in ``output``'s dtype."""
        assert self.decision_net is not None
        n_batch = output.shape[0]
        x = output.detach() if detach else output
        if x.dim() != 2:
            x = x.reshape(n_batch, -1)
        if x.shape[1] != self.num_outputs:
            raise ValueError(f"output must have {self.num_outputs} values per sample "
                             f"(num_outputs), got {x.shape[1]}")
        param = next(self.decision_net.parameters(), None)
        if param is not None and x.dtype != param.dtype:
            x = x.to(param.dtype)
        logits = self.decision_net(x)
        if logits.shape != (n_batch, self.num_losses):
            raise ValueError(f"decision_net must return shape ({n_batch}, {self.num_losses}), "
                             f"got {tuple(logits.shape)}")
        return logits.to(output.dtype)

    def _check_output(self, output: torch.Tensor, values: bool = True) -> None:
        check_finite_float(output, "output", None if values else False)
        if output.dim() == 0 or output.shape[0] == 0:
            raise ValueError(f"output must have shape (N, ...) with N >= 1, got "
                             f"{tuple(output.shape)}")

    def forward_parts(
        self,
        output: torch.Tensor,
        target: Any,
        features: torch.Tensor | None = None,
        *,
        detach_input: bool | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(p̂, l)``: the weights (with their graph to the decision network) and the
        (normalised) loss values, so that ``forward`` = ``(p̂ · l).sum()`` (``.sum(-1).mean()``
        per sample). Updates ``last_*`` and the step counter like :meth:`forward`. Useful for
        training ``v`` on another objective than ``H`` (see :mod:`losskit.slf.bilevel`);
        ``detach_input`` overrides the module's setting for this call."""
        self._training_call()
        self._check_output(output)
        values = self.loss_values(output, target, features)
        with torch.no_grad():  # bookkeeping without graph nodes or detach ops
            self._last = {"losses": values.detach() if values.dim() == 1 else values.mean(0)}
        if self.normalize == "running_mean":
            values = self._normalize(values)
        weights, probs = self.selection(output, detach_input)
        with torch.no_grad():
            if self.granularity == "batch":
                self._last.update(weights=weights.detach(), probs=probs.detach())
            else:
                self._last.update(weights=weights.mean(0), probs=probs.mean(0))
            if self.training:
                self._advance_step()
        return weights, values

    def forward(
        self, output: torch.Tensor, target: Any, features: torch.Tensor | None = None
    ) -> torch.Tensor:
        if self._one_node:
            return self._sample_objective(output, target)
        weights, values = self.forward_parts(output, target, features)
        if self.granularity == "batch":
            return (weights * values).sum()
        return (weights * values).sum(-1).mean()

    def _advance_step(self) -> None:
        # a new tensor, not an in-place add: a compiled backward may still read the old
        # counter (a schedule's tau is recomputed from it), which must not change under it
        self.step_counter = self.step_counter + 1

    @property
    def _one_node(self) -> bool:
        """The paper's setting with zoo candidates only: ``H`` is one autograd node."""
        return (self.granularity == "sample" and self.mode == "gumbel"
                and self.normalize == "none" and len(self._fused) == self.num_losses)

    def _sample_objective(self, output: torch.Tensor, target: Any) -> torch.Tensor:
        """:meth:`forward` in :attr:`_one_node`'s setting, by :class:`SampleObjective`: the
        same values and bookkeeping as :meth:`forward_parts`, gradients equal up to rounding."""
        self._training_call()
        self._check_output(output, values=False)  # the NaN/Inf scan joins the label check
        kinds = tuple(k for _, k in self._fused)
        check_fused_arguments(output, target, kinds, finite="output")
        logits = self._decision_logits(output, self.detach_input)
        neg_noise = neg_gumbel_noise(logits, self.K, self._rng_key)
        h, values, weights, log_p = SampleObjective.apply(
            output, target.long().unsqueeze(1), logits, neg_noise, self._tau(), kinds
        )
        self._last = {"losses": values, "weights": weights, "probs": log_p,
                      "pending": LAST_FIELDS}  # (N, n) each; log p
        if self.training:
            with torch.no_grad():
                self._advance_step()
        return h

    def extra_repr(self) -> str:
        return (
            f"losses={self.loss_names}, K={self.K}, tau={self.tau_schedule!r}, mode={self.mode!r}, "
            f"granularity={self.granularity!r}, normalize={self.normalize!r}, "
            f"detach_input={self.detach_input}"
        )
