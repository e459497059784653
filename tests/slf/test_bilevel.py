"""First-order bilevel SLF: exact alignment, gradients, no collapse onto a harmful loss."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from losskit.slf import StochasticLoss
from losskit.slf.bilevel import bilevel_step, loss_alignment, validation_direction
from losskit.slf.method import SLFMethod
from losskit.train import TrainConfig, fit
from losskit.train.method import TrainContext
from tests.conftest import TinyNet, make_blobs


def _ctx(dtype=torch.float64):
    torch.manual_seed(0)
    model = TinyNet().to(dtype)
    data = make_blobs()
    ctx = TrainContext(model=model, num_classes=3, feature_dim=model.feature_dim,
                       train_set=data.train, generator=torch.Generator().manual_seed(0))
    ctx.optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = data.train.tensors
    return ctx, x.to(dtype), y


def test_alignment_equals_exact_directional_derivatives():
    ctx, x, y = _ctx()
    slf = StochasticLoss("ce,mse,hinge", 3).double()
    d = validation_direction(ctx, x[100:150], y[100:150])
    assert torch.linalg.vector_norm(torch.stack([g.norm() for g in d])) == pytest.approx(1.0)
    before = [p.detach().clone() for p in ctx.model.parameters()]
    c = loss_alignment(ctx, slf, x[:64], y[:64], d, eps=1e-5)
    for p, b in zip(ctx.model.parameters(), before):
        assert torch.equal(p, b)  # parameters restored bitwise
    params = list(ctx.model.parameters())
    ctx.model.eval()
    for i, value in enumerate(slf.loss_values(ctx.model(x[:64]), y[:64])):
        grads = torch.autograd.grad(value, params, retain_graph=True)
        exact = sum((g * di).sum() for g, di in zip(grads, d))
        assert c[i].item() == pytest.approx(exact.item(), rel=1e-5, abs=1e-8)


def test_decision_gradient_is_minus_alignment_through_p_hat():
    ctx, x, y = _ctx()
    slf = StochasticLoss("ce,mse,hinge", 3, mode="softmax").double()
    ctx.optimizer = torch.optim.SGD([*ctx.model.parameters(), *slf.parameters()], lr=0.0)
    d = validation_direction(ctx, x[100:150], y[100:150])
    c = loss_alignment(ctx, slf, x[:64], y[:64], d)
    bilevel_step(ctx, slf, x[:64], y[:64], x[100:150], y[100:150])
    got = [p.grad.clone() for p in slf.parameters()]
    slf.zero_grad()
    weights, _ = slf.forward_parts(ctx.model(x[:64]), y[:64])
    (-(weights * c).sum()).backward()
    for a, b in zip(got, slf.parameters()):
        torch.testing.assert_close(a, b.grad)


def _harmful(output, target):
    """Numerically the smallest candidate, and training on it *raises* cross-entropy."""
    return -F.cross_entropy(output, target)


@pytest.mark.parametrize("update, chosen", [("joint", 1), ("bilevel", 0)])
def test_joint_collapses_onto_a_harmful_small_loss_and_bilevel_does_not(update, chosen):
    method = SLFMethod(["ce", _harmful], k=3, mode="softmax", update=update, val_batch_size=64)
    result = fit(TrainConfig(epochs=3, batch_size=32, lr=0.05, seed=0, progress=False),
                 data=make_blobs(), model=TinyNet(), method=method)
    probs = result.history[-1]["slf_probs"]
    assert probs[chosen] > 0.9
    if update == "bilevel":
        assert result.final["test_acc"] > 0.9


def test_bilevel_bad_arguments():
    with pytest.raises(ValueError, match="update"):
        SLFMethod("ce,mse", update="nope")
    with pytest.raises(ValueError, match="bilevel"):
        SLFMethod("ce,mse", update="bilevel", granularity="sample")
    with pytest.raises(ValueError, match="val_batch_size"):
        SLFMethod("ce,mse", update="bilevel", val_batch_size=0)
