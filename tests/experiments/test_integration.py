"""Runner + report over the real Trainer (tiny blobs task, plain CE): end to end, deterministic."""

from __future__ import annotations

import pytest

from losskit.experiments import build_report, read_results, run_experiments
from losskit.experiments.spec import Experiment, Variant
from tests.experiments.fakes import real_fit_blobs


def _experiment() -> Experiment:
    return Experiment(
        name="blobs-lr", title="LR on blobs", base={"epochs": 2, "batch_size": 32},
        variants=[Variant("lr=0.1", {"lr": 0.1}), Variant("lr=0.01", {"lr": 0.01})],
        seeds=[0, 1], baseline="lr=0.1", claim="a larger step trains faster",
    )


def _untimed(history):
    return [{k: v for k, v in h.items() if not k.endswith(("_time_s", "_time_ms"))}
            for h in history]


def test_real_trainer_runs_are_recorded_deterministically_and_reported(tmp_path):
    exp = _experiment()
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    assert run_experiments(exp, a, run_fn=real_fit_blobs, progress=False).ok
    assert run_experiments(exp, b, run_fn=real_fit_blobs, progress=False).ok
    ra, rb = read_results(a), read_results(b)
    assert len(ra) == 4
    for x, y in zip(ra, rb):
        assert x["key"] == y["key"]
        assert _untimed(x["history"]) == _untimed(y["history"])  # bit-identical reruns
        assert x["final"]["test_acc"] == x["history"][-1]["test_acc"]
        assert 0.0 <= x["final"]["test_acc"] <= 1.0 and x["final"]["epochs"] == 2
        assert x["config"]["lr"] in (0.1, 0.01) and len(x["history"]) == 2
    md = build_report(a, tmp_path / "report").read_text()
    assert "## blobs-lr: LR on blobs" in md and "| lr=0.01 |" in md


@pytest.mark.parametrize("jobs", [2])
def test_parallel_real_runs_match_serial(tmp_path, jobs):
    exp = _experiment()
    serial, parallel = tmp_path / "s.jsonl", tmp_path / "p.jsonl"
    run_experiments(exp, serial, run_fn=real_fit_blobs, progress=False)
    assert run_experiments(exp, parallel, jobs=jobs, run_fn=real_fit_blobs, progress=False).ok
    s = {r["key"]: r["final"]["test_acc"] for r in read_results(serial)}
    p = {r["key"]: r["final"]["test_acc"] for r in read_results(parallel)}
    assert s == pytest.approx(p, abs=1e-6)
