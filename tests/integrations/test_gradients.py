"""Trainer(gradient_clip_val=…, accumulate_grad_batches=…) inside the methods' own steps."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from losskit.core.errors import ConfigError
from tests.conftest import make_blobs

L = pytest.importorskip("lightning")
from losskit.integrations.lightning import LossKitModule  # noqa: E402


def _data(scale: float = 1.0) -> TensorDataset:
    x, y = make_blobs(n=240).train.tensors  # 180 samples
    return TensorDataset(x * scale, y)


def _fit(module, data, batch_size=45, **kw):
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, **kw)
    trainer.fit(module, DataLoader(data, batch_size=batch_size))
    return trainer


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))


def _sgd(params):
    return torch.optim.SGD(params, lr=1.0)


def _delta(before: nn.Module, after: nn.Module) -> torch.Tensor:
    return torch.cat([(a - b).flatten() for a, b in zip(after.parameters(),
                                                         before.parameters())]).detach()


@pytest.mark.parametrize("algorithm", ["norm", "value"])
def test_gradient_clip_val_bounds_the_update_as_a_hand_clipped_step(algorithm):
    data = _data(scale=50.0)  # large inputs: large gradients
    model = _net()
    start = copy.deepcopy(model)
    module = LossKitModule(model, "loss", optimizer=_sgd)
    trainer = _fit(module, data, max_steps=1, gradient_clip_val=0.01,
                   gradient_clip_algorithm=algorithm)
    step = _delta(start, model)  # lr 1, no momentum: the clipped gradient
    if algorithm == "norm":
        assert float(step.norm()) == pytest.approx(0.01, rel=1e-4)
    else:
        assert float(step.abs().max()) == pytest.approx(0.01, rel=1e-4)

    reference = copy.deepcopy(start)
    x, y = data.tensors[0][:45], data.tensors[1][:45]
    F.cross_entropy(reference(x), y).backward()
    raw = torch.cat([p.grad.flatten() for p in reference.parameters()])
    assert float(raw.norm()) > 1.0  # the clip did bite
    clip = (torch.nn.utils.clip_grad_norm_ if algorithm == "norm"
            else torch.nn.utils.clip_grad_value_)
    clip(list(reference.parameters()), 0.01)
    torch.testing.assert_close(step, -torch.cat([p.grad.flatten()
                                                  for p in reference.parameters()]))
    # Lightning's own settings are given back after its manual-optimisation check
    assert trainer.gradient_clip_val == 0.01 and trainer.accumulate_grad_batches == 1


def test_mils_clips_every_update_it_keeps():
    data = _data(scale=50.0)
    model = _net()
    start = copy.deepcopy(model)
    module = LossKitModule(model, "mils", optimizer=_sgd,
                           method_kwargs={"aux": "multi_margin", "participation": 1.0,
                                          "observation_size": 32})
    _fit(module, data, max_steps=1, gradient_clip_val=0.01)
    assert float(_delta(start, model).norm()) <= 0.01 * (1 + 1e-4)


def _hand_accumulated(model, data, batch_size, k, epochs=1):
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    batches = list(zip(data.tensors[0].split(batch_size), data.tensors[1].split(batch_size)))
    for _ in range(epochs):
        for i, (x, y) in enumerate(batches):
            if i % k == 0:
                opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            if (i + 1) % k == 0 or i == len(batches) - 1:
                for p in model.parameters():
                    p.grad /= k  # Lightning divides each loss by k, a short last window too
                opt.step()


@pytest.mark.parametrize("batch_size, steps", [(45, 2), (40, 3)])  # 4 batches; 5 (short end)
def test_accumulate_grad_batches_equals_a_hand_accumulated_loop(batch_size, steps):
    data = _data()
    model = _net()
    reference = copy.deepcopy(model)
    module = LossKitModule(model, "loss", lr=0.1)
    trainer = _fit(module, data, batch_size=batch_size, max_epochs=1, accumulate_grad_batches=2)
    _hand_accumulated(reference, data, batch_size, k=2)
    for a, b in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(a, b)
    assert trainer.global_step == steps and module.ctx.global_step == steps
    assert trainer.accumulate_grad_batches == 2


def test_slf_accumulates_its_decision_network_too():
    data = _data()
    module = LossKitModule(_net(), "slf", method_kwargs={"losses": "ce,prob_mae"}, lr=0.1)
    trainer = _fit(module, data, max_epochs=1, accumulate_grad_batches=4)
    assert trainer.global_step == 1
    assert all(p.grad is not None for p in module.method_params)


@pytest.mark.parametrize("method, kwargs, match", [
    ("mils", {"participation": 0.5, "observation_size": 16}, "'mils'.*rolls back"),
    ("slf", {"losses": "ce,prob_mae", "update": "bilevel"}, "bilevel"),
])
def test_methods_that_cannot_accumulate_say_why(method, kwargs, match):
    module = LossKitModule(_net(), method, method_kwargs=kwargs)
    with pytest.raises(ConfigError, match=f"accumulate_grad_batches=2: .*{match}"):
        _fit(module, _data(), max_epochs=1, accumulate_grad_batches=2)


def test_fp16_and_undeclared_methods_refuse_accumulation():
    from lightning.pytorch.plugins.precision import MixedPrecision

    from losskit.losses.method import LossMethod

    module = LossKitModule(_net(), "loss")
    with pytest.raises(ConfigError, match="'16-mixed'.*'bf16-mixed'"):
        _fit(module, _data(), max_epochs=1, accumulate_grad_batches=2,
             plugins=[MixedPrecision("16-mixed", "cpu")])

    class Custom(LossMethod):  # a method of one's own: accumulation is opt-in
        name = "custom"

    with pytest.raises(ConfigError, match="supports_accumulation"):
        _fit(LossKitModule(_net(), Custom()), _data(), max_epochs=1, accumulate_grad_batches=2)
    Custom.supports_accumulation = True
    trainer = _fit(LossKitModule(_net(), Custom()), _data(), max_epochs=1,
                   accumulate_grad_batches=2)
    assert trainer.global_step == 2
