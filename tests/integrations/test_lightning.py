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
        ("slf", {"losses": "ce,mse,mae", "k": 3}),
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
    for method, kwargs in [("slf", {"losses": "ce,mae"}), ("mils", {"participation": 1.0,
                                                                    "observation_size": 16})]:
        data = make_blobs()
        module = LossKitModule(TinyNet(), method, data.train, method_kwargs=kwargs, lr=0.05)
        trainer = L.Trainer(fast_dev_run=2, accelerator="cpu", enable_progress_bar=False,
                            enable_model_summary=False)
        trainer.fit(module, _loader(data))
        assert trainer.global_step == 2
