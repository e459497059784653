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
    assert {e.name for e in resolve("all")} == (set(SUITES["paper-full"]) | set(quick)
                                               | set(SUITES["imbalanced-ap"])
                                               | set(SUITES["noise"]) | set(SUITES["imbalance"])
                                               | set(SUITES["weighting"]))
    assert SUITES["imbalanced-ap"] == ["p7-imbalanced-ap-1to19", "p7-imbalanced-ap-1to99"]
    with pytest.raises(ValueError, match="paper"):
        resolve("papers")


def _is_log_grid(grid):
    ratios = [b / a for a, b in zip(grid, grid[1:])]
    return all(abs(r - 10 ** 0.5) < 0.01 for r in ratios)


def test_paper_protocol_holds_for_every_experiment():
    for exp in resolve("paper-full"):
        cfg = exp.config(exp.variants[0].name, exp.seeds[0])
        assert exp.select == "best_val" and exp.fidelity in ("direct", "proxy"), exp.name
        assert exp.split_seed == "run" and cfg.data_kwargs["seed"] == exp.seeds[0], exp.name
        assert cfg.data_kwargs.get("val_fraction") == 0.1, exp.name  # a 6,000-image split
        assert cfg.data in ("mnist", "mnist-binary", "fashion-mnist"), exp.name
        assert exp.paper_setting and exp.paper in ("SLF", "UniLoss", "MILS"), exp.name
        assert exp.seeds == [0, 1, 2, 3, 4], exp.name  # the K sweep too
        for v in exp.variants:
            t = exp.tuning_of(v.name)
            if t is not None:  # ≥ 3 values, ×√10 apart, 2 tuning seeds, none reported
                assert len(t.grid) >= 3 and _is_log_grid(t.grid), (exp.name, v.name)
                assert len(t.seeds) == 2 and not set(t.seeds) & set(exp.seeds)
                assert t.extensions == 2 and t.bounds == (1e-4, 1.0)
            if exp.name == "p3-uniloss-ap" and not v.name.endswith("(tuned)"):
                # exactly as published: fixed lr 0.01, 30 epochs, no schedule
                c = exp.config(v.name, 0)
                assert not exp.tuned(v.name) and (c.lr, c.epochs, c.schedule) == (
                    0.01, 30, "none")
                continue
            assert exp.tuned(v.name), (exp.name, v.name)  # its own grid or another's
            if exp.name == "p3-uniloss-ap":
                continue
            assert cfg.epochs >= {"lenet": 15, "mlp": 20}[cfg.model], exp.name
            assert cfg.schedule == "cosine" and cfg.optimizer == "sgd", exp.name


def test_claims_primary_family_holds_the_direct_claims():
    primary = {(e.name, v.name): e.claim_of(v.name) for e in resolve("paper-full")
               for v in e.variants if e.family_of(v.name) == "primary"
               and e.versus_of(v.name) is not None}
    assert primary == {
        ("p1-slf-mlp", "SLF K=3 (paper protocol)"): "SLF Table 1: SLF > CE on MNIST MLP",
        ("p1-slf-lenet", "SLF K=3 (paper protocol)"): "SLF Table 1: SLF > CE on MNIST LeNet",
        **{("p2-slf-k", f"K={k} (paper protocol)"): "SLF Fig. 2a: K=3 is the best K on MNIST"
           for k in (1, 2, 4, 8)},
        ("p2-slf-k", "softmax (K→∞) (paper protocol)"):
            "SLF Fig. 2a: SLF (K=3) > SLF-Softmax on MNIST",
        ("p3-uniloss-ap", "UniLoss AP (authors' relaxation)"):
            "UniLoss §4.2: UniLoss-AP matches CE on MNIST zeros vs rest (AP 0.9988 vs 0.9989)",
    }
    # the paper-protocol rows run at the CE row's rate, the tuned rows at their own
    for model in ("mlp", "lenet"):
        e = EXPERIMENTS.get(f"p1-slf-{model}")
        for name in ("SLF K=3", "SLF-Softmax", "equal-weight sum"):
            assert e.variant(name + " (paper protocol)").tune_from == "CE"
            assert e.tuning_of(name) is not None and e.variant(name).tune_from is None
        assert e.family_of("SLF K=3") == "secondary · SLF"
        assert e.family_of("SLF K=3 bilevel") is None  # ours: exploratory
    k = EXPERIMENTS.get("p2-slf-k")
    assert k.versus_of("K=8") == "K=3" and k.family_of("K=8") == "secondary · SLF"
    ap = EXPERIMENTS.get("p3-uniloss-ap")
    assert ap.versus_of("UniLoss AP (authors' relaxation) (tuned)") == "2-class CE (tuned)"
    assert ap.family_of("UniLoss AP (authors' relaxation) (tuned)") == "secondary · UniLoss"


def test_imbalanced_ap_spec():
    for ratio, exp in zip((19, 99), resolve("imbalanced-ap")):
        c = exp.config("BCE (sgd)", 0)
        assert (c.data, c.model, exp.metric) == ("fashion-mnist-binary", "mlp", "test_ap")
        assert c.data_kwargs == {"val_fraction": 0.1, "positive_class": 9,
                                 "neg_per_pos": ratio, "seed": 0}
        assert exp.seeds == [0, 1, 2, 3, 4] and exp.split_seed == "run"
        rows = {v.name: exp.config(v.name, 0) for v in exp.variants}
        for opt in ("sgd", "adam"):
            assert rows[f"UniLoss AP logit ({opt})"].method_kwargs == {
                "metric": "ap", "relaxation": "logit"}
            assert rows[f"UniLoss AP authors ({opt})"].method_kwargs == {
                "metric": "ap", "relaxation": "authors"}
            assert rows[f"BCE ({opt})"].method_kwargs == {"loss": "bce"}
            assert all(rows[f"{m} ({opt})"].optimizer == opt
                       for m in ("BCE", "UniLoss AP logit", "UniLoss AP authors"))
            name = f"UniLoss AP authors ({opt})"
            assert exp.versus_of(name) == f"UniLoss AP logit ({opt})"
            assert exp.claim_of(name) == "docs advice: relaxation=authors for imbalanced AP"
            assert exp.family_of(name) == "secondary · losskit docs"
        assert all(exp.tuning_of(v.name) is not None for v in exp.variants)  # each tuned
        assert exp.tuning_of("BCE (adam)").grid == (0.000316, 0.001, 0.00316)


def test_no_method_is_judged_at_a_learning_rate_tuned_for_another():
    plan = Plan(resolve("paper-full"))
    for exp in resolve("paper-full"):
        for v in exp.variants:
            group = plan.group(exp.name, v.name)
            if group is None:  # p3's rows at the paper's fixed rate
                assert exp.name == "p3-uniloss-ap"
                continue
            mine = exp.config(v.name, 0)
            src = group.experiment.config(group.variant, 0)
            if v.name.endswith("(paper protocol)") or mine.method == "mils":
                # the SLF paper's rule ("inherits … learning rates"); MILS around its CE primary
                assert src.method == "loss" and src.method_kwargs == {"loss": "ce"}
            else:  # its own grid, or (proxy sweeps: batch size, r) the same method's choice
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
                 (("p1-slf-mlp", "SLF K=3 (paper protocol)"),
                  ("p2-slf-k", "K=3 (paper protocol)")),
                 (("p4-uniloss-acc-fashion", "CE"), ("p5-mils", "CE"))]:
        assert plan.group(*a).tag == plan.group(*b).tag
        ea, eb = EXPERIMENTS.get(a[0]), EXPERIMENTS.get(b[0])
        fake = {"lr": 0.03}
        assert ea.run(a[1], 0, fake).key == eb.run(b[1], 0, fake).key
    n_tune = sum(p.spec.role == "tune" for p in runs)
    groups = {g.tag: g for g in (plan.group(e.name, v.name) for e in PAPER
                                 for v in e.variants) if g is not None}
    assert n_tune == sum(len(g.tuning.grid) * len(g.tuning.seeds) for g in groups.values())
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


def test_paper_full_is_the_direct_claims_plus_the_proxies():
    from losskit.experiments.spec import SUITES, get

    direct, proxies = SUITES["paper-direct"], SUITES["paper-proxies"]
    assert sorted(direct + proxies) == sorted(SUITES["paper-full"])
    assert {get(n).fidelity for n in proxies} == {"proxy"}
    assert "proxy" not in {get(n).fidelity for n in direct}


def test_the_participation_claim_is_tested_against_ce_on_shared_runs():
    """"Even 1 % participation helps" is MILS at p = 0.01 against CE (not against p = 0.1), on
    the very runs of p5-mils: its CE and its MILS +multi-margin (p = 0.1) are the same configs."""
    from losskit.experiments.spec import get

    sweep, mils = get("p5-mils-participation"), get("p5-mils")
    assert sweep.baseline == "CE"
    assert {v.name: sweep.versus_of(v.name) for v in sweep.variants if v.name != "CE"} == {
        "p=0.01": "CE", "p=0.1": "CE", "p=0.3": "CE"}
    assert sweep.evidence_of("p=0.01") == "proxy" and sweep.family_of("p=0.01") is not None
    assert sweep.family_of("p=0.3") is None  # the other rates: exploratory, no verdict
    assert sweep.run("CE", 0).key == mils.run("CE", 0).key
    assert sweep.run("p=0.1", 0).key == mils.run("MILS +multi-margin", 0).key


@pytest.mark.slow  # ~20 s: 34 runs on digits
def test_smoke_suite_runs_the_protocol_end_to_end(tmp_path, capsys):
    results, report = tmp_path / "r.jsonl", tmp_path / "report"
    assert reproduce("smoke", results, jobs=1, report_dir=report, calibrate=False) == 0
    recs = read_results(results)
    tune = [r for r in recs if r["role"] == "tune"]
    assert {r["seed"] for r in tune} == {100, 101}
    assert all(r["config"]["data_kwargs"]["seed"] == r["seed"] for r in recs)  # own splits
    out = capsys.readouterr().out
    assert out.count("(best val @ epoch") == len(recs) and f"{len(recs)} completed" in out
    exps = smoke_experiments()
    plan = Plan(exps, code=recs[0]["code"]["src_hash"])
    by_key = {r["key"]: r for r in recs}
    choices = plan.choices(by_key)
    assert all(c.interior or c.why for c in choices.values())
    # every grid value at both tuning seeds, extensions included
    for c in choices.values():
        assert len(c.scores) >= 3 and len(c.seeds) == 2
    ce_lr = choices[("smoke-methods", "CE")].value
    for name in ("MILS +multi-margin", "SLF K=3 (paper protocol)"):
        spec = plan.eval_spec("smoke-methods", name, 0, by_key)
        assert spec.config.lr == ce_lr and spec.key in by_key
    md = (report / "report.md").read_text()
    assert "### Primary family: m = 1" in md and "| interior |" in md
    assert "p (sign)" in md and "p (Wilcoxon)" in md and "test at best-val epoch" in md
    assert "paper protocol: the rate of smoke-methods/CE" in md
