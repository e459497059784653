"""Markdown + PNG report, always regenerated from the results JSONL (never edited by hand).

Per experiment: the paper's claim, whether the comparison is *direct* (the paper's dataset,
model and protocol) or a *proxy*, the setup, the tuned values (every grid value's validation
score, the choice, and which variants reuse another's choice), and a table — variant, the
paper's number with its setting, ours (mean ± 95% CI over seeds of the test metric at the
best-validation epoch, or after the last epoch, as the experiment selects), the final-epoch
mean, the paired difference to the baseline with its Holm-adjusted interval, p-values, the
verdict, whether validation had flattened, time per run. Then learning curves (test and
validation, mean ± CI band), a sweep plot, SLF selection frequencies per epoch, one plot per
method log (``mils_success_ratio``, ``slf_probs``, …).

**Verdicts** are Holm-corrected across every comparison of the report (the number ``m`` is
printed): "better"/"worse" only when the corrected interval of the paired difference excludes 0
(:func:`losskit.experiments.stats.holm`).

Which records belong to which experiment comes from the specs (the ``experiments`` argument,
else the registry): runs are keyed by config, so one record can serve several experiments (a
shared baseline). Experiments found only in the file fall back to the ``meta`` stored in each
record and to the record's own experiment/variant fields.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from losskit._io import atomic_write
from losskit.experiments.plan import Choice, Outcome, Plan, outcome
from losskit.experiments.results import read_results
from losskit.experiments.spec import EXPERIMENTS, Experiment
from losskit.experiments.stats import (
    HolmDecision,
    PairedDifference,
    Summary,
    format_ci,
    format_p,
    holm,
    paired_difference,
    summarize,
    verdict,
)

README_START = "<!-- results:start -->"
README_END = "<!-- results:end -->"
ALPHA = 0.05

#: History keys that are not method logs (the Trainer's own per-epoch fields).
_STANDARD_KEYS = {"epoch", "train_loss", "train_acc", "train_time_s", "step_time_ms", "lr"}
_MAX_PANELS = 12


# ---------------------------------------------------------------------------- grouping
@dataclass
class _VariantData:
    name: str
    paper: Any = None
    sweep_value: float | None = None
    group: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    tune_from: str | None = None
    records: list[dict[str, Any]] = field(default_factory=list)
    choice: Choice | None = None


@dataclass
class _ExperimentData:
    name: str
    meta: dict[str, Any]
    variants: list[_VariantData]

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

    def variant(self, name: str | None) -> _VariantData | None:
        return next((v for v in self.variants if v.name == name), None)

    def records(self) -> list[dict[str, Any]]:
        return [r for v in self.variants for r in v.records]

    def outcomes(self, vd: _VariantData) -> dict[int, Outcome]:
        """seed → the run's outcome under this experiment's selection rule."""
        return {int(r.get("seed", 0)): outcome(r, self.metric, self.select, self.higher)
                for r in vd.records}

    def values(self, vd: _VariantData) -> dict[int, float]:
        """seed → reported test metric (runs without one, e.g. diverged at once, left out)."""
        return {s: o.test for s, o in self.outcomes(vd).items() if o.test is not None}


def _variant_data(meta: dict[str, Any]) -> list[_VariantData]:
    return [
        _VariantData(v["name"], v.get("paper"), v.get("sweep_value"), v.get("group"),
                     dict(v.get("overrides") or {}), v.get("tune_from"))
        for v in meta.get("variants", [])
    ]


def _from_spec(exp: Experiment, plan: Plan, by_key: dict[str, dict[str, Any]]) -> _ExperimentData:
    data = _ExperimentData(exp.name, exp.meta(), _variant_data(exp.meta()))
    choices = plan.choices(by_key)
    for vd in data.variants:
        vd.choice = choices.get((exp.name, vd.name))
        for seed in exp.seeds:
            spec = plan.eval_spec(exp.name, vd.name, seed, by_key)
            if spec is not None and spec.key in by_key:
                vd.records.append({**by_key[spec.key], "seed": seed})
    return data


def _from_records(
    name: str, records: list[dict[str, Any]], meta: dict[str, Any] | None = None
) -> _ExperimentData:
    if meta is None:
        meta = next((r["meta"] for r in reversed(records) if isinstance(r.get("meta"), dict)),
                    {})
    data = _ExperimentData(name, meta, _variant_data(meta))
    for r in records:
        if r.get("role", "eval") != "eval":
            continue
        vd = data.variant(r.get("variant"))
        if vd is None:  # a variant the stored spec no longer lists: still shown
            vd = _VariantData(str(r.get("variant")))
            data.variants.append(vd)
        vd.records.append(r)
    for vd in data.variants:
        vd.records.sort(key=lambda r: r.get("seed", 0))
    return data


def _default_selection(
    by_exp: dict[str, list[dict[str, Any]]], by_key: dict[str, dict[str, Any]]
) -> list[str]:
    """Experiments named in the file (first appearance), then registered experiments that
    only borrow its runs (shared configs)."""
    names = list(by_exp)
    for name in EXPERIMENTS.names():
        if name in names:
            continue
        try:
            plan = Plan([EXPERIMENTS.get(name)])
            if any(p.spec.key in by_key for p in plan.runs(by_key) if p.spec.role == "eval"):
                names.append(name)
        except ValueError:
            continue
    return names


def _group(
    records: list[dict[str, Any]], experiments: Sequence[str | Experiment] | None
) -> list[_ExperimentData]:
    by_key: dict[str, dict[str, Any]] = {}
    by_exp: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        if r["key"] in by_key:  # the runner never writes a key twice; be safe anyway
            continue
        by_key[r["key"]] = r
        by_exp.setdefault(str(r.get("experiment")), []).append(r)
    if experiments is None:
        experiments = _default_selection(by_exp, by_key)
    specs = [e if isinstance(e, Experiment) else EXPERIMENTS.get(e)
             for e in experiments if isinstance(e, Experiment) or e in EXPERIMENTS]
    plan: Plan | None
    try:
        plan = Plan(specs)
    except ValueError:  # a tune_from target no longer registered: fall back to the records
        plan = None
    out = []
    for e in experiments:
        name = e.name if isinstance(e, Experiment) else e
        spec = e if isinstance(e, Experiment) else (EXPERIMENTS.get(e) if e in EXPERIMENTS
                                                    else None)
        data = _from_spec(spec, plan, by_key) if spec is not None and plan is not None else None
        if data is None or (not data.records() and by_exp.get(name)):
            # no spec, or records that predate it (another key scheme or config): by name
            data = _from_records(name, by_exp.get(name, []),
                                 spec.meta() if spec is not None else None)
            if spec is not None:
                data.meta = {**data.meta, "notes": (
                    "These records do not match the current spec (recorded by an earlier "
                    "version or config); they are shown by experiment and variant name. "
                    + str(data.meta.get("notes") or "")).strip()}
        out.append(data)
    return out


# ---------------------------------------------------------------------------- comparisons
@dataclass
class _Comparison:
    pd: PairedDifference
    decision: HolmDecision | None = None


def _compare(exps: list[_ExperimentData]) -> dict[tuple[str, str], _Comparison]:
    """Every (experiment, variant) vs its baseline over paired seeds, Holm-corrected across
    all comparisons with a p-value."""
    out: dict[tuple[str, str], _Comparison] = {}
    for exp in exps:
        base = exp.variant(exp.baseline)
        if base is None:
            continue
        base_vals = exp.values(base)
        for vd in exp.variants:
            if vd is base:
                continue
            vals = exp.values(vd)
            seeds = sorted(set(vals) & set(base_vals))
            if seeds:
                out[(exp.name, vd.name)] = _Comparison(paired_difference(
                    [vals[s] for s in seeds], [base_vals[s] for s in seeds]))
    tested = [k for k, c in out.items() if c.pd.p_value is not None]
    for k, d in zip(tested, holm([out[k].pd.p_value for k in tested], ALPHA)):  # type: ignore[misc]
        out[k].decision = d
    return out


# ---------------------------------------------------------------------------- tables
def _fmt_paper(x: Any) -> str:
    if x is None:
        return "—"
    if isinstance(x, float):
        return f"{x:g}"
    return str(x)


def _paper_cell(exp: _ExperimentData, vd: _VariantData) -> str:
    text = _fmt_paper(vd.paper)
    setting = exp.meta.get("paper_setting")
    return f"{text} ({setting})" if vd.paper is not None and setting else text


def _tuned_cell(exp: _ExperimentData, vd: _VariantData) -> str:
    if vd.choice is None:
        return "pending" if vd.tune_from or exp.meta.get("tuning") else "—"
    c = vd.choice
    text = f"{c.param} {c.value:g}"
    if vd.tune_from:
        text += f" (from {vd.tune_from})"
    return text


@dataclass
class _Row:
    variant: str
    paper: str
    tuned: str
    ours: str
    final: str
    n: int
    diff: str
    p: str
    p_holm: str
    verdict: str
    flat: str
    time: str
    summary: Summary | None


def _flat_text(exp: _ExperimentData, vd: _VariantData) -> str:
    """Mean gain of the validation metric over the last quarter of the epochs (points)."""
    gains = []
    for r in vd.records:
        vals = [h.get(exp.val_metric) for h in r.get("history") or []]
        vals = [float(v) for v in vals if isinstance(v, (int, float)) and math.isfinite(v)]
        if len(vals) >= 4:
            gains.append(vals[-1] - vals[len(vals) - 1 - max(1, len(vals) // 4)])
    if not gains:
        return "—"
    return f"{sum(gains) / len(gains) * exp.scale:+.2f}"


def _rows(exp: _ExperimentData, comparisons: dict[tuple[str, str], _Comparison]) -> list[_Row]:
    scale, higher = exp.scale, exp.higher
    tuned = exp.meta.get("tuning") is not None or any(vd.tune_from for vd in exp.variants)
    rows = []
    for vd in exp.variants:
        outcomes = exp.outcomes(vd)
        vals = exp.values(vd)
        times = [float(r["wall_time_s"]) for r in vd.records if "wall_time_s" in r]
        time_text = f"{sum(times) / len(times):.0f}" if times else "—"
        tuned_text = _tuned_cell(exp, vd) if tuned else "—"
        diverged = sum(o.diverged for o in outcomes.values())
        if not vals:
            rows.append(_Row(vd.name, _paper_cell(exp, vd), tuned_text,
                             "not run" if not outcomes else f"no value ({diverged} diverged)",
                             "—", 0, "—", "—", "—", "—", "—", time_text, None))
            continue
        s = summarize(list(vals.values()))
        ours = format_ci(s, scale)
        if diverged:
            ours += f" ({diverged} diverged)"
        finals = [o.final_test for o in outcomes.values() if o.final_test is not None]
        final_text = f"{summarize(finals).mean * scale:.2f}" if finals else "—"
        comp = comparisons.get((exp.name, vd.name))
        if vd.name == exp.baseline:
            diff, p, p_holm, verdict_text = "—", "—", "—", "baseline"
        elif comp is None:
            diff, p, p_holm, verdict_text = "no paired seeds", "—", "—", "n/a"
        else:
            dec = comp.decision
            shown = comp.pd.at(dec.confidence) if dec is not None else comp.pd.diff
            diff = format_ci(shown, scale, signed=True)
            if comp.pd.diff.n != s.n:
                diff += f" (n={comp.pd.diff.n})"
            p = format_p(comp.pd.p_value)
            p_holm = format_p(dec.p_adjusted) if dec is not None else "n/a"
            verdict_text = verdict(shown, higher) if dec is not None else "n/a"
        rows.append(_Row(vd.name, _paper_cell(exp, vd), tuned_text, ours, final_text, s.n, diff,
                         p, p_holm, verdict_text, _flat_text(exp, vd), time_text, s))
    return rows


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    def esc(c: str) -> str:
        return str(c).replace("|", "\\|")

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _unit(exp: _ExperimentData) -> str:
    return " (%)" if exp.scale == 100.0 else ""


def _selected_name(exp: _ExperimentData) -> str:
    return "test at best-val epoch" if exp.select == "best_val" else "test, last epoch"


def experiment_table(
    exp: _ExperimentData, comparisons: dict[tuple[str, str], _Comparison] | None = None
) -> str:
    comparisons = _compare([exp]) if comparisons is None else comparisons
    unit = _unit(exp)
    header = ["variant", "paper", "tuned", f"ours{unit}: {_selected_name(exp)}, mean ± 95% CI",
              "final epoch", "n", f"Δ vs {exp.baseline} ± Holm CI", "p (paired t)", "p (Holm)",
              "verdict", "val Δ last ¼", "s/run"]
    rows = [[r.variant, r.paper, r.tuned, r.ours, r.final, str(r.n), r.diff, r.p, r.p_holm,
             r.verdict, r.flat, r.time] for r in _rows(exp, comparisons)]
    return _md_table(header, rows)


def _tuning_section(exp: _ExperimentData) -> list[str]:
    tuning = exp.meta.get("tuning")
    shown = [vd for vd in exp.variants if vd.choice is not None]
    if tuning is None and not shown:
        return []
    lines = []
    if tuning is not None:
        lines.append(
            f"Tuning: each variant's `{tuning['param']}` is chosen from "
            f"{{{', '.join(f'{g:g}' for g in tuning['grid'])}}} by the best validation "
            f"`{exp.val_metric}` of one run at seed {tuning['seed']} (not a reported seed).")
    reused = [vd for vd in exp.variants if vd.tune_from]
    if reused:
        lines.append("Reusing another variant's choice: " + "; ".join(
            f"`{vd.name}` ← `{vd.tune_from}`" for vd in reused) + ".")
    rows = []
    for vd in shown:
        c = vd.choice
        assert c is not None
        scores = ", ".join(
            f"{v:g}: {'diverged' if sc is None else f'{sc * exp.scale:.2f}'}"
            + (" ✓" if v == c.value else "")
            for v, sc in c.scores)
        rows.append([vd.name, f"{c.experiment}/{c.variant}", scores])
    if rows:
        lines += ["", _md_table(["variant", "tuned on", f"validation {exp.val_metric} per value "
                                 "(✓ chosen)"], rows)]
    return lines + [""]


def _baseline_note(exp: _ExperimentData) -> str | None:
    base = exp.variant(exp.baseline)
    if exp.meta.get("fidelity") == "proxy":  # other data: the numbers are not comparable
        return None
    if base is None or not isinstance(base.paper, (int, float)):
        return None
    vals = exp.values(base)
    if not vals:
        return None
    ours = summarize(list(vals.values())).mean * exp.scale
    worse = ours < base.paper if exp.higher else ours > base.paper
    if not worse:
        return None
    return (f"**Our {base.name} baseline ({ours:.2f}) is below the paper's ({base.paper:g}): "
            "this comparison is not at the paper's strength.**")


def _selection_table(exp: _ExperimentData) -> list[str]:
    """SLF: mean selection frequency of each candidate loss at a few epochs, per variant."""
    rows = []
    names: list[str] = []
    for vd in exp.variants:
        per_epoch: dict[int, list[list[float]]] = {}
        for r in vd.records:
            for i, h in enumerate(r.get("history") or []):
                freq = h.get("slf_select_freq")
                if isinstance(freq, list) and freq:
                    names = [str(n) for n in h.get("slf_losses") or range(len(freq))]
                    per_epoch.setdefault(int(h.get("epoch", i + 1)), []).append(
                        [float(f) for f in freq])
        if not per_epoch:
            continue
        epochs = sorted(per_epoch)
        picks = sorted({epochs[0], epochs[len(epochs) // 4], epochs[len(epochs) // 2],
                        epochs[(3 * len(epochs)) // 4], epochs[-1]})
        for e in picks:
            means = [sum(col) / len(col) for col in zip(*per_epoch[e])]
            rows.append([vd.name, str(e), *(f"{100 * m:.0f}" for m in means)])
    if not rows:
        return []
    width = max(len(r) for r in rows) - 2
    header = ["variant", "epoch", *(names + [str(i) for i in range(len(names), width)])[:width]]
    return ["SLF selection frequency per candidate loss (% of draws, mean over seeds):", "",
            _md_table(header, [r + [""] * (width + 2 - len(r)) for r in rows]), ""]


# ---------------------------------------------------------------------------- plots
def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "x"


def _figure(ncols: int = 1, nrows: int = 1, size: tuple[float, float] = (6.0, 4.0)) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(size[0] * ncols, size[1] * nrows))
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, [ax for row in axes for ax in row]


def _save(fig: Any, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _epoch_series(records: list[dict[str, Any]], key: str) -> list[tuple[int, Summary]]:
    """(epoch, summary over seeds) of a numeric per-epoch history entry."""
    per_epoch: dict[int, list[float]] = {}
    for r in records:
        for i, h in enumerate(r.get("history") or []):
            v = h.get(key)
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                per_epoch.setdefault(int(h.get("epoch", i + 1)), []).append(float(v))
    return [(e, summarize(vs)) for e, vs in sorted(per_epoch.items())]


def _plot_band(ax: Any, series: list[tuple[int, Summary]], scale: float, label: str) -> None:
    xs = [e for e, _ in series]
    (line,) = ax.plot(xs, [s.mean * scale for _, s in series], marker="o", ms=3, label=label)
    if any(s.ci_low is not None for _, s in series):
        lo = [(s.ci_low if s.ci_low is not None else s.mean) * scale for _, s in series]
        hi = [(s.ci_high if s.ci_high is not None else s.mean) * scale for _, s in series]
        ax.fill_between(xs, lo, hi, alpha=0.15, color=line.get_color(), linewidth=0)


def _epoch_axis(ax: Any) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def plot_learning_curves(exp: _ExperimentData, path: Path) -> bool:
    """Test metric per epoch (and validation metric, when recorded), mean ± CI over seeds."""
    keys = [exp.metric]
    if any(exp.val_metric in h for r in exp.records() for h in r.get("history") or []):
        keys.append(exp.val_metric)
    fig, axes = _figure(len(keys), 1)
    drawn = False
    for ax, key in zip(axes, keys):
        for vd in exp.variants:
            series = _epoch_series(vd.records, key)
            if series:
                _plot_band(ax, series, exp.scale, vd.name)
                drawn = True
        _epoch_axis(ax)
        ax.set_ylabel(key + _unit(exp))
        ax.set_title(f"{exp.name}: {key} (mean ± 95% CI over seeds)", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    if not drawn:
        return False
    _save(fig, path)
    return True


def plot_sweep(exp: _ExperimentData, path: Path) -> bool:
    param = exp.meta.get("sweep_param")
    swept = [vd for vd in exp.variants if vd.sweep_value is not None and vd.records]
    if not param or not swept:
        return False
    fig, (ax,) = _figure()
    groups: dict[str | None, list[_VariantData]] = {}
    for vd in swept:
        groups.setdefault(vd.group, []).append(vd)
    for group, vds in groups.items():
        pts = []
        for vd in sorted(vds, key=lambda v: float(v.sweep_value or 0.0)):
            vals = list(exp.values(vd).values())
            if vals:
                pts.append((float(vd.sweep_value or 0.0), summarize(vals)))
        if not pts:
            continue
        ys = [s.mean * exp.scale for _, s in pts]
        err = [(s.half_width or 0.0) * exp.scale for _, s in pts]
        ax.errorbar([x for x, _ in pts], ys, yerr=err, marker="o", capsize=3,
                    label=group or exp.metric)
    base = exp.variant(exp.baseline)
    if base is not None and base.sweep_value is None:
        vals = list(exp.values(base).values())
        if vals:
            ax.axhline(summarize(vals).mean * exp.scale, ls="--", color="gray",
                       label=f"{base.name} (baseline)")
    if exp.meta.get("sweep_log"):
        ax.set_xscale("log")
    ax.set_xlabel(param)
    ax.set_ylabel(exp.metric + _unit(exp))
    ax.set_title(f"{exp.name}: {exp.metric} vs {param} (mean ± 95% CI)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    _save(fig, path)
    return True


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _components(v: Any, names: Sequence[Any] | None = None) -> dict[str, float] | None:
    """A dict/list of numbers as {component: value} (list items named by ``names`` when they
    match in length); ``None`` for anything else."""
    if isinstance(v, list) and names is not None and len(names) == len(v):
        items: Any = zip((str(n) for n in names), v)
    else:
        items = v.items() if isinstance(v, dict) else enumerate(v) if isinstance(v, list) else None
    if items is None:
        return None
    out = {str(k): float(x) for k, x in items if _is_number(x)}
    return out or None


def method_log_keys(records: list[dict[str, Any]]) -> dict[str, str]:
    """History keys that are method logs → ``"scalar"`` or ``"vector"`` (dict/list of numbers)."""
    kinds: dict[str, str] = {}
    for r in records:
        for h in r.get("history") or []:
            for k, v in h.items():
                if k in kinds or k in _STANDARD_KEYS or k.startswith(("test_", "val_")):
                    continue
                if _is_number(v):
                    kinds[k] = "scalar"
                elif _components(v) is not None:
                    kinds[k] = "vector"
    return dict(sorted(kinds.items()))


def _component_names(h: dict[str, Any], key: str) -> Sequence[Any] | None:
    """Names for a list-valued log ``PREFIX_x``: the ``PREFIX_losses`` list of the same epoch."""
    names = h.get(key.split("_", 1)[0] + "_losses")
    return names if isinstance(names, list) else None


def plot_method_log(exp: _ExperimentData, key: str, kind: str, path: Path) -> bool:
    with_key = [vd for vd in exp.variants
                if any(key in h for r in vd.records for h in r.get("history") or [])]
    if not with_key:
        return False
    if kind == "scalar":
        fig, (ax,) = _figure()
        for vd in with_key:
            series = _epoch_series(vd.records, key)
            if series:
                _plot_band(ax, series, 1.0, vd.name)
        _epoch_axis(ax)
        ax.set_ylabel(key)
        ax.set_title(f"{exp.name}: {key} (mean ± 95% CI over seeds)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        _save(fig, path)
        return True
    shown = with_key[:_MAX_PANELS]
    ncols = min(3, len(shown))
    nrows = math.ceil(len(shown) / ncols)
    fig, axes = _figure(ncols, nrows, size=(4.5, 3.2))
    for ax, vd in zip(axes, shown):
        comps: dict[str, list[tuple[int, float]]] = {}
        for r in vd.records:
            for i, h in enumerate(r.get("history") or []):
                c = _components(h.get(key), _component_names(h, key)) if key in h else None
                for name, value in (c or {}).items():
                    comps.setdefault(name, []).append((int(h.get("epoch", i + 1)), value))
        for name, pts in comps.items():
            by_epoch: dict[int, list[float]] = {}
            for e, v in pts:
                by_epoch.setdefault(e, []).append(v)
            es = sorted(by_epoch)
            ax.plot(es, [sum(by_epoch[e]) / len(by_epoch[e]) for e in es], marker="o", ms=3,
                    label=name)
        ax.set_title(vd.name, fontsize=9)
        _epoch_axis(ax)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    for ax in axes[len(shown):]:
        ax.set_visible(False)
    fig.suptitle(f"{exp.name}: {key} per component (mean over seeds)")
    _save(fig, path)
    return True


# ---------------------------------------------------------------------------- the report
def _setup_line(exp: _ExperimentData) -> str:
    recs = exp.records()
    if not recs:
        return ""
    c = recs[0].get("config") or {}
    seeds = sorted({int(r.get("seed", 0)) for r in recs})
    lr = "tuned lr" if exp.meta.get("tuning") else f"lr {c.get('lr')}"
    parts = [f"data `{c.get('data')}`" + (f" {c.get('data_kwargs')}" if c.get("data_kwargs")
                                          else ""),
             f"model `{c.get('model')}`", f"{c.get('epochs')} epochs",
             f"batch {c.get('batch_size')}",
             f"{c.get('optimizer')} {lr} momentum {c.get('momentum')}",
             f"schedule {c.get('schedule')}"]
    if c.get("train_size"):
        parts.append(f"train subset {c['train_size']}")
    if c.get("test_size"):
        parts.append(f"test subset {c['test_size']}")
    return "Setup: " + ", ".join(parts) + f"; seeds {seeds}."


def _overrides_text(overrides: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in overrides.items()) or "(base config)"


# Method logs that are bookkeeping rather than findings: kept in the JSONL, not plotted
# (their information is in the plotted ratio / frequency keys).
_UNPLOTTED_LOGS = frozenset({
    "mils_attempts", "mils_successes", "mils_rollbacks", "mils_extra_forwards",
    "mils_extra_time_s", "mils_aux_attempts", "mils_aux_successes", "slf_tau", "slf_weights",
    "uniloss_metric", "uniloss_skipped",
})


def _plots_section(exp: _ExperimentData, fig_dir: Path, rel: str) -> list[str]:
    lines: list[str] = []
    stem = _safe(exp.name)
    targets: list[tuple[str, Any]] = [
        (f"{stem}_curves.png", lambda p: plot_learning_curves(exp, p)),
        (f"{stem}_sweep.png", lambda p: plot_sweep(exp, p)),
    ]
    for key, kind in method_log_keys(exp.records()).items():
        if key in _UNPLOTTED_LOGS:
            continue
        targets.append((f"{stem}_{_safe(key)}.png",
                        lambda p, key=key, kind=kind: plot_method_log(exp, key, kind, p)))
    for filename, fn in targets:
        path = fig_dir / filename
        if fn(path):
            lines.append(f"![{filename}]({rel}/{filename})")
    return lines


def _matplotlib_available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _holm_sentence(comparisons: dict[tuple[str, str], _Comparison]) -> str:
    m = sum(c.decision is not None for c in comparisons.values())
    return (f"Verdicts are Holm-corrected across the {m} comparisons of this report "
            f"(family-wise α = {ALPHA}): each Δ interval is shown at the level its comparison "
            "was tested at, and \"better\"/\"worse\" means that interval excludes 0.")


def build_report(
    results_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    experiments: Sequence[str | Experiment] | None = None,
) -> Path:
    """Write ``out_dir/report.md`` (+ ``out_dir/figures/*.png``) from ``results_path``.

    ``experiments``: which experiments (objects or registered names) and in what order; by
    default every experiment found in the file. Returns the path of ``report.md``.
    """
    results_path = Path(results_path)
    if not results_path.exists():
        raise FileNotFoundError(f"results file {str(results_path)!r} does not exist")
    out = Path(out_dir)
    fig_dir = out / "figures"
    out.mkdir(parents=True, exist_ok=True)
    records = read_results(results_path)
    exps = _group(records, experiments)
    comparisons = _compare(exps)
    plots = _matplotlib_available()
    if plots:
        fig_dir.mkdir(exist_ok=True)
    rel = os.path.relpath(fig_dir, out).replace(os.sep, "/")

    n_tune = sum(r.get("role") == "tune" for r in records)
    lines = [
        "# losskit experiment report",
        "",
        f"Generated from `{results_path.name}` ({len(records)} runs, {n_tune} of them tuning "
        f"runs) by `losskit report {results_path}`; regenerate rather than edit.",
        "Means over seeds ± half-width of the 95% t confidence interval of the test metric "
        "(at the best-validation epoch where the experiment says so; the final-epoch mean is "
        "shown beside it); Δ is the paired difference to the baseline over the same seeds "
        "(paired t-test). " + _holm_sentence(comparisons) + " Accuracy-like metrics in percent "
        "(Δ in points). \"direct\": the paper's dataset, model and protocol; \"proxy\": not. "
        "\"val Δ last ¼\": mean change of the validation metric over the last quarter of the "
        "epochs (near 0: flattened).",
        "",
    ]
    if not plots:
        lines += ["> Plots skipped: matplotlib is not installed (`pip install losskit[plot]`).",
                  ""]
    if exps:
        lines += ["## Headline", "", _readme_table_from(exps, comparisons), ""]
    for exp in exps:
        title = exp.meta.get("title") or exp.name
        kind = exp.meta.get("fidelity")
        lines += [f"## {exp.name}: {title}" + (f" [{kind}]" if kind else ""), ""]
        if exp.meta.get("claim"):
            lines += [f"> **Paper's claim.** {exp.meta['claim']}", ""]
        if exp.meta.get("paper_setting"):
            lines += [f"Paper numbers: {exp.meta['paper_setting']}.", ""]
        setup = _setup_line(exp)
        if setup:
            lines += [setup, ""]
        direction = "higher" if exp.higher else "lower"
        lines += [f"Metric: `{exp.metric}` ({direction} is better), {_selected_name(exp)}; "
                  f"baseline: `{exp.baseline}`.", ""]
        lines += _tuning_section(exp)
        if not exp.records():
            lines += ["_No results yet._", ""]
            continue
        lines += [experiment_table(exp, comparisons), ""]
        note = _baseline_note(exp)
        if note:
            lines += [note, ""]
        if any(vd.overrides for vd in exp.variants):
            lines += ["Variants: " + "; ".join(
                f"`{vd.name}`: {_overrides_text(vd.overrides)}" for vd in exp.variants), ""]
        if exp.meta.get("notes"):
            lines += [str(exp.meta["notes"]), ""]
        lines += _selection_table(exp)
        if plots:
            lines += _plots_section(exp, fig_dir, rel) + [""]
    versions = sorted({
        ", ".join(f"{k} {v}" for k, v in sorted((r.get("versions") or {}).items()))
        for r in records
    } - {""})
    if versions:
        lines += ["## Environment", ""] + [f"- {v}" for v in versions] + [""]
    report = out / "report.md"
    text = "\n".join(lines)
    atomic_write(report, text.encode())
    if fig_dir.is_dir():
        _remove_stale_figures(fig_dir, rel, text)
    return report


def _remove_stale_figures(fig_dir: Path, rel: str, report_text: str) -> None:
    """Delete the ``*.png`` in ``fig_dir`` that the new report does not link (left by an earlier
    report of other experiments), so the folder holds exactly this report's figures."""
    for png in fig_dir.glob("*.png"):
        if f"({rel}/{png.name})" not in report_text:
            png.unlink()


def _readme_table_from(
    exps: list[_ExperimentData], comparisons: dict[tuple[str, str], _Comparison]
) -> str:
    header = ["experiment", "kind", "variant", "paper (setting)", "ours (mean ± 95% CI)",
              "Δ vs baseline (Holm CI)", "verdict", "n"]
    rows = []
    for exp in exps:
        headline = exp.meta.get("headline")
        for r in _rows(exp, comparisons):
            if r.summary is None or (headline and r.variant not in headline):
                continue
            rows.append([exp.name, exp.meta.get("fidelity") or "—", r.variant, r.paper, r.ours,
                         r.diff, r.verdict, str(r.n)])
    return _md_table(header, rows)


def readme_table(
    results_path: str | os.PathLike[str],
    experiments: Sequence[str | Experiment] | None = None,
) -> str:
    """Compact Markdown table of headline numbers (for the README's results section), with
    the sentence saying how many comparisons the Holm correction covers."""
    exps = _group(read_results(results_path), experiments)
    comparisons = _compare(exps)
    return _holm_sentence(comparisons) + "\n\n" + _readme_table_from(exps, comparisons)


def update_readme(readme_path: str | os.PathLike[str], table_md: str) -> bool:
    """Replace what lies between the README's results markers with ``table_md``.

    Idempotent; returns whether the file changed. ``ValueError`` if the markers are missing.
    """
    path = Path(readme_path)
    text = path.read_text()
    start = text.find(README_START)
    end = text.find(README_END, start + len(README_START)) if start >= 0 else -1
    if start < 0 or end < 0:
        raise ValueError(
            f"readme_path {str(path)!r} must contain {README_START} … {README_END} markers"
        )
    new = text[: start + len(README_START)] + "\n" + table_md.strip() + "\n" + text[end:]
    if new == text:
        return False
    atomic_write(path, new.encode())
    return True
