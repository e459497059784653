"""From experiments to runs under the protocol: tuning groups, tuned choices, run outcomes.

A :class:`Plan` turns a selection of experiments into the runs to do, in priority order:

1. **Tuning runs.** A tuned variant (its experiment declares a :class:`~.spec.Tuning`) is first
   run once per grid value at the tuning seed. Variants that set ``tune_from`` add no tuning
   runs; they follow their source (chains are followed, cycles are an error), which may live in
   another experiment (found through the registry when it is not in the selection).
2. **Choice.** Once every grid run of a group is recorded, the value whose run reached the best
   validation metric (best over its epochs, :func:`outcome`) is chosen; ties go to the first grid
   value; a run that diverged before its first epoch scores worst.
3. **Evaluation runs.** Each variant at each of the experiment's seeds, with the chosen value.
   Until the choice is known the run is *waiting*; its key is then a placeholder (the value
   replaced by a tag of its tuning group), which still counts identical runs once.

Every run is keyed by its config only, so identical runs of different experiments (a shared
CE baseline and its tuning) are listed once.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from losskit.experiments.spec import EXPERIMENTS, Experiment, RunSpec

Records = Mapping[str, dict[str, Any]]


# ---------------------------------------------------------------------------- run outcomes
@dataclass(frozen=True)
class Outcome:
    """What one recorded run reports under a selection rule.

    ``test``: the test metric at the selected epoch (``None`` if there is none); ``epoch``: that
    epoch (1-based); ``epochs``: epochs recorded; ``val``: validation metric there;
    ``final_test``: test metric after the last recorded epoch; ``diverged``: the run stopped on a
    non-finite loss (its epochs up to then are kept).
    """

    test: float | None
    epoch: int | None
    epochs: int
    val: float | None
    final_test: float | None
    diverged: bool


def _number(v: Any) -> float | None:
    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
        return float(v)
    return None


def outcome(
    record: dict[str, Any], metric: str, select: str = "final", higher_is_better: bool = True
) -> Outcome:
    """The reported value of ``record`` for test metric ``metric`` (e.g. ``test_acc``).

    ``select="final"``: the last epoch (``final`` of a completed run); ``"best_val"``: the epoch
    with the best validation counterpart (``val_acc``), earliest on ties.
    """
    history = [h for h in record.get("history") or [] if isinstance(h, dict)]
    diverged = record.get("status") == "diverged"
    last = history[-1] if history else {}
    final = {} if diverged else (record.get("final") or {})
    final_test = _number(final[metric]) if metric in final else _number(last.get(metric))
    val_key = "val_" + metric.removeprefix("test_")
    if select == "final":
        if diverged or not history and final_test is None:
            return Outcome(None, None, len(history), None, final_test, diverged)
        return Outcome(final_test, len(history) or None, len(history),
                       _number(last.get(val_key)), final_test, False)
    if select != "best_val":
        raise ValueError(f"select must be 'final' or 'best_val', got {select!r}")
    best: tuple[int, float] | None = None
    for i, h in enumerate(history):
        v = _number(h.get(val_key))
        if v is None:
            continue
        if best is None or (v > best[1] if higher_is_better else v < best[1]):
            best = (i, v)
    if best is None:
        return Outcome(None, None, len(history), None, final_test, diverged)
    i, v = best
    epoch = int(history[i].get("epoch", i + 1))
    return Outcome(_number(history[i].get(metric)), epoch, len(history), v, final_test, diverged)


# ---------------------------------------------------------------------------- tuning
@dataclass(frozen=True)
class Choice:
    """The tuned value of one group: ``value`` of ``param`` and every grid value's score."""

    param: str
    value: float
    scores: tuple[tuple[float, float | None], ...]
    experiment: str
    variant: str


@dataclass
class TuneGroup:
    """The grid runs of one tuned variant (``experiment``/``variant``)."""

    experiment: Experiment
    variant: str
    runs: list[RunSpec]

    @property
    def tag(self) -> str:
        """Identifies the group by its runs (identical groups share a tag)."""
        keys = ",".join(sorted(r.key for r in self.runs))
        return hashlib.sha256(keys.encode()).hexdigest()[:12]

    @property
    def param(self) -> str:
        assert self.experiment.tuning is not None
        return self.experiment.tuning.param

    def choice(self, records: Records) -> Choice | None:
        """The chosen value, or ``None`` while a grid run is missing from ``records``."""
        exp = self.experiment
        assert exp.tuning is not None
        scored: list[tuple[float, float | None]] = []
        for spec, value in zip(self.runs, exp.tuning.grid):
            rec = records.get(spec.key)
            if rec is None:
                return None
            o = outcome(rec, exp.metric, "best_val", exp.higher_is_better)
            scored.append((value, o.val))
        sign = 1.0 if exp.higher_is_better else -1.0
        best_value, best_score = scored[0][0], -math.inf
        for value, score in scored:
            s = -math.inf if score is None else sign * score
            if s > best_score:
                best_value, best_score = value, s
        return Choice(self.param, best_value, tuple(scored), exp.name, self.variant)


# ---------------------------------------------------------------------------- the plan
@dataclass(frozen=True)
class PlannedRun:
    """One run of the plan. ``group``: the tuning group its value waits for (``None``: not
    tuned, or a tuning run itself); ``ready``: its config is final (``spec.key`` is real)."""

    spec: RunSpec
    group: TuneGroup | None
    ready: bool


class Plan:
    """The runs of ``experiments`` under the protocol (module docstring).

    ``lookup(name)`` finds experiments named by ``tune_from`` outside the selection (default:
    the registry).
    """

    def __init__(
        self,
        experiments: Sequence[Experiment],
        lookup: Callable[[str], Experiment] | None = None,
    ) -> None:
        self.experiments = list(experiments)
        self._known: dict[str, Experiment] = {e.name: e for e in self.experiments}
        self._lookup = lookup or EXPERIMENTS.get
        self._groups: dict[tuple[str, str], TuneGroup] = {}
        self._group_of: dict[tuple[str, str], TuneGroup | None] = {}
        for exp in self.experiments:
            for v in exp.variants:
                self._group_of[(exp.name, v.name)] = self._resolve(exp, v.name)

    def experiment(self, name: str) -> Experiment:
        """A selected experiment, or one named by ``tune_from`` (through ``lookup``)."""
        if name not in self._known:
            self._known[name] = self._lookup(name)
        return self._known[name]

    def _resolve(self, exp: Experiment, variant: str) -> TuneGroup | None:
        seen: list[str] = []
        while True:
            here = f"{exp.name}/{variant}"
            if here in seen:
                raise ValueError(f"tune_from cycle: {' → '.join([*seen, here])}")
            seen.append(here)
            src = exp.source(variant)
            if src is None:
                if len(seen) > 1:
                    raise ValueError(f"tune_from of {seen[0]} leads to {here}, which is not tuned "
                                     "(its experiment declares no tuning)")
                return None
            src_exp = self.experiment(src[0])
            if (src_exp.name, src[1]) == (exp.name, variant):  # tuned itself
                key = (exp.name, variant)
                if key not in self._groups:
                    self._groups[key] = TuneGroup(exp, variant, exp.tuning_runs(variant))
                return self._groups[key]
            src_exp.variant(src[1])  # a clear error when the variant does not exist
            exp, variant = src_exp, src[1]

    def group(self, experiment: str, variant: str) -> TuneGroup | None:
        """The tuning group that sets ``experiment``/``variant``'s value (``None``: untuned)."""
        return self._group_of[(experiment, variant)]

    def choices(self, records: Records) -> dict[tuple[str, str], Choice]:
        """(experiment, variant) → its choice, for every selected variant whose group is done."""
        out = {}
        for key, group in self._group_of.items():
            if group is not None:
                c = group.choice(records)
                if c is not None:
                    out[key] = c
        return out

    def runs(self, records: Records) -> list[PlannedRun]:
        """Every run once (by key), in priority order: per experiment and variant, the
        variant's tuning runs, then its seeds."""
        out: list[PlannedRun] = []
        seen: set[str] = set()

        def add(p: PlannedRun) -> None:
            if p.spec.key not in seen:
                seen.add(p.spec.key)
                out.append(p)

        for exp in self.experiments:
            for v in exp.variants:
                group = self._group_of[(exp.name, v.name)]
                if group is None:
                    for seed in exp.seeds:
                        add(PlannedRun(exp.run(v.name, seed), None, True))
                    continue
                for spec in group.runs:
                    add(PlannedRun(spec, None, True))
                choice = group.choice(records)
                value: Any = choice.value if choice else f"<tuned {group.tag}>"
                for seed in exp.seeds:
                    add(PlannedRun(exp.run(v.name, seed, {group.param: value}), group,
                                   choice is not None))
        return out

    def eval_spec(
        self, experiment: str, variant: str, seed: int, records: Records
    ) -> RunSpec | None:
        """The evaluation run of ``experiment``/``variant`` at ``seed`` (``None`` while its
        tuned value is unknown)."""
        exp = self._known[experiment]
        group = self._group_of[(experiment, variant)]
        if group is None:
            return exp.run(variant, seed)
        choice = group.choice(records)
        return None if choice is None else exp.run(variant, seed, {group.param: choice.value})
