"""``--method slf``: Algorithm 1 of the SLF paper as a Trainer plug-in."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from losskit.slf.bilevel import bilevel_step
from losskit.slf.gumbel import check_k
from losskit.slf.loss import GRANULARITIES, MODES, NORMALIZATIONS, StochasticLoss, parse_loss_list
from losskit.slf.schedule import as_schedule
from losskit.train.method import METHODS, Method, StepResult, TrainContext, loss_step

UPDATES = ("joint", "bilevel")


def selection_share(weights: torch.Tensor) -> torch.Tensor:
    """One step's vote for "selected loss": 1 for the loss with the largest ``p̂``, split
    equally between tied maxima (e.g. ``p̂ = (1/3, 1/3, 1/3, 0, 0)`` gives 1/3 each), so the
    shares of a step always sum to 1 and no loss is favoured by its position."""
    top = weights == weights.max()
    return top.to(weights.dtype) / top.sum()


@METHODS.register("slf", help="Stochastic Loss Function: learnt Gumbel selection of losses")
class SLFMethod(Method):
    """Stochastic Loss Function training (paper Algorithm 1).

    Each step computes ``H = Σ_i p̂_i · l_i`` (:class:`~losskit.slf.StochasticLoss`) and takes
    *one* optimizer step on it; the decision network's parameters ``v`` (and those of
    parametric candidate losses) are returned by :meth:`parameters`, so the Trainer's
    optimizer updates ``w`` and ``v`` together (Algorithm 1, line 10).

    Args: as :class:`~losskit.slf.StochasticLoss` (``losses`` comma-separated or a list,
    ``k`` = ``K``); ``seed`` seeds the Gumbel-noise generator (created on the model's device).

    ``update``: ``"joint"`` (Algorithm 1: ``v`` minimises ``H``) or ``"bilevel"`` (beyond the
    paper: ``v`` favours the losses whose gradient aligns with the gradient of cross-entropy on
    a fresh random training batch of ``val_batch_size`` samples; see
    :mod:`losskit.slf.bilevel`).

    Per epoch it logs ``slf_probs`` (mean ``p`` per loss), ``slf_weights`` (mean ``p̂``),
    ``slf_select_freq`` (share of steps in which each loss had the largest ``p̂``, ties split
    equally), ``slf_losses`` (names), ``slf_tau`` and, with ``normalize="running_mean"``,
    ``slf_running_mean``.
    """

    name = "slf"

    def __init__(
        self,
        losses: Any = "ce,mse,mae,hinge,cosine",
        k: int = 3,
        tau: Any = 1.0,
        mode: str = "gumbel",
        weights: Any = None,
        granularity: str = "batch",
        normalize: str = "none",
        hidden: int = 32,
        detach_input: bool = True,
        seed: int = 0,
        momentum: float = 0.99,
        update: str = "joint",
        val_batch_size: int = 128,
    ) -> None:
        # validate early (before any model / data is built): same checks as StochasticLoss
        self.loss_specs = parse_loss_list(losses)
        self.k = check_k(k)
        as_schedule(tau)
        for arg, value, choices in (
            ("mode", mode, MODES),
            ("granularity", granularity, GRANULARITIES),
            ("normalize", normalize, NORMALIZATIONS),
        ):
            if value not in choices:
                raise ValueError(f"{arg} must be one of {choices}, got {value!r}")
        if update not in UPDATES:
            raise ValueError(f"update must be one of {UPDATES}, got {update!r}")
        if update == "bilevel" and (granularity != "batch" or mode == "fixed"):
            raise ValueError("update='bilevel' needs granularity='batch' and mode 'gumbel' or "
                             "'softmax'")
        if isinstance(val_batch_size, bool) or not isinstance(val_batch_size, int) or (
            val_batch_size < 1
        ):
            raise ValueError(f"val_batch_size must be an integer >= 1, got {val_batch_size!r}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed must be an integer, got {seed!r}")
        self.tau = tau
        self.mode = mode
        self.weights = weights
        self.granularity = granularity
        self.normalize = normalize
        self.hidden = hidden
        self.detach_input = detach_input
        self.seed = seed
        self.momentum = momentum
        self.update = update
        self.val_batch_size = val_batch_size
        self._val_generator = torch.Generator().manual_seed(seed + 1)
        self._train_set: Any = None
        self.slf: StochasticLoss | None = None
        self._reset_epoch()

    def _reset_epoch(self) -> None:
        self._steps = 0
        self._sum_probs: torch.Tensor | None = None
        self._sum_weights: torch.Tensor | None = None
        self._sum_select: torch.Tensor | None = None

    def setup(self, ctx: TrainContext) -> None:
        self.slf = StochasticLoss(
            self.loss_specs,
            num_outputs=ctx.num_classes,
            K=self.k,
            tau=self.tau,
            mode=self.mode,
            weights=self.weights,
            granularity=self.granularity,
            normalize=self.normalize,
            hidden=self.hidden,
            detach_input=self.detach_input,
            generator=self.seed,
            context=ctx.context,
            momentum=self.momentum,
        )
        self.slf.to(ctx.device)
        self._train_set = ctx.train_set

    def _validation_batch(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """A fresh random training batch (``update="bilevel"``'s validation loss)."""
        x, y = self._train_set.tensors[:2]
        idx = torch.randint(len(y), (min(self.val_batch_size, len(y)),),
                            generator=self._val_generator)
        return x[idx].to(device), y[idx].to(device)

    def parameters(self) -> Iterator[nn.Parameter]:
        return self.slf.parameters() if self.slf is not None else iter(())

    def step(self, ctx: TrainContext, inputs: torch.Tensor, targets: torch.Tensor) -> StepResult:
        assert self.slf is not None, "setup() must run before step()"
        if self.update == "bilevel":
            vx, vy = self._validation_batch(inputs.device)
            result = bilevel_step(ctx, self.slf, inputs, targets, vx, vy)
        else:
            result = loss_step(ctx, inputs, targets, self.slf)
        probs, weights = self.slf.last_probs, self.slf.last_weights
        assert probs is not None and weights is not None
        share = selection_share(weights)
        if self._sum_probs is None:
            self._sum_probs = probs.double().clone()
            self._sum_weights = weights.double().clone()
            self._sum_select = share.double().clone()
        else:
            assert self._sum_weights is not None and self._sum_select is not None
            self._sum_probs += probs
            self._sum_weights += weights
            self._sum_select += share
        self._steps += 1
        result.info.update({"slf_probs": probs, "slf_weights": weights})
        return result

    def on_epoch_end(self, ctx: TrainContext, epoch: int) -> dict[str, Any]:
        assert self.slf is not None
        n = self.slf.num_losses
        steps = max(self._steps, 1)

        def mean(t: torch.Tensor | None) -> list[float]:
            return [0.0] * n if t is None else (t / steps).cpu().tolist()

        logs: dict[str, Any] = {
            "slf_probs": mean(self._sum_probs),
            "slf_weights": mean(self._sum_weights),
            "slf_select_freq": mean(self._sum_select),
            "slf_losses": list(self.slf.loss_names),
            "slf_tau": self.slf.tau,
        }
        if self.normalize == "running_mean":
            logs["slf_running_mean"] = self.slf.running_mean.cpu().tolist()
        self._reset_epoch()
        return logs

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"val_generator": self._val_generator.get_state()}
        if self.slf is not None:
            state["slf"] = self.slf.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.slf is not None and "slf" in state:
            self.slf.load_state_dict(state["slf"])
        if "val_generator" in state:
            self._val_generator.set_state(state["val_generator"])

