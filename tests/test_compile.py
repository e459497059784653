"""torch.compile (default inductor backend, CPU) on the method modules: same values and
gradients as eager. Slow (compilation takes tens of seconds), so in the slow suite. The zoo
losses: tests/losses/test_compile.py."""

from __future__ import annotations

import pytest
import torch

pytestmark = pytest.mark.slow


def _inputs(n: int = 64, c: int = 10):
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(n, c, generator=g)
    target = torch.randint(0, c, (n,), generator=g)
    return logits, target


def _value_and_grad(fn, logits, target):
    x = logits.clone().requires_grad_(True)
    value = fn(x, target)
    value.backward()
    return value.detach(), x.grad


def _assert_compiled_matches_eager(make):
    logits, target = _inputs()
    eager_v, eager_g = _value_and_grad(make(), logits, target)
    compiled_v, compiled_g = _value_and_grad(torch.compile(make()), logits, target)
    torch.testing.assert_close(compiled_v, eager_v, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(compiled_g, eager_g, rtol=1e-5, atol=1e-6)


def test_slf_softmax_mode_compiles():
    from losskit.slf import StochasticLoss

    def make():
        torch.manual_seed(0)  # same decision-network initialisation for both
        return StochasticLoss(["ce", "prob_mse", "hinge"], num_outputs=10, mode="softmax")

    _assert_compiled_matches_eager(make)


@pytest.mark.parametrize("metric", ["accuracy"])
def test_uniloss_compiles(metric):
    from losskit.uniloss import UniLoss

    def make():
        return UniLoss(metric, generator=torch.Generator().manual_seed(0))

    _assert_compiled_matches_eager(make)
