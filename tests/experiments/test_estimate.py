"""Run-time estimates: measured per cost class, else calibrated once (cached); the dry run."""

from __future__ import annotations

import json

import pytest

from losskit.experiments import runner
from losskit.experiments.estimate import Estimator, calibrate, format_duration
from losskit.experiments.results import read_results
from losskit.experiments.runner import estimate_plan, run_experiments
from tests.experiments.conftest import PINNED
from tests.experiments.fakes import fake_fit, toy_experiment, tuned_experiment


def test_measured_seconds_per_epoch_scale_with_epochs(tmp_path):
    exp = toy_experiment(seeds=(0,))
    recs = [{"config": exp.config("base", s).to_dict(), "history": [{}] * 3,
             "wall_time_s": w} for s, w in ((0, 3.0), (1, 6.0), (2, 30.0))]
    est = Estimator(recs)
    spec = exp.run("base", 5)
    assert est.epoch_cost(spec.config).source == "measured"
    assert est.seconds(spec) == pytest.approx(2.0 * 3)  # median 2 s/epoch × 3 epochs
    longer = exp.run("base", 5, {"epochs": 10})
    assert est.seconds(longer) == pytest.approx(20.0)
    assert est.seconds(exp.run("better", 0)) is None  # other method kwargs: another class


def test_calibration_runs_once_per_class_and_is_cached(tmp_path):
    calls = []

    def fake_calibrate(config):
        calls.append(config.method_kwargs.get("bonus"))
        return 1.5

    cache = tmp_path / "calibration.json"
    exp = toy_experiment()
    est = Estimator([], fake_calibrate, cache_path=cache, threads=1)
    assert est.seconds(exp.run("base", 0)) == pytest.approx(4.5)
    assert est.seconds(exp.run("base", 1)) == pytest.approx(4.5)
    assert calls == [None]
    assert len(json.loads(cache.read_text())) == 1
    again = Estimator([], lambda c: pytest.fail("cached"), cache_path=cache, threads=1)
    assert again.epoch_cost(exp.config("base", 3)).source == "calibrated"


def test_plan_table_counts_tuning_shared_and_done_runs(tmp_path):
    exp, twin = tuned_experiment("a"), tuned_experiment("b")
    rows = estimate_plan([exp, twin], {}, Estimator([], lambda c: 1.0))
    # 2 groups × 3 values × 2 tuning seeds; extensions (≤ 2 × 2 seeds per group) not yet known
    assert rows[0] == {"experiment": "a", "tune": 12, "eval": 9, "done": 0,
                       "seconds": pytest.approx(21 * 4.0), "unknown": 0, "extra": 8}
    assert rows[1]["tune"] + rows[1]["eval"] == 0  # all its runs are a's
    path = tmp_path / "r.jsonl"
    run_experiments(exp, path, run_fn=fake_fit, progress=False, echo=False)
    done = {r["key"]: r for r in read_results(path)}
    rows = estimate_plan([exp], done, Estimator(done.values()), code=PINNED.src_hash)
    assert rows[0]["done"] == 23 and rows[0]["seconds"] == 0.0 and rows[0]["extra"] == 0
    text = runner._plan_table(rows, jobs=2)
    assert "23 runs (14 tuning), 23 done, 0 to run" in text and "extensions" not in text


def test_dry_run_prints_the_plan_and_checks_the_budget(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(runner, "_calibrating", lambda fn, threads: lambda config: 3600.0)
    results = tmp_path / "r.jsonl"
    code = runner.reproduce("smoke", results, jobs=2, dry_run=True, budget_hours=1.0)
    out = capsys.readouterr().out
    assert code == 3 and "over budget" in out and "smoke-methods" in out
    assert "30 runs (18 tuning), 0 done, 30 to run; estimated" in out
    assert "grid extensions may add up to 12 tuning runs" in out
    assert not results.exists()
    assert runner.reproduce("smoke", results, jobs=2, dry_run=True, calibrate=False) == 0


def test_real_calibration_on_digits_is_positive():
    exp = toy_experiment()
    cfg = exp.config("base", 0)
    from dataclasses import replace

    cfg = replace(cfg, data="digits", data_kwargs={"val_fraction": 0.2}, method_kwargs={},
                  lr="<tuned x>")  # a placeholder value must not matter
    seconds = calibrate(cfg, steps=3, warmup=1)
    assert 0.0 < seconds < 60.0


def test_format_duration():
    assert [format_duration(s) for s in (None, 5, 75, 3 * 3600 + 5 * 60)] == [
        "?", "5s", "1m15s", "3h05m"]
