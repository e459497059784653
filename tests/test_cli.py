from __future__ import annotations

import json
import re

import pytest

from losskit.cli import main


def test_list_shows_every_registered_name(capsys):
    from losskit import data, losses, models
    from losskit.train import METHODS

    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in losses.names() + models.names() + data.names() + METHODS.names():
        assert f"  {name} " in out


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["train", "--data", "nope"], "unknown --data 'nope'; expected one of:"),
        (["train", "--model", "nope", "--data", "digits"], "unknown --model 'nope'"),
        (["train", "--method", "nope"], "unknown method 'nope'; expected one of:"),
        (["train", "--data", "digits", "--model", "mlp", "--loss", "nope"], "unknown loss 'nope'"),
        (["train", "--data", "digits", "--model", "mlp", "--epochs", "0"], "epochs must be"),
        (["train", "--slf-k", "3"], "--slf-k applies to --method slf"),
        (["train", "--data-arg", "novalue"], "--data-arg expects KEY=VALUE"),
        (["bench", "slf", "--models", "mlp,nope"], "--models must name registered models"),
    ],
)
def test_bad_names_and_values_give_one_line_and_exit_2(argv, needle, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err
    assert len(err.splitlines()) == 1


def test_train_writes_a_run_directory_and_resumes(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "--data", "digits", "--model", "mlp", "--epochs", "2", "--lr", "0.05",
            "--out", str(out), "--threads", "1"]
    assert main(argv) == 0
    first = capsys.readouterr().out
    assert "final: test_acc=" in first
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]
    assert json.loads(lines[-1])["test_acc"] > 0.85  # digits with an MLP: easy
    # same command again: the checkpoint says 2 of 2 epochs are done, nothing is retrained
    assert main(argv) == 0
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2


# ---------------------------------------------------------------------------- errors (issue 15)
DIGITS = ["train", "--data", "digits", "--model", "mlp", "--threads", "1"]


def _one_line_error(argv, capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("losskit: error: ")
    return err


@pytest.mark.parametrize(
    "extra,needles",
    [
        (["--device", "gpu"], ["--device 'gpu'", "cpu, cuda, cuda:N or mps"]),
        (["--threads", "0"], ["--threads must be an integer ≥ 1", "got 0"]),
        (["--epochs", "1.5"], ["--epochs: invalid int value"]),
        (["--data-arg", "nope=1"], ["--data-arg: dataset 'digits' has no argument 'nope'",
                                    "expected one of: seed, val_fraction"]),
        (["--model-arg", "widht=3"], ["--model-arg: model 'mlp' has no argument 'widht'",
                                      "hidden"]),
        (["--model-arg", "num_classes=3"], ["--model-arg num_classes is set from the dataset"]),
        (["--method", "slf", "--method-arg", "kk=3"],
         ["--method-arg: method 'slf' has no argument 'kk'", "k, tau"]),
        (["--loss", "focal", "--method-arg", "gama=2"],  # forwarded to the loss: refused there
         ["loss 'focal' has no argument 'gama'", "gamma"]),
        (["--method", "uniloss", "--method-arg", "anchors=3"],  # forwarded through **kwargs
         ["method 'uniloss' has no argument 'anchors'"]),
    ],
)
def test_each_user_error_is_one_line_naming_the_flag_and_choices(extra, needles, capsys):
    err = _one_line_error([*DIGITS, *extra], capsys)  # argparse's own errors: one line too
    for needle in needles:
        assert needle in err


def test_device_cuda_without_cuda_is_a_usage_error(capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    err = _one_line_error([*DIGITS, "--device", "cuda"], capsys)
    assert "--device 'cuda': CUDA is not available" in err and "use --device cpu" in err


def test_out_pointing_at_a_file_is_a_usage_error(tmp_path, capsys):
    target = tmp_path / "file.txt"
    target.write_text("x")
    err = _one_line_error([*DIGITS, "--out", str(target)], capsys)
    assert f"--out '{target}' is a file" in err


@pytest.mark.parametrize("content", [b"", b"garbage, not a checkpoint", "truncate"])
def test_corrupt_checkpoint_names_the_file_and_suggests_no_resume(tmp_path, capsys, content):
    out = tmp_path / "run"
    argv = [*DIGITS, "--epochs", "1", "--out", str(out)]
    assert main(argv) == 0
    ckpt = out / "checkpoint.pt"
    data = ckpt.read_bytes()
    ckpt.write_bytes(data[: len(data) // 2] if content == "truncate" else content)
    capsys.readouterr()
    err = _one_line_error([*DIGITS, "--epochs", "2", "--out", str(out)], capsys)
    assert f"checkpoint '{ckpt}' cannot be resumed" in err and "--no-resume" in err
    assert main([*DIGITS, "--epochs", "2", "--out", str(out), "--no-resume"]) == 0


def test_an_internal_error_keeps_its_traceback(monkeypatch):
    """A ValueError raised while training is a bug, not a usage error: it propagates (the
    interpreter prints the traceback and exits 1) instead of becoming one line and exit 2."""
    from losskit.train.trainer import Trainer

    def broken(self, epoch):
        raise ValueError("internal bug")

    monkeypatch.setattr(Trainer, "train_epoch", broken)
    with pytest.raises(ValueError, match="internal bug"):
        main([*DIGITS, "--epochs", "1"])


# ---------------------------------------------------------------------------- resume (issue 15)
def test_resume_says_so_and_a_finished_run_trains_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*DIGITS, "--epochs", "1", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main([*DIGITS, "--epochs", "2", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert f"resuming {out} from epoch 1/2" in captured.err
    assert captured.out.splitlines()[0].startswith("epoch 2/2 ")  # epoch 1 is not redone
    assert "resumed after epoch 1" in captured.out
    mtime = (out / "checkpoint.pt").stat().st_mtime_ns
    assert main([*DIGITS, "--epochs", "2", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "holds the finished run (2/2 epochs); nothing to train" in captured.err
    assert "epoch " not in captured.out and "finished earlier" in captured.out
    assert (out / "checkpoint.pt").stat().st_mtime_ns == mtime  # nothing rewritten


@pytest.mark.parametrize(
    "first,second,needle",
    [
        (["--epochs", "2", "--schedule", "cosine"], ["--epochs", "4", "--schedule", "cosine"],
         "epochs: 2 → 4"),
        (["--epochs", "2"], ["--epochs", "1"], "epochs: 2 → 1"),
        (["--epochs", "1"], ["--epochs", "2", "--lr", "0.1"], "lr: 0.05 → 0.1"),
        (["--epochs", "1"], ["--epochs", "2", "--batch-size", "64"], "batch_size: 128 → 64"),
    ],
)
def test_schedule_changes_refuse_to_resume(tmp_path, capsys, first, second, needle):
    out = tmp_path / "run"
    assert main([*DIGITS, *first, "--out", str(out)]) == 0
    capsys.readouterr()
    err = _one_line_error([*DIGITS, *second, "--out", str(out)], capsys)
    assert needle in err and "new --out" in err and "--no-resume" in err


def test_a_second_writer_of_a_run_directory_is_refused(tmp_path, capsys):
    from losskit.core.locking import FileLock

    out = tmp_path / "run"
    out.mkdir()
    with FileLock(out / "run.lock", "held by the test"):
        err = _one_line_error([*DIGITS, "--out", str(out)], capsys)
    assert f"run directory '{out}' is in use by another losskit process" in err
    assert main([*DIGITS, "--out", str(out)]) == 0  # released: trains


def test_ctrl_c_says_where_the_checkpoint_is(tmp_path, capsys, monkeypatch):
    from losskit.train.trainer import Trainer

    original = Trainer.train_epoch

    def interrupted_in_epoch_2(self, epoch):
        if epoch == 1:
            raise KeyboardInterrupt
        return original(self, epoch)

    monkeypatch.setattr(Trainer, "train_epoch", interrupted_in_epoch_2)
    out = tmp_path / "run"
    assert main([*DIGITS, "--epochs", "3", "--out", str(out)]) == 130
    assert (f"interrupted; {out / 'checkpoint.pt'} holds epoch 1/3; run the same command again "
            "to resume") in capsys.readouterr().err
    assert main([*DIGITS, "--epochs", "3"]) == 130
    assert "nothing was saved (no --out" in capsys.readouterr().err


def test_live_epoch_lines_while_running_and_ctrl_c_of_a_real_process(tmp_path, capsys):
    """stdout is a pipe (not a TTY): each epoch's line arrives while the run goes on; a second
    process on the same --out is refused; SIGINT then names the checkpoint."""
    import os
    import signal
    import subprocess
    import sys

    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "losskit", *DIGITS, "--epochs", "100000", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        # a test run started in the background (``pytest … &``, nohup, some CI runners)
        # inherits SIGINT ignored, and Python then never raises KeyboardInterrupt: restore it
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        first = proc.stdout.readline()
        second = proc.stdout.readline()
        assert proc.poll() is None  # still training
        assert first.startswith("epoch 1/100000 train_loss=") and "test_acc=" in first
        assert second.startswith("epoch 2/100000 ")
        # a second writer of the same run directory, while the first trains: refused
        assert main([*DIGITS, "--epochs", "100000", "--out", str(out)]) == 2
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert f"{out / 'checkpoint.pt'} holds epoch " in err and "/100000" in err
    assert f"in use by another losskit process (pid {proc.pid})" in capsys.readouterr().err


def test_log_format_json_prints_each_record(tmp_path, capsys):
    assert main([*DIGITS, "--epochs", "2", "--log-format", "json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r.get("epoch") for r in lines[:2]] == [1, 2]
    assert lines[2]["final"]["test_acc"] == lines[1]["test_acc"]


# ---------------------------------------------------------------------------- packaging (issue 15)
def test_version(capsys):
    import torch

    import losskit

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith(f"losskit {losskit.__version__} (torch "
                                              f"{torch.__version__}")


def _subparsers():
    import argparse

    from losskit.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return parser, sub.choices


def test_every_flag_has_help_and_shows_its_default():
    import argparse

    def flat(text: str) -> str:  # undo line wrapping (also after a hyphen)
        return re.sub(r"-\s+", "-", " ".join(text.split()))

    parser, subs = _subparsers()
    for name, p in [("", parser), *subs.items()]:
        text = flat(p.format_help())
        for action in p._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            assert action.help, f"{name} {action.option_strings or action.dest} has no help"
            if action.option_strings and action.default not in (None, False, argparse.SUPPRESS):
                flag = action.option_strings[-1]
                assert flag in text
                assert f"(default: {action.default})" in text, (name, flag)
    train = flat(subs["train"].format_help())
    assert "[slf] Gumbel samples K (default: 3)" in train  # a method's own default


def test_config_json_records_versions_and_reruns_the_run(tmp_path, capsys):
    import torch

    a, b = tmp_path / "a", tmp_path / "b"
    assert main([*DIGITS, "--epochs", "2", "--lr", "0.1", "--seed", "4", "--method", "mils",
                 "--participation", "0.5", "--out", str(a)]) == 0
    recorded = json.loads((a / "config.json").read_text())
    assert recorded["versions"]["torch"] == torch.__version__
    assert set(recorded["versions"]) >= {"python", "losskit", "git_commit"}
    assert main(["train", "--config", str(a / "config.json"), "--out", str(b)]) == 0
    capsys.readouterr()

    def untimed(path):
        return [{k: v for k, v in json.loads(line).items() if "time" not in k}
                for line in (path / "metrics.jsonl").read_text().splitlines()]

    assert untimed(a) == untimed(b)  # the same run, bitwise (MILS decisions included)
    config_b = json.loads((b / "config.json").read_text())
    assert {k: v for k, v in config_b.items() if k not in ("out_dir", "versions")} == {
        k: v for k, v in recorded.items() if k not in ("out_dir", "versions")}
    # flags given with --config override it
    assert main(["train", "--config", str(a / "config.json"), "--epochs", "3", "--out",
                 str(tmp_path / "c")]) == 0
    assert json.loads((tmp_path / "c" / "config.json").read_text())["epochs"] == 3
