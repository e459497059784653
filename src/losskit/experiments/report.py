"""Markdown + PNG report, always regenerated from the results JSONL (never edited by hand).

Per experiment: the paper's claim, the setup, a table (variant, paper's number, our mean ± 95% CI
half-width over seeds, n, paired difference to the baseline ± CI, p-value, verdict, time per
run), learning curves (test metric vs epoch, mean ± CI band), a sweep plot when variants sweep a
value, and one plot per method log found in the histories (numbers such as
``mils_success_ratio``, or dicts/lists such as ``slf_probs`` — plotted per component).

Experiment metadata (title, claim, baseline, paper numbers) comes from the ``experiments``
argument, else the registry, else the ``meta`` stored in each result line.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from losskit.experiments.runner import atomic_write, read_results
from losskit.experiments.spec import EXPERIMENTS, Experiment
from losskit.experiments.stats import (
    Summary,
    format_ci,
    format_p,
    paired_difference,
    summarize,
    verdict,
)

README_START = "<!-- results:start -->"
README_END = "<!-- results:end -->"

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
    records: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _ExperimentData:
    name: str
    meta: dict[str, Any]
    variants: list[_VariantData]

    @property
    def metric(self) -> str:
        return self.meta.get("metric") or "test_acc"

    @property
    def scale(self) -> float:
        return float(self.meta.get("scale") or 1.0)

    @property
    def baseline(self) -> str | None:
        return self.meta.get("baseline")

    def variant(self, name: str | None) -> _VariantData | None:
        return next((v for v in self.variants if v.name == name), None)

    def records(self) -> list[dict[str, Any]]:
        return [r for v in self.variants for r in v.records]


def _meta_for(name: str, given: dict[str, Experiment], records: list[dict[str, Any]]) -> dict:
    if name in given:
        return given[name].meta()
    if name in EXPERIMENTS:
        return EXPERIMENTS.get(name).meta()
    for r in reversed(records):
        if isinstance(r.get("meta"), dict):
            return r["meta"]
    return {}


def _group(
    records: list[dict[str, Any]], experiments: Sequence[str | Experiment] | None
) -> list[_ExperimentData]:
    given: dict[str, Experiment] = {}
    order: list[str] = []
    for e in experiments or []:
        exp = e if isinstance(e, Experiment) else EXPERIMENTS.get(e)
        given[exp.name] = exp
        order.append(exp.name)
    by_exp: dict[str, list[dict[str, Any]]] = {}
    seen: set[str] = set()
    for r in records:
        if r["key"] in seen:  # the runner never writes a key twice; be safe anyway
            continue
        seen.add(r["key"])
        by_exp.setdefault(str(r.get("experiment")), []).append(r)
    if experiments is None:
        order = list(by_exp)
    out = []
    for name in order:
        recs = by_exp.get(name, [])
        meta = _meta_for(name, given, recs)
        variants = [
            _VariantData(v["name"], v.get("paper"), v.get("sweep_value"), v.get("group"),
                         dict(v.get("overrides") or {}))
            for v in meta.get("variants", [])
        ]
        for r in recs:
            vd = next((v for v in variants if v.name == r.get("variant")), None)
            if vd is None:  # a variant the spec no longer lists: still shown
                vd = _VariantData(str(r.get("variant")))
                variants.append(vd)
            vd.records.append(r)
        for vd in variants:
            vd.records.sort(key=lambda r: r.get("seed", 0))
        out.append(_ExperimentData(name, meta, variants))
    return out


def _final_value(record: dict[str, Any], metric: str) -> float | None:
    value = (record.get("final") or {}).get(metric)
    if value is None and record.get("history"):
        value = record["history"][-1].get(metric)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _by_seed(vd: _VariantData, metric: str) -> dict[int, float]:
    out = {}
    for r in vd.records:
        value = _final_value(r, metric)
        if value is not None:
            out[int(r.get("seed", 0))] = value
    return out


# ---------------------------------------------------------------------------- tables
def _fmt_paper(x: Any) -> str:
    if x is None:
        return "—"
    if isinstance(x, float):
        return f"{x:g}"
    return str(x)


@dataclass
class _Row:
    variant: str
    paper: str
    ours: str
    n: int
    diff: str
    p: str
    verdict: str
    time: str
    summary: Summary | None


def _rows(exp: _ExperimentData) -> list[_Row]:
    metric, scale = exp.metric, exp.scale
    higher = bool(exp.meta.get("higher_is_better", True))
    base = exp.variant(exp.baseline)
    base_vals = _by_seed(base, metric) if base is not None else {}
    rows = []
    for vd in exp.variants:
        vals = _by_seed(vd, metric)
        times = [float(r["wall_time_s"]) for r in vd.records if "wall_time_s" in r]
        time_text = f"{sum(times) / len(times):.1f}" if times else "—"
        if not vals:
            rows.append(_Row(vd.name, _fmt_paper(vd.paper), "not run", 0, "—", "—", "—",
                             time_text, None))
            continue
        s = summarize(list(vals.values()))
        ours = format_ci(s, scale)
        if vd is base:
            diff_text, p_text, verdict_text = "—", "—", "baseline"
        else:
            seeds = sorted(set(vals) & set(base_vals))
            if not seeds:
                diff_text, p_text, verdict_text = "no paired seeds", "—", "n/a"
            else:
                pd = paired_difference([vals[k] for k in seeds], [base_vals[k] for k in seeds])
                diff_text = format_ci(pd.diff, scale, signed=True)
                if pd.diff.n != s.n:
                    diff_text += f" (n={pd.diff.n})"
                p_text = format_p(pd.p_value)
                verdict_text = verdict(pd.diff, higher)
        rows.append(_Row(vd.name, _fmt_paper(vd.paper), ours, s.n, diff_text, p_text,
                         verdict_text, time_text, s))
    return rows


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    def esc(c: str) -> str:
        return str(c).replace("|", "\\|")

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _unit(exp: _ExperimentData) -> str:
    return " (%)" if exp.scale == 100.0 else ""


def experiment_table(exp: _ExperimentData) -> str:
    unit = _unit(exp)
    header = ["variant", "paper", f"ours{unit}: mean ± 95% CI", "n",
              f"Δ vs {exp.baseline} ± 95% CI", "p (paired t)", "verdict", "time/run (s)"]
    rows = [[r.variant, r.paper, r.ours, str(r.n), r.diff, r.p, r.verdict, r.time]
            for r in _rows(exp)]
    return _md_table(header, rows)


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
    fig, (ax,) = _figure()
    drawn = False
    for vd in exp.variants:
        series = _epoch_series(vd.records, exp.metric)
        if series:
            _plot_band(ax, series, exp.scale, vd.name)
            drawn = True
    if not drawn:
        return False
    _epoch_axis(ax)
    ax.set_ylabel(exp.metric + _unit(exp))
    ax.set_title(f"{exp.name}: {exp.metric} (mean ± 95% CI over seeds)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
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
            vals = list(_by_seed(vd, exp.metric).values())
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
        vals = list(_by_seed(base, exp.metric).values())
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


def _components(v: Any) -> dict[str, float] | None:
    """A dict/list of numbers as {component: value}; ``None`` for anything else."""
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
                c = _components(h.get(key)) if key in h else None
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
    parts = [f"data `{c.get('data')}`", f"model `{c.get('model')}`",
             f"{c.get('epochs')} epochs", f"batch {c.get('batch_size')}",
             f"{c.get('optimizer')} lr {c.get('lr')}"]
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
    plots = _matplotlib_available()
    if plots:
        fig_dir.mkdir(exist_ok=True)
    rel = os.path.relpath(fig_dir, out).replace(os.sep, "/")

    lines = [
        "# losskit experiment report",
        "",
        f"Generated from `{results_path.name}` ({len(records)} runs) by "
        f"`losskit report {results_path}`; regenerate rather than edit.",
        "Means over seeds ± half-width of the 95% t confidence interval; Δ is the paired "
        "difference to the baseline over the same seeds (paired t-test); the verdict says "
        "whether that CI excludes 0. Accuracy-like metrics in percent (Δ in points).",
        "",
    ]
    if not plots:
        lines += ["> Plots skipped: matplotlib is not installed (`pip install losskit[plot]`).",
                  ""]
    if exps:
        lines += ["## Headline", "", _readme_table_from(exps), ""]
    for exp in exps:
        title = exp.meta.get("title") or exp.name
        lines += [f"## {exp.name}: {title}", ""]
        if exp.meta.get("claim"):
            lines += [f"> **Paper's claim.** {exp.meta['claim']}", ""]
        setup = _setup_line(exp)
        if setup:
            lines += [setup, ""]
        direction = "higher" if exp.meta.get("higher_is_better", True) else "lower"
        lines += [f"Metric: `{exp.metric}` ({direction} is better); baseline: "
                  f"`{exp.baseline}`.", ""]
        if not exp.records():
            lines += ["_No results yet._", ""]
            continue
        lines += [experiment_table(exp), ""]
        if any(vd.overrides for vd in exp.variants):
            lines += ["Variants: " + "; ".join(
                f"`{vd.name}`: {_overrides_text(vd.overrides)}" for vd in exp.variants), ""]
        if exp.meta.get("notes"):
            lines += [str(exp.meta["notes"]), ""]
        if plots:
            lines += _plots_section(exp, fig_dir, rel) + [""]
    versions = sorted({
        ", ".join(f"{k} {v}" for k, v in sorted((r.get("versions") or {}).items()))
        for r in records
    } - {""})
    if versions:
        lines += ["## Environment", ""] + [f"- {v}" for v in versions] + [""]
    report = out / "report.md"
    atomic_write(report, "\n".join(lines).encode())
    return report


def _readme_table_from(exps: list[_ExperimentData]) -> str:
    header = ["experiment", "variant", "paper", "ours (mean ± 95% CI)", "Δ vs baseline",
              "verdict", "n"]
    rows = []
    for exp in exps:
        headline = exp.meta.get("headline")
        for r in _rows(exp):
            if r.summary is None or (headline and r.variant not in headline):
                continue
            rows.append([exp.name, r.variant, r.paper, r.ours, r.diff, r.verdict, str(r.n)])
    return _md_table(header, rows)


def readme_table(
    results_path: str | os.PathLike[str],
    experiments: Sequence[str | Experiment] | None = None,
) -> str:
    """Compact Markdown table of headline numbers (for the README's results section)."""
    return _readme_table_from(_group(read_results(results_path), experiments))


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
