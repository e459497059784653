"""Declarative experiment specs: a base :class:`TrainConfig`, variants, seeds, the claims tested.

An :class:`Experiment` is data, not a script: it expands into one :class:`RunSpec` per
(variant, seed), each with a full ``TrainConfig``, its ``config_key`` — a hash of the config
alone (experiment and variant names are not part of it), so identical runs requested by several
experiments (a shared CE baseline, the tuning runs of a shared variant) run once and are
recorded once — and its ``key``, the config key joined with the hash of the code
(:mod:`losskit.experiments.version`), so a code change never resumes into old rows.

The papers' protocol lives here as data: :class:`Tuning` (a log-scale grid of learning rates
tried on two tuning seeds, extended at an end until the choice is interior, see
:mod:`losskit.experiments.plan`), ``Variant.tune_from`` (a row at another variant's tuned value:
the SLF paper's "inherits the baseline's learning rate"), ``Experiment.select`` (report the test
metric at the best-validation epoch), ``Experiment.split_seed`` (``"run"``: each seed draws its
own validation split) and the claims: each comparison (a variant against its ``versus``, by
default the baseline) names the claim it tests and its **evidence** kind —

=================  =====================================================  ===============
evidence           meaning                                                Holm family
=================  =====================================================  ===============
``direct``         the paper's data, model and protocol, as published     primary
``paper-protocol`` the paper's data and model, the rate rule the paper    primary
                   states (SLF: the CE row's tuned rate and optimizer)
``tuned``          the paper's data and model, each row's own tuned rate  secondary, per paper
``proxy``          other data or model than the paper's                   secondary, per paper
``exploratory``    not a paper claim (our variants, ablations): no verdict none
=================  =====================================================  ===============

Experiments are registered in :data:`EXPERIMENTS`; suites name lists of experiments.

Variant overrides are ``TrainConfig`` fields; a dotted key sets one entry of a dict field
(``{"method_kwargs.k": 4}`` keeps the base's other method kwargs), a plain key replaces the
field (``{"method": "loss", "method_kwargs": {"loss": "ce"}}``).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from losskit.core._validation import split_list
from losskit.core.registry import Registry
from losskit.experiments.keys import KEY_VERSION, config_key, cost_class, run_key
from losskit.experiments.tuning import Tuning, log_grid, round_sig
from losskit.train.config import TrainConfig

__all__ = ["EVIDENCE", "EXPERIMENTS", "KEY_VERSION", "SUITES", "Experiment", "RunSpec",
           "Tuning", "Variant", "config_key", "cost_class", "get", "log_grid", "register",
           "register_suite", "resolve", "round_sig", "run_key", "sweep_variants"]

SELECTIONS = ("final", "best_val")
#: Evidence kinds of a comparison → its Holm family ("secondary" is one family per paper).
EVIDENCE = {"direct": "primary", "paper-protocol": "primary", "tuned": "secondary",
            "proxy": "secondary", "exploratory": None}
SPLIT_SEEDS = ("data", "run")
#: The seeds every registered suite reports (at least 5 per variant).
REPORT_SEEDS = [0, 1, 2, 3, 4]

_FIELDS = frozenset(TrainConfig.__dataclass_fields__)
_DICT_FIELDS = frozenset(
    name for name, f in TrainConfig.__dataclass_fields__.items() if f.default_factory is dict
)


@dataclass(frozen=True)
class Variant:
    """One arm of an experiment.

    ``overrides``: TrainConfig fields (dotted keys reach into dict fields); ``paper``: the number
    the paper reports for this arm (shown next to ours); ``sweep_value``: its position on the
    experiment's sweep axis; ``group``: which line of the sweep plot it belongs to;
    ``tune_from``: reuse the tuned value of another variant — ``"VARIANT"`` of this experiment or
    ``"EXPERIMENT/VARIANT"`` — instead of tuning its own (the SLF paper's rows at the CE rate;
    MILS at its CE primary's rate). ``tuning``: this variant's own grid (default: the
    experiment's).

    The comparison: ``versus`` (default: the experiment's baseline) — the variant it is paired
    with; ``claim``: the claim it tests (default: the experiment's ``claim_name``);
    ``evidence``: its kind (default: the experiment's; see :data:`EVIDENCE`).
    """

    name: str
    overrides: dict[str, Any] = field(default_factory=dict)
    paper: float | str | None = None
    sweep_value: float | None = None
    group: str | None = None
    tune_from: str | None = None
    tuning: Tuning | None = None
    versus: str | None = None
    claim: str | None = None
    evidence: str | None = None


@dataclass(frozen=True)
class RunSpec:
    """One run: its full config, ``config_key`` (the config alone) and ``key`` (config and
    code version: what the results file is keyed by); ``role`` is ``"eval"`` (a reported seed)
    or ``"tune"`` (a tuning run; ``seed`` is then a tuning seed)."""

    experiment: str
    variant: str
    seed: int
    config: TrainConfig
    key: str
    role: str = "eval"
    config_key: str = ""


def apply_overrides(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``base`` updated with ``overrides`` (deep-copied; dotted keys set one nested entry)."""
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        head, dot, rest = key.partition(".")
        if head not in _FIELDS:
            raise ValueError(f"override {key!r}: {head!r} is not a TrainConfig field")
        if not dot:
            out[head] = copy.deepcopy(value)
            continue
        if head not in _DICT_FIELDS:
            raise ValueError(
                f"override {key!r}: field {head!r} is not a dict "
                f"(dotted keys reach into {', '.join(sorted(_DICT_FIELDS))})"
            )
        target = out.setdefault(head, {})
        *path, last = rest.split(".")
        for part in path:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                raise ValueError(f"override {key!r}: {part!r} is not a dict")
        target[last] = copy.deepcopy(value)
    return out


@dataclass
class Experiment:
    """A declarative experiment: ``base`` config × ``variants`` × ``seeds``.

    ``claim``: the paper's claim in words (quoted in the report); ``metric``: the test-metric
    key compared (``test_acc``, ``test_ap``, …); ``baseline``: the variant every other one is
    compared with (paired over seeds); ``sweep_param``: x-axis label when variants sweep a value
    (``Variant.sweep_value``); ``scale``: display factor (fractions → percent);
    ``headline``: variants shown in the README table (default: all).

    Protocol: ``tuning`` (see :class:`Tuning`; ``None``: the base config's values are used);
    ``select``: ``"final"`` (metric after the last epoch) or ``"best_val"`` (the test metric at
    the epoch of the best validation metric; needs ``data_kwargs.val_fraction > 0``);
    ``fidelity``: ``"direct"`` (dataset, model and protocol of the paper) or ``"proxy"``;
    ``paper_setting``: the paper's dataset/model/source of the ``paper`` numbers.

    Claims: ``paper``: whose claims these are ("SLF", "UniLoss", …; one secondary Holm family
    each); ``claim_name``: the claim the comparisons test by default ("SLF Table 1: SLF > CE on
    MNIST MLP"); ``evidence``: the default evidence kind of its comparisons (default: from
    ``fidelity`` — ``"direct"``, ``"proxy"``, or ``"exploratory"`` when unset).
    ``split_seed``: ``"data"`` (the validation split of the data seed, one for every run) or
    ``"run"`` (each run's seed draws its own stratified split: ``data_kwargs.seed`` = run seed,
    so intervals include the split's variance). ``metric_range``: what the metric can take
    (intervals are bounded by it).
    """

    name: str
    title: str
    base: dict[str, Any]
    variants: list[Variant]
    seeds: list[int]
    baseline: str
    claim: str = ""
    metric: str = "test_acc"
    higher_is_better: bool = True
    sweep_param: str | None = None
    sweep_log: bool = False
    scale: float = 100.0
    headline: list[str] | None = None
    notes: str = ""
    tuning: Tuning | None = None
    select: str = "final"
    fidelity: str | None = None
    paper_setting: str = ""
    paper: str = ""
    claim_name: str = ""
    evidence: str | None = None
    split_seed: str = "data"
    metric_range: tuple[float, float] = (0.0, 1.0)

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise ValueError(f"name must be a non-empty string, got {self.name!r}")
        names = [v.name for v in self.variants]
        if not names:
            raise ValueError(f"experiment {self.name!r}: variants must not be empty")
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"experiment {self.name!r}: duplicate variant names {dupes}")
        if self.baseline not in names:
            raise ValueError(
                f"experiment {self.name!r}: baseline {self.baseline!r} is not a variant "
                f"(variants: {', '.join(names)})"
            )
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"experiment {self.name!r}: seeds must be non-empty and unique")
        if not all(isinstance(s, int) and not isinstance(s, bool) for s in self.seeds):
            raise ValueError(f"experiment {self.name!r}: seeds must be integers, got {self.seeds}")
        for where, d in [("base", self.base)] + [(v.name, v.overrides) for v in self.variants]:
            if any(k.partition(".")[0] == "seed" for k in d):
                raise ValueError(
                    f"experiment {self.name!r} ({where}): set seeds with `seeds`, not 'seed'"
                )
        for h in self.headline or []:
            if h not in names:
                raise ValueError(f"experiment {self.name!r}: headline variant {h!r} unknown")
        if self.select not in SELECTIONS:
            raise ValueError(f"experiment {self.name!r}: select must be one of {SELECTIONS}, "
                             f"got {self.select!r}")
        if self.fidelity not in (None, "direct", "proxy"):
            raise ValueError(f"experiment {self.name!r}: fidelity must be 'direct', 'proxy' or "
                             f"None, got {self.fidelity!r}")
        for t in [self.tuning] + [v.tuning for v in self.variants]:
            if t is not None and set(t.seeds) & set(self.seeds):
                raise ValueError(f"experiment {self.name!r}: the tuning seeds {list(t.seeds)} "
                                 "must not be reported seeds")
        if self.split_seed not in SPLIT_SEEDS:
            raise ValueError(f"experiment {self.name!r}: split_seed must be one of "
                             f"{SPLIT_SEEDS}, got {self.split_seed!r}")
        if self.split_seed == "run" and "seed" in (self.base.get("data_kwargs") or {}):
            raise ValueError(f"experiment {self.name!r}: split_seed='run' sets data_kwargs.seed "
                             "from the run seed; leave data_kwargs.seed out")
        lo, hi = self.metric_range
        if not lo < hi:
            raise ValueError(f"experiment {self.name!r}: metric_range must be (low, high) with "
                             f"low < high, got {self.metric_range!r}")
        for v in self.variants:
            if v.versus is not None and (v.versus not in names or v.versus == v.name):
                raise ValueError(f"experiment {self.name!r}, variant {v.name!r}: versus must "
                                 f"name another variant, got {v.versus!r}")
            ev = self.evidence_of(v.name)
            if ev not in EVIDENCE:
                raise ValueError(f"experiment {self.name!r}, variant {v.name!r}: evidence must "
                                 f"be one of {tuple(EVIDENCE)}, got {ev!r}")
            if self.versus_of(v.name) is not None and EVIDENCE[ev] and not self.claim_of(v.name):
                raise ValueError(f"experiment {self.name!r}, variant {v.name!r}: a {ev} "
                                 "comparison must name the claim it tests (claim or claim_name)")
        for v in self.variants:
            if v.tune_from is not None:
                exp, _, var = v.tune_from.rpartition("/")
                if not var or (not exp and var not in names) or (not exp and var == v.name):
                    raise ValueError(
                        f"experiment {self.name!r}, variant {v.name!r}: tune_from must name "
                        f"another variant ('VARIANT' or 'EXPERIMENT/VARIANT'), got "
                        f"{v.tune_from!r}"
                    )
        for v in self.variants:  # fail at definition time, not mid-run
            cfg = self.config(v.name, self.seeds[0])
            try:  # the run settings, each by its field's declared check
                cfg.check()
            except ValueError as exc:
                raise ValueError(f"experiment {self.name!r}, variant {v.name!r}: {exc}") from exc
            needs_val = self.select == "best_val" or self.tuning_of(v.name) is not None
            if needs_val and not cfg.data_kwargs.get("val_fraction"):
                raise ValueError(
                    f"experiment {self.name!r}, variant {v.name!r}: tuning and select="
                    "'best_val' need a validation split (data_kwargs.val_fraction > 0)"
                )

    @property
    def val_metric(self) -> str:
        """The validation counterpart of ``metric`` (``test_acc`` → ``val_acc``)."""
        return "val_" + self.metric.removeprefix("test_")

    def tuning_of(self, variant: str) -> Tuning | None:
        """The grid ``variant`` is tuned on (its own, else the experiment's); ``None`` when it
        is not tuned itself."""
        v = self.variant(variant)
        return None if v.tune_from is not None else (v.tuning or self.tuning)

    def tuned(self, variant: str) -> bool:
        """Whether ``variant`` needs a tuned value (its own or another variant's)."""
        return self.variant(variant).tune_from is not None or self.tuning_of(variant) is not None

    def source(self, variant: str) -> tuple[str, str] | None:
        """(experiment, variant) whose tuning this variant's value comes from, one step
        (``tune_from`` may chain); ``None`` when the variant is not tuned."""
        v = self.variant(variant)
        if v.tune_from is not None:
            exp, _, var = v.tune_from.rpartition("/")
            return (exp or self.name, var)
        return (self.name, variant) if self.tuning_of(variant) is not None else None

    # ------------------------------------------------------------------ claims
    def versus_of(self, variant: str) -> str | None:
        """The variant ``variant`` is compared with (``None``: the baseline itself)."""
        v = self.variant(variant)
        if v.versus is not None:
            return v.versus
        return None if v.name == self.baseline else self.baseline

    def evidence_of(self, variant: str) -> str:
        """The evidence kind of ``variant``'s comparison (:data:`EVIDENCE`)."""
        ev = self.variant(variant).evidence or self.evidence
        if ev is None:
            ev = {"direct": "direct", "proxy": "proxy"}.get(self.fidelity or "", "exploratory")
        return ev

    def claim_of(self, variant: str) -> str:
        """The claim ``variant``'s comparison tests ("" for none)."""
        return self.variant(variant).claim or self.claim_name

    def family_of(self, variant: str) -> str | None:
        """The Holm family of ``variant``'s comparison: ``"primary"``, ``"secondary · PAPER"``
        or ``None`` (exploratory: no verdict)."""
        return family(EVIDENCE.get(self.evidence_of(variant)), self.paper)

    def variant(self, name: str) -> Variant:
        for v in self.variants:
            if v.name == name:
                return v
        raise ValueError(
            f"experiment {self.name!r} has no variant {name!r}; expected one of: "
            f"{', '.join(v.name for v in self.variants)}"
        )

    def config(
        self, variant: str, seed: int, tuned: dict[str, Any] | None = None
    ) -> TrainConfig:
        """The full TrainConfig of ``variant`` at ``seed`` (progress bars off by default), with
        ``tuned`` values (e.g. ``{"lr": 0.03}``) applied last."""
        d = {"progress": False, **apply_overrides(self.base, self.variant(variant).overrides)}
        d.update(tuned or {})
        d["seed"] = int(seed)
        if self.split_seed == "run":  # this run's own validation split
            d["data_kwargs"] = {**(d.get("data_kwargs") or {}), "seed": int(seed)}
        try:
            return TrainConfig.from_dict(d)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"experiment {self.name!r}, variant {variant!r}: {exc}") from exc

    def run(
        self, variant: str, seed: int, tuned: dict[str, Any] | None = None, role: str = "eval",
        code: str | None = None,
    ) -> RunSpec:
        """The :class:`RunSpec` of ``variant`` at ``seed`` (with ``tuned`` values), keyed for
        code of source hash ``code`` (:func:`run_key`)."""
        cfg = self.config(variant, seed, tuned)
        d = cfg.to_dict()
        return RunSpec(self.name, variant, int(seed), cfg, run_key(d, code), role, config_key(d))

    def tuning_runs(
        self, variant: str, grid: Sequence[float] | None = None, code: str | None = None
    ) -> list[RunSpec]:
        """The runs of ``variant`` at each tuning seed for each value of ``grid`` (default:
        its tuning's initial grid), values outer (``role="tune"``)."""
        t = self.tuning_of(variant)
        if t is None:
            raise ValueError(f"experiment {self.name!r}, variant {variant!r} is not tuned "
                             "itself (no tuning declared, or tune_from)")
        return [self.run(variant, s, {t.param: g}, role="tune", code=code)
                for g in (t.grid if grid is None else grid) for s in t.seeds]

    def runs(self, tuned: dict[str, dict[str, Any]] | None = None,
             code: str | None = None) -> list[RunSpec]:
        """One :class:`RunSpec` per (variant, seed), variants in order, seeds inner.

        ``tuned``: variant → its tuned values; required for every tuned variant (the runner's
        :class:`~losskit.experiments.plan.Plan` computes them from the tuning runs).
        """
        tuned = tuned or {}
        out = []
        for v in self.variants:
            if self.tuned(v.name) and v.name not in tuned:
                raise ValueError(
                    f"experiment {self.name!r}, variant {v.name!r} is tuned: its value is known "
                    "only after its tuning runs (see losskit.experiments.plan.Plan)"
                )
            out += [self.run(v.name, seed, tuned.get(v.name), code=code) for seed in self.seeds]
        return out

    def meta(self) -> dict[str, Any]:
        """Display metadata stored with each result line (the report falls back to it)."""
        return {
            "title": self.title,
            "claim": self.claim,
            "metric": self.metric,
            "higher_is_better": self.higher_is_better,
            "baseline": self.baseline,
            "sweep_param": self.sweep_param,
            "sweep_log": self.sweep_log,
            "scale": self.scale,
            "headline": self.headline,
            "notes": self.notes,
            "select": self.select,
            "fidelity": self.fidelity,
            "paper_setting": self.paper_setting,
            "paper": self.paper,
            "split_seed": self.split_seed,
            "metric_range": list(self.metric_range),
            "tuning": None if self.tuning is None else self.tuning.to_dict(),
            "seeds": list(self.seeds),
            "variants": [
                {"name": v.name, "paper": v.paper, "sweep_value": v.sweep_value,
                 "group": v.group, "overrides": v.overrides, "tune_from": v.tune_from,
                 "tuning": None if v.tuning is None else v.tuning.to_dict(),
                 "versus": self.versus_of(v.name), "claim": self.claim_of(v.name),
                 "evidence": self.evidence_of(v.name)}
                for v in self.variants
            ],
        }


def family(kind: str | None, paper: str) -> str | None:
    """Holm family name: ``"primary"``, ``"secondary · PAPER"`` or ``None`` (no verdict)."""
    if kind == "secondary":
        return f"secondary · {paper or 'other'}"
    return kind


def sweep_variants(
    prefix: str,
    param: str,
    values: Sequence[float],
    overrides: dict[str, Any] | None = None,
    paper: dict[float, float | str] | None = None,
    group: str | None = None,
    tune_from: str | None = None,
    suffix: str = "",
    **fields: Any,
) -> list[Variant]:
    """Variants ``f"{prefix}{value}{suffix}"`` setting override key ``param`` to each value (all
    reusing ``tune_from``'s tuned value when given; ``fields``: further :class:`Variant`
    fields, e.g. ``evidence``).

    >>> [v.name for v in sweep_variants("K=", "method_kwargs.k", [1, 2])]
    ['K=1', 'K=2']
    """
    return [
        Variant(
            name=f"{prefix}{value}{suffix}",
            overrides={**(overrides or {}), param: value},
            paper=(paper or {}).get(value),
            sweep_value=float(value),
            group=group,
            tune_from=tune_from,
            **fields,
        )
        for value in values
    ]


# ---------------------------------------------------------------------------- registry
EXPERIMENTS: Registry[Experiment] = Registry("experiment")
#: suite name → experiment names; "all" (every registered experiment: quick + paper-full)
#: is implicit.
SUITES: dict[str, list[str]] = {}


def register(experiment: Experiment, registry: Registry[Experiment] | None = None) -> Experiment:
    """Register ``experiment`` under its name (its title is the help line)."""
    reg = EXPERIMENTS if registry is None else registry
    reg.register(experiment.name, help=experiment.title)(lambda: experiment)
    return experiment


def register_suite(name: str, experiments: Iterable[str]) -> None:
    """Name a list of experiments (``losskit reproduce NAME`` runs them all)."""
    if name == "all":
        raise ValueError("suite 'all' is implicit (every registered experiment)")
    SUITES[name] = list(experiments)


def get(name: str) -> Experiment:
    """The registered experiment ``name`` (``ValueError`` listing valid names otherwise)."""
    return EXPERIMENTS.get(name)


def check_methods(experiments: Sequence[Experiment]) -> None:
    """Every variant's ``method`` and ``method_kwargs`` against the method's declared options
    (:mod:`losskit.core.options`): a bad key or value is one ``ValueError`` naming the experiment
    and the variant, before anything runs."""
    from losskit.train.trainer import build_method

    for e in experiments:
        for v in e.variants:
            try:
                build_method(e.config(v.name, e.seeds[0]))
            except ValueError as exc:
                raise ValueError(f"experiment {e.name!r}, variant {v.name!r}: {exc}") from exc


def resolve(
    names: str | Sequence[str | Experiment],
    registry: Registry[Experiment] | None = None,
    suites: dict[str, list[str]] | None = None,
) -> list[Experiment]:
    """Experiments for a suite/experiment name, a comma-separated list, or a list of both."""
    reg = EXPERIMENTS if registry is None else registry
    suites = SUITES if suites is None else suites
    items: list[str | Experiment] = (
        split_list(names, "suite") if isinstance(names, str)
        else list(names)
    )
    out: list[Experiment] = []
    for item in items:
        if isinstance(item, Experiment):
            found = [item]
        elif item == "all":
            found = [reg.get(n) for n in reg.names()]
        elif item in suites:
            found = [reg.get(n) for n in suites[item]]
        elif item in reg:
            found = [reg.get(item)]
        else:
            valid = ["all", *sorted(suites), *reg.names()]
            raise ValueError(
                f"unknown experiment or suite {item!r}; expected one of: {', '.join(valid)}"
            )
        out.extend(e for e in found if all(e.name != o.name for o in out))
    if not out:
        raise ValueError(f"no experiments selected by {names!r}")
    return out
