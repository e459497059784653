"""Records → experiments: which recorded runs are each row's, under which code version.

Which records belong to which experiment comes from the specs (the ``experiments`` argument,
else the registry): runs are keyed by config and code version, so one record can serve several
experiments (a shared baseline). Records are indexed per code version
(:class:`~losskit.experiments.version.CodeVersion`; records without one are version
``"unknown"`` and keyed by config alone); for every version the specs' runs are looked up,
tuning choices included. Each row then shows **one** version: the one with the most of its
seeds (ties: the most recent). Experiments found only in the file, or whose records predate
the current spec, fall back to the ``meta`` stored in each record and to the records' own
experiment/variant fields (their tuning is reconstructed from the file's tuning runs).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from losskit.experiments.plan import Choice, Outcome, Plan, outcome, val_tail
from losskit.experiments.spec import EVIDENCE, EXPERIMENTS, Experiment, apply_overrides, family
from losskit.experiments.version import UNKNOWN, CodeVersion

Records = dict[str, dict[str, Any]]


@dataclass
class VariantData:
    """One row: its declaration (from the spec or the stored meta) and its records (of the
    row's code ``version``; ``other_versions``: records of other versions left out)."""

    name: str
    paper: Any = None
    sweep_value: float | None = None
    group: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    tune_from: str | None = None
    tuned_self: bool = False
    versus: str | None = None
    claim: str = ""
    evidence: str = "exploratory"
    family: str | None = None
    records: list[dict[str, Any]] = field(default_factory=list)
    choice: Choice | None = None
    version: str = UNKNOWN
    other_versions: int = 0


@dataclass
class ExperimentData:
    name: str
    meta: dict[str, Any]
    variants: list[VariantData]
    legacy: bool = False  # shown by name: the records do not match the current spec

    @property
    def metric(self) -> str:
        return self.meta.get("metric") or "test_acc"

    @property
    def val_metric(self) -> str:
        return "val_" + self.metric.removeprefix("test_")

    @property
    def scale(self) -> float:
        return float(self.meta.get("scale") or 1.0)

    @property
    def baseline(self) -> str | None:
        return self.meta.get("baseline")

    @property
    def select(self) -> str:
        return self.meta.get("select") or "final"

    @property
    def higher(self) -> bool:
        return bool(self.meta.get("higher_is_better", True))

    @property
    def metric_range(self) -> tuple[float, float]:
        lo, hi = self.meta.get("metric_range") or (0.0, 1.0)
        return float(lo), float(hi)

    def variant(self, name: str | None) -> VariantData | None:
        return next((v for v in self.variants if v.name == name), None)

    def records(self) -> list[dict[str, Any]]:
        return [r for v in self.variants for r in v.records]

    def outcomes(self, vd: VariantData) -> dict[int, Outcome]:
        """seed → the run's outcome under this experiment's selection rule."""
        return {int(r.get("seed", 0)): outcome(r, self.metric, self.select, self.higher)
                for r in vd.records}

    def values(self, vd: VariantData) -> dict[int, float]:
        """seed → reported test metric (runs without one, e.g. diverged at once, left out)."""
        return {s: o.test for s, o in self.outcomes(vd).items() if o.test is not None}


def version_of(record: dict[str, Any]) -> str:
    return CodeVersion.of(record).id


def _declared(exp: Experiment, name: str) -> dict[str, Any]:
    return {"versus": exp.versus_of(name), "claim": exp.claim_of(name),
            "evidence": exp.evidence_of(name), "family": exp.family_of(name)}


def _from_meta(meta: dict[str, Any], spec: Experiment | None) -> list[VariantData]:
    """Rows of a stored meta (records of an older spec). A row the current spec still declares
    (same name) takes its claim and evidence from it; otherwise from the stored meta: a direct
    experiment's row that tuned its own rate, or reused another's, is ``tuned`` evidence."""
    out = []
    for v in meta.get("variants", []):
        vd = VariantData(v["name"], v.get("paper"), v.get("sweep_value"), v.get("group"),
                         dict(v.get("overrides") or {}), v.get("tune_from"))
        vd.tuned_self = v.get("tune_from") is None and meta.get("tuning") is not None
        _legacy_claims(vd, v, meta, spec)
        out.append(vd)
    return out


def _legacy_claims(vd: VariantData, stored: dict[str, Any], meta: dict[str, Any],
                   spec: Experiment | None) -> None:
    if spec is not None and vd.name in {v.name for v in spec.variants}:
        for k, v in _declared(spec, vd.name).items():
            setattr(vd, k, v)
        return
    if "evidence" in stored:  # a meta written with claims
        vd.versus, vd.claim, vd.evidence = stored.get("versus"), stored.get("claim", ""), \
            stored["evidence"]
    else:
        vd.versus = None if vd.name == meta.get("baseline") else meta.get("baseline")
        fid = meta.get("fidelity")
        tuned = meta.get("tuning") is not None or vd.tune_from is not None
        vd.evidence = ("proxy" if fid == "proxy" else
                       ("tuned" if tuned else "direct") if fid == "direct" else "exploratory")
        vd.claim = str(meta.get("claim") or "")
    paper = meta.get("paper") or (spec.paper if spec is not None else "") or str(
        meta.get("paper_setting") or "").split(" ")[0]
    vd.family = family(EVIDENCE.get(vd.evidence), paper)


def _from_spec(exp: Experiment, plans: dict[str, Plan], by_version: dict[str, Records],
               latest: dict[str, str]) -> ExperimentData:
    """Rows of ``exp`` from the records of each code version; each row keeps the version with
    the most of its seeds (ties: the most recent)."""
    meta = exp.meta()
    data = ExperimentData(exp.name, meta, [])
    for v in exp.variants:
        vd = VariantData(v.name, v.paper, v.sweep_value, v.group, dict(v.overrides), v.tune_from,
                         exp.tuning_of(v.name) is not None, **_declared(exp, v.name))
        found: dict[str, tuple[list[dict[str, Any]], Choice | None]] = {}
        for vid, plan in plans.items():
            records = by_version[vid]
            recs = []
            for seed in exp.seeds:
                spec = plan.eval_spec(exp.name, v.name, seed, records)
                if spec is not None and spec.key in records:
                    recs.append({**records[spec.key], "seed": seed})
            choice = plan.choices(records).get((exp.name, v.name))
            if recs or choice is not None:
                found[vid] = (recs, choice)
        if found:
            vid = max(found, key=lambda k: (len(found[k][0]), latest.get(k, "")))
            vd.records, vd.choice = found[vid]
            vd.version = vid
            vd.other_versions = sum(len(r) for k, (r, _) in found.items() if k != vid)
        data.variants.append(vd)
    return data


_IGNORED = frozenset({"seed", "lr", "progress", "threads", "resume", "out_dir"})


def _unapply(config: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any] | None:
    """``config`` without its variant's dotted overrides (the experiment's base, as far as it
    can be recovered); ``None`` when a plain override replaced a whole field."""
    out = copy.deepcopy(config)
    for key in overrides:
        head, dot, rest = key.partition(".")
        if not dot:
            return None
        target = out.get(head)
        *path, last = rest.split(".")
        for part in path:
            target = target.get(part) if isinstance(target, dict) else None
        if isinstance(target, dict):
            target.pop(last, None)
    return out


def _borrowed(vd: VariantData, own: list[dict[str, Any]], pool: list[dict[str, Any]],
              declared: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Records of a row with none under its experiment's name: an identical run recorded by
    another experiment (a shared baseline). Its config is rebuilt from a recorded run of this
    experiment (its variant's overrides taken off, the row's put on) and matched up to the
    learning rate (tuned elsewhere) and the seed."""
    wanted = []
    for r in own:
        base = _unapply(r.get("config") or {}, declared.get(str(r.get("variant")), {}))
        if base is None:  # try the row's own plain overrides over the template instead
            base = copy.deepcopy(r.get("config") or {})
            plain = {k for k in declared.get(str(r.get("variant")), {}) if "." not in k}
            if not plain <= {k for k in vd.overrides if "." not in k}:
                continue
        cfg = apply_overrides(base, vd.overrides)
        wanted.append({k: v for k, v in cfg.items() if k not in _IGNORED})
    if not wanted:
        return []
    found: dict[int, dict[str, Any]] = {}
    for r in pool:
        cfg = {k: v for k, v in (r.get("config") or {}).items() if k not in _IGNORED}
        if cfg in wanted:
            found.setdefault(int(r.get("seed", 0)), r)
    return [found[s] for s in sorted(found)]


def _from_records(name: str, records: list[dict[str, Any]], tune: list[dict[str, Any]],
                  spec: Experiment | None, pool: list[dict[str, Any]] | None = None
                  ) -> ExperimentData:
    meta = next((r["meta"] for r in reversed(records) if isinstance(r.get("meta"), dict)), None)
    if meta is None:
        meta = spec.meta() if spec is not None else {}
    data = ExperimentData(name, meta, _from_meta(meta, spec), legacy=spec is not None)
    per_row: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for r in records:
        if r.get("role", "eval") == "eval":
            per_row.setdefault(str(r.get("variant")), {}).setdefault(version_of(r), []).append(r)
    latest = {}
    for r in records:
        latest[version_of(r)] = max(latest.get(version_of(r), ""), str(r.get("timestamp", "")))
    for vname, versions in per_row.items():
        vd = data.variant(vname)
        if vd is None:  # a variant the stored spec no longer lists: still shown
            vd = VariantData(vname)
            _legacy_claims(vd, {}, meta, spec)
            data.variants.append(vd)
        vid = max(versions, key=lambda k: (len(versions[k]), latest.get(k, "")))
        vd.records = sorted(versions[vid], key=lambda r: r.get("seed", 0))
        vd.version = vid
        vd.other_versions = sum(len(v) for k, v in versions.items() if k != vid)
        vd.choice = _legacy_choice(data, vd, tune)
    own = [r for r in records if r.get("role", "eval") == "eval"]
    declared = {v["name"]: dict(v.get("overrides") or {}) for v in meta.get("variants", [])}
    seeds = set(meta.get("seeds") or [])
    for vd in data.variants:
        if not vd.records and own and pool:
            got = [r for r in _borrowed(vd, own, pool, declared)
                   if not seeds or int(r.get("seed", 0)) in seeds]
            if got:
                vd.records, vd.version = got, version_of(got[0])
                vd.choice = _legacy_choice(data, vd, tune, by_name=False)
    return data


def _legacy_choice(exp: ExperimentData, vd: VariantData, tune: list[dict[str, Any]],
                   by_name: bool = True) -> Choice | None:
    """The tuning of a row shown by name, rebuilt from the file's tuning runs of that
    experiment/variant (``by_name=False``: of the experiment that recorded the row's runs):
    each value's mean best validation over its seeds; the value is the one the row's runs
    used."""
    where = exp.name if by_name else (vd.records[0].get("experiment") if vd.records else None)
    who = vd.name if by_name else (vd.records[0].get("variant") if vd.records else None)
    mine = [r for r in tune if r.get("variant") == who and version_of(r) == vd.version
            and r.get("experiment") == where]
    used = {(r.get("config") or {}).get("lr") for r in vd.records}
    if not mine or len(used) != 1:
        return None
    value = used.pop()
    per: dict[float, list[float | None]] = {}
    tails: dict[float, list[float | None]] = {}
    for r in mine:
        lr = float((r.get("config") or {}).get("lr"))
        per.setdefault(lr, []).append(outcome(r, exp.metric, "best_val", exp.higher).val)
        tails.setdefault(lr, []).append(val_tail(r, exp.val_metric))
    grid = sorted(per)
    scores = tuple((g, None if None in per[g] else sum(per[g]) / len(per[g]))  # type: ignore
                   for g in grid)
    interior = len(grid) > 2 and grid[0] < value < grid[-1]
    why = "" if interior else (
        f"at the {'lower' if value == grid[0] else 'upper'} end; the grid was not extended "
        "(recorded before grid extension)")
    best = [s for _, s in scores if s is not None]
    tie = bool(best) and sum(s == max(best) for s in best) > 1
    seeds = tuple(sorted({int(r.get("seed", 0)) for r in mine}))
    return Choice("lr", float(value), scores, str(where), str(who), interior, why, 0, tie, seeds)


def _default_selection(by_exp: dict[str, list[dict[str, Any]]],
                       by_version: dict[str, Records]) -> list[str]:
    """Experiments named in the file (first appearance), then registered experiments that
    only borrow its runs (shared configs)."""
    names = list(by_exp)
    for name in EXPERIMENTS.names():
        if name in names:
            continue
        try:
            exp = EXPERIMENTS.get(name)
            for vid, records in by_version.items():
                plan = Plan([exp], code=None if vid == UNKNOWN else vid)
                if any(p.spec.key in records for p in plan.runs(records)
                       if p.spec.role == "eval"):
                    names.append(name)
                    break
        except ValueError:
            continue
    return names


def group(records: list[dict[str, Any]],
          experiments: Sequence[str | Experiment] | None) -> list[ExperimentData]:
    """The experiments to report (default: every experiment found in the file) with their
    rows' records."""
    by_version: dict[str, Records] = {}
    latest: dict[str, str] = {}
    by_exp: dict[str, list[dict[str, Any]]] = {}
    tune: list[dict[str, Any]] = []
    seen: set[str] = set()
    for r in records:
        if r["key"] in seen:  # the runner never writes a key twice; be safe anyway
            continue
        seen.add(r["key"])
        vid = version_of(r)
        by_version.setdefault(vid, {})[r["key"]] = r
        latest[vid] = max(latest.get(vid, ""), str(r.get("timestamp", "")))
        by_exp.setdefault(str(r.get("experiment")), []).append(r)
        if r.get("role") == "tune":
            tune.append(r)
    if experiments is None:
        experiments = _default_selection(by_exp, by_version)
    specs = [e if isinstance(e, Experiment) else EXPERIMENTS.get(e)
             for e in experiments if isinstance(e, Experiment) or e in EXPERIMENTS]
    plans: dict[str, Plan] | None
    try:
        plans = {vid: Plan(specs, code=None if vid == UNKNOWN else vid) for vid in by_version}
    except ValueError:  # a tune_from target no longer registered: fall back to the records
        plans = None
    out = []
    for e in experiments:
        name = e.name if isinstance(e, Experiment) else e
        spec = e if isinstance(e, Experiment) else (EXPERIMENTS.get(e) if e in EXPERIMENTS
                                                    else None)
        data = (_from_spec(spec, plans, by_version, latest)
                if spec is not None and plans is not None else None)
        if data is None or (not data.records() and by_exp.get(name)):
            # no spec, or records that predate it (another key scheme or config): by name
            pool = [r for r in records if r.get("role", "eval") == "eval"]
            data = _from_records(name, by_exp.get(name, []), tune, spec, pool)
        out.append(data)
    return out
