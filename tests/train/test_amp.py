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
    "slf": {"losses": "ce,mse,mae,hinge,cosine", "k": 3},
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
