"""Per-experiment sections of the report besides the main table: setup, tuning (every grid, the
choice, interior or why not), best-epoch ties, the baseline note, SLF selection frequencies."""

from __future__ import annotations

from typing import Any

from losskit.experiments.report.records import ExperimentData
from losskit.experiments.report.tables import md_table, rate_rule
from losskit.experiments.stats import summarize


def _scored_on(exp: Any, tuned: list[Any]) -> str:
    """The validation metric the rows' choices were scored on: that of the experiments they
    were tuned in (a secondary-metric experiment reuses its primary's rates)."""
    from losskit.experiments.spec import EXPERIMENTS

    found = set()
    for vd in tuned:
        source = vd.choice.experiment if vd.choice is not None else exp.name
        found.add(EXPERIMENTS.get(source).val_metric if source != exp.name
                  and source in EXPERIMENTS else exp.val_metric)
    return found.pop() if len(found) == 1 else "metric (of the experiment tuned on)"


def _tuning_text(t: dict[str, Any], val_metric: str) -> str:
    grid = ", ".join(f"{g:g}" for g in t["grid"])
    seeds = t.get("seeds") or [t.get("seed")]
    ext = t.get("extensions", 0)
    text = f"`{t['param']}` from {{{grid}}}"
    if ext:
        lo, hi = t.get("bounds", [0, 0])
        text += f" (extended at an end up to {ext}× within [{lo:g}, {hi:g}])"
    return (text + f" by the mean over tuning seed(s) {', '.join(map(str, seeds))} of the best "
            f"validation `{val_metric}`")


def tuning_section(exp: ExperimentData) -> list[str]:
    """Every tuned row: the values tried with their scores (✓ the choice), whether the choice
    is interior (✓) or why not; rows at another row's rate say whose; fixed rows are named."""
    meta_t = exp.meta.get("tuning")
    own = {v["name"]: v.get("tuning") for v in exp.meta.get("variants", []) if v.get("tuning")}
    tuned = [vd for vd in exp.variants if vd.choice is not None or vd.tune_from or vd.tuned_self]
    if not tuned and meta_t is None:
        return []
    lines = []
    grids: list[dict[str, Any]] = [meta_t] if meta_t else []
    for t in own.values():
        if t not in grids:  # one line per distinct grid, not per row
            grids.append(t)
    for t in grids:
        lines.append("Tuning: " + _tuning_text(t, exp.val_metric) + "; ties go to the larger "
                     "mean of the last 3 epochs' validation, then to the larger value.")
    body = []
    for vd in tuned:
        c = vd.choice
        reuse = f" ← `{vd.tune_from}`" if vd.tune_from else ""
        if c is None:
            body.append([vd.name, reuse.strip() or "—", "—", "pending", "—", "—"])
            continue
        scores = ", ".join(
            f"{v:g}: {'diverged' if sc is None else f'{sc * exp.scale:.2f}'}"
            + (" ✓" if v == c.value else "") for v, sc in c.scores)
        interior = "✓" if c.interior else c.why
        if c.tie:
            interior += " (tied best score: broken by the last-3-epoch mean)"
        if vd.tune_from:
            how = rate_rule(vd)
            interior = f"{interior} — {how}: the rate of {c.experiment}/{c.variant}"
        seeds = ", ".join(map(str, c.seeds)) or "—"
        ext = f" (+{c.extensions} extended)" if c.extensions else ""
        body.append([vd.name, f"{c.experiment}/{c.variant}", seeds, scores + ext,
                     f"{c.value:g}", interior])
    if body:
        scored = _scored_on(exp, tuned)
        lines += ["", md_table(["variant", "tuned on", "tuning seeds",
                                f"mean best validation {scored} per value (✓ chosen)",
                                "choice", "interior"], body)]
        own = [vd for vd in tuned if vd.choice is not None and not vd.tune_from]
        ends = sum(not vd.choice.interior for vd in own)  # type: ignore[union-attr]
        if ends:
            lines += ["", f"{ends} of {len(own)} own choices are not interior (see the "
                      "column; rows at another row's rate are not counted again)."]
    fixed = [vd.name for vd in exp.variants if vd not in tuned]
    if fixed and tuned:
        lines += ["", "At the config's fixed rate (as the paper prescribes): "
                  + ", ".join(f"`{n}`" for n in fixed) + "."]
    return lines + [""]


def ties_line(exp: ExperimentData) -> str | None:
    """How many runs had several epochs tied at their best validation metric."""
    if exp.select != "best_val":
        return None
    outs = [o for vd in exp.variants for o in exp.outcomes(vd).values() if o.val is not None]
    tied = [o for o in outs if o.ties > 1]
    if not outs:
        return None
    most = max((o.ties for o in tied), default=1)
    return (f"Best-validation epoch ties: {len(tied)} of {len(outs)} runs had ≥ 2 epochs tied "
            f"at their best validation `{exp.val_metric}` (up to {most}); the last tied epoch "
            "is reported.")


def versions_line(exp: ExperimentData) -> str | None:
    used = sorted({vd.version for vd in exp.variants if vd.records})
    left = sum(vd.other_versions for vd in exp.variants)
    if len(used) <= 1 and not left:
        return None
    text = f"Code versions of the rows: {', '.join(used)}"
    if left:
        text += f"; {left} run(s) of other versions left out (each row shows one version)"
    return text + "."


def baseline_note(exp: ExperimentData) -> str | None:
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


def selection_table(exp: ExperimentData) -> list[str]:
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
            md_table(header, [r + [""] * (width + 2 - len(r)) for r in rows]), ""]


def setup_line(exp: ExperimentData) -> str:
    recs = exp.records()
    if not recs:
        return ""
    c = recs[0].get("config") or {}
    seeds = sorted({int(r.get("seed", 0)) for r in recs})
    tuned = exp.meta.get("tuning") or any(vd.tuned_self or vd.tune_from for vd in exp.variants)
    lr = "tuned lr" if tuned else f"lr {c.get('lr')}"
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
    if exp.meta.get("split_seed") == "run":
        parts.append("validation split drawn from each run's seed")
    return "Setup: " + ", ".join(parts) + f"; seeds {seeds}."


def overrides_text(overrides: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in overrides.items()) or "(base config)"
