"""Suites noise / imbalance / weighting (issue #26): structure of the specs, not results."""

from __future__ import annotations

from losskit.experiments import SUITES, resolve
from losskit.experiments.paper import LR_GRID
from losskit.experiments.spec import check_methods


def test_suites_and_protocol():
    assert SUITES["noise"] == ["n1-sym40", "n1-sym40-memorised", "n1-sym80",
                               "n1-sym80-memorised", "n1-asym40", "n1-asym40-memorised"]
    assert SUITES["imbalance"] == ["i1-lt10", "i1-lt100", "i1-lt100-many", "i1-lt100-medium"]
    assert SUITES["weighting"] == ["w1-weighting", "w1-weighting-memorised"]
    exps = resolve("noise,imbalance,weighting")
    check_methods(exps)  # every method and option is valid before anything runs
    for e in exps:
        cfg = e.config(e.variants[0].name, 3)
        assert (cfg.data, cfg.model, cfg.epochs, cfg.schedule) == (
            "fashion-mnist", "lenet", 15, "cosine"), e.name
        assert e.seeds == [0, 1, 2, 3, 4] and e.split_seed == "run", e.name
        assert cfg.data_kwargs["seed"] == 3 and cfg.data_kwargs["val_fraction"] == 0.1
        for v in e.variants:
            assert e.tuned(v.name), (e.name, v.name)
            if e.tuning_of(v.name) is not None:
                assert e.tuning_of(v.name) == LR_GRID


def test_secondary_metrics_reuse_the_primary_runs_and_rates():
    for main, extra, metric, higher in (
            ("n1-sym80", "n1-sym80-memorised", "train_memorised", False),
            ("i1-lt100", "i1-lt100-many", "test_many_acc", True),
            ("w1-weighting", "w1-weighting-memorised", "train_memorised", False)):
        a, b = resolve(main)[0], resolve(extra)[0]
        assert (b.metric, b.higher_is_better, b.select) == (metric, higher, "final")
        assert a.select == "best_val"
        assert [v.name for v in a.variants] == [v.name for v in b.variants]
        for v in b.variants:
            assert b.tuning_of(v.name) is None and b.source(v.name) == a.source(v.name)
            tuned = {"lr": 0.0316}
            assert b.run(v.name, 0, tuned).config_key == a.run(v.name, 0, tuned).config_key
            assert b.family_of(v.name) is None  # exploratory: no verdict


def test_claims_and_settings():
    n1 = resolve("n1-asym40")[0]
    assert n1.config("CE", 0).data_kwargs["noise"] == "asymmetric"
    assert {v.name for v in n1.variants if n1.family_of(v.name)} == {
        "MAE", "GCE", "SCE", "NCE+RCE"}
    assert n1.variant("MILS +MAE,RCE").tune_from == "CE"
    i1 = resolve("i1-lt100")[0]
    assert i1.metric == "test_bal_acc" and i1.config("CE", 0).data_kwargs["imbalance_ratio"] == 100
    assert {v.name for v in i1.variants if i1.family_of(v.name)} == {
        "focal", "class-balanced CE", "logit adjustment", "LDAM-DRW"}
    ldam = i1.config("LDAM-DRW", 0).method_kwargs
    assert ldam["drw_epoch"] == 12 and ldam["class_balanced_beta"] == 0.9999
    assert i1.config("UniLoss balanced accuracy", 0).method_kwargs["metric"] == "balanced_accuracy"
    w1 = resolve("w1-weighting")[0]
    assert w1.baseline == "fixed sum"
    assert w1.config("PCGrad", 0).method_kwargs["accept"] == "project"
    assert w1.variant("PCGrad").tune_from == "n1-sym40/CE"


def test_report_names_the_metric_a_reused_rate_was_scored_on(tmp_path):
    from losskit.experiments import build_report, run_experiments
    from tests.experiments.fakes import fake_fit

    def fit(config):
        run = fake_fit(config)
        for h in run.history:
            h["train_memorised"] = 1.0 - h["test_acc"]
        return run

    exps = resolve("w1-weighting,w1-weighting-memorised")
    run_experiments(exps, tmp_path / "r.jsonl", run_fn=fit, progress=False, echo=False)
    build_report(tmp_path / "r.jsonl", tmp_path / "rep")
    text = (tmp_path / "rep" / "report.md").read_text()
    section = text[text.index("## w1-weighting-memorised"):]
    assert "`train_memorised` (lower is better)" in section
    assert "mean best validation val_acc per value" in section
    assert "val_train_memorised" not in text
