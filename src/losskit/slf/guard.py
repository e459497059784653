"""SLF's two silent failures made loud: an untrained decision network and a collapsed selection.

* **Decision network left out of the optimizer.** Algorithm 1 (line 10) updates the model's
  ``w`` *and* the decision network's ``v`` with one optimizer step on ``H``. An optimizer built
  from ``model.parameters()`` alone still runs, but ``p = h(f(x; w); v)`` never moves: SLF
  quietly becomes a fixed uniform mixture. :class:`OptimizerCheck` refuses that: the optimizer
  given to :meth:`~losskit.slf.StochasticLoss.check_optimizer` (what ``--method slf``, the
  Trainer and Lightning do at bind time) must hold the decision network's trainable
  parameters; otherwise, in a hand-written loop, the optimizer steps that follow the first
  training-mode call are watched (a global ``register_optimizer_step_post_hook``, removed once
  an optimizer holding them has stepped), and the next training-mode call raises
  ``ValueError`` if none of them held the parameters. No aten op, no host sync.
* **Collapse.** Joint minimisation of ``H`` over ``v`` rewards the numerically smallest
  candidate, so ``p`` can end up on one loss (README tour on digits: ``prob_mse``,
  ``test_acc`` 0.63 against CE's 0.95). :func:`collapsed_to` names the candidate holding more
  than :data:`COLLAPSE_SHARE` of an epoch's sampled weight ``p̂``; :class:`~losskit.slf.
  SLFMethod` logs it as ``slf_collapsed_to`` and warns once per run
  (:class:`SLFCollapseWarning`).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from torch import nn
from torch.optim.optimizer import register_optimizer_step_post_hook

#: Share of an epoch's sampled weight (mean ``p̂``) above which SLF counts as collapsed.
COLLAPSE_SHARE = 0.95


class SLFCollapseWarning(UserWarning):
    """SLF put more than :data:`COLLAPSE_SHARE` of an epoch's sampled weight on one candidate:
    from there on it trains with that loss alone."""


def collapsed_to(weights: Sequence[float], names: Sequence[str],
                 share: float = COLLAPSE_SHARE) -> str | None:
    """The name of the candidate holding more than ``share`` of ``weights`` (an epoch's mean
    ``p̂``, summing to 1), or ``None``."""
    total = float(sum(weights))
    if not weights or total <= 0:
        return None
    top = max(range(len(weights)), key=lambda i: weights[i])
    return names[top] if weights[top] > share * total else None


def collapse_message(name: str, share: float, epoch: int, update: str, normalize: str) -> str:
    """The :class:`SLFCollapseWarning` text: what happened and which options to try."""
    tries = []
    if update != "bilevel":
        tries.append("update='bilevel' (v follows the validation gradient instead of "
                     "minimising H, which rewards the numerically smallest loss)")
    if normalize != "running_mean":
        tries.append("normalize='running_mean' (all candidates on one scale)")
    advice = ("; try " + " or ".join(tries)) if tries else (
        " (update='bilevel' with normalize='running_mean': this is the validation-aligned "
        "choice; mode='fixed' with weights keeps a mixture)")
    return (f"SLF collapsed onto {name!r}: {100 * share:.1f}% of the sampled weight p̂ in epoch "
            f"{epoch} (> {100 * COLLAPSE_SHARE:g}%), so the run now trains with that one loss"
            f"{advice}. Logged as 'slf_collapsed_to'; warned once per run.")


def missing_params_message(missing: int, total: int) -> str:
    return (
        f"StochasticLoss: the optimizer does not update the decision network ({missing} of its "
        f"{total} trainable parameters are in no param group), so p = h(f(x); v) would never "
        "train (SLF Algorithm 1 updates w and v together). Build the optimizer from "
        "slf.parameters_with(model) (= [*model.parameters(), *slf.parameters()]); to keep the "
        "weights fixed on purpose use mode='fixed' with weights=..., or freeze the decision "
        "network (slf.decision_net.requires_grad_(False))."
    )


def optimizer_params(optimizer: torch.optim.Optimizer) -> set[int]:
    """``id`` of every parameter in ``optimizer``'s param groups."""
    return {id(p) for group in optimizer.param_groups for p in group["params"]}


class OptimizerCheck:
    """Checks once that some optimizer updates the decision network's parameters (module doc).

    Holds no reference to the module (only the parameters' ids while armed); a copy (deepcopy,
    pickle) starts unarmed, or done if the original was."""

    def __init__(self) -> None:
        self._reset(done=False)

    def _reset(self, done: bool) -> None:
        self.done = done
        self._handle: Any = None
        self._ids: set[int] = set()
        self._missing = 0  # > 0: optimizers stepped since the last call, none holding them

    def __getstate__(self) -> dict[str, Any]:
        return {"done": self.done}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._reset(done=state["done"])

    def check(self, optimizer: torch.optim.Optimizer, params: Iterable[nn.Parameter]) -> None:
        """``ValueError`` unless ``optimizer`` holds every trainable one of ``params``; then
        done (no hook)."""
        ids = _trainable_ids(params)
        missing = len(ids - optimizer_params(optimizer))
        if missing:
            raise ValueError(missing_params_message(missing, len(ids)))
        self._finish()

    def training_call(self, params: Iterable[nn.Parameter]) -> None:
        """At each training-mode call until done: arm the step hook on the first, and raise if
        optimizers stepped since the last call without one holding ``params``."""
        if self.done:
            return
        if self._handle is None:
            self._ids = _trainable_ids(params)
            if not self._ids:
                self._reset(done=True)  # nothing trainable (a frozen decision network)
                return
            self._handle = register_optimizer_step_post_hook(
                _step_hook(weakref.ref(self)))
            return
        if self._missing:
            missing, self._missing = self._missing, 0  # refuse this step; watch the next ones
            raise ValueError(missing_params_message(missing, len(self._ids)))

    def _on_step(self, optimizer: torch.optim.Optimizer) -> None:
        missing = len(self._ids - optimizer_params(optimizer))
        if not missing:
            self._finish()
        else:  # the fewest missing of the optimizers that stepped (for the message)
            self._missing = min(self._missing or missing, missing)

    def _finish(self) -> None:
        if self._handle is not None:
            self._handle.remove()
        self._reset(done=True)

    def __del__(self) -> None:
        if getattr(self, "_handle", None) is not None:
            self._handle.remove()


def _trainable_ids(params: Iterable[nn.Parameter]) -> set[int]:
    return {id(p) for p in params if p.requires_grad}


def _step_hook(ref: weakref.ReferenceType[OptimizerCheck]) -> Callable[..., None]:
    def hook(optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        check = ref()
        if check is not None:
            check._on_step(optimizer)

    return hook
