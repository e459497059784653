"""Figures of the report (matplotlib, PNG): learning curves (test and validation, mean ± CI
band over seeds), a sweep plot, one plot per method log (``mils_success_ratio``, ``slf_probs``,
…). Without matplotlib nothing is drawn and the report says so."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from losskit.experiments.report.records import ExperimentData, VariantData
from losskit.experiments.report.tables import unit as _unit
from losskit.experiments.stats import Summary, summarize

#: History keys that are not method logs (the Trainer's own per-epoch fields).
_STANDARD_KEYS = {"epoch", "train_loss", "train_acc", "train_time_s", "step_time_ms", "lr"}
_MAX_PANELS = 12


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


def plot_learning_curves(exp: ExperimentData, path: Path) -> bool:
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


def plot_sweep(exp: ExperimentData, path: Path) -> bool:
    param = exp.meta.get("sweep_param")
    swept = [vd for vd in exp.variants if vd.sweep_value is not None and vd.records]
    if not param or not swept:
        return False
    fig, (ax,) = _figure()
    groups: dict[str | None, list[VariantData]] = {}
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


def plot_method_log(exp: ExperimentData, key: str, kind: str, path: Path) -> bool:
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
# Method logs that are bookkeeping rather than findings: kept in the JSONL, not plotted
# (their information is in the plotted ratio / frequency keys).
_UNPLOTTED_LOGS = frozenset({
    "mils_attempts", "mils_successes", "mils_rollbacks", "mils_extra_forwards",
    "mils_extra_time_s", "mils_aux_attempts", "mils_aux_successes", "slf_tau", "slf_weights",
    "uniloss_metric", "uniloss_skipped",
})


def plots_section(exp: ExperimentData, fig_dir: Path, rel: str) -> list[str]:
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


def matplotlib_available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


