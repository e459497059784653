"""The report: tables whose numbers match SciPy, PNG plots, README table and splice."""

from __future__ import annotations

import json

import numpy as np
import pytest

from losskit.experiments import report as report_mod
from losskit.experiments.report import build_report, readme_table, update_readme
from losskit.experiments.runner import run_experiments
from losskit.experiments.spec import Experiment, Variant
from tests.experiments.fakes import fake_acc, fake_fit, toy_experiment

scipy_stats = pytest.importorskip("scipy.stats")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def results(tmp_path):
    exp = toy_experiment()
    exp.variants.append(Variant("noisy", {"method_kwargs.noise": 0.02}))
    single = Experiment("single", "One seed", {"epochs": 2, "method_kwargs": {"bonus": 0.1}},
                        [Variant("only")], seeds=[4], baseline="only", claim="n = 1.")
    path = tmp_path / "results.jsonl"
    run_experiments([exp, single], path, run_fn=fake_fit, progress=False)
    return exp, single, path


def _row(md: str, variant: str, column: int = 0) -> list[str]:
    """Cells of the first table row whose ``column`` is ``variant`` (0: experiment tables)."""
    for line in md.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) > 3 and cells[column] == variant:
            return cells
    raise AssertionError(f"no row for {variant!r} in\n{md}")


def _expected_ci(exp, variant):
    vals = np.array([fake_acc(exp.config(variant, s), 3) for s in exp.seeds]) * 100
    lo, hi = scipy_stats.t.interval(0.95, len(vals) - 1, loc=vals.mean(),
                                    scale=scipy_stats.sem(vals))
    return f"{vals.mean():.2f} ± {(hi - lo) / 2:.2f}"


def test_report_tables_sections_and_plots(results, tmp_path):
    exp, single, path = results
    out = tmp_path / "report"
    md_path = build_report(path, out)
    md = md_path.read_text()
    assert md_path == out / "report.md"
    for section in ["# losskit experiment report", "## Headline", "## toy: Toy experiment",
                    "> **Paper's claim.** A bonus helps.", "## single: One seed", "## Environment",
                    "Setup: data `blobs`, model `mlp`, 3 epochs"]:
        assert section in md
    # columns: 0 variant, 1 lr, 2 paper, 3 ours, 4 final epoch, 5 n, 6 vs, 7 family, 8 Δ,
    # 9 below/above, 10 p (t), 11 p (sign), 12 p (Wilcoxon), 13 p (Holm), 14 verdict, ...
    # our mean ± CI half-width equal SciPy's t-interval on the same numbers
    base_row, better_row = _row(md, "base"), _row(md, "better")
    assert base_row[1:8] == ["0.05 fixed", "90", _expected_ci(exp, "base"),
                             _expected_ci(exp, "base").split(" ")[0], "3", "—", "baseline"]
    assert better_row[2] == "92.1" and better_row[3] == _expected_ci(exp, "better")
    assert better_row[6:8] == ["base", "secondary · Toy (proxy)"]
    assert better_row[8].startswith("+5.00 ±") and better_row[9] == "0/3 of 3"
    assert better_row[11] == f"{2 / 8:.3f}" and better_row[12] == f"{2 / 8:.3f}"
    assert better_row[14] == "better"
    noisy = _row(md, "noisy")
    d = [fake_acc(exp.config("noisy", s), 3) - fake_acc(exp.config("base", s), 3)
         for s in exp.seeds]
    p = scipy_stats.ttest_rel(np.array(d), np.zeros(3)).pvalue
    # four comparisons in the family; the three constant differences (p = 0) come first, so
    # noisy is tested last, at α/1: its Holm p equals its own; the t-test is the test (bold)
    assert noisy[10] == f"**{p:.3f}**" and noisy[13] == f"{p:.3f}"
    assert noisy[9] == "1/2 of 3" and noisy[14] == "no significant difference"
    assert noisy[12] == f"{scipy_stats.wilcoxon(d, method='exact').pvalue:.3f}"
    assert "### Secondary · Toy family: m = 4 (Holm, α = 0.05)" in md
    assert "secondary · Toy: m = 4" in md
    only = _row(md, "only")
    single_acc = 100 * fake_acc(single.config("only", 4), 2)
    assert only[3] == f"{single_acc:.2f} (n=1)" and only[5] == "1" and only[7] == "baseline"
    assert "nan" not in md.lower()
    # every plot kind is written and referenced
    figs = out / "figures"
    for name in ["toy_curves.png", "toy_sweep.png", "toy_slf_probs.png",
                 "toy_mils_success_ratio.png", "single_curves.png"]:
        assert (figs / name).read_bytes()[:8] == PNG_MAGIC, name
        assert f"(figures/{name})" in md
    assert not (figs / "single_sweep.png").exists()  # no sweep declared
    # regenerating gives the same report, and drops figures an earlier report left behind
    stale = figs / "old-suite_curves.png"
    stale.write_bytes(PNG_MAGIC)
    assert build_report(path, out).read_text() == md
    assert not stale.exists() and (figs / "toy_curves.png").exists()


def test_report_uses_given_specs_and_shows_missing(results, tmp_path):
    exp, _, path = results
    extra = Experiment("later", "Not run yet", {}, [Variant("a")], seeds=[0], baseline="a")
    exp.variants.append(Variant("pending", {"lr": 0.1}, paper=1.5))
    md = build_report(path, tmp_path / "r", experiments=[extra, exp]).read_text()
    assert md.index("## later") < md.index("## toy")
    assert "_No results yet._" in md and "## single" not in md
    assert _row(md, "pending")[2:6] == ["1.5", "not run", "—", "0"]


def test_a_selected_report_counts_and_versions_only_its_own_runs(results, tmp_path):
    exp, single, path = results
    n_toy = sum(json.loads(line)["experiment"] == "toy" for line in path.open())
    n_all = sum(1 for _ in path.open())
    assert n_toy < n_all
    md = build_report(path, tmp_path / "r", experiments=[exp]).read_text()
    assert f"({n_toy} runs, " in md and "--suite toy`" in md
    versions = md[md.index("## Code versions"):]
    assert f"{n_toy} run(s)" in versions and f"{n_all} run(s)" not in versions
    md_all = build_report(path, tmp_path / "all").read_text()
    assert f"({n_all} runs, " in md_all and "--suite" not in md_all.splitlines()[2]


def test_one_tuning_line_per_distinct_grid():
    from losskit.experiments.report.records import ExperimentData, VariantData

    grid = {"param": "lr", "grid": [0.01, 0.1], "seeds": [100, 101]}
    other = {**grid, "grid": [0.001, 0.01]}
    meta = {"variants": [{"name": n, "tuning": dict(t)}
                         for n, t in (("a", grid), ("b", grid), ("c", other))]}
    rows = [VariantData(n, tuned_self=True) for n in "abc"]
    lines = report_mod.sections.tuning_section(ExperimentData("tuned", meta, rows))
    tuning = [line for line in lines if line.startswith("Tuning: ")]
    assert len(tuning) == 2 and "{0.01, 0.1}" in tuning[0] and "{0.001, 0.01}" in tuning[1]


def test_method_log_detection():
    recs = [{"history": [{"epoch": 1, "train_loss": 1.0, "test_acc": 0.5, "lr": 0.1,
                          "slf_probs": {"ce": 0.4, "mse": 0.6}, "mils_attempts": 3,
                          "weights": [0.1, 0.9], "note": "text", "val_acc": 0.3}]}]
    assert report_mod.method_log_keys(recs) == {"mils_attempts": "scalar",
                                                "slf_probs": "vector", "weights": "vector"}


def test_plots_skipped_with_a_note_without_matplotlib(results, tmp_path, monkeypatch):
    _, _, path = results
    monkeypatch.setattr(report_mod.figures, "matplotlib_available", lambda: False)
    md = build_report(path, tmp_path / "r").read_text()
    assert "Plots skipped: matplotlib is not installed" in md
    assert not (tmp_path / "r" / "figures").exists() and "![" not in md


def test_readme_table_and_idempotent_splice(results, tmp_path):
    exp, _, path = results
    table = readme_table(path)
    lines = table.splitlines()
    assert "secondary · Toy: m = 4" in lines[0] and lines[1] == ""
    assert lines[2].startswith("| experiment | family (evidence) | variant | paper (setting) |")
    assert len(lines) == 2 + 2 + 6  # sentence + blank + header + rule + 5 toy + 1 single
    assert _row(table, "better", column=2)[4] == _expected_ci(exp, "better")
    readme = tmp_path / "README.md"
    readme.write_text(
        "# x\n\nintro\n<!-- results:start -->\nold stuff\n<!-- results:end -->\ntail\n"
    )
    assert update_readme(readme, table) is True
    once = readme.read_text()
    assert update_readme(readme, table) is False and readme.read_text() == once
    assert "old stuff" not in once and once.startswith("# x\n\nintro\n") and once.endswith("tail\n")
    assert once.count("<!-- results:start -->") == 1 and table in once
    no_markers = tmp_path / "plain.md"
    no_markers.write_text("nothing")
    with pytest.raises(ValueError, match="markers"):
        update_readme(no_markers, table)


def test_readme_rows_name_the_one_code_version_of_their_runs(results, tmp_path):
    _, _, path = results
    lines = path.read_text().splitlines()
    hashes = {json.loads(line)["code"]["src_hash"] for line in lines}
    assert len(hashes) == 1
    (current,) = hashes
    table = readme_table(path)
    assert table.splitlines()[2].rstrip().endswith("| n | code |")
    assert _row(table, "better", column=2)[-1] == f"`{current}`"
    # rewrite the "better" row's runs as another version: that row (and only it) says so,
    # and it is no longer paired with the baseline
    moved = []
    for line in lines:
        rec = json.loads(line)
        if rec.get("variant") == "better":
            rec["code"] = {**rec["code"], "src_hash": "0123456789ab"}
        moved.append(json.dumps(rec))
    other = tmp_path / "moved.jsonl"
    other.write_text("\n".join(moved) + "\n")
    table = readme_table(other)
    better = _row(table, "better", column=2)
    assert better[-1] == "`0123456789ab`" and "code versions differ" in better[6]
    assert _row(table, "b=0.01", column=2)[-1] == f"`{current}`"


def test_headline_limits_the_readme_table(tmp_path):
    exp = toy_experiment(headline=["better"])
    path = tmp_path / "r.jsonl"
    run_experiments(exp, path, run_fn=fake_fit, progress=False)
    rows = readme_table(path).splitlines()[4:]
    assert len(rows) == 1 and _row(rows[0], "better", column=2)[0] == "toy"
    meta = json.loads(path.read_text().splitlines()[0])["meta"]
    assert meta["headline"] == ["better"]


def test_cli_report_rewrites_the_readme_section(results, tmp_path, capsys):
    from losskit.cli import main

    _, _, path = results
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- results:start -->\n<!-- results:end -->\nend\n")
    argv = ["report", str(path), "--out", str(tmp_path / "rep"), "--readme", str(readme)]
    assert main(argv) == 0
    text = readme.read_text()
    assert readme_table(path) in text and f"losskit report {path}" in text
    assert text.startswith("intro\n") and text.endswith("end\n")
    assert main(argv) == 0 and "unchanged" in capsys.readouterr().out


# ----------------------------------------------------------------------------- the protocol
def test_protocol_report_best_val_tuning_labels_and_notes(tmp_path):
    from tests.experiments.fakes import fake_curve, tuned_experiment

    exp = tuned_experiment()
    twin = tuned_experiment("twin")  # identical runs: reported from the same records
    twin.fidelity = "proxy"
    path = tmp_path / "r.jsonl"
    run_experiments([exp], path, run_fn=fake_fit, progress=False, echo=False)
    md = build_report(path, tmp_path / "rep", experiments=[exp, twin]).read_text()
    assert "## tuned: Tuned toy [direct]" in md and "## twin: Tuned toy [proxy]" in md
    assert "Paper numbers: Toy paper, Table 9." in md
    # tuning: every grid value's score, the choice, interior or not, and who reuses it
    assert "Tuning: `lr` from {0.01, 0.0316, 0.1} (extended at an end up to 2× within " \
           "[0.0001, 1]) by the mean over tuning seed(s) 9, 10 of the best validation " \
           "`val_acc`" in md
    assert "| variant | tuned on | tuning seeds | mean best validation val_acc per value " \
           "(✓ chosen) | choice | interior |" in md
    base_tune = _row(md.split("## twin")[0], "base")  # the first base row: the tuning table
    assert base_tune[1:3] == ["tuned/base", "9, 10"] and base_tune[4:] == ["0.0316", "✓"]
    assert base_tune[3].count(" ✓") == 1 and "0.0316: " in base_tune[3].split("✓")[0]
    better_tune = _row(md, "better")
    assert better_tune[3].endswith("0.316: " + better_tune[3].split("0.316: ")[1])
    assert "(+1 extended)" in better_tune[3] and better_tune[5] == "✓"
    assert "| follower | tuned/better | 9, 10 |" in md
    assert "✓ — reused: the rate of tuned/better |" in md
    # the value is the test metric at the best-validation epoch (2), the final epoch beside it
    rows = [r for r in md.splitlines() if r.startswith("| base | 0.0316 tuned | 80 (Toy paper, "
                                                       "Table 9) |")]
    assert len(rows) == 2  # tuned and twin
    cells = [c.strip() for c in rows[0].strip("|").split("|")]
    lr = {"lr": 0.0316}
    at_best = [100 * fake_curve(exp.config("base", s, lr), 2)[0] for s in exp.seeds]
    at_end = [100 * fake_curve(exp.config("base", s, lr), 4)[0] for s in exp.seeds]
    assert cells[3].startswith(f"{np.mean(at_best):.2f} ±")
    assert cells[4] == f"{np.mean(at_end):.2f}"
    val = [[fake_curve(exp.config("base", s, lr), e)[1] for e in (3, 4)] for s in exp.seeds]
    assert cells[15] == f"{100 * np.mean([b - a for a, b in val]):+.2f}"  # val Δ, last ¼ (1 ep)
    follower = [c.strip() for c in next(
        r for r in md.splitlines() if r.startswith("| follower | 0.1 ← better")).strip(
        "|").split("|")]
    assert follower[1] == "0.1 ← better (reused)"
    # twin's comparisons are tuned's (same runs): counted once, in the primary family
    assert "### Primary family: m = 2" in md and "Secondary" not in md
    assert "twin: better vs base [secondary · Toy] = tuned: better vs base" in md
    # our baseline (~57) is below the paper's 80: said for the direct experiment only
    note = "baseline (" in md and "is below the paper's (80): this comparison is not at the " \
                                  "paper's strength"
    assert note and md.count("not at the paper's strength") == 1
    # SLF selection frequencies by loss name, first and last epochs
    assert "| variant | epoch | ce | mse |" in md
    assert "| base | 1 | 60 | 40 |" in md and "| base | 4 | 90 | 10 |" in md


def test_diverged_runs_are_shown_not_hidden(tmp_path):
    exp = toy_experiment(seeds=(0, 1, 2))
    exp.variants.append(Variant("unstable", {"method_kwargs.diverge_at": 3}))
    exp.variants.append(Variant("dead", {"method_kwargs.diverge_at": 1}))
    path = tmp_path / "r.jsonl"
    run_experiments(exp, path, run_fn=fake_fit, progress=False, echo=False)
    md = build_report(path, tmp_path / "rep").read_text()
    assert _row(md, "unstable")[3] == "no value (3 diverged)"  # select="final": no last epoch
    assert _row(md, "dead")[3] == "no value (3 diverged)"
    exp.select = "best_val"
    md = build_report(path, tmp_path / "rep", experiments=[exp]).read_text()
    assert "(3 diverged)" in _row(md, "unstable")[3] and _row(md, "unstable")[5] == "3"


def test_records_of_an_older_key_scheme_are_shown_by_name(tmp_path):
    exp = toy_experiment(seeds=(0, 1))
    path = tmp_path / "r.jsonl"
    run_experiments(exp, path, run_fn=fake_fit, progress=False, echo=False)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    for i, rec in enumerate(lines):  # keys as an earlier version computed them
        rec["key"] = f"old{i}"
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    md = build_report(path, tmp_path / "rep", experiments=[exp]).read_text()
    assert _row(md, "better")[3] == _expected_ci(exp, "better") and _row(md, "better")[5] == "2"
    assert "do not match the current spec" in md


def test_cli_list_shows_dataset_availability(tmp_path, monkeypatch, capsys):
    from losskit.cli import main

    monkeypatch.setenv("LOSSKIT_MNIST", str(tmp_path / "none"))
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.strip().startswith("mnist "))
    assert "[not installed: run `python -m losskit.data.install mnist`" in line
    monkeypatch.setenv("LOSSKIT_MNIST", str(tmp_path))
    from tests.data.helpers import write_mnist_folder

    write_mnist_folder(tmp_path)
    assert main(["list"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines()
                if x.strip().startswith("mnist "))
    assert line.endswith("[available]")


def test_cli_dry_run_prints_the_plan_and_runs_nothing(tmp_path, capsys):
    from losskit.cli import main

    results = tmp_path / "r.jsonl"
    rc = main(["reproduce", "paper", "--dry-run", "--no-estimate", "--results", str(results)])
    out = capsys.readouterr().out
    assert rc == 0 and "p1-slf-mlp" in out and "p3-uniloss-ap" in out
    from losskit.experiments import paper

    assert f"{paper.EXPECTED_RUNS} runs (" in out and not results.exists()
