"""``torch.compile(loss, fullgraph=True)`` works for every zoo loss (no graph break: value
checks are off while compiling), with values and gradients equal to eager, and a second batch
of the same shapes does not recompile. One representative runs in the default suite; the
whole zoo in the slow suite (compilation takes seconds per loss)."""

from __future__ import annotations

import copy

import pytest
import torch

from losskit import losses

N, C, D = 16, 4, 3
# the Trainer's context (class_counts: for the class-imbalance losses, losskit.losses.priors)
CONTEXT = {"num_classes": C, "feature_dim": D, "class_counts": list(range(1, C + 1))}


def _batch(seed: int, kind: str = "index"):
    g = torch.Generator().manual_seed(seed)
    shape = (N, C, 3) if kind == "spatial" else (N, C)
    z = torch.randn(*shape, generator=g)
    y = torch.randint(0, C, (shape[0], *shape[2:]), generator=g)
    if kind == "regression":
        y = torch.randn(*shape, generator=g)
    elif kind == "soft":
        y = torch.softmax(2 * torch.randn(*shape, generator=g), dim=1)
    elif kind != "index":
        y[0] = -100  # an ignored label
    return z, y, torch.randn(N, D, generator=g)


def _run(loss, z, y, f):
    z = z.clone().requires_grad_(True)
    f = f.clone().requires_grad_(True)
    kwargs = {"features": f} if loss.needs_features else {}
    value = loss(z, y, **kwargs)
    value.backward()
    grads = [z.grad] + ([f.grad] if loss.needs_features else [])
    grads += [p.grad for p in loss.parameters()]
    return value.detach(), grads


def assert_fullgraph_matches_eager(name: str, kind: str = "index", **kwargs):
    torch._dynamo.reset()
    eager = losses.build(name, CONTEXT, **kwargs)
    compiled = torch.compile(copy.deepcopy(eager), fullgraph=True)
    for seed in (0, 1):
        z, y, f = _batch(seed, kind)
        for m in (eager, compiled):
            m.zero_grad(set_to_none=True)
        with torch._dynamo.config.patch(error_on_recompile=seed > 0):
            got, got_grads = _run(compiled, z, y, f)
        want, want_grads = _run(eager, z, y, f)
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
        for a, b in zip(got_grads, want_grads, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_focal_with_weight_and_ignore_index_compiles_fullgraph():
    assert_fullgraph_matches_eager("focal", kind="ignore", weight=[1.0, 2.0, 0.5, 1.0])


@pytest.mark.slow
@pytest.mark.parametrize("name", losses.names())
def test_every_zoo_loss_compiles_fullgraph(name):
    regression = losses.build(name, CONTEXT).task == "regression"
    assert_fullgraph_matches_eager(name, kind="regression" if regression else "index")


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["spatial", "soft"])
@pytest.mark.parametrize("name", ["ce", "focal", "label_smoothing", "poly1"])
def test_ce_family_conventions_compile_fullgraph(name, kind):
    kwargs = {"weight": [1.0, 2.0, 0.5, 1.0]} if kind == "soft" else {}
    assert_fullgraph_matches_eager(name, kind=kind, **kwargs)
