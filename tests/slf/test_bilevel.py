"""First-order bilevel SLF: exact alignment, gradients, no collapse onto a harmful loss."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from losskit.core.method import TrainContext
from losskit.slf import StochasticLoss
from losskit.slf.bilevel import (
    ValidationLoss,
    bilevel_step,
    loss_alignment,
    validation_direction,
)
from losskit.slf.method import SLFMethod
from losskit.train import TrainConfig, fit
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
    slf = StochasticLoss("ce,prob_mse,hinge", 3, granularity="batch").double()
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
    slf = StochasticLoss("ce,prob_mse,hinge", 3, mode="softmax", granularity="batch").double()
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
    return -F.cross_entropy(output, target, reduction="none")


@pytest.mark.parametrize("granularity", ["sample", "batch"])
@pytest.mark.parametrize("update, chosen", [("joint", 1), ("bilevel", 0)])
def test_joint_collapses_onto_a_harmful_small_loss_and_bilevel_does_not(update, chosen,
                                                                         granularity):
    method = SLFMethod(losses=["ce", _harmful], k=3, mode="softmax", update=update,
                       val_batch_size=64, granularity=granularity)
    result = fit(TrainConfig(epochs=3, batch_size=32, lr=0.05, seed=0, progress=False),
                 data=make_blobs(), model=TinyNet(), method=method)
    probs = result.history[-1]["slf_probs"]
    assert probs[chosen] > 0.9
    if update == "bilevel":
        assert result.final["test_acc"] > 0.9


def test_bilevel_bad_arguments():
    with pytest.raises(ValueError, match="update"):
        SLFMethod(losses="ce,prob_mse", update="nope")
    with pytest.raises(ValueError, match="bilevel"):
        SLFMethod(losses="ce,prob_mse", update="bilevel", mode="fixed")
    with pytest.raises(ValueError, match="val_loss"):
        SLFMethod(losses="ce,prob_mse", val_loss="mse")  # only used with update='bilevel'
    with pytest.raises(ValueError, match="val_loss"):
        SLFMethod(losses="ce,prob_mse", update="bilevel", val_loss="nope")
    with pytest.raises(ValueError, match="val_loss"):
        SLFMethod(losses="ce,prob_mse", update="bilevel", val_loss=3)
    with pytest.raises(ValueError, match="features"):
        SLFMethod(losses="ce,prob_mse", update="bilevel", val_loss="center")
    with pytest.raises(ValueError, match="val_batch_size"):
        SLFMethod(losses="ce,prob_mse", update="bilevel", val_batch_size=0)


def test_per_sample_alignment_equals_exact_per_sample_directional_derivatives():
    ctx, x, y = _ctx()
    slf = StochasticLoss("ce,prob_mae,hinge", 3).double()  # granularity="sample" (the paper)
    d = validation_direction(ctx, x[100:150], y[100:150])
    c = loss_alignment(ctx, slf, x[:8], y[:8], d, eps=1e-5)
    assert c.shape == (8, 3)
    params = list(ctx.model.parameters())
    ctx.model.eval()
    values = slf.loss_values(ctx.model(x[:8]), y[:8])  # (8, 3)
    for j in range(8):
        for i in range(3):
            grads = torch.autograd.grad(values[j, i], params, retain_graph=True)
            exact = sum((g * di).sum() for g, di in zip(grads, d))
            assert c[j, i].item() == pytest.approx(exact.item(), rel=1e-5, abs=1e-8)


def test_per_sample_decision_gradient_is_minus_mean_alignment_and_model_gets_none_via_h():
    ctx, x, y = _ctx()
    slf = StochasticLoss("ce,prob_mse,hinge", 3, mode="softmax").double()
    assert not slf.detach_input  # the paper's setting; bilevel detaches h's input itself
    ctx.optimizer = torch.optim.SGD([*ctx.model.parameters(), *slf.parameters()], lr=0.0)
    d = validation_direction(ctx, x[100:150], y[100:150])
    c = loss_alignment(ctx, slf, x[:64], y[:64], d)
    bilevel_step(ctx, slf, x[:64], y[:64], x[100:150], y[100:150])
    got_v = [p.grad.clone() for p in slf.parameters()]
    got_w = [p.grad.clone() for p in ctx.model.parameters()]
    slf.zero_grad()
    ctx.model.zero_grad()
    ctx.model.train()
    out = ctx.model(x[:64])
    weights, values = slf.forward_parts(out, y[:64], detach_input=True)
    (-(weights * c).sum(-1).mean()).backward(retain_graph=True)
    for a, p in zip(got_v, slf.parameters()):
        torch.testing.assert_close(a, p.grad)
    ctx.model.zero_grad()
    (weights.detach() * values).sum(-1).mean().backward()  # w: H with p̂ held fixed, only
    for a, p in zip(got_w, ctx.model.parameters()):
        torch.testing.assert_close(a, p.grad)


def test_validation_loss_default_follows_first_candidate_and_checks_targets():
    assert ValidationLoss(None, "classification").name == "ce"
    assert ValidationLoss(None, "regression").name == "mse"
    assert StochasticLoss("mse,mae", 1).tasks == ["regression", "regression"]
    assert StochasticLoss(["ce", _harmful], 3).tasks == ["classification", None]
    out = torch.randn(5, 1, requires_grad=True)
    with pytest.raises(ValueError, match="val_loss 'ce' is a classification loss.*mse"):
        ValidationLoss("ce")(out, torch.randn(5, 1))  # the silent no-op, now an error
    with pytest.raises(ValueError, match="val_loss 'mse' is a regression loss.*ce"):
        ValidationLoss("mse")(torch.randn(5, 3), torch.tensor([0, 1, 2, 0, 1]))
    undeclared = ValidationLoss(None, None)  # decided by the targets at the first call
    undeclared(out, torch.randn(5, 1))
    assert undeclared.name == "mse"
    custom = ValidationLoss(lambda o, t: (o - t).abs().mean())
    assert custom.task is None and custom.name == "<lambda>"
    with pytest.raises(ValueError, match="scalar"):
        ValidationLoss(lambda o, t: (o - t).abs())(out, torch.randn(5, 1))


def test_zero_validation_gradient_raises_instead_of_leaving_p_uniform():
    torch.manual_seed(0)
    model = TinyNet(num_classes=1).double()
    data = make_blobs()
    ctx = TrainContext(model=model, num_classes=1, feature_dim=model.feature_dim,
                       train_set=data.train)
    x = data.train.tensors[0][:32].double()
    zeros = torch.zeros(32, dtype=torch.long)  # CE of one output is identically 0
    with pytest.raises(ValueError, match="norm 0.0"):
        validation_direction(ctx, x, zeros, ValidationLoss("ce"))


def test_non_finite_validation_gradient_is_a_divergence():
    """An overflowed model gives an Inf/NaN validation gradient: that is a divergence
    (NonFiniteError, which the Trainer ends as FloatingPointError and the runner records as
    ``diverged``), not the configuration error a zero gradient is."""
    from losskit.core.errors import NonFiniteError

    ctx, x, y = _ctx()

    def overflowing(out, target):  # a finite value whose gradient is not (sqrt' at 0)
        s = out.sum()
        return torch.nn.functional.cross_entropy(out, target) + (s - s.detach()).abs().sqrt()

    with pytest.raises(NonFiniteError, match="norm nan"):
        validation_direction(ctx, x[:32], y[:32], ValidationLoss(overflowing))


def test_bilevel_run_at_a_diverging_rate_ends_as_a_divergence():
    config = TrainConfig(epochs=2, batch_size=32, lr=1e8, momentum=0.9, seed=0, progress=False)
    torch.manual_seed(0)
    with pytest.raises(FloatingPointError, match="lower --lr") as info:
        fit(config, data=make_blobs(), model=TinyNet(),
            method=SLFMethod(losses="ce,prob_mse", update="bilevel", val_batch_size=16))
    assert "validation batch" in str(info.value)


def test_bilevel_validation_batches_come_from_the_validation_split(monkeypatch):
    import losskit.slf.method as slf_method

    data = make_blobs(n=320)
    x, y = data.train.tensors
    data.train, data.val = TensorDataset(x[:180], y[:180]), TensorDataset(x[180:240], y[180:240])
    seen = []
    real_step = slf_method.bilevel_step

    def spy(ctx, slf, inputs, targets, vx, vy, **kw):
        seen.append(vx)
        return real_step(ctx, slf, inputs, targets, vx, vy, **kw)

    monkeypatch.setattr(slf_method, "bilevel_step", spy)
    method = SLFMethod(losses="ce,prob_mse", update="bilevel", val_batch_size=16)
    result = fit(TrainConfig(epochs=1, batch_size=60, seed=0, progress=False),
                 data=data, model=TinyNet(), method=method)
    assert len(seen) == 3 and all(v.shape == (16, 8) for v in seen)
    val_rows = {tuple(r.tolist()) for r in data.val.tensors[0]}
    assert all(tuple(r.tolist()) in val_rows for v in seen for r in v)
    record = result.history[0]
    assert record["slf_val_split"] == "val" and record["slf_val_loss"] == "ce"
    assert len(record["slf_alignment"]) == 2
    data.val = None  # no held-out split: the training set, and the log says so
    method = SLFMethod(losses="ce,prob_mse", update="bilevel", val_batch_size=16)
    result = fit(TrainConfig(epochs=1, batch_size=60, seed=0, progress=False),
                 data=data, model=TinyNet(), method=method)
    assert result.history[0]["slf_val_split"] == "train"


def test_zero_norm_check_reads_the_device_once_with_value_checks_off():
    import losskit
    from losskit.bench.counts import count_syncs

    ctx, x, y = _ctx()
    val_loss = ValidationLoss("ce")
    with losskit.validate_args(False):
        validation_direction(ctx, x[:32], y[:32], val_loss)  # first call: checked anyway
        assert val_loss.verified
        assert count_syncs(lambda: validation_direction(ctx, x[:32], y[:32], val_loss)) == 0
    assert count_syncs(lambda: validation_direction(ctx, x[:32], y[:32], val_loss)) >= 1
    fresh = ValidationLoss("ce")
    ctx1 = TrainContext(model=TinyNet(num_classes=1).double(), num_classes=1, feature_dim=16,
                        train_set=make_blobs().train)
    with losskit.validate_args(False), pytest.raises(ValueError, match="norm 0.0"):
        validation_direction(ctx1, x[:32], torch.zeros(32, dtype=torch.long), fresh)
