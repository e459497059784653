"""The weighting methods end to end: ``fit`` on a small digits subset, the CLI, the options'
errors, and DWA's logged weights against its logged epoch losses."""

from __future__ import annotations

import math

import pytest
import torch

from losskit.cli import main
from losskit.train import METHODS, TrainConfig, fit
from losskit.weighting import GradNorm, UncertaintyWeighting

CASES = {
    "uncertainty": {"losses": "ce,prob_mae,rce"},
    "dwa": {"losses": "ce,rce", "temperature": 1.0},
    "gradnorm": {"losses": ["ce", "prob_mse"], "alpha": 0.5},
    "fixed": {"losses": "ce,sce", "weights": [1.0, 0.25]},
}


def _fit(name: str, epochs: int = 1, **extra):
    return fit(TrainConfig(data="digits", model="mlp", method=name, epochs=epochs, seed=0,
                           train_size=256, test_size=128, progress=False,
                           method_kwargs={**CASES[name], **extra}))


@pytest.mark.parametrize("name", sorted(CASES))
def test_fit_runs_and_logs_the_weights(name):
    run = _fit(name)
    record = run.history[-1]
    k = len(record[f"{name}_losses"])
    assert k == len(record[f"{name}_weights"]) == len(record[f"{name}_loss_values"]) >= 2
    assert all(math.isfinite(v) for v in record[f"{name}_loss_values"])
    assert run.final["test_acc"] > 0.3  # 10 classes: learnt something in one short epoch
    if name == "fixed":
        assert record["fixed_weights"] == [1.0, 0.25]
    if name == "gradnorm":  # renormalised after every step
        assert sum(run.method.weighting.weights().tolist()) == pytest.approx(k)


def test_the_trainer_optimizes_the_learned_weights():
    run = _fit("uncertainty")  # s starts at 0; only the Trainer's optimizer can move it
    s = run.method.weighting.log_vars.detach()
    assert bool((s != 0).all())
    assert run.history[-1]["uncertainty_weights"] != [1.0, 1.0, 1.0]


def test_dwa_logged_weights_follow_the_logged_epoch_losses():
    run = _fit("dwa", epochs=3)
    h = run.history
    assert h[0]["dwa_weights"] == h[1]["dwa_weights"] == [1.0, 1.0]  # the first two epochs
    before, last = torch.tensor(h[0]["dwa_loss_values"]), torch.tensor(h[1]["dwa_loss_values"])
    expected = 2 * torch.softmax((last / before) / 1.0, dim=0)
    torch.testing.assert_close(torch.tensor(h[2]["dwa_weights"]), expected, rtol=1e-6,
                               atol=1e-6)


@pytest.mark.parametrize("name,flags", [
    ("uncertainty", ["--uncertainty-losses", "ce,rce"]),
    ("dwa", ["--dwa-losses", "ce,prob_mae", "--dwa-temperature", "3"]),
    ("gradnorm", ["--gradnorm-losses", "ce,rce", "--gradnorm-layer", "head.weight"]),
    ("fixed", ["--fixed-losses", "ce,gce", "--fixed-weights", "1,0.5"]),
])
def test_cli_trains_one_epoch_on_digits(name, flags, capsys):
    argv = ["train", "--data", "digits", "--model", "mlp", "--epochs", "1", "--threads", "1",
            "--train-size", "256", "--test-size", "128", "--method", name, *flags]
    assert main(argv) == 0
    assert "final: test_acc=" in capsys.readouterr().out


@pytest.mark.parametrize("argv,needle", [
    (["--method", "dwa"], "--dwa-losses must name the losses to weight"),
    (["--method", "fixed", "--fixed-losses", "ce"], "must hold at least 2 entries"),
    (["--method", "dwa", "--dwa-losses", "ce,rce", "--dwa-temperature", "0"],
     "temperature must be > 0"),
    (["--method", "gradnorm", "--gradnorm-losses", "ce,rce", "--gradnorm-alpha", "-1"],
     "alpha must be >= 0"),
    (["--method", "gradnorm", "--gradnorm-losses", "ce,rce", "--gradnorm-layer", "nope"],
     "layer must name a parameter of the model, got 'nope'"),
    (["--method", "fixed", "--fixed-losses", "ce,rce", "--fixed-weights", "1,2,3"],
     "weights must have one entry per loss (2), got 3"),
    (["--method", "uncertainty", "--uncertainty-losses", "ce,nope"], "unknown loss 'nope'"),
    (["--method", "fixed", "--dwa-losses", "ce,rce"], "--dwa-losses applies to --method dwa"),
])
def test_bad_options_give_one_line_and_exit_2(argv, needle, capsys):
    base = ["train", "--data", "digits", "--model", "mlp", "--threads", "1", "--train-size", "64"]
    assert main(base + argv) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err
    assert len(err.splitlines()) == 1


def test_direct_use_errors_name_the_argument():
    with pytest.raises(ValueError, match="losses must hold at least 2"):
        UncertaintyWeighting("ce")
    per_sample = UncertaintyWeighting(["ce", torch.nn.CrossEntropyLoss(reduction="none")])
    with pytest.raises(ValueError, match="'crossentropyloss' must give a scalar"):
        per_sample(torch.zeros(4, 3), torch.zeros(4, dtype=torch.long))
    gn = GradNorm("ce,rce", context={"num_classes": 3})
    with pytest.raises(ValueError, match="shared: GradNorm needs the last shared layer"):
        gn(torch.zeros(4, 3, requires_grad=True), torch.zeros(4, dtype=torch.long))
    assert set(METHODS.names()) >= {"uncertainty", "dwa", "gradnorm", "fixed"}
