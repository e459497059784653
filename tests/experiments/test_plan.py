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
    # base: 3 values × 2 tuning seeds + 3 seeds; better: 6 + 3; follower reuses better's: 3
    assert [(p.spec.variant, p.spec.role) for p in runs] == (
        [("base", "tune")] * 6 + [("base", "eval")] * 3 + [("better", "tune")] * 6
        + [("better", "eval")] * 3 + [("follower", "eval")] * 3)
    assert all(p.ready for p in runs if p.spec.role == "tune")
    assert not any(p.ready for p in runs if p.spec.role == "eval")
    assert [(p.spec.seed, p.spec.config.lr) for p in runs[:6]] == [
        (9, 0.01), (10, 0.01), (9, 0.0316), (10, 0.0316), (9, 0.1), (10, 0.1)]
    records = _run_all(plan)
    choices = plan.choices(records)
    base, better = choices[("tuned", "base")], choices[("tuned", "better")]
    assert (base.value, base.interior, base.extensions) == (0.0316, True, 0)
    # better's validation peaks at 0.1, the grid's end: extended once to 0.316, then interior
    assert (better.value, better.interior, better.extensions) == (0.1, True, 1)
    assert [v for v, _ in better.scores] == [0.01, 0.0316, 0.1, 0.316]
    assert choices[("tuned", "follower")].value == 0.1
    assert choices[("tuned", "follower")].variant == "better"
    # a value's score is the mean over the tuning seeds of each run's best validation
    cfgs = [exp.config("base", s, {"lr": 0.0316}) for s in (9, 10)]
    want = sum(max(fake_curve(c, e)[1] for e in range(1, 5)) for c in cfgs) / 2
    assert dict(base.scores)[0.0316] == pytest.approx(want)
    final = plan.runs(records)
    assert all(p.ready and p.spec.key in records for p in final)
    evals = [p.spec for p in final if p.spec.role == "eval"]
    assert {(s.variant, s.config.lr) for s in evals} == {
        ("base", 0.0316), ("better", 0.1), ("follower", 0.1)}
    assert len(records) == 6 + 3 + 8 + 3 + 3


# ----------------------------------------------------------------------------- grid extension
def _objective_records(group, objective, tails=None):
    """Record the group's runs with a fake objective: validation ``objective(lr)`` at epoch 1,
    then ``tails(lr)`` (default: the same) for the last 3 epochs — until the choice is made."""
    records = {}
    while group.choice(records) is None:
        for spec in group.runs(records):
            if spec.key in records:
                continue
            lr = spec.config.lr
            v = objective(lr)
            if v is None:
                records[spec.key] = {"key": spec.key, "status": "diverged", "history": [],
                                     "final": {}}
                continue
            tail = v if tails is None else tails(lr)
            records[spec.key] = {"key": spec.key, "final": {}, "history": [
                {"epoch": 1, "val_acc": v, "test_acc": v}] + [
                {"epoch": e, "val_acc": tail, "test_acc": tail} for e in (2, 3, 4)]}
    return records, group.choice(records)


def _group(tuning, lr=None):
    exp = tuned_experiment()
    exp.tuning = tuning
    return Plan([exp]).group("tuned", "base")


def _peak(at):
    import math

    return lambda lr: 0.9 - 0.05 * abs(math.log10(lr / at))


def test_a_choice_at_an_end_extends_the_grid_until_interior():
    group = _group(Tuning((0.01, 0.0316, 0.1), seeds=(9, 10)))
    records, c = _objective_records(group, _peak(0.003))
    # 0.01 (lower end) → 0.00316 (the new end, better) → 0.001 (worse): 0.00316 is interior
    assert [v for v, _ in c.scores] == [0.001, 0.00316, 0.01, 0.0316, 0.1]
    assert (c.value, c.interior, c.extensions, c.why) == (0.00316, True, 2, "")
    assert len(records) == 5 * 2  # every value at both tuning seeds
    # upward the same way
    _, up = _objective_records(_group(Tuning((0.01, 0.0316, 0.1))), _peak(0.2))
    assert (up.value, up.interior, [v for v, _ in up.scores][-1]) == (0.316, True, 1.0)


def test_extension_stops_at_the_cap_and_at_the_bounds_and_says_why():
    _, capped = _objective_records(_group(Tuning((0.01, 0.0316, 0.1))), _peak(1e-5))
    assert (capped.value, capped.interior, capped.extensions) == (0.001, False, 2)
    assert capped.why == "at the lower end; extension cap (2) reached"
    _, bounded = _objective_records(
        _group(Tuning((0.1, 0.316, 1.0), bounds=(1e-4, 1.0))), _peak(10.0))
    assert (bounded.value, bounded.interior, bounded.extensions) == (1.0, False, 0)
    assert bounded.why == "at the upper end; the next value would pass the bound 1"
    _, none = _objective_records(_group(Tuning((0.01, 0.0316, 0.1), extensions=0)), _peak(1))
    assert (none.value, none.interior) == (0.1, False) and "cap (0)" in none.why


def test_ties_go_to_the_last_3_epochs_then_the_larger_rate():
    flat = lambda lr: 0.9  # noqa: E731 - every value ties on the best validation score
    # tails prefer 0.0316: chosen, interior, no extension
    _, c = _objective_records(_group(Tuning((0.01, 0.0316, 0.1))), flat,
                              tails=lambda lr: 0.8 if lr == 0.0316 else 0.7)
    assert (c.value, c.tie, c.interior, c.extensions) == (0.0316, True, True, 0)
    # complete tie: the larger rate, at the upper end → extended up to the cap
    _, t = _objective_records(_group(Tuning((0.01, 0.0316, 0.1))), flat)
    assert (t.value, t.tie, t.interior, t.extensions) == (1.0, True, False, 2)


def test_a_run_that_diverged_at_once_scores_worst():
    # 0.1 diverges; the objective otherwise prefers it: 0.0316 is chosen, interior
    _, c = _objective_records(_group(Tuning((0.01, 0.0316, 0.1))),
                              lambda lr: None if lr == 0.1 else _peak(0.1)(lr))
    assert dict(c.scores)[0.1] is None and (c.value, c.interior) == (0.0316, True)
    # everything diverges: the smallest rate is the safest, and the grid extends downwards
    _, d = _objective_records(_group(Tuning((0.01, 0.0316, 0.1))), lambda lr: None)
    assert (d.value, d.extensions, d.interior) == (0.001, 2, False)


def test_choice_waits_for_every_grid_run():
    group = _group(Tuning((0.01, 0.0316, 0.1), seeds=(9, 10)))
    runs = group.runs({})
    assert len(runs) == 6
    partial = {s.key: _record(s) for s in runs[:5]}
    assert group.choice(partial) is None
    partial[runs[5].key] = _record(runs[5])
    assert group.choice(partial) is not None


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
    assert [p.spec.experiment for p in runs if p.spec.role == "tune"] == ["parent"] * 6
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
    c.tuning = Tuning((0.01, 0.3), seeds=(9, 10))
    assert len(Plan([a, c]).runs({})) > len(runs)


def test_outcome_best_val_final_and_diverged():
    exp = tuned_experiment()
    cfg = exp.config("base", 0, {"lr": 0.0316})
    rec = _record(exp.run("base", 0, {"lr": 0.0316}))
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
    tied = outcome(tie, "test_acc", "best_val")
    assert (tied.test, tied.epoch, tied.ties) == (0.2, 2, 2)  # the last of tied epochs
    assert best.ties == 1
    with pytest.raises(ValueError, match="select"):
        outcome(rec, "test_acc", "best")
