"""The runner: one JSONL line per run, resumable after a kill, robust to a torn last line."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from losskit.experiments import runner, version
from losskit.experiments.results import (
    CorruptResultsError,
    TornResultsWarning,
    append_record,
    jsonable,
    read_results,
)
from losskit.experiments.runner import run_experiments
from losskit.experiments.spec import Variant
from tests.experiments.conftest import PINNED
from tests.experiments.fakes import (
    CountingFit,
    fake_acc,
    fake_fit,
    toy_experiment,
    tuned_experiment,
)

SRC = PINNED.src_hash


def _keys(path):
    return [json.loads(line)["key"] for line in path.read_text().splitlines()]


def test_records_hold_config_history_final_versions(tmp_path):
    exp = toy_experiment(seeds=(0, 1))
    path = tmp_path / "r.jsonl"
    summary = run_experiments(exp, path, run_fn=fake_fit, progress=False)
    assert (summary.total, summary.completed, summary.skipped, summary.ok) == (8, 8, 0, True)
    records = read_results(path)
    assert sorted(r["key"] for r in records) == sorted(r.key for r in exp.runs(code=SRC))
    rec = next(r for r in records if r["variant"] == "better" and r["seed"] == 1)
    cfg = exp.config("better", 1)
    assert rec["config"] == cfg.to_dict()
    assert rec["code"] == PINNED.to_dict() and rec["config_key"] == exp.run("better", 1).key
    assert [h["epoch"] for h in rec["history"]] == [1, 2, 3]
    assert rec["final"]["test_acc"] == pytest.approx(fake_acc(cfg, 3))
    assert rec["history"][0]["slf_probs"] == {"ce": 0.51, "mse": 0.49}
    assert set(rec["versions"]) >= {"python", "torch", "losskit", "platform"}
    assert rec["wall_time_s"] >= 0 and rec["timestamp"].endswith("+00:00")
    assert rec["meta"]["baseline"] == "base"
    # a second call finds everything done and runs nothing
    calls = CountingFit()
    again = run_experiments(exp, path, run_fn=calls, progress=False)
    assert (again.completed, again.skipped, calls.calls) == (0, 8, [])


@pytest.mark.parametrize("k", [0, 3, 7])
def test_killed_and_restarted_runs_each_run_exactly_once(tmp_path, k):
    exp = toy_experiment(seeds=(0, 1))
    path = tmp_path / "r.jsonl"
    killed = CountingFit(kill_at=k + 1)
    with pytest.raises(KeyboardInterrupt):
        run_experiments(exp, path, run_fn=killed, progress=False)
    assert len(read_results(path)) == k  # the k finished runs are on disk
    resumed = CountingFit()
    summary = run_experiments(exp, path, run_fn=resumed, progress=False)
    assert len(resumed.calls) == 8 - k and summary.skipped == k
    keys = _keys(path)
    assert Counter(keys) == Counter(r.key for r in exp.runs(code=SRC))


def test_truncated_last_line_is_dropped_and_that_run_rerun(tmp_path):
    exp = toy_experiment(seeds=(0,))
    path = tmp_path / "r.jsonl"
    run_experiments(exp, path, run_fn=fake_fit, progress=False)
    lines = path.read_bytes().splitlines(keepends=True)
    lost = json.loads(lines[-1])["key"]
    path.write_bytes(b"".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])  # torn write
    with pytest.warns(TornResultsWarning, match="dropped 1 torn line"):  # tolerated, not hidden
        assert [r["key"] for r in read_results(path)] == _keys_of(lines[:-1])
    calls = CountingFit()
    with pytest.warns(TornResultsWarning, match="dropped 1 torn line"):
        summary = run_experiments(exp, path, run_fn=calls, progress=False)
    assert summary.completed == 1 and len(calls.calls) == 1
    text = path.read_text()
    assert text.endswith("\n")
    parsed = [json.loads(line) for line in text.splitlines()]  # every line valid again
    assert sorted(r["key"] for r in parsed) == sorted(r.key for r in exp.runs(code=SRC))
    assert parsed[-1]["key"] == lost


def _keys_of(lines):
    return [json.loads(line)["key"] for line in lines]


def test_complete_last_line_without_newline_is_kept(tmp_path):
    path = tmp_path / "r.jsonl"
    append_record(path, {"key": "a", "x": 1})
    path.write_bytes(path.read_bytes().rstrip(b"\n"))
    assert [r["key"] for r in read_results(path, repair=True)] == ["a"]
    append_record(path, {"key": "b"})
    assert _keys(path) == ["a", "b"]


def test_corrupt_middle_line_raises_with_its_line_number(tmp_path):
    exp = toy_experiment(seeds=(0,))
    path = tmp_path / "r.jsonl"
    run_experiments(exp, path, run_fn=fake_fit, progress=False)
    lines = path.read_text().splitlines()
    lines[1] = lines[1][:20]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(CorruptResultsError, match=r"line 2\b"):
        run_experiments(exp, path, run_fn=fake_fit, progress=False)
    with pytest.raises(CorruptResultsError, match=r"line 2\b"):
        read_results(path)
    # a parseable line that is not a record (no key) is corrupt too
    lines[1] = json.dumps({"no": "key"})
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"line 2\b"):
        read_results(path)


def test_failing_runs_are_not_recorded_and_the_rest_go_on(tmp_path):
    exp = toy_experiment(seeds=(0, 1))
    exp.variants.append(Variant("broken", {"method_kwargs.fail": True}))
    path = tmp_path / "r.jsonl"
    summary = run_experiments(exp, path, run_fn=fake_fit, progress=False)
    assert summary.completed == 8 and not summary.ok and summary.exit_code == 1
    assert sorted((f.variant, f.seed) for f in summary.failures) == [("broken", 0), ("broken", 1)]
    assert "RuntimeError: boom" in summary.failures[0].error
    assert "FAILED toy/broken seed 0" in str(summary)
    assert {r["variant"] for r in read_results(path)} == {"base", "better", "b=0.01", "b=0.02"}
    # the failed runs are retried on the next call
    retry = CountingFit()
    run_experiments(exp, path, run_fn=retry, progress=False)
    assert sorted(seed for seed, _ in retry.calls) == [0, 1]


def test_parallel_jobs_produce_the_same_keys(tmp_path):
    exp = [toy_experiment(seeds=(0, 1)), tuned_experiment(seeds=(0,))]  # tuning, too
    serial, parallel = tmp_path / "serial.jsonl", tmp_path / "parallel.jsonl"
    run_experiments(exp, serial, run_fn=fake_fit, progress=False)
    summary = run_experiments(exp, parallel, jobs=2, run_fn=fake_fit, progress=False)
    assert summary.completed == 8 + 17 and summary.ok
    assert Counter(_keys(parallel)) == Counter(_keys(serial))
    by_key = {r["key"]: r for r in read_results(serial)}
    for r in read_results(parallel):
        assert r["final"] == by_key[r["key"]]["final"]
        assert r["history"] == by_key[r["key"]]["history"]


def test_jsonable_and_bad_arguments(tmp_path):
    torch = pytest.importorskip("torch")
    out = jsonable({"t": torch.tensor([1.0, 2.0]), 3: torch.tensor(0.5), "s": (1, "a")})
    assert out == {"t": [1.0, 2.0], "3": 0.5, "s": [1, "a"]}
    with pytest.raises(ValueError, match="jobs"):
        run_experiments(toy_experiment(), tmp_path / "r.jsonl", jobs=0, run_fn=fake_fit)
    with pytest.raises(TypeError, match="history"):
        runner.execute(lambda c: {"final": {}}, toy_experiment().config("base", 0))


def test_progress_bar_shows_done_total_and_current_run(tmp_path, capsys):
    exp = toy_experiment(seeds=(0,))
    run_experiments(exp, tmp_path / "r.jsonl", run_fn=fake_fit, progress=True)
    err = capsys.readouterr().err
    assert "4/4" in err and "toy/b=0.02 seed 0" in err
    run_experiments(exp, tmp_path / "r.jsonl", run_fn=fake_fit, progress=False)
    assert capsys.readouterr().err == ""


def test_reproduce_returns_exit_code_and_writes_the_report(tmp_path, capsys):
    exp = toy_experiment(seeds=(0, 1))
    results, report_dir = tmp_path / "r.jsonl", tmp_path / "rep"
    assert runner.reproduce([exp], results, report_dir=report_dir, run_fn=fake_fit,
                            progress=False) == 0
    assert (report_dir / "report.md").exists() and len(read_results(results)) == 8
    exp.variants.append(Variant("broken", {"method_kwargs.fail": True}))
    assert runner.reproduce([exp], results, report_dir=None, run_fn=fake_fit,
                            progress=False) == 1
    out = capsys.readouterr().out
    assert "0 completed, 8 already done, 2 failed" in out and "FAILED toy/broken" in out


# ----------------------------------------------------------------------------- the protocol
def test_tuning_then_seeds_recorded_with_roles_and_resumable(tmp_path):
    exp = tuned_experiment()
    path = tmp_path / "r.jsonl"
    killed = CountingFit(kill_at=5)  # dies during the second variant's tuning
    with pytest.raises(KeyboardInterrupt):
        run_experiments(exp, path, run_fn=killed, progress=False, echo=False)
    assert len(read_results(path)) == 4
    resumed = CountingFit()
    summary = run_experiments(exp, path, run_fn=resumed, progress=False, echo=False)
    # 2 tuning seeds × (3 + 3 values, better's grid extended once) + 3 × 3 seeds
    assert summary.ok and summary.total == 23 and summary.skipped == 4
    assert len(resumed.calls) == 19
    records = read_results(path)
    assert Counter(r["role"] for r in records) == {"tune": 14, "eval": 9}
    assert {(r["variant"], r["config"]["lr"]) for r in records if r["role"] == "eval"} == {
        ("base", 0.0316), ("better", 0.1), ("follower", 0.1)}
    assert {r["seed"] for r in records if r["role"] == "tune"} == {9, 10}
    assert all(r["status"] == "ok" and r["meta"]["select"] == "best_val" for r in records)
    again = CountingFit()
    assert run_experiments(exp, path, run_fn=again, progress=False, echo=False).skipped == 23
    assert again.calls == []


def test_diverged_runs_are_recorded_once_with_their_epochs(tmp_path):
    exp = toy_experiment(seeds=(0, 1))
    exp.variants.append(Variant("unstable", {"method_kwargs.diverge_at": 3}))
    path = tmp_path / "r.jsonl"
    summary = run_experiments(exp, path, run_fn=fake_fit, progress=False, echo=False)
    assert summary.ok and summary.diverged == 2 and "2 of the completed diverged" in str(summary)
    rec = next(r for r in read_results(path) if r["variant"] == "unstable")
    assert rec["status"] == "diverged" and "nan" in rec["error"]
    assert [h["epoch"] for h in rec["history"]] == [1, 2] and rec["final"] == {}
    calls = CountingFit()
    run_experiments(exp, path, run_fn=calls, progress=False, echo=False)
    assert calls.calls == []  # deterministic: not retried


def test_a_failed_tuning_run_blocks_its_variant_only(tmp_path):
    exp = tuned_experiment(seeds=(0,))
    exp.variants[1] = Variant("better", {"method_kwargs.fail_lr": 0.0316})
    path = tmp_path / "r.jsonl"
    summary = run_experiments(exp, path, run_fn=fake_fit, progress=False, echo=False)
    assert not summary.ok and summary.exit_code == 1
    assert [(f.variant, f.seed) for f in summary.failures] == [("better", 9), ("better", 10)]
    assert summary.blocked == 2  # better and its follower wait for the failed grid run
    assert "2 blocked by failed tuning runs" in str(summary)
    assert {r["variant"] for r in read_results(path) if r["role"] == "eval"} == {"base"}


def test_one_flushed_line_per_finished_run(tmp_path):
    exp = tuned_experiment(seeds=(0,))
    stream = io.StringIO()
    run_experiments(exp, tmp_path / "r.jsonl", run_fn=fake_fit, progress=False, stream=stream)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 17  # the total grows by 2 when better's grid is extended
    assert lines[0].startswith("[ 1/15] tune tuned/base lr=0.01 seed 9: val_acc ")
    assert re.search(r"· 14 left · ETA \S+$", lines[0])
    assert any(" tune tuned/better lr=0.316 seed 10: " in line for line in lines)
    last = lines[-1]
    assert last.startswith("[17/17] tuned/follower seed 0: test_acc ")
    assert "(best val @ epoch 2/4)" in last and last.endswith("· 0 left · ETA 0s")


def test_a_second_writer_is_refused(tmp_path):
    path = tmp_path / "r.jsonl"
    with runner.results_lock(path):
        with pytest.raises(runner.ResultsLockedError, match=f"pid {os.getpid()}"):
            run_experiments(toy_experiment(), path, run_fn=fake_fit, progress=False)
    assert run_experiments(toy_experiment(), path, run_fn=fake_fit, progress=False,
                           echo=False).ok


def test_cli_second_reproduce_on_one_results_file_exits_2(tmp_path, capsys):
    from losskit.cli import main

    path = tmp_path / "r.jsonl"
    with runner.results_lock(path):
        rc = main(["reproduce", "smoke", "--results", str(path), "--report",
                   str(tmp_path / "rep"), "--no-estimate", "--jobs", "1"])
    assert rc == 2
    assert "being written by another process" in capsys.readouterr().err


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as f:
            return not any(line.startswith("State:") and "Z" in line for line in f)
    except FileNotFoundError:
        return False


_DRIVER = """
import sys
from losskit.experiments.runner import reproduce
from tests.experiments.fakes import sleepy_fit, toy_experiment
reproduce([toy_experiment()], sys.argv[1], jobs=2, report_dir=None, run_fn=sleepy_fit)
"""


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc")
@pytest.mark.parametrize("sig", [signal.SIGTERM,
                                 pytest.param(signal.SIGKILL, marks=pytest.mark.slow)])
def test_killing_the_runner_ends_its_workers(tmp_path, sig):
    """SIGTERM: the runner terminates its workers; SIGKILL: each worker notices its parent is
    gone and exits."""
    pids = tmp_path / "pids"
    pids.mkdir()
    env = {**os.environ, "LOSSKIT_TEST_PIDS": str(pids),
           "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-c", _DRIVER, str(tmp_path / "r.jsonl")], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while len(list(pids.iterdir())) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    workers = [int(p.name) for p in pids.iterdir()]
    assert len(workers) == 2, proc.stderr.read().decode() if proc.poll() is not None else ""
    proc.send_signal(sig)
    rc = proc.wait(timeout=30)
    assert rc == (143 if sig == signal.SIGTERM else -9)
    deadline = time.monotonic() + 10
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(w) for w in workers)


# ----------------------------------------------------------------------------- code versions
def test_a_changed_source_hash_does_not_resume_into_old_rows(tmp_path, monkeypatch):
    exp = toy_experiment(seeds=(0, 1))
    path = tmp_path / "r.jsonl"
    run_experiments(exp, path, run_fn=fake_fit, progress=False, echo=False)
    new = version.CodeVersion("1" * 40, True, "othersrc0000")
    monkeypatch.setattr(version, "code_version", lambda: new)
    calls = CountingFit()
    summary = run_experiments(exp, path, run_fn=calls, progress=False, echo=False)
    assert len(calls.calls) == 8 and summary.skipped == 0  # nothing resumed from old code
    records = read_results(path)
    assert Counter(r["code"]["src_hash"] for r in records) == {SRC: 8, "othersrc0000": 8}
    assert len({r["key"] for r in records}) == 16
    assert len({r["config_key"] for r in records}) == 8  # same configs, two code versions
    # and under the first version again, everything is found
    monkeypatch.setattr(version, "code_version", lambda: PINNED)
    assert run_experiments(exp, path, run_fn=fake_fit, progress=False, echo=False).skipped == 8


def test_code_version_is_read_at_each_run_start_and_a_source_change_stops(tmp_path, monkeypatch):
    calls = []

    def moving():  # the commit moves every call; the source changes at the 5th call
        calls.append(1)
        src = SRC if len(calls) < 5 else "changed00000"
        return version.CodeVersion(f"{len(calls):040d}", False, src)

    monkeypatch.setattr(version, "code_version", moving)
    exp = toy_experiment(seeds=(0, 1))
    path = tmp_path / "r.jsonl"
    summary = run_experiments(exp, path, run_fn=fake_fit, progress=False, echo=False)
    records = read_results(path)
    # call 1 plans; calls 2–4 start runs; call 5 sees the change: nothing more starts
    assert len(records) == 3 and summary.code_changed == f"{SRC} → changed00000"
    assert [r["code"]["commit"] for r in records] == [f"{i:040d}" for i in (2, 3, 4)]
    assert not summary.ok and summary.exit_code == 1 and "STOPPED" in str(summary)


def test_real_code_version_hashes_the_package(real_code_version, tmp_path):
    v = version.code_version()
    assert v.src_hash == version.src_hash() and len(v.src_hash) == 12
    # the hash follows content and paths, not timestamps
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.py").write_text("y = 2\n")
    h = version.src_hash(tmp_path)
    (tmp_path / "a.py").write_text("x = 1\n")
    assert version.src_hash(tmp_path) == h
    (tmp_path / "sub" / "b.py").write_text("y = 3\n")
    assert version.src_hash(tmp_path) != h
    assert version.CodeVersion.of({}).id == "unknown"
    assert version.CodeVersion.of({"code": v.to_dict()}) == v
