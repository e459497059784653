"""--tensorboard: per-step loss, per-epoch metrics and method statistics in event files."""

from __future__ import annotations

import pytest
import torch

from losskit.integrations.tensorboard import TensorBoardLogger, epoch_scalars
from losskit.train import METHODS, LossMethod, TrainConfig, fit
from tests.conftest import TinyNet, make_blobs

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import (  # noqa: E402
    EventAccumulator,
)


def _events(log_dir) -> EventAccumulator:
    acc = EventAccumulator(str(log_dir))
    acc.Reload()
    return acc


def test_epoch_scalars_tags_every_number_by_group():
    record = {"epoch": 2, "train_loss": 0.5, "test_acc": 0.9, "lr": 0.1,
              "slf_losses": ["ce", "mse"], "slf_select_freq": [0.25, 0.75],
              "mils_aux_successes": {"focal": 3}, "uniloss_surrogate": 0.7, "flag": True}
    assert epoch_scalars(record) == {
        "train/loss": 0.5, "test/acc": 0.9, "train/lr": 0.1, "slf/select_freq/ce": 0.25,
        "slf/select_freq/mse": 0.75, "mils/aux_successes/focal": 3.0, "uniloss/surrogate": 0.7,
    }


def test_tensorboard_logs_steps_epochs_and_mils_statistics(tmp_path):
    losses: list[float] = []

    class Recorder(TensorBoardLogger):
        def on_step_end(self, trainer, result):
            losses.append(float(result.loss))
            super().on_step_end(trainer, result)

    torch.manual_seed(0)
    method = METHODS.get("mils", aux="multi_margin", participation=0.5, observation_size=32)
    result = fit(TrainConfig(epochs=2, batch_size=32, progress=False), data=make_blobs(),
                 model=TinyNet(), method=method, callbacks=[Recorder(tmp_path)])
    acc = _events(tmp_path)
    steps = acc.Scalars("train/loss_step")
    assert [e.step for e in steps] == list(range(1, len(losses) + 1)) and len(losses) == 12
    assert [e.value for e in steps] == pytest.approx(losses)
    assert [e.value for e in acc.Scalars("test/acc")] == pytest.approx(
        [r["test_acc"] for r in result.history])
    assert [e.value for e in acc.Scalars("mils/success_ratio")] == pytest.approx(
        [r["mils_success_ratio"] for r in result.history])


def test_tensorboard_shows_slf_shares_per_loss_and_the_cli_flag(tmp_path, capsys):
    from losskit.cli import main

    out = tmp_path / "run"
    assert main(["train", "--data", "digits", "--model", "mlp", "--method", "slf",
                 "--slf-losses", "ce,prob_mse", "--epochs", "1", "--threads", "1",
                 "--out", str(out), "--tensorboard"]) == 0
    acc = _events(out / "tensorboard")
    tags = set(acc.Tags()["scalars"])
    assert {"slf/select_freq/ce", "slf/select_freq/prob_mse", "test/acc", "train/loss"} <= tags
    shares = [acc.Scalars(f"slf/select_freq/{n}")[0].value for n in ("ce", "prob_mse")]
    assert sum(shares) == pytest.approx(1.0)


def test_tensorboard_without_out_dir_is_a_usage_error(capsys):
    from losskit.cli import main

    assert main(["train", "--data", "digits", "--tensorboard"]) == 2
    assert "give --tensorboard DIR or --out DIR" in capsys.readouterr().err


def test_plain_loss_run_writes_no_method_groups(tmp_path):
    fit(TrainConfig(epochs=1, batch_size=64, progress=False), data=make_blobs(),
        model=TinyNet(), method=LossMethod("ce"), callbacks=[TensorBoardLogger(tmp_path)])
    tags = set(_events(tmp_path).Tags()["scalars"])
    assert {"train/loss_step", "train/loss", "test/acc"} <= tags
    assert not any(t.startswith(("mils/", "slf/", "uniloss/")) for t in tags)
