"""``torch.compile`` (default Inductor backend, CPU) on UniLoss: same values and gradients as
eager — the random draws are opaque ops on the real generator — for every metric, with the
default (global-RNG) constructor and a seeded generator, without recompiling as the generator
advances. Compiling takes tens of seconds: one regression test in the default suite, the rest
in the slow suite."""

from __future__ import annotations

import pytest
import torch

from losskit.uniloss import UniLoss
from tests.uniloss.test_loss import CASES


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def _value_and_grad(fn, x, y, seed):
    torch.manual_seed(seed)  # the default constructor draws from the global RNG
    xs = x.clone().requires_grad_(True)
    value = fn(xs, y)
    value.backward()
    return value.detach(), xs.grad


def _assert_matches_eager(name, compile_kwargs, seeded, calls=2):
    make, kw = CASES[name]
    x, y = make()
    x = x.float()

    def build():
        return UniLoss(name, seed=0, **kw) if seeded else UniLoss(name, **kw)

    eager, compiled = build(), build()
    compiled_fn = torch.compile(compiled, **compile_kwargs)
    for call in range(calls):  # the generator advances between calls
        ev, eg = _value_and_grad(eager, x, y, call)
        cv, cg = _value_and_grad(compiled_fn, x, y, call)
        torch.testing.assert_close(cv, ev, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(cg, eg, rtol=1e-5, atol=1e-6)
        assert float(compiled.last_metric) == float(eager.last_metric)
    if seeded:
        assert torch.equal(compiled.generator.get_state(), eager.generator.get_state())


def test_default_constructor_compiles():
    """Regression: ``torch.compile(UniLoss("accuracy"))`` (global RNG) crashed in Inductor's
    CPU code generation."""
    make, _ = CASES["accuracy"]
    x, y = make()
    x = x.float()
    eager, compiled = UniLoss("accuracy"), torch.compile(UniLoss("accuracy"))
    for call in range(2):
        ev, eg = _value_and_grad(eager, x, y, call)
        cv, cg = _value_and_grad(compiled, x, y, call)
        torch.testing.assert_close(cv, ev, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(cg, eg, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("seeded", [False, True], ids=["default", "seeded"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_fullgraph_compile_matches_eager(name, seeded):
    _assert_matches_eager(name, {"fullgraph": True}, seeded)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["accuracy", "ap"])
def test_advancing_or_reseeding_the_generator_does_not_recompile(name):
    make, kw = CASES[name]
    x, y = make()
    x = x.float()
    loss = UniLoss(name, seed=0, **kw)
    compiled = torch.compile(loss, fullgraph=True)
    compiled(x, y)
    with torch._dynamo.config.patch(error_on_recompile=True):
        for seed in (1, 2):
            loss.generator.manual_seed(seed)
            compiled(x + seed, y)
            compiled(x, y)
        if name == "ap":  # another number of positives: a data-dependent size, no recompile
            compiled(x, torch.roll(y, 1).masked_fill(torch.arange(len(y)) == 3, 1))


@pytest.mark.slow
def test_compiled_degenerate_batch_follows_on_degenerate():
    """Under compile the sizes are symbolic: ``"zero"`` gives a zero loss in the graph."""
    scores = torch.randn(12)
    loss = torch.compile(UniLoss("ap", seed=0, on_degenerate="zero"), fullgraph=True)
    assert float(loss(scores, (torch.arange(12) % 3 == 0).long())) > 0.0
    for labels in (1, 0):  # no negative, no positive
        x = scores.clone().requires_grad_(True)
        value = loss(x, torch.full((12,), labels, dtype=torch.long))
        value.backward()
        assert float(value.detach()) == 0.0 and bool((x.grad == 0).all())
