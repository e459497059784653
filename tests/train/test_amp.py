"""Mixed precision: every method trains under CPU autocast (bf16, and fp16 with GradScaler)
without NaN, and its loss is evaluated in float32."""

from __future__ import annotations

import math

import pytest
import torch

from losskit.train import METHODS, TrainConfig, fit
from tests.conftest import TinyNet, make_blobs

CASES = {
    "loss": {"loss": "ce"},
    "slf": {"losses": "ce,prob_mse,prob_mae,hinge,cosine", "k": 3},
    "uniloss": {"metric": "accuracy"},
    "mils": {"aux": "focal", "participation": 0.5, "observation_size": 32},
}


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_methods_train_under_autocast(name, amp):
    torch.manual_seed(0)
    result = fit(
        TrainConfig(epochs=3, batch_size=32, lr=0.05, seed=0, amp=amp, progress=False),
        data=make_blobs(),
        model=TinyNet(),
        method=METHODS.get(name, **CASES[name]),
    )
    losses = [rec["train_loss"] for rec in result.history]
    assert all(math.isfinite(v) for v in losses)
    assert all(torch.isfinite(p).all() for p in result.model.parameters())
    assert result.model.body[0].weight.dtype == torch.float32  # master weights stay fp32
    assert result.final["test_acc"] > 0.6  # blobs: chance is 1/3


def test_grad_scaler_skips_a_non_finite_step_instead_of_raising():
    """With a GradScaler in use the loss follows torch on non-finite logits (value checks off
    for the loss), so the scaler sees the overflow and skips the step."""
    from losskit import losses
    from losskit.train import TrainContext, loss_step

    torch.manual_seed(0)
    model = TinyNet()
    ctx = TrainContext(model=model, num_classes=3, feature_dim=16, train_set=None)
    ctx.optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    ctx.scaler = torch.amp.GradScaler("cpu", init_scale=8.0)
    x, y = torch.randn(8, 8), torch.randint(0, 3, (8,))
    x[0, 0] = float("inf")
    before = [p.detach().clone() for p in model.parameters()]
    ce = losses.get("ce")
    result = loss_step(ctx, x, y, ce)
    assert not bool(torch.isfinite(result.loss))
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert ctx.scaler.get_scale() == 4.0  # the scaler backed off
    ctx.scaler = None  # without a scaler the value check stops the step with a clear error
    with pytest.raises(ValueError, match="NaN or Inf"):
        loss_step(ctx, x, y, ce)
