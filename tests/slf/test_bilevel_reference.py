"""One bilevel SLF step (:func:`losskit.slf.bilevel.bilevel_step`, composed from
:func:`losskit.core.step.train_step`) against a hand-written plain-torch reference, bit for bit:
validation direction, the central-difference "virtual steps" ±ε·d, then the joint update."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from losskit.core.step import Step
from losskit.slf import StochasticLoss
from losskit.slf.bilevel import bilevel_step
from tests.conftest import TinyNet, make_blobs


def _setup(granularity: str, normalize: str):
    torch.manual_seed(0)
    model = TinyNet().double()
    slf = StochasticLoss("ce,prob_mse,hinge", 3, granularity=granularity, normalize=normalize,
                         generator=7).double()
    opt = torch.optim.SGD([*model.parameters(), *slf.parameters()], lr=0.1, momentum=0.9)
    return model, slf, opt


def _reference_step(model, slf, opt, x, y, xv, yv, eps: float = 1e-2) -> torch.Tensor:
    """Written out with torch alone (the loss values are SLF's own)."""
    params = [p for p in model.parameters() if p.requires_grad]
    model.train()
    # d = ∇_w L_val / ‖∇_w L_val‖, in eval mode
    model.eval()
    logits, _ = model(xv, return_features=True)
    grads = torch.autograd.grad(F.cross_entropy(logits, yv), params, allow_unused=True)
    model.train()
    grads = [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads, strict=True)]
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    d = [g / norm.clamp_min(torch.finfo(norm.dtype).tiny) for g in grads]
    # c_i by central difference along d: two virtual steps, parameters restored
    backup = [p.detach().clone() for p in params]
    model.eval()
    values = []
    with torch.no_grad():
        for sign in (1.0, -1.0):
            for p, b, di in zip(params, backup, d, strict=True):
                p.copy_(b).add_(di, alpha=sign * eps)
            logits, feats = model(x, return_features=True)
            values.append(slf.loss_values(logits, y, feats))
        for p, b in zip(params, backup, strict=True):
            p.copy_(b)
    model.train()
    c = (values[0] - values[1]) / (2 * eps)
    # the update: w minimises H with p̂ fixed, v maximises Σ p̂ c
    opt.zero_grad(set_to_none=True)
    logits, feats = model(x, return_features=True)
    weights, vals = slf.forward_parts(logits, y, feats, detach_input=True)
    if slf.normalize == "running_mean":
        c = c / slf.running_mean.to(c.dtype).clamp_min(slf.eps)
    if slf.granularity == "batch":
        h = (weights.detach() * vals).sum()
        gain = (weights * c).sum()
    else:
        h = (weights.detach() * vals).sum(-1).mean()
        gain = (weights * c).sum(-1).mean()
    (h - gain).backward()
    opt.step()
    return h.detach()


def _equal(a, b, where: str = "") -> None:
    """Nested state (tensors, dicts such as the Gumbel generator's) equal bit for bit."""
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _equal(a[k], b[k], f"{where}.{k}")
    else:
        assert a == b, where


@pytest.mark.parametrize(("granularity", "normalize"),
                         [("batch", "none"), ("sample", "running_mean")])
def test_bilevel_step_equals_the_plain_torch_reference_bitwise(granularity, normalize) -> None:
    x, y = make_blobs().train.tensors
    x = x.double()
    (m1, s1, o1), (m2, s2, o2) = _setup(granularity, normalize), _setup(granularity, normalize)
    start = [p.detach().clone() for p in m1.parameters()]
    for i in range(3):
        xb, yb = x[i * 32:(i + 1) * 32], y[i * 32:(i + 1) * 32]
        xv, yv = x[120:160], y[120:160]
        got = bilevel_step(Step(m1, o1), s1, xb, yb, xv, yv)
        want = _reference_step(m2, s2, o2, xb, yb, xv, yv)
        assert torch.equal(got.loss, want)
    for a, b in [(m1, m2), (s1, s2)]:
        _equal(a.state_dict(), b.state_dict())
    for p, q in zip(o1.state_dict()["state"].values(), o2.state_dict()["state"].values(),
                    strict=True):
        assert torch.equal(p["momentum_buffer"], q["momentum_buffer"])
    assert any(not torch.equal(p, b) for p, b in zip(m1.parameters(), start, strict=True))
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in s1.parameters())
