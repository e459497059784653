"""SLF on regression: regression candidates through the module, fit and the CLI; the joint
update's collapse onto the numerically smallest loss; the bilevel update's behaviour."""

from __future__ import annotations

import json

import pytest
import torch

from losskit import data
from losskit.cli import main
from losskit.losses import functional as LF
from losskit.models.mlp import MLP
from losskit.slf import SLFMethod, StochasticLoss
from losskit.train import TrainConfig, fit


def small_mae(output, target):
    """MAE scaled by 0.01: numerically the smallest candidate, and a 100× too small gradient."""
    return 0.01 * LF.mae(output, target, reduction="none")


def run(method, seed: int = 0, df: float | None = 2.0, optimizer: str = "adam", lr: float = 0.01):
    splits = data.load("heavy-tail", seed=seed, n_train=500, val_fraction=0.2, n_test=400, df=df)
    torch.manual_seed(seed)
    config = TrainConfig(optimizer=optimizer, lr=lr, epochs=8, batch_size=32, seed=seed,
                         progress=False)
    return fit(config, data=splits, model=MLP((8,), 1, hidden=[32]), method=method)


def test_module_takes_regression_candidates_and_targets():
    g = torch.Generator().manual_seed(0)
    out, y = torch.randn(16, 1, generator=g), torch.randn(16, 1, generator=g)
    slf = StochasticLoss("mse,mae,huber", num_outputs=1, mode="softmax").double()
    assert slf.tasks == ["regression"] * 3
    h = slf(out.double(), y.double())
    per_sample = torch.stack([LF.mse(out, y, reduction="none"), LF.mae(out, y, reduction="none"),
                              LF.huber(out, y, reduction="none")], -1).double()
    torch.testing.assert_close(h, per_sample.mean(0).mean())  # p starts uniform: the mean
    flat = slf(out.double(), y.squeeze(1).double())  # (N, 1) outputs against (N,) targets
    torch.testing.assert_close(flat, h)
    multi = StochasticLoss("mse,log_cosh", num_outputs=3)  # several outputs per sample
    assert multi(torch.randn(5, 3), torch.randn(5, 3)).shape == ()


def test_wrong_task_targets_name_the_candidate():
    with pytest.raises(ValueError, match="classification loss 'ce'"):
        StochasticLoss("ce,prob_mse", num_outputs=3)(torch.randn(4, 3), torch.randn(4))
    with pytest.raises(ValueError, match="regression loss 'huber'"):
        StochasticLoss("huber,log_cosh", num_outputs=1)(torch.randn(4, 1),
                                                        torch.tensor([0, 1, 1, 0]))


def test_fit_trains_a_regression_mlp_and_reports_mse_and_mae():
    result = run(SLFMethod(losses="mse,mae,huber"))
    test_y = data.load("heavy-tail", n_train=500, val_fraction=0.2, n_test=400).test.tensors[1]
    variance = float(test_y.var(correction=0))  # the test MSE of predicting the mean
    assert result.final["test_mse"] < 0.5 * variance
    assert {"test_mse", "test_mae", "val_mse", "val_mae"} <= set(result.final)
    assert "train_acc" not in result.history[-1]  # no accuracy of real-valued targets
    assert result.history[-1]["slf_losses"] == ["mse", "mae", "huber"]


@pytest.mark.parametrize("seed", [0, 1])
def test_joint_slf_collapses_onto_the_smallest_loss_on_regression(seed):
    """Huber ≤ min(MSE, MAE) for every residual, so minimising H over v selects it (the
    paper's joint update; the collapse is a property of Eq. 11, shown rather than hidden)."""
    last = run(SLFMethod(losses="mse,mae,huber", seed=seed), seed=seed).history[-1]
    assert last["slf_weights"][2] > 0.95 and last["slf_select_freq"][2] == 1.0


def test_bilevel_moves_p_away_from_uniform_on_regression():
    for seed in (0, 1):
        method = SLFMethod(losses="mse,mae,huber", update="bilevel", seed=seed)
        last = run(method, seed=seed).history[-1]
        assert max(abs(p - 1 / 3) for p in last["slf_probs"]) > 0.2
        assert last["slf_val_split"] == "val" and last["slf_val_loss"] == "mse"
        assert len(last["slf_alignment"]) == 3 and any(c != 0 for c in last["slf_alignment"])


def test_bilevel_does_not_collapse_onto_a_harmful_scaled_down_mae_and_joint_does():
    """Gaussian noise; 0.01·MAE is the smallest candidate and, under SGD, learns ~100× slower
    (Adam would undo the scale): joint SLF selects it, bilevel SLF selects MSE and learns f."""
    for seed in (0, 1):
        kw = {"seed": seed, "df": None, "optimizer": "sgd", "lr": 0.02}
        joint = run(SLFMethod(losses=["mse", small_mae], seed=seed), **kw)
        bilevel = run(SLFMethod(losses=["mse", small_mae], update="bilevel", seed=seed), **kw)
        assert joint.history[-1]["slf_weights"][1] > 0.95
        assert bilevel.history[-1]["slf_weights"][0] > 0.95
        assert bilevel.final["test_mse"] < 0.75 * joint.final["test_mse"]


def test_cli_trains_slf_on_regression_and_plots_the_selection_trace(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "--data", "heavy-tail", "--data-arg", "n_train=250", "--data-arg",
            "n_test=100", "--data-arg", "val_fraction=0.2", "--model", "mlp", "--model-arg",
            "hidden=[16]", "--optimizer", "adam", "--lr", "0.01", "--epochs", "2",
            "--method", "slf", "--slf-losses", "mse,mae,huber", "--slf-update", "bilevel",
            "--slf-val-loss", "mae", "--no-progress", "--out", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "final: test_mse=" in printed and "test_mae=" in printed
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["slf_losses"] == ["mse", "mae", "huber"]
    assert records[-1]["slf_val_loss"] == "mae"
    assert main(["plot", "slf", str(out)]) == 0
    assert (out / "slf.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_rejects_a_classification_loss_on_regression_data(capsys):
    args = ["train", "--data", "heavy-tail", "--data-arg", "n_train=64", "--data-arg",
            "n_test=32", "--model", "mlp", "--model-arg", "hidden=[8]", "--method", "slf",
            "--slf-losses", "ce,prob_mse", "--no-progress"]
    assert main(args) == 2
    assert "classification loss 'ce'" in capsys.readouterr().err
