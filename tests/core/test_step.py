"""The one training step (:mod:`losskit.core.step`): ``loss_step`` and ``train_step`` against
hand-written plain-torch loops, bit for bit, and what each hook changes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from losskit.core.step import Step, autocast, autocast_for, loss_step, train_step
from tests.conftest import TinyNet, make_blobs


def _pair(lr: float = 0.1) -> list[tuple[nn.Module, torch.optim.Optimizer]]:
    out = []
    for _ in range(2):
        torch.manual_seed(0)
        model = TinyNet()
        out.append((model, torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)))
    return out


def _batches(n: int = 4, bs: int = 32):
    x, y = make_blobs().train.tensors
    return [(x[i * bs:(i + 1) * bs], y[i * bs:(i + 1) * bs]) for i in range(n)]


def y_objective(y: torch.Tensor):
    return lambda logits, feats: F.cross_entropy(logits, y)


def _same(a: nn.Module, b: nn.Module) -> None:
    for (name, t), (_, u) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(t, u), name


def test_loss_step_is_the_plain_torch_loop_bitwise() -> None:
    (m1, o1), (m2, o2) = _pair()
    step = Step(m1, o1)
    for x, y in _batches():
        result = loss_step(step, x, y, F.cross_entropy, features=False)
        m2.train()
        o2.zero_grad(set_to_none=True)
        logits = m2(x)
        loss = F.cross_entropy(logits, y)
        loss.backward()
        o2.step()
        assert torch.equal(result.loss, loss.detach())
        assert torch.equal(result.logits, logits.detach())
        assert not result.loss.requires_grad and not result.logits.requires_grad
    _same(m1, m2)
    assert not torch.equal(m1.head.weight, _pair()[0][0].head.weight)  # it did train


def test_before_step_sees_the_gradients_after_backward_and_before_the_step() -> None:
    """Clipping through ``before_step`` equals a hand-written clipped loop (and differs from
    the unclipped one)."""
    (m1, o1), (m2, o2) = _pair(lr=0.5)
    (m3, o3), _ = _pair(lr=0.5)
    step, plain = Step(m1, o1), Step(m3, o3)
    seen: list[float] = []

    def clip() -> None:
        seen.append(float(torch.nn.utils.clip_grad_norm_(m1.parameters(), 0.01)))

    for x, y in _batches():
        train_step(step, x, y_objective(y), features=False, before_step=clip)
        loss_step(plain, x, y, F.cross_entropy, features=False)
        m2.train()
        o2.zero_grad(set_to_none=True)
        F.cross_entropy(m2(x), y).backward()
        torch.nn.utils.clip_grad_norm_(m2.parameters(), 0.01)
        o2.step()
    _same(m1, m2)
    assert len(seen) == 4 and min(seen) > 0.01  # the norms were those of fresh gradients
    assert not torch.equal(m1.head.weight, m3.head.weight)


def test_gradients_hook_replaces_the_backward() -> None:
    """``gradients`` sets the gradients the step applies; the default backward never runs
    (else the gradients would be accumulated on top)."""
    (m1, o1), (m2, o2) = _pair()
    step = Step(m1, o1)
    calls = []

    def doubled(loss: torch.Tensor) -> None:
        params = list(m1.parameters())
        for p, g in zip(params, torch.autograd.grad(loss, params), strict=True):
            p.grad = 2 * g
        calls.append(loss)

    for x, y in _batches(2):
        loss, _ = train_step(step, x, y_objective(y), features=False, gradients=doubled)
        assert torch.equal(loss, calls[-1].detach())
        m2.train()
        o2.zero_grad(set_to_none=True)
        (2 * F.cross_entropy(m2(x), y)).backward()
        o2.step()
    _same(m1, m2)


def test_objective_sees_logits_and_features_from_one_forward() -> None:
    (m1, o1), _ = _pair()
    x, y = _batches(1)[0]
    got = {}

    def objective(logits: torch.Tensor, feats: torch.Tensor | None) -> torch.Tensor:
        got.update(feats=feats, training=m1.training)
        if feats is not None:  # the features the logits were computed from
            got["same"] = torch.equal(m1.head(feats), logits)
        return F.cross_entropy(logits, y)

    m1.eval()
    train_step(Step(m1, o1), x, objective)
    assert got["training"] and got["same"]
    assert got["feats"].shape == (len(x), m1.feature_dim)
    train_step(Step(m1, o1), x, objective, features=False)
    assert got["feats"] is None


def test_autocast_is_entered_with_the_targets_dtype() -> None:
    lin = nn.Linear(4, 4)
    with autocast_for(torch.device("cpu"), None):
        assert lin(torch.randn(2, 4)).dtype == torch.float32
    with autocast_for(torch.device("cpu"), torch.bfloat16):
        assert lin(torch.randn(2, 4)).dtype == torch.bfloat16
    with autocast(Step(lin, autocast_dtype=torch.bfloat16)):
        assert lin(torch.randn(2, 4)).dtype == torch.bfloat16


def test_step_needs_a_bound_optimizer() -> None:
    with pytest.raises(AssertionError, match="optimizer must be bound"):
        train_step(Step(nn.Linear(2, 2)), torch.randn(1, 2), lambda lo, f: lo.sum(),
                   features=False)
