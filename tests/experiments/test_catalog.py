"""The suites: paper's protocol is what it says (structure, not results), smoke runs end to end."""

from __future__ import annotations

import pytest

from losskit.experiments import SUITES, Plan, read_results, reproduce, resolve
from losskit.experiments import paper as paper_mod
from losskit.experiments.catalog import smoke_experiments
from losskit.experiments.spec import EXPERIMENTS

PAPER = resolve("paper")


def test_suites_paper_quick_all():
    names = [e.name for e in PAPER]
    assert names[:4] == ["p1-slf-mlp", "p1-slf-lenet", "p2-slf-k", "p3-uniloss-ap"]
    assert all(n.startswith(("p1-", "p2-", "p3-", "p4-", "p5-", "p6-")) for n in names)
    assert set(SUITES["paper"]) <= set(SUITES["paper-full"])
    quick = [e.name for e in resolve("quick")]
    assert "e1-slf-mlp" in quick and "e4-imbalance-r0.1" in quick
    assert {e.name for e in resolve("all")} == set(SUITES["paper-full"]) | set(quick)
    with pytest.raises(ValueError, match="paper"):
        resolve("papers")


def test_paper_protocol_holds_for_every_experiment():
    for exp in resolve("paper-full"):
        cfg = exp.config(exp.variants[0].name, exp.seeds[0])
        assert exp.select == "best_val" and exp.fidelity in ("direct", "proxy"), exp.name
        assert cfg.data_kwargs.get("val_fraction") == 0.1, exp.name  # the 6,000-image split
        assert cfg.data in ("mnist", "mnist-binary", "fashion-mnist"), exp.name
        assert exp.paper_setting, exp.name
        assert min(exp.seeds) == 0 and len(exp.seeds) >= (3 if exp.name == "p2-slf-k" else 5)
        if exp.name == "p3-uniloss-ap":  # exactly as published: no tuning, fixed lr
            assert exp.tuning is None and (cfg.lr, cfg.epochs, cfg.schedule) == (0.01, 30, "none")
            continue
        assert cfg.epochs >= {"lenet": 15, "mlp": 20}[cfg.model], exp.name
        assert cfg.schedule == "cosine" and cfg.optimizer == "sgd", exp.name
        for v in exp.variants:
            # every variant is tuned: its own grid (≥ 3 values, seed not reported) or another's
            assert exp.tuned(v.name), (exp.name, v.name)
            if exp.tuning is not None:
                assert len(exp.tuning.grid) >= 3 and exp.tuning.seed not in exp.seeds


def test_no_method_is_judged_at_a_learning_rate_tuned_for_another():
    plan = Plan(resolve("paper-full"))
    for exp in resolve("paper-full"):
        for v in exp.variants:
            group = plan.group(exp.name, v.name)
            if exp.name == "p3-uniloss-ap":
                assert group is None
                continue
            mine = exp.config(v.name, 0)
            src = group.experiment.config(group.variant, 0)
            if mine.method == "mils":  # MILS reuses its CE primary's choice
                assert src.method == "loss" and src.method_kwargs == {"loss": "ce"}
                assert mine.method_kwargs["primary"] == "ce"
            else:  # sweeps (K, batch size, r) reuse the same method's choice
                assert src.method == mine.method, (exp.name, v.name)
                same = {k: x for k, x in src.method_kwargs.items() if k != "k"}
                assert same == {k: x for k, x in mine.method_kwargs.items() if k != "k"}


def test_shared_runs_and_the_run_count():
    plan = Plan(PAPER)
    runs = plan.runs({})
    keys = [p.spec.key for p in runs]
    assert len(keys) == len(set(keys))
    # the LeNet CE baseline of p1 and p4 (MNIST), and p6's r = 1.0, are the same runs
    for a, b in [(("p1-slf-lenet", "CE"), ("p4-uniloss-acc-mnist", "CE")),
                 (("p1-slf-mlp", "SLF K=3"), ("p6-imbalance-r1.0", "SLF K=3")),
                 (("p1-slf-mlp", "SLF K=3"), ("p2-slf-k", "K=3")),
                 (("p4-uniloss-acc-fashion", "CE"), ("p5-mils", "CE"))]:
        assert plan.group(*a).tag == plan.group(*b).tag
        ea, eb = EXPERIMENTS.get(a[0]), EXPERIMENTS.get(b[0])
        fake = {"lr": 0.03}
        assert ea.run(a[1], 0, fake).key == eb.run(b[1], 0, fake).key
    n_tune = sum(p.spec.role == "tune" for p in runs)
    assert n_tune == 3 * len({g.tag for g in (plan.group(e.name, v.name) for e in PAPER
                                              for v in e.variants) if g is not None})
    assert len(runs) == paper_mod.EXPECTED_RUNS


def test_method_arguments_follow_the_documented_contracts():
    by = {(e.name, v.name): e.config(v.name, 0) for e in resolve("paper-full")
          for v in e.variants}
    assert by[("p1-slf-mlp", "SLF K=3")].method_kwargs == {"preset": "paper", "k": 3}
    assert by[("p1-slf-mlp", "SLF-Softmax")].method_kwargs == {"preset": "paper",
                                                               "mode": "softmax"}
    assert by[("p1-slf-mlp", "equal-weight sum")].method_kwargs == {
        "preset": "paper", "mode": "fixed", "weights": [0.2] * 5}
    assert by[("p1-slf-lenet", "SLF K=3 bilevel")].method_kwargs == {
        "preset": "paper", "k": 3, "update": "bilevel"}
    ap = {k[1]: c for k, c in by.items() if k[0] == "p3-uniloss-ap"}
    assert ap["UniLoss AP (raw scores)"].method_kwargs == {"metric": "ap"}
    assert ap["UniLoss AP (authors' relaxation)"].method_kwargs == {"metric": "ap",
                                                                   "relaxation": "authors"}
    assert ap["2-class CE"].method_kwargs == {"loss": "ce"} and ap["BCE"].method_kwargs == {
        "loss": "bce"}
    assert all(c.data == "mnist-binary" and c.batch_size == 16 and c.momentum == 0.5
               for c in ap.values())
    mils = by[("p5-mils", "MILS +center")].method_kwargs
    assert mils == {"primary": "ce", "aux": "center", "participation": 0.1,
                    "observation_size": 128, "accept_ties": False}
    assert by[("p5-mils-extra", "MILS +center ties")].method_kwargs["accept_ties"] is True
    nosched = by[("p5-mils", "no scheduling +multi-margin (20 %)")].method_kwargs
    assert nosched["no_schedule"] is True and nosched["participation"] == 0.2


def test_smoke_suite_runs_the_protocol_end_to_end(tmp_path, capsys):
    results, report = tmp_path / "r.jsonl", tmp_path / "report"
    assert reproduce("smoke", results, jobs=1, report_dir=report, calibrate=False) == 0
    recs = read_results(results)
    tune = [r for r in recs if r["role"] == "tune"]
    assert len(tune) == 9 and {r["seed"] for r in tune} == {100}
    assert len(recs) == 19
    out = capsys.readouterr().out
    assert out.count("(best val @ epoch") == 19 and "19 runs: 19 completed" in out
    md = (report / "report.md").read_text()
    assert "Holm-corrected across the 4 comparisons" in md  # 3 vs CE + K=1 vs K=3
    assert "`MILS +multi-margin` ← `CE`" in md and "(from CE)" in md
    assert "test at best-val epoch" in md and "| ✓" not in md and "✓" in md
    exps = smoke_experiments()
    plan = Plan(exps)
    by_key = {r["key"]: r for r in recs}
    ce_lr = plan.choices(by_key)[("smoke-methods", "CE")].value
    mils = plan.eval_spec("smoke-methods", "MILS +multi-margin", 0, by_key)
    assert mils.config.lr == ce_lr and mils.key in by_key
