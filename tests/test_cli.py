from __future__ import annotations

import json

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
