"""``--method slf``: Algorithm 1 of the SLF paper as a Trainer plug-in."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from losskit.core._validation import choice, integer, split_list
from losskit.core.composites import COMPOSITE_LOSSES
from losskit.core.method import Method, TrainContext
from losskit.core.options import core_kwargs, core_options, option
from losskit.core.step import StepResult, loss_step
from losskit.data.loading import sample_targets, take
from losskit.slf.bilevel import ValidationLoss, bilevel_step
from losskit.slf.composite import SYNTAX as SLF_SYNTAX
from losskit.slf.composite import slf_from_name
from losskit.slf.guard import SLFCollapseWarning, collapse_message, collapsed_to
from losskit.slf.loss import PAPER_LOSSES, StochasticLoss, parse_loss_list, read_last

COMPOSITE_LOSSES.register("slf", slf_from_name, help=SLF_SYNTAX)  # "slf:a+b" names

UPDATES = ("joint", "bilevel")
PRESETS = ("paper",)


def _numbers(text: str) -> list[float]:
    return [float(v) for v in split_list(text, "weights")]


@dataclass(frozen=True, kw_only=True)
class SLFOptions(core_options(  # type: ignore[misc]
    StochasticLoss, "StochasticLossOptions",
    skip=("losses", "num_outputs", "decision_net", "generator", "names", "context"),
    help={"k": "Gumbel samples K", "tau": "temperature",
          "mode": "gumbel | softmax | fixed (weights given: no decision network)",
          "weights": "mode fixed: comma-separated weights, one per loss (default: 1/n each)",
          "granularity": "batch | sample", "normalize": "none | running_mean",
          "hidden": "hidden units of the decision network (0: one linear layer)",
          "detach_input": "the decision network sees the outputs detached (ours)"},
    parse={"weights": _numbers},
)):
    """``--method slf``: :class:`~losskit.slf.StochasticLoss`'s arguments (defaults and checks
    its own) and the method's."""

    losses: Any = option(None, "comma-separated candidate losses (regression: mse,mae,huber)",
                         parse=lambda text: split_list(text, "losses", min_items=2))
    update: str = option("joint", "joint (paper) | bilevel (decision net follows validation)",
                         check=choice(*UPDATES))
    val_loss: Any = option(None, "bilevel validation loss: ce | mse | another loss name "
                                 "(default: the first candidate's task)")
    val_batch_size: int = option(128, "bilevel: validation batch size",
                                 check=integer(low=1))
    preset: str | None = option(None, "paper: the paper's candidate set (prob_mse, prob_mae, "
                                      "hinge, cosine, prob_bce)", check=choice(None, *PRESETS))
    seed: int = option(0, check=integer())  # the run's seed (no flag)

    def validate(self) -> None:
        if self.preset is not None and self.losses is not None:
            raise ValueError(f"preset={self.preset!r} fixes the candidate losses; drop losses= "
                             "(or the preset)")
        parse_loss_list(list(PAPER_LOSSES) if self.losses is None else self.losses)
        if self.update == "bilevel" and self.mode == "fixed":
            raise ValueError("update='bilevel' needs mode 'gumbel' or 'softmax' (mode='fixed' "
                             "has no decision network to update)")
        if self.update != "bilevel" and self.val_loss is not None:
            raise ValueError("val_loss is only used with update='bilevel'")
        ValidationLoss(self.val_loss)  # checks the name / type now


def selection_share(weights: torch.Tensor) -> torch.Tensor:
    """One step's vote for "selected loss": 1 for the loss with the largest ``p̂``, split
    equally between tied maxima (e.g. ``p̂ = (1/3, 1/3, 1/3, 0, 0)`` gives 1/3 each), so the
    shares of a step always sum to 1 and no loss is favoured by its position. ``weights``
    ``(n,)`` or one step per row ``(steps, n)``."""
    top = weights == weights.amax(-1, keepdim=True)
    return top.to(weights.dtype) / top.sum(-1, keepdim=True)


class SLFMethod(Method):
    """Stochastic Loss Function training (paper Algorithm 1).

    Each step computes ``H = Σ_i p̂_i · l_i`` (:class:`~losskit.slf.StochasticLoss`) and takes
    *one* optimizer step on it; the decision network's parameters ``v`` (and those of
    parametric candidate losses) are returned by :meth:`parameters`, so the Trainer's
    optimizer updates ``w`` and ``v`` together (Algorithm 1, line 10).

    Options (:class:`SLFOptions`): :class:`~losskit.slf.StochasticLoss`'s arguments, with its
    (paper) defaults and checks (``k``: the paper's ``K``; ``losses`` comma-separated or a
    list), and the method's own; ``seed`` seeds the Gumbel-noise generator (created on the
    model's device) and the draws of validation batches.

    ``losses=None`` and ``preset="paper"`` both give the paper's candidate set
    (:data:`~losskit.slf.loss.PAPER_LOSSES`, a classifier's); the preset refuses an explicit
    ``losses`` and composes with every other argument (``k``, ``mode``, ``weights``,
    ``update``, …). For regression name regression candidates, e.g. ``losses="mse,mae,huber"``.

    ``update``: ``"joint"`` (Algorithm 1: ``v`` minimises ``H``) or ``"bilevel"`` (our variant:
    ``v`` favours the losses whose gradient aligns with the gradient of ``val_loss`` on a
    batch of ``val_batch_size`` samples drawn from the data's **validation split** when it has
    one, else from the training set; see :mod:`losskit.slf.bilevel`). ``val_loss``: ``"ce"``,
    ``"mse"``, another zoo name or a callable; ``None`` follows the first candidate's task.

    Per epoch it logs ``slf_probs`` (mean ``p`` per loss), ``slf_weights`` (mean ``p̂``),
    ``slf_select_freq`` (share of steps in which each loss had the largest batch-mean ``p̂``,
    ties split equally), ``slf_losses`` (names), ``slf_tau``, with ``normalize="running_mean"``
    ``slf_running_mean``, and with ``update="bilevel"`` ``slf_alignment`` (mean ``c_i``),
    ``slf_val_loss`` and ``slf_val_split`` (``"val"`` or ``"train"``). ``slf_collapsed_to``
    names the candidate holding more than 95 % of the epoch's mean ``p̂`` (``None`` when none
    does); the first such epoch of a run also raises an :class:`~losskit.slf.guard.
    SLFCollapseWarning` pointing to ``update="bilevel"`` / ``normalize="running_mean"``.
    Lightning logs numbers only, so it logs no ``slf_collapsed_to`` (the warning still shows).

    :meth:`bind` refuses an optimizer that leaves out the decision network's parameters
    (:meth:`~losskit.slf.StochasticLoss.check_optimizer`).
    """

    name = "slf"
    Options = SLFOptions

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        o = self.options
        self.loss_specs = parse_loss_list(list(PAPER_LOSSES) if o.losses is None else o.losses)
        self._val_generator = torch.Generator().manual_seed(o.seed + 1)
        self._val_source: Any = None
        self._val_split = "train"
        self.val_loss: ValidationLoss | None = None
        self.slf: StochasticLoss | None = None
        self._collapse_warned = False
        self._reset_epoch()

    def _reset_epoch(self) -> None:
        # each step's (p, p̂), reduced once per epoch: no bookkeeping ops in the step
        self._history: list[dict[str, Any]] = []  # StochasticLoss.last_record per step
        self._sum_alignment: torch.Tensor | None = None

    def setup(self, ctx: TrainContext) -> None:
        self.slf = StochasticLoss(self.loss_specs, num_outputs=ctx.num_classes,
                                  generator=self.options.seed, context=ctx.context,
                                  **core_kwargs(self.options))
        self.slf.to(ctx.device)
        self.slf.check_targets(sample_targets(ctx.train_set))
        if self.options.update == "bilevel":
            self.val_loss = ValidationLoss(self.options.val_loss, self.slf.tasks[0])
            held_out = ctx.val_set is not None and len(ctx.val_set) > 0
            self._val_source = ctx.val_set if held_out else ctx.train_set
            self._val_split = "val" if held_out else "train"
            self.val_loss.check_targets(sample_targets(self._val_source))

    def _validation_batch(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """A random batch of the validation split (or of the training set if there is none):
        ``val_batch_size`` indices drawn with replacement, read from any map-style dataset
        (:func:`losskit.data.loading.take`)."""
        n = len(self._val_source)
        idx = torch.randint(n, (min(self.options.val_batch_size, n),),
                            generator=self._val_generator)
        x, y = take(self._val_source, idx)
        return x.to(device), y.to(device)

    def parameters(self) -> Iterator[nn.Parameter]:
        return self.slf.parameters() if self.slf is not None else iter(())

    def bind(self, ctx: TrainContext) -> None:
        assert self.slf is not None, "setup() must run before bind()"
        if ctx.optimizer is not None:
            self.slf.check_optimizer(ctx.optimizer)

    def step(self, ctx: TrainContext, inputs: torch.Tensor, targets: torch.Tensor) -> StepResult:
        assert self.slf is not None, "setup() must run before step()"
        if self.options.update == "bilevel":
            vx, vy = self._validation_batch(inputs.device)
            result = bilevel_step(ctx, self.slf, inputs, targets, vx, vy, val_loss=self.val_loss)
            c = result.info["slf_alignment"].double()
            self._sum_alignment = c.clone() if self._sum_alignment is None else (
                self._sum_alignment + c)
        else:
            result = loss_step(ctx, inputs, targets, self.slf)
        self._history.append(self.slf.last_record)  # reduced at the epoch's end
        return result

    def on_epoch_end(self, ctx: TrainContext, epoch: int) -> dict[str, Any]:
        assert self.slf is not None
        n = self.slf.num_losses
        steps = max(len(self._history), 1)

        def mean(t: torch.Tensor | None) -> list[float]:
            return [0.0] * n if t is None else (t / steps).cpu().tolist()

        probs = weights = select = None
        if self._history:
            probs, weights = (torch.stack([read_last(r, name) for r in self._history])
                              for name in ("probs", "weights"))
            # running sums in float64, in step order (cumsum: the same rounding as adding up)
            probs, weights, select = (t.double().cumsum(0)[-1] for t in (
                probs, weights, selection_share(weights)))
        logs: dict[str, Any] = {
            "slf_probs": mean(probs),
            "slf_weights": mean(weights),
            "slf_select_freq": mean(select),
            "slf_losses": list(self.slf.loss_names),
            "slf_tau": self.slf.tau,
        }
        if self.options.normalize == "running_mean":
            logs["slf_running_mean"] = self.slf.running_mean.cpu().tolist()
        logs["slf_collapsed_to"] = self._collapse(logs["slf_weights"], epoch)
        if self.options.update == "bilevel":
            assert self.val_loss is not None
            logs["slf_alignment"] = mean(self._sum_alignment)
            logs["slf_val_loss"] = self.val_loss.name
            logs["slf_val_split"] = self._val_split
        self._reset_epoch()
        return logs

    def _collapse(self, weights: list[float], epoch: int) -> str | None:
        """The candidate the epoch's weights collapsed onto (or ``None``); warns once a run."""
        assert self.slf is not None
        if not self._history or self.options.mode == "fixed":
            return None
        name = collapsed_to(weights, self.slf.loss_names)
        if name is not None and not self._collapse_warned:
            self._collapse_warned = True
            share = max(weights) / sum(weights)
            warnings.warn(collapse_message(name, share, epoch + 1, self.options.update,
                                           self.options.normalize),
                          SLFCollapseWarning, stacklevel=2)
        return name

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
