"""The plan: tuning runs, choices on validation, reuse of choices, outcomes, shared runs."""

from __future__ import annotations

import pytest

from losskit.experiments.plan import Plan, outcome
from losskit.experiments.runner import execute
from losskit.experiments.spec import Experiment, Tuning, Variant
from tests.experiments.fakes import fake_curve, fake_fit, toy_experiment, tuned_experiment


def _record(spec):
    out = execute(fake_fit, spec.config)
    return {"key": spec.key, "seed": spec.seed, "role": spec.role, **out}


def _run_all(plan, records=None):
    """Record every ready run until nothing is left (what the runner does, minus files)."""
    records = {} if records is None else records
    while True:
        todo = [p for p in plan.runs(records) if p.ready and p.spec.key not in records]
        if not todo:
            return records
        for p in todo:
            records[p.spec.key] = _record(p.spec)


def test_tuning_runs_come_first_then_seeds_at_the_chosen_value():
    exp = tuned_experiment()
    plan = Plan([exp])
    runs = plan.runs({})
    # base: 3 tuning runs + 3 seeds; better: 3 + 3; follower reuses better's choice: 3 seeds
    assert [(p.spec.variant, p.spec.role) for p in runs] == (
        [("base", "tune")] * 3 + [("base", "eval")] * 3 + [("better", "tune")] * 3
        + [("better", "eval")] * 3 + [("follower", "eval")] * 3)
    assert all(p.ready for p in runs if p.spec.role == "tune")
    assert not any(p.ready for p in runs if p.spec.role == "eval")
    assert {p.spec.seed for p in runs if p.spec.role == "tune"} == {9}
    assert [p.spec.config.lr for p in runs[:3]] == [0.01, 0.03, 0.1]
    records = _run_all(plan)
    choices = plan.choices(records)
    assert choices[("tuned", "base")].value == 0.03  # validation prefers lr_peak
    assert choices[("tuned", "better")].value == 0.1
    assert choices[("tuned", "follower")].value == 0.1
    assert choices[("tuned", "follower")].variant == "better"
    scores = dict(choices[("tuned", "base")].scores)
    assert scores[0.03] == pytest.approx(max(scores.values()))
    final = plan.runs(records)
    assert all(p.ready and p.spec.key in records for p in final)
    evals = [p.spec for p in final if p.spec.role == "eval"]
    assert {(s.variant, s.config.lr) for s in evals} == {
        ("base", 0.03), ("better", 0.1), ("follower", 0.1)}
    assert len(records) == 3 + 3 + 3 + 3 + 3


def test_choice_waits_for_every_grid_run_and_ties_go_to_the_first_value():
    exp = tuned_experiment()
    exp.base["method_kwargs"].pop("lr_peak")  # validation independent of lr: a three-way tie
    plan = Plan([exp])
    group = plan.group("tuned", "base")
    assert group is not None and len(group.runs) == 3
    partial = {s.key: _record(s) for s in group.runs[:2]}
    assert group.choice(partial) is None
    partial[group.runs[2].key] = _record(group.runs[2])
    assert group.choice(partial).value == 0.01


def test_a_run_that_diverged_at_once_scores_worst():
    exp = tuned_experiment()
    plan = Plan([exp])
    group = plan.group("tuned", "base")
    records = {s.key: _record(s) for s in group.runs}
    best = group.runs[1]  # lr 0.03 would win
    records[best.key] = {"key": best.key, "status": "diverged", "history": [], "final": {}}
    c = group.choice(records)
    assert dict(c.scores)[0.03] is None and c.value == 0.01  # the next best (log-closer)


def test_tune_from_another_experiment_chains_and_errors():
    parent = tuned_experiment("parent")
    child = Experiment("child", "c", dict(parent.base),
                       [Variant("a", tune_from="parent/follower"),
                        Variant("b", {"lr": 0.5})],
                       seeds=[0], baseline="a", select="best_val")
    plan = Plan([child], lookup={"parent": parent}.__getitem__)
    assert plan.group("child", "a") is plan.group("child", "a")
    assert plan.group("child", "a").variant == "better"  # follower → better
    assert plan.group("child", "b") is None
    runs = plan.runs({})
    assert [p.spec.experiment for p in runs if p.spec.role == "tune"] == ["parent"] * 3
    records = _run_all(plan)
    assert plan.eval_spec("child", "a", 0, records).config.lr == 0.1
    assert plan.eval_spec("child", "b", 0, records).config.lr == 0.5

    untuned = toy_experiment("untuned")
    orphan = Experiment("orphan", "o", dict(untuned.base), [Variant("a", tune_from="untuned/base")],
                        seeds=[0], baseline="a")
    with pytest.raises(ValueError, match="not tuned"):
        Plan([orphan], lookup={"untuned": untuned}.__getitem__)
    x = Experiment("x", "x", dict(parent.base), [Variant("a", tune_from="y/a")], seeds=[0],
                   baseline="a", select="best_val")
    y = Experiment("y", "y", dict(parent.base), [Variant("a", tune_from="x/a")], seeds=[0],
                   baseline="a", select="best_val")
    with pytest.raises(ValueError, match="cycle"):
        Plan([x, y])
    with pytest.raises(ValueError, match="no variant"):
        Plan([Experiment("z", "z", dict(parent.base), [Variant("a", tune_from="parent/nope")],
                         seeds=[0], baseline="a", select="best_val")],
             lookup={"parent": parent}.__getitem__)


def test_identical_runs_of_two_experiments_are_planned_once():
    a, b = tuned_experiment("a"), tuned_experiment("b")
    plan = Plan([a, b])
    runs = plan.runs({})
    assert len(runs) == len(Plan([a]).runs({}))
    assert {p.spec.experiment for p in runs} == {"a"}
    records = _run_all(plan)
    for exp in ("a", "b"):
        assert plan.eval_spec(exp, "base", 1, records).key in records
    # a different grid makes different tuning runs
    c = tuned_experiment("c")
    c.tuning = Tuning((0.01, 0.3), seed=9)
    assert len(Plan([a, c]).runs({})) > len(runs)


def test_outcome_best_val_final_and_diverged():
    exp = tuned_experiment()
    cfg = exp.config("base", 0, {"lr": 0.03})
    rec = _record(exp.run("base", 0, {"lr": 0.03}))
    best = outcome(rec, "test_acc", "best_val")
    assert best.epoch == 2 and best.epochs == 4  # peak_epoch = 2
    assert best.test == pytest.approx(fake_curve(cfg, 2)[0])
    assert best.val == pytest.approx(fake_curve(cfg, 2)[1])
    assert best.final_test == pytest.approx(fake_curve(cfg, 4)[0])
    last = outcome(rec, "test_acc", "final")
    assert (last.epoch, last.test) == (4, pytest.approx(fake_curve(cfg, 4)[0]))
    low = outcome(rec, "test_acc", "best_val", higher_is_better=False)
    assert low.epoch == 4  # the lowest validation value is last here
    hist = rec["history"][:3]
    div = {"status": "diverged", "history": hist, "final": {}}
    d = outcome(div, "test_acc", "best_val")
    assert d.diverged and d.epoch == 2 and d.final_test == pytest.approx(hist[-1]["test_acc"])
    assert outcome(div, "test_acc", "final").test is None
    assert outcome({"history": [], "final": {}}, "test_acc", "best_val").test is None
    tie = {"history": [{"epoch": 1, "val_acc": 0.5, "test_acc": 0.1},
                       {"epoch": 2, "val_acc": 0.5, "test_acc": 0.2}], "final": {}}
    assert outcome(tie, "test_acc", "best_val").test == 0.1  # earliest on ties
    with pytest.raises(ValueError, match="select"):
        outcome(rec, "test_acc", "best")
