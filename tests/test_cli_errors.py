"""Every user-caused failure of the CLI is one complete line on stderr and exit code 2, and the
files already written survive it; a torn last results line is a warning (once) and is re-run;
bugs keep their tracebacks.

The table walks the failures through ``losskit.cli.main`` in-process: each case builds its
files, runs the command, and the test checks the exit code, that stderr is exactly one line
``losskit: error: …`` holding the case's needles, and that every file the case names is
byte-for-byte what it was before.
"""

from __future__ import annotations

import errno
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch

from losskit.cli import main
from losskit.experiments import results as results_module
from losskit.experiments import runner
from tests.experiments.fakes import CountingFit, fake_fit

DIGITS = ["train", "--data", "digits", "--model", "mlp", "--threads", "1"]
_REAL_RUN_FN = runner.default_run_fn


@dataclass
class Case:
    argv: list[str]
    needles: list[str]
    intact: list[Path] = field(default_factory=list)  # files that must not change


def _records(n: int = 3) -> list[dict]:
    return [{"key": f"k{i}", "experiment": "x", "variant": "v", "seed": i, "role": "eval",
             "status": "ok", "config": {}, "history": [], "final": {"test_acc": 0.9}}
            for i in range(n)]


def _results(path: Path, records: list[dict] | None = None) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records or _records()))
    return path


def _corrupt_line_2(path: Path) -> Path:
    lines = _results(path).read_text().splitlines(keepends=True)
    lines[1] = lines[1][:25] + "\n"  # damaged, but valid lines follow
    path.write_text("".join(lines))
    return path


def _reproduce(tmp: Path, results: Path, report: Path | None = None) -> list[str]:
    return ["reproduce", "smoke", "--results", str(results), "--report",
            str(report or tmp / "report"), "--no-estimate", "--jobs", "1"]


# ---------------------------------------------------------------------------------- the cases
def case_report_corrupt_middle_line(tmp, monkeypatch):
    path = _corrupt_line_2(tmp / "r.jsonl")
    return Case(["report", str(path), "--out", str(tmp / "rep")],
                [f"results file '{path}': line 2 is not a result record", "not JSON"], [path])


def case_reproduce_corrupt_middle_line(tmp, monkeypatch):
    path = _corrupt_line_2(tmp / "r.jsonl")
    monkeypatch.setattr(runner, "default_run_fn", CountingFit(kill_at=1))  # must not run
    return Case(_reproduce(tmp, path), [f"'{path}': line 2", "fix or delete that line"], [path])


def case_reproduce_results_file_fills_up(tmp, monkeypatch):
    """Disk full while appending a finished run: no half line stays, earlier records do."""
    path = _results(tmp / "r.jsonl")
    monkeypatch.setattr(runner, "default_run_fn", fake_fit)
    real_write, inode = os.write, path.stat().st_ino

    def disk_full(fd, buf):
        if os.fstat(fd).st_ino != inode:
            return real_write(fd, buf)
        real_write(fd, bytes(buf[:10]))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(results_module.os, "write", disk_full)
    return Case(_reproduce(tmp, path), ["cannot append to results file", "No space left",
                                        "records already in it are intact"], [path])


def case_report_dir_under_a_file(tmp, monkeypatch):
    path = _results(tmp / "r.jsonl")
    blocker = tmp / "afile"
    blocker.write_text("not a folder")
    return Case(["report", str(path), "--out", str(blocker / "rep")],
                [str(blocker), "Not a directory"], [path, blocker])


def case_train_out_under_a_file(tmp, monkeypatch):
    blocker = tmp / "afile"
    blocker.write_text("not a folder")
    return Case([*DIGITS, "--out", str(blocker / "run")], ["--out", "cannot be created"],
                [blocker])


def case_plot_slf_without_matplotlib(tmp, monkeypatch):
    run = tmp / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text(json.dumps(
        {"epoch": 1, "slf_probs": {"ce": 0.6, "mse": 0.4}, "test_acc": 0.9}) + "\n")
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` fails
    return Case(["plot", "slf", str(run)],
                ["needs matplotlib", "not installed", "pip install 'losskit[plot]'"],
                [run / "metrics.jsonl"])


def case_plot_mils_without_matplotlib(tmp, monkeypatch):
    run = tmp / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text(json.dumps(
        {"epoch": 1, "mils_attempts": 4, "mils_successes": 1}) + "\n")
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    return Case(["plot", "mils", str(run)], ["pip install 'losskit[plot]'"],
                [run / "metrics.jsonl"])


def case_train_tensorboard_not_installed(tmp, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    return Case([*DIGITS, "--tensorboard", str(tmp / "tb")],
                ["--tensorboard needs tensorboard", "pip install 'losskit[tensorboard]'"])


def case_plot_torn_metrics(tmp, monkeypatch):
    run = tmp / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text('{"epoch": 1, "slf_pr')
    return Case(["plot", "slf", str(run)], ["metrics.jsonl: line 1 is not JSON"],
                [run / "metrics.jsonl"])


def case_train_truncated_checkpoint(tmp, monkeypatch):
    run = tmp / "run"
    run.mkdir()
    torch.save({"model": torch.zeros(1000)}, run / "checkpoint.pt")
    data = (run / "checkpoint.pt").read_bytes()
    (run / "checkpoint.pt").write_bytes(data[: len(data) // 2])
    try:  # torch's own message for this file: the error line must hold all of it
        torch.load(run / "checkpoint.pt", weights_only=False)
    except Exception as exc:  # noqa: BLE001
        torch_text = " ".join(str(exc).split())
    assert len(torch_text) > 200  # long enough that the old 200-character cut bit into it
    return Case([*DIGITS, "--epochs", "2", "--out", str(run)],
                [f"checkpoint '{run / 'checkpoint.pt'}' cannot be resumed",
                 f"(RuntimeError: {torch_text});", "--no-resume"], [run / "checkpoint.pt"])


def case_train_garbage_checkpoint(tmp, monkeypatch):
    run = tmp / "run"
    run.mkdir()
    (run / "checkpoint.pt").write_bytes(b"xyz, not a checkpoint")
    return Case([*DIGITS, "--epochs", "2", "--out", str(run)],
                ["(UnpicklingError: invalid load key, 'x'.)"], [run / "checkpoint.pt"])


def case_corrupt_cifar_batch(tmp, monkeypatch):
    root = tmp / "c10"
    root.mkdir()
    for name in [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]:
        (root / name).write_bytes(b";garbage" * 10)
    return Case(["train", "--data", "cifar10", "--data-arg", f"root={root}", "--model", "mlp"],
                [f"{root / 'data_batch_1'}: not a CIFAR python batch", "UnpicklingError"],
                [root / "data_batch_1"])


def case_corrupt_mnist_file(tmp, monkeypatch):
    root = tmp / "mnist"
    root.mkdir()
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (root / name).write_bytes(bytes(range(100)))
    return Case(["train", "--data", "mnist", "--data-arg", f"root={root}", "--model", "mlp"],
                ["not an IDX file"], [root / "train-images-idx3-ubyte"])


def case_missing_mnist_files(tmp, monkeypatch):
    return Case(["train", "--data", "mnist", "--data-arg", f"root={tmp / 'none'}", "--model",
                 "mlp"], ["MNIST is not installed", "losskit.data.install mnist"])


def case_bad_int_flag(tmp, monkeypatch):
    return Case([*DIGITS, "--epochs", "x"],
                ["argument --epochs: invalid int value: 'x'", "`losskit train --help`"])


def case_unknown_command(tmp, monkeypatch):
    return Case(["trian"], ["invalid choice: 'trian'", "`losskit --help`"])


def case_missing_argument(tmp, monkeypatch):
    return Case(["report"], ["the following arguments are required: results"])


CASES = {name[5:]: fn for name, fn in dict(globals()).items() if name.startswith("case_")}


@pytest.mark.parametrize("name", sorted(CASES))
def test_user_errors_are_one_line_exit_2_and_keep_files(name, tmp_path, monkeypatch, capsys):
    case = CASES[name](tmp_path, monkeypatch)
    before = {p: p.read_bytes() for p in case.intact}
    capsys.readouterr()
    assert main(case.argv) == 2
    err = capsys.readouterr().err
    assert err.endswith("\n") and err.count("\n") == 1, err  # exactly one complete line
    assert err.startswith("losskit: error: "), err
    for needle in case.needles:
        assert needle in err, (needle, err)
    for path, data in before.items():
        assert path.read_bytes() == data, path


# ------------------------------------------------------- a run directory unwritable mid-run
def _block_after_epoch_1(monkeypatch, block):
    from losskit.train.callbacks import ConsoleLogger

    original = ConsoleLogger.on_epoch_end

    def on_epoch_end(self, trainer, record):
        original(self, trainer, record)
        if record["epoch"] == 1:
            block(trainer.out_dir)

    monkeypatch.setattr(ConsoleLogger, "on_epoch_end", on_epoch_end)


def _a_folder_where_a_file_goes(out: Path) -> None:
    (out / "metrics.csv.tmp").mkdir()  # the next write of metrics.csv fails (root included)


def _read_only(out: Path) -> None:
    out.chmod(0o555)


@pytest.mark.parametrize("block", [
    _a_folder_where_a_file_goes,
    pytest.param(_read_only, marks=pytest.mark.skipif(
        hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores permissions")),
])
def test_run_directory_unwritable_mid_run(block, tmp_path, monkeypatch, capsys):
    """Epoch 1 is saved, then the run directory refuses writes: one line naming the path and
    saying what the directory still holds; epoch 1's checkpoint is intact and resumes."""
    out = tmp_path / "run"
    argv = [*DIGITS, "--epochs", "2", "--out", str(out)]
    _block_after_epoch_1(monkeypatch, block)
    try:
        assert main(argv) == 2
    finally:
        out.chmod(0o755)
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("losskit: error: "), err
    assert str(out) in err[0]
    assert f"{out / 'checkpoint.pt'} holds epoch 1/2; run the same command again" in err[0]
    state = torch.load(out / "checkpoint.pt", weights_only=False)
    assert len(state["history"]) == 1
    monkeypatch.undo()
    if (out / "metrics.csv.tmp").is_dir():
        (out / "metrics.csv.tmp").rmdir()
    assert main(argv) == 0  # unblocked: resumes from epoch 1 and finishes
    assert "resuming" in capsys.readouterr().err
    assert [json.loads(r)["epoch"] for r in (out / "metrics.jsonl").read_text().splitlines()
            ] == [1, 2]


def test_reproduce_keeps_every_run_when_the_report_dir_cannot_be_written(
        tmp_path, monkeypatch, capsys):
    path = tmp_path / "r.jsonl"
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    monkeypatch.setattr(runner, "default_run_fn", fake_fit)
    assert main(_reproduce(tmp_path, path, report=blocker / "report")) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and str(blocker) in captured.err
    summary = re.search(r"(\d+) runs: (\d+) completed, 0 already done, 0 failed", captured.out)
    assert summary and summary[1] == summary[2], captured.out  # all ran before the report
    done = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(done) == len({r["key"] for r in done}) == int(summary[2]) > 0  # all recorded


# ---------------------------------------------------------------- a torn last results line
def _smoke_results_with_a_torn_last_line(tmp_path, monkeypatch, capsys):
    """The smoke suite's results (fake runs), the last line then cut mid-write. Reports are
    written without plots (matplotlib made unavailable): fast, and not what is tested here."""
    path = tmp_path / "r.jsonl"
    monkeypatch.setattr(runner, "default_run_fn", fake_fit)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert main(_reproduce(tmp_path, path)) == 0
    capsys.readouterr()
    monkeypatch.setattr(runner, "default_run_fn", _REAL_RUN_FN)  # re-runs train for real
    lines = path.read_bytes().splitlines(keepends=True)
    head, torn = b"".join(lines[:-1]), lines[-1][: len(lines[-1]) // 2]
    path.write_bytes(head + torn)
    return path, head, json.loads(lines[-1])["key"], len(lines)


def test_report_warns_once_about_a_torn_last_line(tmp_path, monkeypatch, capsys):
    path, head, _, n = _smoke_results_with_a_torn_last_line(tmp_path, monkeypatch, capsys)
    before = path.read_bytes()
    assert main(["report", str(path), "--out", str(tmp_path / "rep"), "--readme",
                 str(_readme(tmp_path))]) == 0  # the report reads the file twice
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("losskit: warning: ") and "dropped 1 torn line" in err[0]
    assert f"(line {n}:" in err[0] and "re-runs" in err[0]
    assert path.read_bytes() == before  # reading does not repair
    assert f"({n - 1} runs," in (tmp_path / "rep" / "report.md").read_text()


def _readme(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# x\n\n<!-- results:start -->\n<!-- results:end -->\n")
    return readme


def test_reproduce_warns_once_and_reruns_only_the_torn_run(tmp_path, monkeypatch, capsys):
    """The re-run is real training (only that one run), appended on its own line after the
    complete lines, which are byte-for-byte what they were."""
    path, head, lost, n = _smoke_results_with_a_torn_last_line(tmp_path, monkeypatch, capsys)
    assert main(_reproduce(tmp_path, path)) == 0
    captured = capsys.readouterr()
    torn = [line for line in captured.err.splitlines() if "torn line" in line]
    assert len(torn) == 1 and torn[0].startswith("losskit: warning: "), captured.err
    assert "dropped 1 torn line" in torn[0]  # (the re-run itself may warn about other things)
    assert f"{n} runs: 1 completed, {n - 1} already done, 0 failed" in captured.out
    data = path.read_bytes()
    assert data.startswith(head) and data.endswith(b"\n")
    new = data[len(head):].splitlines()
    assert len(new) == 1 and json.loads(new[0])["key"] == lost
    record = json.loads(new[0])
    assert record["status"] == "ok" and "step_time_ms" in record["history"][-1]  # real training


# ------------------------------------------------------------------ bugs keep their traceback
@pytest.mark.parametrize("exc", [
    RuntimeError("internal bug"),
    OSError(errno.EBADF, "Bad file descriptor"),  # not about a path the user gave
    PermissionError(errno.EACCES, "Permission denied",
                    str(Path(__file__).resolve().parents[1] / "src/losskit/cli.py")),
])
def test_internal_errors_keep_their_traceback(exc, monkeypatch):
    from losskit.train.trainer import Trainer

    def broken(self, epoch):
        raise exc

    monkeypatch.setattr(Trainer, "train_epoch", broken)
    with pytest.raises(type(exc)):
        main([*DIGITS, "--epochs", "1"])


def test_the_console_entry_point_prints_one_line_and_exits_2(tmp_path):
    """Through ``python -m losskit`` (a fresh interpreter: nothing else reaches stderr)."""
    import subprocess

    path = _corrupt_line_2(tmp_path / "r.jsonl")
    before = path.read_bytes()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "losskit", "report", str(path), "--out",
                           str(tmp_path / "rep")], capture_output=True, text=True, env=env,
                          timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("losskit: error: ")
    assert "line 2" in proc.stderr and path.read_bytes() == before


@pytest.mark.parametrize("exc,expected", [
    (OSError(errno.ENOSPC, "No space left on device"), "cannot write: No space left on device"),
    (PermissionError(errno.EACCES, "Permission denied", "/data/runs/x/metrics.csv.tmp"),
     "/data/runs/x/metrics.csv.tmp: Permission denied"),
    (OSError(errno.EXDEV, "Invalid cross-device link", "/a", "/b"), None),  # not the user's
    (PermissionError(errno.EACCES, "Permission denied"), None),  # no path: cannot tell
    (OSError(errno.EBADF, "Bad file descriptor", "/tmp/x"), None),
    (ValueError("a bug"), None),
])
def test_which_failures_are_the_users(exc, expected):
    """The one place that decides: an OSError is the user's when it is about a path they chose
    (or the disk is full), never about losskit's own files or a bad descriptor."""
    from losskit.cli import user_error_line

    assert user_error_line(exc) == expected
