"""SLFMethod: Algorithm 1 through the one Trainer."""

from __future__ import annotations

import json

import pytest
import torch

from losskit.slf import SLFMethod, StochasticLoss, selection_share
from losskit.train import METHODS, TrainConfig, fit
from tests.conftest import TinyNet, make_blobs

LOSSES = "ce,prob_mse,prob_mae,hinge,cosine"


def run(method: SLFMethod, epochs: int = 6, out_dir=None, seed: int = 0, **cfg):
    torch.manual_seed(seed)
    config = TrainConfig(epochs=epochs, batch_size=32, lr=0.05, seed=seed, progress=False,
                         out_dir=str(out_dir) if out_dir else None, **cfg)
    return fit(config, data=make_blobs(), model=TinyNet(), method=method)


def test_registered_and_built_from_cli_style_strings():
    m = METHODS.get("slf", losses=LOSSES, k=3, tau=0.5, normalize="running_mean")
    assert isinstance(m, SLFMethod)
    assert m.loss_specs == ["ce", "prob_mse", "prob_mae", "hinge", "cosine"]


@pytest.mark.parametrize(
    "kwargs, match",
    [({"k": 0}, "k must be"), ({"tau": 0}, "tau must be"), ({"losses": "ce"}, "at least 2"),
     ({"mode": "x"}, "mode must be"), ({"seed": 1.5}, "seed must be")],
)
def test_bad_arguments_fail_at_construction(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SLFMethod(**kwargs)


def test_unknown_loss_name_fails_at_setup():
    with pytest.raises(ValueError, match="unknown loss 'nope'"):
        run(SLFMethod(losses="ce,nope"), epochs=1)


def test_trains_blobs_and_logs_selection_per_epoch():
    method = SLFMethod(losses=LOSSES, k=3)
    result = run(method)
    assert result.final["test_acc"] > 0.8  # chance is 1/3
    for rec in result.history:
        assert rec["slf_losses"] == LOSSES.split(",")
        for key in ("slf_probs", "slf_weights", "slf_select_freq"):
            assert len(rec[key]) == 5
            assert sum(rec[key]) == pytest.approx(1.0, abs=1e-6)
            assert all(0.0 <= v <= 1.0 for v in rec[key])
        # per sample p̂ averages K=3 one-hots; a step averages 32 (last: 20) samples, an epoch
        # 6 steps: every epoch mean is a multiple of 1/(3 · 6 · lcm(32, 20))
        unit = 3 * 6 * 160
        assert all(abs(v * unit - round(v * unit)) < 1e-4 for v in rec["slf_weights"])
        assert rec["slf_tau"] == 1.0


def test_decision_net_is_in_the_optimizer_and_learns_with_the_model():
    method = SLFMethod(losses="ce,prob_mse,prob_mae", k=2)
    torch.manual_seed(0)
    from losskit.train import Trainer

    trainer = Trainer(TrainConfig(epochs=2, batch_size=32, lr=0.05, progress=False),
                      data=make_blobs(), model=TinyNet(), method=method)
    opt_params = {id(p) for g in trainer.optimizer.param_groups for p in g["params"]}
    decision = list(method.slf.decision_net.parameters())
    assert decision and all(id(p) in opt_params for p in decision)
    before = [p.detach().clone() for p in decision]
    trainer.fit()
    assert all(not torch.equal(a, b) for a, b in zip(before, decision, strict=True))


def test_fixed_mode_equal_weight_sum_trains_without_extra_parameters():
    method = SLFMethod(losses="ce,prob_mse", mode="fixed", weights=[0.5, 0.5])
    result = run(method, epochs=4)
    assert list(method.parameters()) == []
    assert result.final["test_acc"] > 0.8
    assert result.history[-1]["slf_weights"] == [0.5, 0.5]


def test_normalized_variant_logs_running_mean_and_sample_granularity_trains():
    r = run(SLFMethod(losses=LOSSES, normalize="running_mean"), epochs=3)
    assert len(r.history[-1]["slf_running_mean"]) == 5
    s = run(SLFMethod(losses=LOSSES, granularity="sample"), epochs=4)
    assert s.final["test_acc"] > 0.8


def test_same_seed_same_run_and_resume_is_exact(tmp_path):
    full = run(SLFMethod(losses=LOSSES, k=3, seed=5), epochs=3, out_dir=tmp_path / "a")
    again = run(SLFMethod(losses=LOSSES, k=3, seed=5), epochs=3)
    part = run(SLFMethod(losses=LOSSES, k=3, seed=5), epochs=2, out_dir=tmp_path / "b")
    resumed = run(SLFMethod(losses=LOSSES, k=3, seed=5), epochs=3, out_dir=tmp_path / "b")
    assert len(part.history) == 2
    keys = ("slf_weights", "slf_probs", "slf_select_freq", "train_loss", "test_acc")
    for other in (again, resumed):
        for r1, r2 in zip(full.history, other.history, strict=True):
            assert {k: r1[k] for k in keys} == {k: r2[k] for k in keys}
    for a, b in zip(full.method.parameters(), resumed.method.parameters(), strict=True):
        assert torch.equal(a, b)
    other_seed = run(SLFMethod(losses=LOSSES, k=3, seed=6), epochs=1)
    assert other_seed.history[0]["slf_weights"] != full.history[0]["slf_weights"]
    lines = (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()
    assert json.loads(lines[-1])["slf_losses"] == LOSSES.split(",")


def test_method_state_dict_round_trip():
    a = SLFMethod(losses="ce,prob_mse", seed=1)
    run(a, epochs=1)
    b = SLFMethod(losses="ce,prob_mse", seed=2)
    run(b, epochs=1)
    b.load_state_dict(a.state_dict())
    assert b.slf.step_count == a.slf.step_count
    assert torch.equal(b.slf.generator.get_state(), a.slf.generator.get_state())


def test_selection_share_splits_ties():
    w = torch.tensor([1 / 3, 1 / 3, 1 / 3, 0.0, 0.0])
    torch.testing.assert_close(selection_share(w), torch.tensor([1 / 3, 1 / 3, 1 / 3, 0, 0]))
    assert torch.equal(selection_share(torch.tensor([0.0, 1.0, 0.0])), torch.tensor([0.0, 1, 0]))


def test_statistics_match_stochastic_loss_records():
    """slf_weights is exactly the mean of the per-step p̂ that StochasticLoss recorded."""
    method = SLFMethod(losses="ce,prob_mse,prob_mae", k=1, seed=3)
    seen = []
    orig = StochasticLoss.forward

    def spy(self, *a, **kw):
        out = orig(self, *a, **kw)
        seen.append(self.last_weights.clone())
        return out

    StochasticLoss.forward = spy
    try:
        result = run(method, epochs=1)
    finally:
        StochasticLoss.forward = orig
    w = torch.stack(seen).double()
    assert result.history[0]["slf_weights"] == pytest.approx(w.mean(0).tolist(), abs=1e-12)
    shares = torch.stack([selection_share(step) for step in w])  # argmax of each step's p̂
    assert result.history[0]["slf_select_freq"] == pytest.approx(shares.mean(0).tolist(),
                                                                 abs=1e-12)


@pytest.mark.slow
def test_two_epoch_digits_slf_is_comparable_to_ce():
    from losskit.train import LossMethod

    cfg = dict(data="digits", model="mlp", epochs=2, batch_size=32, lr=0.05, seed=0,
               progress=False)
    ce = fit(TrainConfig(**cfg), method=LossMethod("ce"))
    slf = fit(TrainConfig(**cfg), method=SLFMethod(losses=LOSSES, k=3))
    assert ce.final["test_acc"] > 0.85
    assert slf.final["test_acc"] > ce.final["test_acc"] - 0.05
