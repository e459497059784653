"""Comparisons and tables: each row against its ``versus`` row, Holm within each claim family.

A comparison pairs a row with the row it is declared against (``versus``, default the baseline)
over the seeds both have, and reports:

* Δ = mean paired difference with its **unadjusted** 95 % t-interval, bounded by what a
  difference of the metric can take (``[low − mean(versus), high − mean(versus)]``; a clipped
  interval is marked ‡);
* "k of n below / above", the exact sign test and the exact Wilcoxon signed-rank test;
* the p-value of its **test** — the paired t-test, or the exact Wilcoxon test when the paired
  differences themselves hold an outlier (3 robust SDs; a stalled run makes the differences
  bimodal, and a t-test on two clusters means nothing) — Holm-adjusted within its
  **family**: ``primary`` (the papers' direct claims) or ``secondary · PAPER`` (one per paper);
  exploratory comparisons carry no verdict. A test already counted (identical paired records,
  e.g. a shared baseline and a shared arm in two experiments) is counted once and shown as
  "same test as …". Verdict: "better"/"worse" when Holm rejects, in the direction of Δ (of the
  median difference for Wilcoxon).

Rows of different code versions are not paired unless ``mixed_versions`` (then marked
"mixed versions"). A row with runs more than 3 robust SDs from its median
(:func:`~losskit.experiments.stats.robust_outliers`, robust SD at least 0.1 % of the metric's
range), or with a run that never predicts a class of the test split at its reported epoch
(``test_unpredicted > 0``, from :class:`~losskit.train.evaluation.ClassificationMetrics`), is
reported as counts ("2 of 5 stalled"), not as a mean ± CI.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from losskit.experiments.plan import outcome
from losskit.experiments.report.records import ExperimentData, VariantData
from losskit.experiments.stats import (
    HolmDecision,
    PairedDifference,
    Summary,
    format_interval,
    format_p,
    holm,
    paired_difference,
    robust_outliers,
    summarize,
)
from losskit.experiments.version import UNKNOWN

ALPHA = 0.05
_RANK = {"primary": 0, "secondary": 1}
#: Robust SD floor, as a fraction of the metric's range (0.1 % = 0.1 points of accuracy):
#: values that mostly tie (MAD = 0) must not flag every other run.
MIN_SD = 0.001


def md_table(header: list[str], rows: list[list[str]]) -> str:
    def esc(c: str) -> str:
        return str(c).replace("|", "\\|")

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


# ---------------------------------------------------------------------------- flags
def _never_predicts(exp: ExperimentData, record: dict[str, Any]) -> bool:
    """At the epoch the run is reported at, the model never predicts a class present in the
    metric's split (``test_unpredicted > 0``; classification records from code that logs it)."""
    at = outcome(record, exp.metric, exp.select, exp.higher).epoch
    key = exp.metric.split("_", 1)[0] + "_unpredicted"
    for i, h in enumerate(record.get("history") or []):
        if isinstance(h, dict) and int(h.get("epoch", i + 1)) == at:
            value = h.get(key)
            return isinstance(value, (int, float)) and value > 0
    return False


@dataclass(frozen=True)
class Flags:
    """Runs of one row flagged as outlying: seeds, and whether they lie on the bad side."""

    seeds: tuple[int, ...]
    stalled: bool  # the robust outliers all lie on the bad side
    dead: tuple[int, ...] = ()  # seeds whose model never predicts a class: stalled, always

    @property
    def word(self) -> str:
        return "stalled" if self.stalled else "outlying"

    def describe(self, vals: dict[int, float], scale: float) -> str:
        """``"2 of 5 stalled with a class never predicted (88.10, 88.31); 1 of 5 outlying
        (97.40)"``: the flagged runs by kind, with their values."""
        def listed(seeds: list[int]) -> str:
            return ", ".join(f"{vals[seed] * scale:.2f}" for seed in seeds)

        parts = []
        if self.dead:
            parts.append(f"{len(self.dead)} of {len(vals)} stalled with a class never "
                         f"predicted ({listed(list(self.dead))})")
        rest = [seed for seed in self.seeds if seed not in self.dead]
        if rest:
            parts.append(f"{len(rest)} of {len(vals)} {self.word} ({listed(rest)})")
        return "; ".join(parts)


def flags(exp: ExperimentData, vd: VariantData) -> Flags | None:
    vals = exp.values(vd)
    seeds = sorted(vals)
    lo, hi = exp.metric_range
    idx = robust_outliers([vals[s] for s in seeds], 3.0, MIN_SD * (hi - lo))
    dead = {int(r.get("seed", 0)) for r in vd.records if _never_predicts(exp, r)} & set(seeds)
    outlying = {seeds[i] for i in idx} - dead
    if not outlying and not dead:
        return None
    med = sorted(vals.values())[len(vals) // 2]
    low = [vals[s] < med for s in outlying]
    return Flags(tuple(sorted(outlying | dead)), all(low) if exp.higher else not any(low),
                 tuple(sorted(dead)))


# ---------------------------------------------------------------------------- comparisons
@dataclass
class Comparison:
    experiment: str
    variant: str
    versus: str
    claim: str
    evidence: str
    family: str | None
    pd: PairedDifference | None = None
    bounds: tuple[float, float] | None = None
    test: str = "t"
    decision: HolmDecision | None = None
    same_as: str | None = None
    mixed: str | None = None  # "vA vs vB" when rows of different versions were paired
    refused: str | None = None  # why nothing was paired
    identity: tuple[Any, ...] = ()

    @property
    def p(self) -> float | None:
        if self.pd is None:
            return None
        return self.pd.wilcoxon_p if self.test == "wilcoxon" else self.pd.p_value

    @property
    def counted(self) -> bool:
        return self.family is not None and self.same_as is None and self.p is not None

    @property
    def name(self) -> str:
        return f"{self.experiment}: {self.variant} vs {self.versus}"

    def verdict(self, higher: bool) -> str:
        if self.family is None:
            return "exploratory"
        if self.decision is None or self.pd is None:
            return "n/a"
        if not self.decision.reject:
            return "no significant difference"
        d = sorted(self.pd.differences)
        centre = self.pd.diff.mean if self.test == "t" else d[len(d) // 2] if len(d) % 2 else (
            0.5 * (d[len(d) // 2 - 1] + d[len(d) // 2]))
        return "better" if (centre > 0) == higher else "worse"


def compare(exps: list[ExperimentData], mixed_versions: bool = False
            ) -> dict[tuple[str, str], Comparison]:
    """(experiment, variant) → its comparison; Holm within each family (module doc)."""
    out: dict[tuple[str, str], Comparison] = {}
    seen: dict[tuple[Any, ...], str] = {}
    for exp in exps:
        lo, hi = exp.metric_range
        for vd in exp.variants:
            ref = exp.variant(vd.versus)
            if ref is None or ref is vd:
                continue
            c = Comparison(exp.name, vd.name, ref.name, vd.claim, vd.evidence, vd.family)
            out[(exp.name, vd.name)] = c
            if vd.version != ref.version and vd.records and ref.records:
                if not mixed_versions:
                    c.refused = (f"code versions differ ({vd.version} vs {ref.version}); "
                                 "--mixed-versions pairs them anyway")
                    continue
                c.mixed = f"{vd.version} vs {ref.version}"
            vals, base = exp.values(vd), exp.values(ref)
            seeds = sorted(set(vals) & set(base))
            if not seeds:
                continue
            c.pd = paired_difference([vals[s] for s in seeds], [base[s] for s in seeds])
            mean_b = sum(base[s] for s in seeds) / len(seeds)
            c.bounds = (lo - mean_b, hi - mean_b)
            if robust_outliers(c.pd.differences, 3.0, MIN_SD * (hi - lo)):
                c.test = "wilcoxon"
            keys = {int(r.get("seed", 0)): r["key"] for r in vd.records}
            rkeys = {int(r.get("seed", 0)): r["key"] for r in ref.records}
            c.identity = (exp.metric, exp.select, tuple((keys.get(s), rkeys.get(s))
                                                        for s in seeds))
    # one identical test counts once, in its strongest family (primary before secondary)
    for c in sorted(out.values(), key=lambda c: _RANK.get(str(c.family).split(" ")[0], 2)):
        if not c.identity:
            continue
        if c.identity in seen:
            c.same_as = seen[c.identity]
        else:
            seen[c.identity] = c.name
    families: dict[str, list[Comparison]] = {}
    for c in out.values():
        if c.counted:
            families.setdefault(str(c.family), []).append(c)
    for members in families.values():
        for c, d in zip(members, holm([float(c.p) for c in members], ALPHA)):  # type: ignore
            c.decision = d
    by_name = {c.name: c for c in out.values()}
    for c in out.values():
        if c.same_as is not None:
            c.decision = by_name[c.same_as].decision
    return out


def family_sizes(comparisons: dict[tuple[str, str], Comparison]) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for c in comparisons.values():
        if c.counted:
            sizes[str(c.family)] = sizes.get(str(c.family), 0) + 1
    return dict(sorted(sizes.items(), key=lambda kv: (kv[0] != "primary", kv[0])))


# ---------------------------------------------------------------------------- cells
def fmt_paper(x: Any) -> str:
    if x is None:
        return "—"
    if isinstance(x, float):
        return f"{x:g}"
    return str(x)


def paper_cell(exp: ExperimentData, vd: VariantData) -> str:
    text = fmt_paper(vd.paper)
    setting = exp.meta.get("paper_setting")
    return f"{text} ({setting})" if vd.paper is not None and setting else text


def rate_rule(vd: VariantData) -> str:
    """Why a row runs at another row's rate: the paper prescribes it, or it is reused."""
    pp = vd.evidence == "paper-protocol" or "paper protocol" in vd.name
    return "paper protocol" if pp else "reused"


def rate_cell(exp: ExperimentData, vd: VariantData) -> str:
    """How the row's learning rate was set: tuned, another row's (paper protocol / reused), or
    fixed by the config."""
    lr = {(r.get("config") or {}).get("lr") for r in vd.records}
    fixed = f"{lr.pop():g}" if len(lr) == 1 and None not in lr else "—"
    c = vd.choice
    if vd.tune_from:
        src, how = vd.tune_from, rate_rule(vd)
        return f"{c.value:g} ← {src} ({how})" if c is not None else f"← {src} (pending)"
    if c is not None:
        return f"{c.value:g} tuned" + ("" if c.interior else " (at grid end)")
    if vd.tuned_self:
        return "tuned (pending)" if not vd.records else f"{fixed} tuned"
    return f"{fixed} fixed" if fixed != "—" else "—"


def flat_text(exp: ExperimentData, vd: VariantData) -> str:
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


def ours_cell(exp: ExperimentData, vd: VariantData) -> tuple[str, Summary | None]:
    """The row's value: mean ± 95 % t-CI (range-bounded), or counts when runs are flagged."""
    outcomes = exp.outcomes(vd)
    vals = exp.values(vd)
    diverged = sum(o.diverged for o in outcomes.values())
    if not vals:
        return ("not run" if not outcomes else f"no value ({diverged} diverged)"), None
    s = summarize(list(vals.values()))
    f = flags(exp, vd)
    if f is not None:
        rest = [v for seed, v in vals.items() if seed not in f.seeds]
        text = f.describe(vals, exp.scale)
        if rest:
            med = sorted(rest)[len(rest) // 2] if len(rest) % 2 else 0.5 * (
                sorted(rest)[len(rest) // 2 - 1] + sorted(rest)[len(rest) // 2])
            text += (f"; the other {len(rest)}: median {med * exp.scale:.2f}, range "
                     f"{min(rest) * exp.scale:.2f}–{max(rest) * exp.scale:.2f}")
    else:
        text = format_interval(s, exp.scale, exp.metric_range)
    if diverged:
        text += f" ({diverged} diverged)"
    return text, s


@dataclass
class Row:
    variant: str
    rate: str
    paper: str
    ours: str
    final: str
    n: int
    versus: str
    family: str
    diff: str
    signs: str
    p_t: str
    p_sign: str
    p_wilcoxon: str
    p_holm: str
    verdict: str
    flat: str
    time: str
    summary: Summary | None
    version: str = UNKNOWN  # the code version (``src/`` hash) all of the row's runs share


def _family_label(c: Comparison) -> str:
    if c.family is None:
        return "exploratory"
    return f"{c.family} ({c.evidence})"


def rows(exp: ExperimentData, comparisons: dict[tuple[str, str], Comparison]) -> list[Row]:
    out = []
    for vd in exp.variants:
        ours, s = ours_cell(exp, vd)
        outcomes = exp.outcomes(vd)
        finals = [o.final_test for o in outcomes.values() if o.final_test is not None]
        final = f"{summarize(finals).mean * exp.scale:.2f}" if finals else "—"
        times = [float(r["wall_time_s"]) for r in vd.records if "wall_time_s" in r]
        time_text = f"{sum(times) / len(times):.0f}" if times else "—"
        c = comparisons.get((exp.name, vd.name))
        cells = ["—"] * 9
        if c is None:
            cells[0], cells[1] = "—", "baseline" if vd.name == exp.baseline else "—"
        else:
            cells[0], cells[1] = c.versus, _family_label(c)
            cells[2:] = _comparison_cells(exp, c)
        out.append(Row(vd.name, rate_cell(exp, vd), paper_cell(exp, vd), ours, final,
                       s.n if s else 0, *cells, flat_text(exp, vd), time_text, s, vd.version))
    return out


def _comparison_cells(exp: ExperimentData, c: Comparison) -> list[str]:
    """Δ, k below/above, p (t), p (sign), p (Wilcoxon), p (Holm), verdict (bold: the test)."""
    if c.refused:
        return [c.refused, "—", "—", "—", "—", "—", "n/a"]
    if c.pd is None:
        return ["no paired seeds", "—", "—", "—", "—", "—", "n/a"]
    pd = c.pd
    n = pd.diff.n
    diff = format_interval(pd.diff, exp.scale, c.bounds, signed=True)
    if c.test == "wilcoxon":
        diff += " (outlying differences: Wilcoxon)"
    if c.mixed:
        diff += f" (mixed versions {c.mixed})"
    signs = f"{pd.below}/{pd.above} of {n}"
    p_t, p_s, p_w = format_p(pd.p_value), format_p(pd.sign_p), format_p(pd.wilcoxon_p)
    if c.test == "t":
        p_t = f"**{p_t}**"
    else:
        p_w = f"**{p_w}**"
    if c.family is None:
        holm_text = "—"
    elif c.same_as:
        holm_text = f"= {c.same_as}"
    else:
        holm_text = format_p(c.decision.p_adjusted) if c.decision else "n/a"
    return [diff, signs, p_t, p_s, p_w, holm_text, c.verdict(exp.higher)]


def unit(exp: ExperimentData) -> str:
    return " (%)" if exp.scale == 100.0 else ""


def selected_name(exp: ExperimentData) -> str:
    return "test at best-val epoch" if exp.select == "best_val" else "test, last epoch"


def experiment_table(exp: ExperimentData,
                     comparisons: dict[tuple[str, str], Comparison] | None = None) -> str:
    comparisons = compare([exp]) if comparisons is None else comparisons
    header = ["variant", "lr", "paper", f"ours{unit(exp)}: {selected_name(exp)}, mean ± 95% CI",
              "final epoch", "n", "vs", "family (evidence)", "Δ ± 95% t-CI (unadjusted)",
              "below/above", "p (t)", "p (sign)", "p (Wilcoxon)", "p (Holm)", "verdict",
              "val Δ last ¼", "s/run"]
    body = [[r.variant, r.rate, r.paper, r.ours, r.final, str(r.n), r.versus, r.family, r.diff,
             r.signs, r.p_t, r.p_sign, r.p_wilcoxon, r.p_holm, r.verdict, r.flat, r.time]
            for r in rows(exp, comparisons)]
    return md_table(header, body)


def families_section(exps: list[ExperimentData],
                     comparisons: dict[tuple[str, str], Comparison]) -> list[str]:
    """One table per Holm family: claim, comparison, Δ, the three tests, Holm p, verdict."""
    by_exp = {e.name: e for e in exps}
    sizes = family_sizes(comparisons)
    lines = ["## Claims", ""]
    if not sizes:
        lines += ["_No comparison tests a claim yet._", ""]
    for fam, m in sizes.items():
        members = [c for c in comparisons.values() if c.family == fam and c.pd is not None]
        lines += [f"### {fam[0].upper() + fam[1:]} family: m = {m} (Holm, α = {ALPHA})", ""]
        body = []
        for c in members:
            exp = by_exp[c.experiment]
            cells = _comparison_cells(exp, c)
            body.append([c.claim, f"{c.experiment}: {c.variant} vs {c.versus}", c.evidence,
                         str(c.pd.diff.n) if c.pd else "0", cells[0], cells[1], cells[2],
                         cells[3], cells[4], cells[5], cells[6]])
        lines += [md_table(["claim", "comparison", "evidence", "n",
                            "Δ ± 95% t-CI (unadjusted)", "below/above", "p (t)", "p (sign)",
                            "p (Wilcoxon)", "p (Holm)", "verdict"], body), ""]
    refused = [c for c in comparisons.values() if c.refused]
    if refused:
        lines += [f"{len(refused)} comparison(s) not paired: their rows come from different "
                  "code versions (`--mixed-versions` to pair them anyway): "
                  + "; ".join(c.name for c in refused) + ".", ""]
    dupes = [c for c in comparisons.values() if c.same_as and c.family is not None]
    if dupes:
        lines += ["Identical tests counted once (same paired runs): " + "; ".join(
            f"{c.name} [{c.family}] = {c.same_as}" for c in dupes) + ".", ""]
    n_expl = sum(c.family is None and c.pd is not None for c in comparisons.values())
    if n_expl:
        lines += [f"{n_expl} exploratory comparisons (our variants and contrasts that test no "
                  "paper claim) are in the experiment tables, without verdicts.", ""]
    return lines
