"""Declarative experiment specs: a base :class:`TrainConfig`, variants, seeds, a claim.

An :class:`Experiment` is data, not a script: :meth:`Experiment.runs` expands it into one
:class:`RunSpec` per (variant, seed), each with a full ``TrainConfig`` and a stable ``key``
(a hash of experiment, variant, seed and the config) by which the runner recognises finished
runs. Experiments are registered in :data:`EXPERIMENTS`; suites (``"all"``, ``"smoke"``, …)
name lists of experiments.

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

from losskit.registry import Registry
from losskit.train.config import NON_SEMANTIC_FIELDS, TrainConfig

# NON_SEMANTIC_FIELDS (one home: train.config) are left out of the run key so that, e.g., a
# different thread count or progress setting on restart does not re-run finished work.

_FIELDS = frozenset(TrainConfig.__dataclass_fields__)
_DICT_FIELDS = frozenset(
    name for name, f in TrainConfig.__dataclass_fields__.items() if f.default_factory is dict
)


@dataclass(frozen=True)
class Variant:
    """One arm of an experiment.

    ``overrides``: TrainConfig fields (dotted keys reach into dict fields); ``paper``: the number
    the paper reports for this arm (shown next to ours); ``sweep_value``: its position on the
    experiment's sweep axis; ``group``: which line of the sweep plot it belongs to.
    """

    name: str
    overrides: dict[str, Any] = field(default_factory=dict)
    paper: float | str | None = None
    sweep_value: float | None = None
    group: str | None = None


@dataclass(frozen=True)
class RunSpec:
    """One (experiment, variant, seed) run: its full config and its stable key."""

    experiment: str
    variant: str
    seed: int
    config: TrainConfig
    key: str


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def run_key(experiment: str, variant: str, seed: int, config: dict[str, Any]) -> str:
    """Stable 16-hex-digit hash of (experiment, variant, seed, semantic config fields)."""
    semantic = {k: v for k, v in config.items() if k not in NON_SEMANTIC_FIELDS}
    payload = _canonical({"experiment": experiment, "variant": variant, "seed": seed,
                          "config": semantic})
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

    ``claim``: the paper's claim in words (quoted in the report); ``metric``: the final-metric
    key compared (``test_acc``, ``test_ap``, …); ``baseline``: the variant every other one is
    compared with (paired over seeds); ``sweep_param``: x-axis label when variants sweep a value
    (``Variant.sweep_value``); ``scale``: display factor (fractions → percent);
    ``headline``: variants shown in the README table (default: all).
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
        for v in self.variants:  # fail at definition time, not mid-run
            self.config(v.name, self.seeds[0])

    def variant(self, name: str) -> Variant:
        for v in self.variants:
            if v.name == name:
                return v
        raise ValueError(
            f"experiment {self.name!r} has no variant {name!r}; expected one of: "
            f"{', '.join(v.name for v in self.variants)}"
        )

    def config(self, variant: str, seed: int) -> TrainConfig:
        """The full TrainConfig of ``variant`` at ``seed`` (progress bars off by default)."""
        d = {"progress": False, **apply_overrides(self.base, self.variant(variant).overrides)}
        d["seed"] = int(seed)
        try:
            return TrainConfig.from_dict(d)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"experiment {self.name!r}, variant {variant!r}: {exc}") from exc

    def runs(self) -> list[RunSpec]:
        """One :class:`RunSpec` per (variant, seed), variants in order, seeds inner."""
        out = []
        for v in self.variants:
            for seed in self.seeds:
                cfg = self.config(v.name, seed)
                out.append(RunSpec(self.name, v.name, seed, cfg,
                                   run_key(self.name, v.name, seed, cfg.to_dict())))
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
            "variants": [
                {"name": v.name, "paper": v.paper, "sweep_value": v.sweep_value,
                 "group": v.group, "overrides": v.overrides}
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
) -> list[Variant]:
    """Variants ``f"{prefix}{value}"`` setting override key ``param`` to each value.

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
        )
        for value in values
    ]


# ---------------------------------------------------------------------------- registry
EXPERIMENTS: Registry[Experiment] = Registry("experiment")
#: suite name → experiment names; "all" (every registered experiment) is implicit.
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


def resolve(
    names: str | Sequence[str | Experiment],
    registry: Registry[Experiment] | None = None,
    suites: dict[str, list[str]] | None = None,
) -> list[Experiment]:
    """Experiments for a suite/experiment name, a comma-separated list, or a list of both."""
    reg = EXPERIMENTS if registry is None else registry
    suites = SUITES if suites is None else suites
    items: list[str | Experiment] = (
        [n.strip() for n in names.split(",") if n.strip()] if isinstance(names, str)
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
