"""The report and the README section, always regenerated from the results JSONL."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from losskit.core._io import atomic_write
from losskit.experiments.report import figures, sections
from losskit.experiments.report.records import ExperimentData, group
from losskit.experiments.report.tables import (
    ALPHA,
    MIN_SD,
    Comparison,
    compare,
    experiment_table,
    families_section,
    family_sizes,
    md_table,
    rows,
    selected_name,
)
from losskit.experiments.results import read_results
from losskit.experiments.spec import Experiment
from losskit.experiments.version import CodeVersion

README_START = "<!-- results:start -->"
README_END = "<!-- results:end -->"

Comparisons = dict[tuple[str, str], Comparison]


def holm_sentence(comparisons: Comparisons) -> str:
    sizes = family_sizes(comparisons)
    fams = "; ".join(f"{name}: m = {m}" for name, m in sizes.items()) or "none yet"
    return (f"Verdicts are Holm-corrected within each claim family (family-wise α = {ALPHA}; "
            f"{fams}): the primary family holds the papers' direct claims, each paper has one "
            "secondary family (the same claims with every row tuned, and proxies); exploratory "
            "comparisons carry no verdict, and a test shared by two experiments is counted "
            "once. Δ intervals are the unadjusted 95% t-intervals; the Holm-adjusted p is "
            "beside them.")


def _legend() -> str:
    return (
        "Means over seeds ± half-width of the 95% t confidence interval of the test metric (at "
        "the best-validation epoch where the experiment says so — the last of tied epochs — "
        "with the final-epoch mean beside it). An interval that would pass what the metric can "
        "take is shown clipped to that range as `mean [low, high]‡`; one wider than half "
        "that range says nothing and is shown as `mean (n=5 too small for this spread)`; one "
        "value is shown as `mean (n=1)`. A row with runs more than 3 robust SDs (1.4826·MAD, "
        "at least "
        f"{MIN_SD:.1%} of the metric's range) from its median, or with a run whose model "
        "never predicts a class of the test set at its reported epoch (`test_unpredicted`; "
        "classification records that log it), is shown as counts (\"2 of 5 stalled\"), not "
        "as a mean ± CI; a comparison whose paired differences hold such an "
        "outlier is tested with the exact Wilcoxon signed-rank test instead of the paired "
        "t-test (the test used is in **bold**). Δ is "
        "the paired difference to the row named in \"vs\" over the same seeds; \"below/above\": "
        "seeds where the row is below / above it; p (sign): exact two-sided sign test; p "
        "(Wilcoxon): exact signed-rank test (with 5 seeds neither can go below 0.0625). Runs "
        "of different code versions are never paired unless `--mixed-versions` is given. "
        "Accuracy-like metrics in percent (Δ in points). \"val Δ last ¼\": mean change of the "
        "validation metric over the last quarter of the epochs (near 0: flattened).")


def build_report(
    results_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    experiments: Sequence[str | Experiment] | None = None,
    mixed_versions: bool = False,
) -> Path:
    """Write ``out_dir/report.md`` (+ ``out_dir/figures/*.png``) from ``results_path``.

    ``experiments``: which experiments (objects or registered names) and in what order; by
    default every experiment found in the file. ``mixed_versions``: pair rows of different
    code versions (marked in the tables). Returns the path of ``report.md``.
    """
    results_path = Path(results_path)
    if not results_path.exists():
        raise FileNotFoundError(f"results file {str(results_path)!r} does not exist")
    out = Path(out_dir)
    fig_dir = out / "figures"
    out.mkdir(parents=True, exist_ok=True)
    records = read_results(results_path)
    exps = group(records, experiments)
    comparisons = compare(exps, mixed_versions)
    plots = figures.matplotlib_available()
    if plots:
        fig_dir.mkdir(exist_ok=True)
    rel = os.path.relpath(fig_dir, out).replace(os.sep, "/")

    if experiments is not None:  # counts, versions and environments of the reported runs only
        names = {exp.name for exp in exps}
        records = [r for r in records if r.get("experiment") in names]
    n_tune = sum(r.get("role") == "tune" for r in records)
    lines = [
        "# losskit experiment report",
        "",
        f"Generated from `{results_path.name}` ({len(records)} runs, {n_tune} of them tuning "
        f"runs) by `losskit report {results_path}"
        + (f" --suite {','.join(exp.name for exp in exps)}" if experiments is not None else "")
        + (" --mixed-versions" if mixed_versions else "") + "`; regenerate rather than edit.",
        holm_sentence(comparisons),
        "",
        _legend(),
        "",
    ]
    if not plots:
        lines += ["> Plots skipped: matplotlib is not installed (`pip install losskit[plot]`).",
                  ""]
    if exps:
        lines += families_section(exps, comparisons)
        lines += ["## Headline", "", _headline_table(exps, comparisons), ""]
    for exp in exps:
        lines += _experiment_section(exp, comparisons, fig_dir if plots else None, rel)
    lines += _versions_section(records)
    report = out / "report.md"
    text = "\n".join(lines)
    atomic_write(report, text.encode())
    if fig_dir.is_dir():
        _remove_stale_figures(fig_dir, rel, text)
    return report


def _experiment_section(exp: ExperimentData, comparisons: Comparisons, fig_dir: Path | None,
                        rel: str) -> list[str]:
    title = exp.meta.get("title") or exp.name
    kind = exp.meta.get("fidelity")
    lines = [f"## {exp.name}: {title}" + (f" [{kind}]" if kind else ""), ""]
    if exp.meta.get("claim"):
        lines += [f"> **Paper's claim.** {exp.meta['claim']}", ""]
    if exp.meta.get("paper_setting"):
        lines += [f"Paper numbers: {exp.meta['paper_setting']}.", ""]
    setup = sections.setup_line(exp)
    if setup:
        lines += [setup, ""]
    direction = "higher" if exp.higher else "lower"
    lines += [f"Metric: `{exp.metric}` ({direction} is better), {selected_name(exp)}; "
              f"baseline: `{exp.baseline}`.", ""]
    lines += sections.tuning_section(exp)
    if not exp.records():
        return lines + ["_No results yet._", ""]
    if exp.legacy:
        lines += ["These records do not match the current spec (recorded by an earlier version "
                  "or config); they are shown by experiment and variant name.", ""]
    lines += [experiment_table(exp, comparisons), ""]
    for extra in (sections.ties_line(exp), sections.versions_line(exp),
                  sections.baseline_note(exp)):
        if extra:
            lines += [extra, ""]
    if any(vd.overrides for vd in exp.variants):
        lines += ["Variants: " + "; ".join(
            f"`{vd.name}`: {sections.overrides_text(vd.overrides)}" for vd in exp.variants), ""]
    if exp.meta.get("notes"):
        lines += [str(exp.meta["notes"]), ""]
    lines += sections.selection_table(exp)
    if fig_dir is not None:
        lines += figures.plots_section(exp, fig_dir, rel) + [""]
    return lines


def _versions_section(records: list[dict[str, Any]]) -> list[str]:
    lines = []
    codes: dict[str, tuple[CodeVersion, int]] = {}
    for r in records:
        v = CodeVersion.of(r)
        codes[v.id] = (v, codes.get(v.id, (v, 0))[1] + 1)
    if codes:
        lines += ["## Code versions", ""] + [
            f"- `{vid}`: {v.label}, {n} run(s)" + (" (recorded before code versions)"
                                                   if v.src_hash is None else "")
            for vid, (v, n) in codes.items()] + [""]
    envs = sorted({
        ", ".join(f"{k} {v}" for k, v in sorted((r.get("versions") or {}).items())
                  if k != "git_commit")
        for r in records
    } - {""})
    if envs:
        lines += ["## Environment", ""] + [f"- {v}" for v in envs] + [""]
    return lines


def _remove_stale_figures(fig_dir: Path, rel: str, report_text: str) -> None:
    """Delete the ``*.png`` in ``fig_dir`` that the new report does not link (left by an earlier
    report of other experiments), so the folder holds exactly this report's figures."""
    for png in fig_dir.glob("*.png"):
        if f"({rel}/{png.name})" not in report_text:
            png.unlink()


def _headline_table(exps: list[ExperimentData], comparisons: Comparisons) -> str:
    header = ["experiment", "family (evidence)", "variant", "paper (setting)",
              "ours (mean ± 95% CI)", "vs", "Δ ± 95% t-CI (unadjusted)", "p (Holm)", "verdict",
              "n", "code"]
    body = []
    for exp in exps:
        headline = exp.meta.get("headline")
        for r in rows(exp, comparisons):
            if r.summary is None or (headline and r.variant not in headline):
                continue
            body.append([exp.name, r.family, r.variant, r.paper, r.ours, r.versus, r.diff,
                         r.p_holm, r.verdict, str(r.n), f"`{r.version}`"])
    return md_table(header, body)


def readme_table(
    results_path: str | os.PathLike[str],
    experiments: Sequence[str | Experiment] | None = None,
    mixed_versions: bool = False,
) -> str:
    """Compact Markdown table of headline numbers (for the README's results section), with
    the sentence saying how the Holm families are formed and how large they are."""
    exps = group(read_results(results_path), experiments)
    comparisons = compare(exps, mixed_versions)
    return holm_sentence(comparisons) + "\n\n" + _headline_table(exps, comparisons)


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
