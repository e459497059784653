"""Declarative experiment specs: a base :class:`TrainConfig`, variants, seeds, a claim.

An :class:`Experiment` is data, not a script: it expands into one :class:`RunSpec` per
(variant, seed), each with a full ``TrainConfig`` and a stable ``key`` — a hash of the config
alone (experiment and variant names are not part of it), so identical runs requested by several
experiments (a shared CE baseline, the tuning runs of a shared variant) run once and are
recorded once.

The papers' protocol lives here as data: :class:`Tuning` (a grid of learning rates tried on one
tuning seed, the best by validation chosen per variant, see :mod:`losskit.experiments.plan`),
``Variant.tune_from`` (sweeps and MILS reuse another variant's choice), ``Experiment.select``
(report the test metric at the best-validation epoch), and the labels the report prints
(``fidelity`` "direct"/"proxy", ``paper_setting``: where the paper's numbers come from).
Experiments are registered in :data:`EXPERIMENTS`; suites name lists of experiments.

Variant overrides are ``TrainConfig`` fields; a dotted key sets one entry of a dict field
(``{"method_kwargs.k": 4}`` keeps the base's other method kwargs), a plain key replaces the
field (``{"method": "loss", "method_kwargs": {"loss": "ce"}}``).
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from losskit._validation import split_list
from losskit.registry import Registry
from losskit.train.config import NON_SEMANTIC_FIELDS, TrainConfig

# NON_SEMANTIC_FIELDS (one home: train.config) are left out of the run key so that, e.g., a
# different thread count or progress setting on restart does not re-run finished work.

SELECTIONS = ("final", "best_val")
#: The seeds every registered suite reports (at least 5 per variant).
REPORT_SEEDS = [0, 1, 2, 3, 4]

_FIELDS = frozenset(TrainConfig.__dataclass_fields__)
_DICT_FIELDS = frozenset(
    name for name, f in TrainConfig.__dataclass_fields__.items() if f.default_factory is dict
)


@dataclass(frozen=True)
class Tuning:
    """Per-variant hyper-parameter choice on validation (the protocol's LR tuning).

    Every variant of the experiment (unless it sets ``tune_from``) is run once per ``grid`` value
    of ``param`` at seed ``seed``; the value whose run reaches the best validation metric (the
    experiment's metric with ``val_`` for ``test_``, best over epochs) is used for the
    experiment's seeds. ``seed`` must not be one of them (the reported seeds are fresh).
    """

    grid: tuple[float, ...]
    seed: int = 100
    param: str = "lr"

    def __post_init__(self) -> None:
        grid = tuple(self.grid)
        if not grid or len(set(grid)) != len(grid):
            raise ValueError(f"grid must hold distinct values, got {self.grid!r}")
        if not all(isinstance(g, (int, float)) and not isinstance(g, bool) and g > 0
                   for g in grid):
            raise ValueError(f"grid must hold positive numbers, got {self.grid!r}")
        object.__setattr__(self, "grid", grid)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"seed must be an integer, got {self.seed!r}")
        if self.param not in _FIELDS or self.param in _DICT_FIELDS or self.param == "seed":
            raise ValueError(f"param must be a scalar TrainConfig field, got {self.param!r}")


@dataclass(frozen=True)
class Variant:
    """One arm of an experiment.

    ``overrides``: TrainConfig fields (dotted keys reach into dict fields); ``paper``: the number
    the paper reports for this arm (shown next to ours); ``sweep_value``: its position on the
    experiment's sweep axis; ``group``: which line of the sweep plot it belongs to;
    ``tune_from``: reuse the tuned value of another variant — ``"VARIANT"`` of this experiment or
    ``"EXPERIMENT/VARIANT"`` — instead of tuning its own (sweeps reuse their parent's choice,
    MILS the CE choice).
    """

    name: str
    overrides: dict[str, Any] = field(default_factory=dict)
    paper: float | str | None = None
    sweep_value: float | None = None
    group: str | None = None
    tune_from: str | None = None


@dataclass(frozen=True)
class RunSpec:
    """One run: its full config and its stable key; ``role`` is ``"eval"`` (a reported seed)
    or ``"tune"`` (a tuning run; ``seed`` is then the tuning seed)."""

    experiment: str
    variant: str
    seed: int
    config: TrainConfig
    key: str
    role: str = "eval"


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


#: Bumped when what a key means changes (2: the config alone; 1 hashed the names too).
KEY_VERSION = 2


def run_key(config: dict[str, Any]) -> str:
    """Stable 16-hex-digit hash of the semantic fields of ``config`` (its seed included)."""
    semantic = {k: v for k, v in config.items() if k not in NON_SEMANTIC_FIELDS}
    payload = _canonical({"key_version": KEY_VERSION, "config": semantic})
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def cost_class(config: dict[str, Any]) -> str:
    """Hash of the fields that set the cost of one epoch (not seed, lr, schedule, epochs):
    runs of one class are timed once by the estimator."""
    ignore = NON_SEMANTIC_FIELDS | {"seed", "lr", "momentum", "weight_decay", "schedule",
                                    "step_size", "gamma", "epochs"}
    payload = _canonical({k: v for k, v in config.items() if k not in ignore})
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


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
        if self.tuning is not None and self.tuning.seed in self.seeds:
            raise ValueError(f"experiment {self.name!r}: the tuning seed {self.tuning.seed} "
                             "must not be one of the reported seeds")
        for v in self.variants:
            if v.tune_from is not None:
                exp, _, var = v.tune_from.rpartition("/")
                if not var or (not exp and var not in names) or (not exp and var == v.name):
                    raise ValueError(
                        f"experiment {self.name!r}, variant {v.name!r}: tune_from must name "
                        f"another variant ('VARIANT' or 'EXPERIMENT/VARIANT'), got "
                        f"{v.tune_from!r}"
                    )
        needs_val = self.select == "best_val" or self.tuning is not None
        for v in self.variants:  # fail at definition time, not mid-run
            cfg = self.config(v.name, self.seeds[0])
            if needs_val and not cfg.data_kwargs.get("val_fraction"):
                raise ValueError(
                    f"experiment {self.name!r}, variant {v.name!r}: tuning and select="
                    "'best_val' need a validation split (data_kwargs.val_fraction > 0)"
                )

    @property
    def val_metric(self) -> str:
        """The validation counterpart of ``metric`` (``test_acc`` → ``val_acc``)."""
        return "val_" + self.metric.removeprefix("test_")

    def tuned(self, variant: str) -> bool:
        """Whether ``variant`` needs a tuned value (its own or another variant's)."""
        return self.variant(variant).tune_from is not None or self.tuning is not None

    def source(self, variant: str) -> tuple[str, str] | None:
        """(experiment, variant) whose tuning this variant's value comes from, one step
        (``tune_from`` may chain); ``None`` when the variant is not tuned."""
        v = self.variant(variant)
        if v.tune_from is not None:
            exp, _, var = v.tune_from.rpartition("/")
            return (exp or self.name, var)
        return (self.name, variant) if self.tuning is not None else None

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
        try:
            return TrainConfig.from_dict(d)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"experiment {self.name!r}, variant {variant!r}: {exc}") from exc

    def run(
        self, variant: str, seed: int, tuned: dict[str, Any] | None = None, role: str = "eval"
    ) -> RunSpec:
        """The :class:`RunSpec` of ``variant`` at ``seed`` (with ``tuned`` values)."""
        cfg = self.config(variant, seed, tuned)
        return RunSpec(self.name, variant, int(seed), cfg, run_key(cfg.to_dict()), role)

    def tuning_runs(self, variant: str) -> list[RunSpec]:
        """The grid runs of ``variant`` at the tuning seed (``role="tune"``)."""
        if self.tuning is None:
            raise ValueError(f"experiment {self.name!r} declares no tuning")
        t = self.tuning
        return [self.run(variant, t.seed, {t.param: g}, role="tune") for g in t.grid]

    def runs(self, tuned: dict[str, dict[str, Any]] | None = None) -> list[RunSpec]:
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
            out += [self.run(v.name, seed, tuned.get(v.name)) for seed in self.seeds]
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
            "tuning": None if self.tuning is None else {
                "grid": list(self.tuning.grid), "seed": self.tuning.seed,
                "param": self.tuning.param},
            "seeds": list(self.seeds),
            "variants": [
                {"name": v.name, "paper": v.paper, "sweep_value": v.sweep_value,
                 "group": v.group, "overrides": v.overrides, "tune_from": v.tune_from}
                for v in self.variants
            ],
        }


def sweep_variants(
    prefix: str,
    param: str,
    values: Sequence[float],
    overrides: dict[str, Any] | None = None,
    paper: dict[float, float | str] | None = None,
    group: str | None = None,
    tune_from: str | None = None,
) -> list[Variant]:
    """Variants ``f"{prefix}{value}"`` setting override key ``param`` to each value (all
    reusing ``tune_from``'s tuned value when given).

    >>> [v.name for v in sweep_variants("K=", "method_kwargs.k", [1, 2])]
    ['K=1', 'K=2']
    """
    return [
        Variant(
            name=f"{prefix}{value}",
            overrides={**(overrides or {}), param: value},
            paper=(paper or {}).get(value),
            sweep_value=float(value),
            group=group,
            tune_from=tune_from,
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
    (:mod:`losskit.options`): a bad key or value is one ``ValueError`` naming the experiment
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
