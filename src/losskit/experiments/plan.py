"""From experiments to runs under the protocol: tuning groups, tuned choices, run outcomes.

A :class:`Plan` turns a selection of experiments into the runs to do, in priority order:

1. **Tuning runs.** A tuned variant (a :class:`~.spec.Tuning` of its own or of its experiment)
   is first run once per grid value at each tuning seed. Variants that set ``tune_from`` add no
   tuning runs; they follow their source (chains are followed, cycles are an error), which may
   live in another experiment (found through the registry when it is not in the selection).
2. **Choice** (:meth:`TuneGroup.choice`). A value's score is the mean over the tuning seeds of
   each run's best validation metric (best over its epochs); a run that diverged before its
   first epoch makes its value score worst. Ties (validation accuracy is a count, ties are
   common) go to the larger mean of the last 3 epochs' validation metric — the value whose runs
   ended well rather than peaked once — then to the larger value. **A choice at an end of the
   grid is not final**: the grid is extended one step that way (new runs at both seeds) and
   the choice made again, until it is interior, the tuning's extension cap is used up, or the
   next step would pass its bounds; the :class:`Choice` says which.
3. **Evaluation runs.** Each variant at each of the experiment's seeds, with the chosen value.
   Until the choice is known the run is *waiting*; its key is then a placeholder (the value
   replaced by a tag of its tuning group), which still counts identical runs once.

Runs are keyed by config and code version (``code``: the source hash, see
:mod:`~losskit.experiments.version`), so identical runs of different experiments (a shared CE
baseline and its tuning) are listed once, and records of other code are not found.

**Best-validation epoch, ties** (:func:`outcome`): among epochs tied at the best validation
metric the **last** is taken. A tie carries no validation evidence for any of the tied epochs,
so the rule should not bias the test metric; "earliest" systematically reports the least
trained of equally good models (the issue's MLP CE seed 1: 97.92 at the first of 11 tied epochs,
98.36 at later ones), while the last tied epoch is the model that early stopping with ``≥``
keeps and, under a decaying schedule, the one trained to the end of the plateau. The report
counts runs with tied best epochs.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from losskit.experiments.spec import EXPERIMENTS, Experiment, RunSpec, Tuning

Records = Mapping[str, dict[str, Any]]


# ---------------------------------------------------------------------------- run outcomes
@dataclass(frozen=True)
class Outcome:
    """What one recorded run reports under a selection rule.

    ``test``: the test metric at the selected epoch (``None`` if there is none); ``epoch``: that
    epoch (1-based); ``epochs``: epochs recorded; ``val``: validation metric there;
    ``final_test``: test metric after the last recorded epoch; ``diverged``: the run stopped on a
    non-finite loss (its epochs up to then are kept); ``ties``: epochs tied at the best
    validation metric (1: no tie; the last of them is selected).
    """

    test: float | None
    epoch: int | None
    epochs: int
    val: float | None
    final_test: float | None
    diverged: bool
    ties: int = 1


def _number(v: Any) -> float | None:
    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
        return float(v)
    return None


def outcome(
    record: dict[str, Any], metric: str, select: str = "final", higher_is_better: bool = True
) -> Outcome:
    """The reported value of ``record`` for test metric ``metric`` (e.g. ``test_acc``).

    ``select="final"``: the last epoch (``final`` of a completed run); ``"best_val"``: the epoch
    with the best validation counterpart (``val_acc``), the last of tied epochs (module doc).
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
    ties = 0
    for i, h in enumerate(history):
        v = _number(h.get(val_key))
        if v is None:
            continue
        if best is None or (v > best[1] if higher_is_better else v < best[1]):
            best, ties = (i, v), 1
        elif v == best[1]:  # a tie: the later epoch
            best, ties = (i, v), ties + 1
    if best is None:
        return Outcome(None, None, len(history), None, final_test, diverged)
    i, v = best
    epoch = int(history[i].get("epoch", i + 1))
    return Outcome(_number(history[i].get(metric)), epoch, len(history), v, final_test, diverged,
                   ties)


def val_tail(record: dict[str, Any], val_key: str, n: int = 3) -> float | None:
    """Mean of the last ``n`` recorded values of ``val_key`` (the tuning tie-break)."""
    vals = [_number(h.get(val_key)) for h in record.get("history") or [] if isinstance(h, dict)]
    tail = [v for v in vals if v is not None][-n:]
    return sum(tail) / len(tail) if tail else None


# ---------------------------------------------------------------------------- tuning
@dataclass(frozen=True)
class Choice:
    """The tuned value of one group: ``value`` of ``param``; ``scores``: every grid value tried
    (ascending, extensions included) with its score (mean best validation metric over the
    tuning seeds; ``None``: diverged); ``interior``: the choice has a tried value on each side,
    else ``why`` says why the grid was not extended further; ``extensions``: values added
    beyond the declared grid; ``tie``: the best score was shared (broken by the last-3-epoch
    mean, then the larger value)."""

    param: str
    value: float
    scores: tuple[tuple[float, float | None], ...]
    experiment: str
    variant: str
    interior: bool = True
    why: str = ""
    extensions: int = 0
    tie: bool = False
    seeds: tuple[int, ...] = ()


def _mean(xs: list[float | None]) -> float | None:
    return None if not xs or any(x is None for x in xs) else sum(xs) / len(xs)  # type: ignore


@dataclass
class TuneGroup:
    """The grid runs of one tuned variant (``experiment``/``variant``), keyed for ``code``."""

    experiment: Experiment
    variant: str
    code: str | None = None

    @property
    def tuning(self) -> Tuning:
        t = self.experiment.tuning_of(self.variant)
        assert t is not None
        return t

    @property
    def param(self) -> str:
        return self.tuning.param

    @property
    def tag(self) -> str:
        """Identifies the group by the configs of its declared grid (identical groups share a
        tag)."""
        runs = self.experiment.tuning_runs(self.variant)
        keys = ",".join(sorted(r.config_key for r in runs))
        return hashlib.sha256(keys.encode()).hexdigest()[:12]

    def _runs(self, grid: Sequence[float]) -> list[RunSpec]:
        return self.experiment.tuning_runs(self.variant, grid, code=self.code)

    def _search(self, records: Records) -> tuple[list[float], Choice | None]:
        """The grid tried so far (declared + extensions) and the choice (``None`` while a run
        of that grid is missing)."""
        exp, t = self.experiment, self.tuning
        sign = 1.0 if exp.higher_is_better else -1.0
        grid = list(t.grid)
        extensions = 0
        while True:
            scored: list[tuple[float, float | None, float | None]] = []
            for g in grid:
                recs = [records.get(spec.key) for spec in self._runs([g])]
                if any(r is None for r in recs):
                    return grid, None
                best = [outcome(r, exp.metric, "best_val", exp.higher_is_better).val
                        for r in recs]  # type: ignore[arg-type]
                tail = [val_tail(r, exp.val_metric) for r in recs]  # type: ignore[arg-type]
                scored.append((g, _mean(best), _mean(tail)))

            def rank(item: tuple[float, float | None, float | None]) -> tuple[float, ...]:
                g, score, tail = item
                if score is None:  # diverged: worst, and the smaller rate the safer
                    return (-math.inf, -math.inf, -g)
                return (sign * score, -math.inf if tail is None else sign * tail, g)

            best_item = max(scored, key=rank)
            value = best_item[0]
            tie = best_item[1] is not None and sum(s == best_item[1] for _, s, _ in scored) > 1
            scores = tuple((g, s) for g, s, _ in scored)
            at_low, at_high = value == grid[0], value == grid[-1]
            if len(grid) > 1 and not (at_low or at_high):
                return grid, Choice(self.param, value, scores, exp.name, self.variant, True, "",
                                    extensions, tie, t.seeds)
            direction = -1 if at_low and (not at_high or best_item[1] is None) else 1
            end = "lower" if direction < 0 else "upper"
            nxt = t.step(value, direction)
            why = ""
            if extensions >= t.extensions:
                why = f"at the {end} end; extension cap ({t.extensions}) reached"
            elif nxt is None:
                bound = t.bounds[0] if direction < 0 else t.bounds[1]
                why = f"at the {end} end; the next value would pass the bound {bound:g}"
            if why:
                return grid, Choice(self.param, value, scores, exp.name, self.variant, False,
                                    why, extensions, tie, t.seeds)
            assert nxt is not None
            grid = [nxt, *grid] if direction < 0 else [*grid, nxt]
            extensions += 1

    def runs(self, records: Records) -> list[RunSpec]:
        """The tuning runs needed so far: the declared grid, plus extensions once the runs
        before them show the choice at an end."""
        return self._runs(self._search(records)[0])

    def choice(self, records: Records) -> Choice | None:
        """The chosen value, or ``None`` while a run of the grid is missing from ``records``."""
        return self._search(records)[1]


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
    the registry). ``code``: the source hash the runs are keyed for (``None``: records from
    before code versions, keyed by config alone).
    """

    def __init__(
        self,
        experiments: Sequence[Experiment],
        lookup: Callable[[str], Experiment] | None = None,
        code: str | None = None,
    ) -> None:
        self.experiments = list(experiments)
        self.code = code
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
                    self._groups[key] = TuneGroup(exp, variant, self.code)
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
                        add(PlannedRun(exp.run(v.name, seed, code=self.code), None, True))
                    continue
                for spec in group.runs(records):
                    add(PlannedRun(spec, None, True))
                choice = group.choice(records)
                value: Any = choice.value if choice else f"<tuned {group.tag}>"
                for seed in exp.seeds:
                    add(PlannedRun(exp.run(v.name, seed, {group.param: value}, code=self.code),
                                   group, choice is not None))
        return out

    def groups(self) -> list[TuneGroup]:
        """The distinct tuning groups of the selection (and of ``tune_from`` sources)."""
        return list(self._groups.values())

    def eval_spec(
        self, experiment: str, variant: str, seed: int, records: Records
    ) -> RunSpec | None:
        """The evaluation run of ``experiment``/``variant`` at ``seed`` (``None`` while its
        tuned value is unknown)."""
        exp = self._known[experiment]
        group = self._group_of[(experiment, variant)]
        if group is None:
            return exp.run(variant, seed, code=self.code)
        choice = group.choice(records)
        return None if choice is None else exp.run(variant, seed, {group.param: choice.value},
                                                   code=self.code)
