"""LossKitModule inside a real Lightning Trainer (CPU, a couple of steps)."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from tests.conftest import TinyNet, make_blobs

L = pytest.importorskip("lightning")
from losskit.integrations.lightning import LossKitModule  # noqa: E402


def _trainer(steps: int = 2):
    return L.Trainer(
        max_steps=steps, accelerator="cpu", logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
    )


def _loader(data):
    return DataLoader(data.train, batch_size=32, shuffle=False)


def test_plain_loss_equals_hand_written_sgd_steps():
    data = make_blobs()
    torch.manual_seed(0)
    model = TinyNet()
    reference = copy.deepcopy(model)
    module = LossKitModule(model, "loss", data.train, method_kwargs={"loss": "ce"}, lr=0.1)
    _trainer(3).fit(module, _loader(data))

    opt = torch.optim.SGD(reference.parameters(), lr=0.1, momentum=0.9)
    for step, (x, y) in enumerate(_loader(data)):
        if step == 3:
            break
        opt.zero_grad()
        F.cross_entropy(reference(x), y).backward()
        opt.step()
    for a, b in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize(
    "method, kwargs",
    [
        ("slf", {"losses": "ce,prob_mse,prob_mae", "k": 3}),
        ("uniloss", {"metric": "accuracy"}),
        ("mils", {"aux": "multi_margin", "participation": 1.0, "observation_size": 32}),
    ],
)
def test_every_method_trains_under_lightning(method, kwargs):
    data = make_blobs()
    torch.manual_seed(0)
    model = TinyNet()
    before = [p.detach().clone() for p in model.parameters()]
    module = LossKitModule(model, method, data.train, method_kwargs=kwargs, lr=0.05)
    trainer = _trainer(2)
    trainer.fit(module, _loader(data))
    assert trainer.global_step == 2  # max_steps stops the run: one step per batch
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert all(torch.isfinite(p).all() for p in model.parameters())
    if method == "mils":  # manual optimisation let MILS attempt (and judge) every step
        stats = {k: float(v) for k, v in trainer.callback_metrics.items()}
        assert stats["mils_attempts"] == 2
        assert stats["mils_successes"] + stats["mils_rollbacks"] == 2


def test_fast_dev_run_runs_two_steps_per_method():
    for method, kwargs in [("slf", {"losses": "ce,prob_mae"}), ("mils", {"participation": 1.0,
                                                                    "observation_size": 16})]:
        data = make_blobs()
        module = LossKitModule(TinyNet(), method, data.train, method_kwargs=kwargs, lr=0.05)
        trainer = L.Trainer(fast_dev_run=2, accelerator="cpu", enable_progress_bar=False,
                            enable_model_summary=False)
        trainer.fit(module, _loader(data))
        assert trainer.global_step == 2


# ---------------------------------------------------------------------------- issue 15
def _fit(module, epochs, tmp_path=None, ckpt_path=None, **kw):
    trainer = L.Trainer(
        max_epochs=epochs, accelerator="cpu", logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
        default_root_dir=tmp_path, **kw,
    )
    trainer.fit(module, _loader(make_blobs()), ckpt_path=ckpt_path)
    return trainer


RESUME_CASES = [
    ("mils", {"aux": "multi_margin,center", "participation": 0.5, "observation_size": 32}),
    ("slf", {"losses": "ce,prob_mse,prob_mae", "k": 2}),
    ("uniloss", {"metric": "accuracy"}),
]


@pytest.mark.parametrize("method, kwargs", RESUME_CASES)
def test_checkpoint_resume_is_exact(tmp_path, method, kwargs):
    """1 epoch, save, resume to 2 epochs == 2 epochs uninterrupted: model, method parameters
    and the method's state (MILS selector and statistics, SLF / UniLoss generators)."""

    def module():
        torch.manual_seed(0)
        return LossKitModule(TinyNet(), method, make_blobs().train, method_kwargs=kwargs,
                             lr=0.05, seed=3)

    straight = module()
    t_straight = _fit(straight, 2)
    first = module()
    _fit(first, 1).save_checkpoint(tmp_path / "one.ckpt")
    assert "losskit" in torch.load(tmp_path / "one.ckpt", weights_only=False)
    resumed = module()
    t_resumed = _fit(resumed, 2, ckpt_path=tmp_path / "one.ckpt")
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
    assert t_resumed.global_step == t_straight.global_step == 12
    assert straight.ctx.global_step == resumed.ctx.global_step == 12
    def untimed(trainer):
        return {k: float(v) for k, v in trainer.callback_metrics.items() if "time" not in k}

    metrics = untimed(t_straight)
    assert untimed(t_resumed) == metrics
    if method == "mils":
        assert metrics["mils_attempts"] > 0  # the second epoch did schedule auxiliaries


def test_user_optimizer_and_scheduler_equal_a_hand_written_loop():
    from functools import partial

    data = make_blobs()
    torch.manual_seed(0)
    model = TinyNet()
    reference = copy.deepcopy(model)
    module = LossKitModule(
        model, "loss", data.train, method_kwargs={"loss": "ce"},
        optimizer=partial(torch.optim.Adam, lr=0.01),
        scheduler=lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5),
    )
    _fit(module, 2)
    opt = torch.optim.Adam(reference.parameters(), lr=0.01)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    for _ in range(2):
        for x, y in _loader(data):
            opt.zero_grad()
            F.cross_entropy(reference(x), y).backward()
            opt.step()
        sched.step()
    for a, b in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(a, b)
    assert module.ctx.optimizer.param_groups[0]["lr"] == pytest.approx(0.0025)


def test_16_mixed_scales_the_methods_updates_with_lightnings_scaler():
    from lightning.pytorch.plugins.precision import MixedPrecision

    plugin = MixedPrecision("16-mixed", "cpu")
    torch.manual_seed(0)
    module = LossKitModule(TinyNet(), "mils", make_blobs().train, lr=0.05,
                           method_kwargs={"participation": 1.0, "observation_size": 16})
    before = [p.detach().clone() for p in module.parameters()]
    trainer = _fit(module, 1, plugins=[plugin])
    assert trainer.precision == "16-mixed"
    assert module.ctx.scaler is plugin.scaler and module.ctx.autocast_dtype == torch.float16
    assert plugin.scaler._scale is not None  # the method's backward went through the scaler
    assert all(torch.isfinite(p).all() for p in module.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, module.parameters()))
    assert float(trainer.callback_metrics["mils_attempts"]) == 6


@pytest.mark.parametrize("method, kwargs", [("loss", {"loss": "ce"}),
                                            ("slf", {"losses": "ce,prob_mse"}),
                                            ("uniloss", {"metric": "accuracy"})])
def test_a_plain_sequential_trains(method, kwargs):
    from torch import nn

    seq = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    before = [p.detach().clone() for p in seq.parameters()]
    module = LossKitModule(seq, method, make_blobs().train, method_kwargs=kwargs)
    assert module.ctx.num_classes == 3  # inferred from one forward
    _fit(module, 1)
    assert all(not torch.equal(a, b) for a, b in zip(before, seq.parameters()))


def test_feature_losses_take_a_layer_of_a_plain_module():
    from torch import nn

    data = make_blobs()
    centre = LossKitModule(nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3)), "loss",
                           data.train, method_kwargs={"loss": "center"}, features="1")
    assert centre.ctx.feature_dim == 16
    _fit(centre, 1)
    assert any(p.requires_grad for p in centre.method_params)
