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
    # columns: variant, paper, tuned, ours, final epoch, n, Δ, p, p (Holm), verdict, val Δ, s/run
    # our mean ± CI half-width equal SciPy's t-interval on the same numbers
    base_row, better_row = _row(md, "base"), _row(md, "better")
    assert base_row[1:7] == ["90", "—", _expected_ci(exp, "base"),
                             _expected_ci(exp, "base").split(" ")[0], "3", "—"]
    assert better_row[1] == "92.1" and better_row[3] == _expected_ci(exp, "better")
    assert better_row[6].startswith("+5.00 ±") and better_row[9] == "better"
    noisy = _row(md, "noisy")
    d = [fake_acc(exp.config("noisy", s), 3) - fake_acc(exp.config("base", s), 3)
         for s in exp.seeds]
    p = scipy_stats.ttest_rel(np.array(d), np.zeros(3)).pvalue
    # four comparisons; the three constant differences (p = 0) come first, so noisy is tested
    # last, at α/1: its Holm p equals its own and its interval is the plain 95% one
    assert noisy[7] == f"{p:.3f}" and noisy[8] == f"{p:.3f}"
    assert noisy[9] == "no significant difference"
    assert "Holm-corrected across the 4 comparisons" in md
    only = _row(md, "only")
    single_acc = 100 * fake_acc(single.config("only", 4), 2)
    assert only[3] == f"{single_acc:.2f} ± n/a" and only[5] == "1" and only[9] == "baseline"
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
    assert _row(md, "pending")[1:6] == ["1.5", "—", "not run", "—", "0"]


def test_method_log_detection():
    recs = [{"history": [{"epoch": 1, "train_loss": 1.0, "test_acc": 0.5, "lr": 0.1,
                          "slf_probs": {"ce": 0.4, "mse": 0.6}, "mils_attempts": 3,
                          "weights": [0.1, 0.9], "note": "text", "val_acc": 0.3}]}]
    assert report_mod.method_log_keys(recs) == {"mils_attempts": "scalar",
                                                "slf_probs": "vector", "weights": "vector"}


def test_plots_skipped_with_a_note_without_matplotlib(results, tmp_path, monkeypatch):
    _, _, path = results
    monkeypatch.setattr(report_mod, "_matplotlib_available", lambda: False)
    md = build_report(path, tmp_path / "r").read_text()
    assert "Plots skipped: matplotlib is not installed" in md
    assert not (tmp_path / "r" / "figures").exists() and "![" not in md


def test_readme_table_and_idempotent_splice(results, tmp_path):
    exp, _, path = results
    table = readme_table(path)
    lines = table.splitlines()
    assert "Holm-corrected across the 4 comparisons" in lines[0] and lines[1] == ""
    assert lines[2].startswith("| experiment | kind | variant | paper (setting) |")
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
    # tuning: the grid's validation scores, the choice, and who reuses it
    assert "chosen from {0.01, 0.03, 0.1} by the best validation `val_acc` of one run at " \
           "seed 9" in md
    assert "`follower` ← `better`" in md
    scores = next(r for r in md.splitlines() if r.startswith("| base | tuned/base | "))
    assert "0.03: " in scores and scores.count(" ✓") == 1 and "0.03: " in scores.split("✓")[0]
    # the value is the test metric at the best-validation epoch (2), the final epoch beside it
    rows = [r for r in md.splitlines() if r.startswith("| base | 80 (Toy paper, Table 9) |")]
    assert len(rows) == 2  # tuned and twin
    cells = [c.strip() for c in rows[0].strip("|").split("|")]
    at_best = [100 * fake_curve(exp.config("base", s, {"lr": 0.03}), 2)[0] for s in exp.seeds]
    at_end = [100 * fake_curve(exp.config("base", s, {"lr": 0.03}), 4)[0] for s in exp.seeds]
    assert cells[2] == "lr 0.03" and cells[3].startswith(f"{np.mean(at_best):.2f} ±")
    assert cells[4] == f"{np.mean(at_end):.2f}"
    val = [[fake_curve(exp.config("base", s, {"lr": 0.03}), e)[1] for e in (3, 4)]
           for s in exp.seeds]
    assert cells[10] == f"{100 * np.mean([b - a for a, b in val]):+.2f}"  # val Δ, last ¼ (1 ep)
    follower = [c.strip() for c in next(
        r for r in md.splitlines() if r.startswith("| follower | — | lr 0.1")).strip("|").split(
        "|")]
    assert follower[2] == "lr 0.1 (from better)"
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
