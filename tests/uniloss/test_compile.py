"""``torch.compile`` (default Inductor backend, CPU) on UniLoss: same values and gradients as
eager — the random draws are opaque ops on the real generator — for every metric, with the
default (global-RNG) constructor and a seeded generator, without recompiling as the generator
advances or the number of positives changes (the ranking metrics' static layout). Compiling
takes tens of seconds: one regression test in the default suite, the rest in the slow suite;
the static ranking layout itself is checked in eager mode in the default suite."""

from __future__ import annotations

import pytest
import torch

from losskit.uniloss import UniLoss
from losskit.uniloss.refactor import ranking_comparisons
from tests.uniloss.test_loss import CASES

RANKING = ("ap", "auc", "precision_at_k")
RELAXATIONS = ("logit", "authors")


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
        # the ranking metrics' static layout sums over padding: float64 rounding at most
        assert float(compiled.last_metric) == pytest.approx(float(eager.last_metric), rel=1e-12)
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
        if name == "ap":  # another number of positives: a static layout, no recompile
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


# --------------------------------------------------------------- ranking metrics, static shapes
def _ranking_batch(n: int, seed: int, ratio: float):
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(n, generator=g)
    labels = (torch.rand(n, generator=g) < ratio).long()
    labels[0], labels[1] = 1, 0  # never degenerate
    return scores, labels


BATCHES = [(20, 0, 0.2), (20, 1, 0.5), (20, 2, 0.1), (31, 3, 0.3)]  # P changes at fixed N


def _ranking_loss(name: str, relaxation: str) -> UniLoss:
    kw = {"k": 4} if name == "precision_at_k" else {}
    return UniLoss(name, seed=0, relaxation=relaxation, validate_args=False, **kw)


def _value_grad_metric(loss, scores, labels):
    x = scores.clone().requires_grad_(True)
    value = loss(x, labels)
    value.backward()
    return value.detach(), x.grad, loss.last_metric


@pytest.mark.parametrize("relaxation", RELAXATIONS)
@pytest.mark.parametrize("name", RANKING)
def test_static_ranking_layout_matches_eager_layout(name, relaxation, monkeypatch):
    """The padded ``(1, N, N)`` layout the compiled graph uses, run eagerly (``is_compiling``
    patched on: the opaque ops run directly): the same loss, gradient, exact metric and
    generator stream as the exact ``(1, P, Q)`` eager layout, call after call, structured
    anchors (what a compiled graph uses) and the exact metric against sklearn / direct."""
    import losskit.uniloss.loss as loss_module
    import losskit.uniloss.metrics as metrics_module

    monkeypatch.setattr(loss_module, "DENSE_LIMIT", 0)  # structured anchors in both
    exact, static = _ranking_loss(name, relaxation), _ranking_loss(name, relaxation)
    metric = metrics_module.METRICS.build(name, {"k": 4} if name == "precision_at_k" else {})
    for n, seed, ratio in BATCHES:
        scores, labels = _ranking_batch(n, seed, ratio)
        ev, eg, em = _value_grad_metric(exact, scores, labels)
        with monkeypatch.context() as m:
            m.setattr(torch.compiler, "is_compiling", lambda: True)
            comps = ranking_comparisons(scores, labels)
            assert comps.shape == (1, n, n) and comps.rows is not None  # static: N × N
            sv, sg, sm = _value_grad_metric(static, scores, labels)
        torch.testing.assert_close(sv, ev, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(sg, eg, rtol=1e-5, atol=1e-6)
        assert float(sm) == pytest.approx(float(em), rel=1e-12)
        assert float(em) == pytest.approx(metric.reference(scores, labels), rel=1e-12)
        assert torch.equal(static.generator.get_state(), exact.generator.get_state())


@pytest.mark.slow
@pytest.mark.parametrize("relaxation", RELAXATIONS)
@pytest.mark.parametrize("name", RANKING)
def test_ranking_metric_compiles_with_static_shapes(name, relaxation):
    """Regression: AP / AUC / precision@k crashed in Inductor (``index out of bounds``, data-
    dependent sizes ``P``, ``Q``) or, with index asserts off, returned NaN. Now fullgraph
    compile = eager (values, gradients, exact metric, generator), with no recompile as the
    number of positives changes."""
    eager, compiled = _ranking_loss(name, relaxation), _ranking_loss(name, relaxation)
    compiled_fn = torch.compile(compiled, fullgraph=True)
    for i, (n, seed, ratio) in enumerate(BATCHES[:3]):
        scores, labels = _ranking_batch(n, seed, ratio)
        ev, eg, em = _value_grad_metric(eager, scores, labels)
        with torch._dynamo.config.patch(error_on_recompile=i > 0):
            cv, cg, cm = _value_grad_metric(compiled_fn, scores, labels)
        torch.testing.assert_close(cv, ev, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(cg, eg, rtol=1e-5, atol=1e-6)
        assert bool(torch.isfinite(cv)) and float(cm) == pytest.approx(float(em), rel=1e-12)
    assert torch.equal(compiled.generator.get_state(), eager.generator.get_state())


@pytest.mark.slow
def test_issue_repro_ap_compiles():
    """The issue's minimal repro: crashed on the first call."""
    scores, labels = torch.randn(20), (torch.arange(20) % 5 == 0).long()
    eager = UniLoss("ap", seed=0, validate_args=False)
    compiled = torch.compile(UniLoss("ap", seed=0, validate_args=False), fullgraph=True)
    torch.testing.assert_close(compiled(scores, labels), eager(scores, labels), rtol=1e-5,
                               atol=1e-6)


@pytest.mark.slow
def test_pck_authors_compiled_gradient_matches_eager():
    """Regression: with ``squash=True`` Inductor emitted the gradient's reader of the anchors'
    scattered edits before the scatter (see :mod:`losskit.uniloss.accumulate`); the compiled
    PCK gradient was off by up to several percent."""
    g = torch.Generator().manual_seed(0)
    heatmaps, pixels = torch.randn(3, 25, generator=g), torch.randint(0, 25, (3,), generator=g)
    eager = UniLoss("pck", seed=0, relaxation="authors")
    compiled = torch.compile(UniLoss("pck", seed=0, relaxation="authors"), fullgraph=True)
    for call in range(2):
        x = (heatmaps + call).clone()
        ev, eg, _ = _value_grad_metric(eager, x, pixels)
        cv, cg, _ = _value_grad_metric(compiled, x, pixels)
        torch.testing.assert_close(cv, ev, rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(cg, eg, rtol=1e-5, atol=1e-8)
