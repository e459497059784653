"""The report's evidence rules: stalled runs as counts (Wilcoxon for their comparisons),
intervals bounded by the metric's range, one code version per comparison, best-epoch ties."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from losskit.experiments import report as report_mod
from losskit.experiments.report import build_report
from losskit.experiments.runner import run_experiments
from losskit.experiments.spec import Variant, run_key
from tests.experiments.fakes import fake_acc, fake_fit, toy_experiment

scipy_stats = pytest.importorskip("scipy.stats")


@pytest.fixture(autouse=True)
def _no_plots(monkeypatch):
    monkeypatch.setattr(report_mod.figures, "matplotlib_available", lambda: False)


def _row(md: str, variant: str) -> list[str]:
    for line in md.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) > 10 and cells[0] == variant:
            return cells
    raise AssertionError(f"no row for {variant!r}")


def _report(tmp_path, exp, **kw):
    path = tmp_path / "r.jsonl"
    if not path.exists():
        run_experiments(exp, path, run_fn=fake_fit, progress=False, echo=False)
    return path, build_report(path, tmp_path / "rep", experiments=[exp], **kw).read_text()


def test_stalled_runs_are_counts_and_their_comparison_uses_the_exact_wilcoxon(tmp_path):
    exp = toy_experiment(seeds=(0, 1, 2, 3, 4))
    exp.variants.append(Variant("stally", {"method_kwargs.stall": [1, 3]}))
    _, md = _report(tmp_path, exp)
    row = _row(md, "stally")
    vals = {s: 100 * fake_acc(exp.config("stally", s), 3) - (30 if s in (1, 3) else 0)
            for s in exp.seeds}
    # counts, not a mean ± CI
    assert row[3].startswith(f"2 of 5 stalled ({vals[1]:.2f}, {vals[3]:.2f}); the other 3: "
                             "median ") and "±" not in row[3]
    d = [vals[s] - 100 * fake_acc(exp.config("base", s), 3) for s in exp.seeds]
    assert row[9] == "2/0 of 5"  # three seeds tie with the baseline (bonus 0)
    assert "outlying differences: Wilcoxon" in row[8]
    w = scipy_stats.wilcoxon([x for x in d if abs(x) > 1e-9], method="exact").pvalue
    t = scipy_stats.ttest_rel(d, [0] * 5).pvalue
    assert row[12] == f"**{w:.3f}**" and row[10] == f"{t:.3f}"
    assert row[11] == f"{scipy_stats.binomtest(0, 2).pvalue:.3f}"
    assert row[14] == "no significant difference"


def test_a_run_that_never_predicts_a_class_at_its_reported_epoch_is_stalled(tmp_path):
    """The second stall rule: not a robust outlier at all, but a class is never predicted at the
    epoch the run is reported at (best validation: epoch 2 here); the same dead class at
    another epoch flags nothing."""
    exp = toy_experiment(seeds=(0, 1, 2, 3, 4))
    exp.select = "best_val"  # fake runs record validation without a split
    exp.variants += [
        Variant("dead", {"method_kwargs.peak_epoch": 2, "method_kwargs.dead": [2],
                         "method_kwargs.dead_epoch": 2}),
        Variant("dead later", {"method_kwargs.peak_epoch": 2, "method_kwargs.dead": [2],
                               "method_kwargs.dead_epoch": 3}),
    ]
    _, md = _report(tmp_path, exp)
    vals = {s: 100 * fake_acc(exp.config("dead", s), 2) for s in exp.seeds}
    row = _row(md, "dead")
    assert row[3].startswith(
        f"1 of 5 stalled with a class never predicted ({vals[2]:.2f}); the other 4: median ")
    assert "±" not in row[3]
    assert "±" in _row(md, "dead later")[3] and "stalled" not in _row(md, "dead later")[3]


def test_no_interval_passes_the_metric_range(tmp_path):
    exp = toy_experiment(seeds=(0, 1))
    exp.variants.append(Variant("high", {"method_kwargs.bonus": 0.35}))
    _, md = _report(tmp_path, exp)
    vals = np.array([100 * fake_acc(exp.config("high", s), 3) for s in exp.seeds])
    lo, hi = scipy_stats.t.interval(0.95, 1, loc=vals.mean(), scale=scipy_stats.sem(vals))
    assert hi > 100  # the plain t-interval would pass 100 %
    assert _row(md, "high")[3] == f"{vals.mean():.2f} [{lo:.2f}, 100.00]‡"
    # Δ is bounded by what a difference can take given the baseline: ≤ 100 − mean(base)
    base = np.array([100 * fake_acc(exp.config("base", s), 3) for s in exp.seeds])
    delta = _row(md, "high")[8]
    assert delta.startswith(f"+{(vals - base).mean():.2f}")
    clipped = re.findall(r"\[([-+\d.]+), ([-+\d.]+)\]‡", md)
    assert len(clipped) >= 2  # the row, and its Δ
    assert all(float(hi_) <= 100.0 for _, hi_ in clipped)


def _version(path, variant, src):
    """Rewrite ``variant``'s records as if made by code of source hash ``src``."""
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    for r in lines:
        if r["variant"] == variant:
            r["code"] = {**r["code"], "src_hash": src}
            r["key"] = run_key(r["config"], src)
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))


def test_rows_of_different_code_versions_are_not_paired_unless_asked(tmp_path):
    exp = toy_experiment(seeds=(0, 1, 2))
    path, _ = _report(tmp_path, exp)
    _version(path, "better", "newer0000000")
    md = build_report(path, tmp_path / "rep", experiments=[exp]).read_text()
    row = _row(md, "better")
    assert row[8] == ("code versions differ (newer0000000 vs testsrc00000); --mixed-versions "
                      "pairs them anyway") and row[14] == "n/a"
    assert "not paired: their rows come from different code versions" in md
    assert "Code versions of the rows: newer0000000, testsrc00000." in md
    mixed = build_report(path, tmp_path / "rep", experiments=[exp],
                         mixed_versions=True).read_text()
    row = _row(mixed, "better")
    assert row[8].startswith("+5.00 ±")
    assert "(mixed versions newer0000000 vs testsrc00000)" in row[8]
    assert "--mixed-versions`" in mixed


def test_records_without_a_code_version_are_version_unknown(tmp_path):
    exp = toy_experiment(seeds=(0, 1, 2))
    path, _ = _report(tmp_path, exp)
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    for r in lines:  # as written before code versions: no "code", keyed by config alone
        del r["code"], r["config_key"]
        r["key"] = run_key(r["config"])
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    md = build_report(path, tmp_path / "rep", experiments=[exp]).read_text()
    assert "- `unknown`: unknown, 12 run(s) (recorded before code versions)" in md
    assert _row(md, "better")[8].startswith("+5.00 ±")  # paired: one (unknown) version


def test_best_epoch_ties_are_counted_and_the_last_tied_epoch_reported(tmp_path):
    exp = toy_experiment(seeds=(0, 1))
    exp.variants.append(Variant("flat", {"method_kwargs.flat_val": True}))
    exp.select = "best_val"  # fake runs record validation without a split
    _, md = _report(tmp_path, exp)
    assert ("Best-validation epoch ties: 2 of 10 runs had ≥ 2 epochs tied at their best "
            "validation `val_acc` (up to 3); the last tied epoch is reported.") in md
    last = 100 * np.mean([fake_acc(exp.config("flat", s), 3) for s in exp.seeds])
    assert _row(md, "flat")[3].startswith(f"{last:.2f}")
