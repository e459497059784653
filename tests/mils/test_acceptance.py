"""The gradient acceptance tests (``accept="gradient"`` / ``"project"``): the cosine decision,
PCGrad projection, norm cap, and their bitwise equivalences with plain training."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from losskit import losses
from losskit.mils import MILS, gradient_test
from losskit.mils.acceptance import capped, project
from tests.conftest import TinyNet
from tests.mils.test_scheduling import _batches, _data, _pair, _plain_step
from tests.mils.util import DropNet, assert_same, full_state


def neg_ce(input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return -F.cross_entropy(input, target)


def ce_copy(input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(input, target)


def zero_loss(input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return 0.0 * input.sum()


@pytest.mark.parametrize(
    ("accept", "aux", "opt_name", "kept"),
    [
        ("gradient", ce_copy, "sgd", True),
        ("project", ce_copy, "adam", True),
        ("gradient", neg_ce, "sgd", False),
        ("gradient", neg_ce, "adam", False),
    ],
)
def test_primary_copy_always_applied_and_negation_never(accept, aux, opt_name, kept) -> None:
    """cos = 1: every attempt accepted; cos = −1: every attempt rejected. Either way training
    equals plain CE training bitwise (one forward per step, so even the dropout stream
    matches), with no observation set, no observation forward and no snapshot."""
    (m1, o1, _), (m2, o2, _) = _pair(opt_name, DropNet)
    x, y = _data()
    mils = MILS(m1, o1, "ce", {"aux": aux}, 1.0, None, accept=accept)
    ce = losses.get("ce")
    torch.manual_seed(3)
    results = [mils.step(xb, yb) for xb, yb in _batches(x, y, 12)]
    torch.manual_seed(3)
    for xb, yb in _batches(x, y, 12):
        _plain_step(m2, o2, ce, xb, yb)
    assert all(r.accepted is kept and r.trained == ("aux" if kept else "primary")
               for r in results)
    assert all(r.cosine == pytest.approx(1.0 if kept else -1.0) for r in results)
    assert_same(full_state(m1, o1), full_state(m2, o2))
    s = mils.stats
    assert s.attempts == 12 and s.successes == (12 if kept else 0) and s.extra_forwards == 0
    assert s.projected == s.nonfinite == s.ties == 0
    assert mils._snapshot._saved is None  # never captured


def test_project_removes_the_conflicting_component() -> None:
    """Plain SGD: the applied update is ``-lr·g`` with ``g = g_a - (g_a·g_p/‖g_p‖²) g_p``,
    orthogonal to ``g_p``, computed here by hand with autograd."""
    torch.manual_seed(0)
    model = TinyNet()
    ref = copy.deepcopy(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = _data()
    xb, yb = x[:32], y[:32]

    def conflicting(input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(input, (target + 1) % 3)

    logits = ref(xb)
    rp = list(ref.parameters())
    g_p = torch.autograd.grad(F.cross_entropy(logits, yb), rp, retain_graph=True)
    g_a = torch.autograd.grad(conflicting(logits, yb), rp)
    params = list(model.parameters())
    fp, fa = torch.cat([g.flatten() for g in g_p]), torch.cat([g.flatten() for g in g_a])
    assert float(fp @ fa) < 0  # the two objectives conflict on this batch
    g = fa - (fa @ fp) / (fp @ fp) * fp
    before = torch.cat([p.detach().flatten() for p in params])
    mils = MILS(model, opt, "ce", {"conflict": conflicting}, 1.0, None, accept="project",
                norm_cap=False)
    r = mils.step(xb, yb)
    after = torch.cat([p.detach().flatten() for p in params])
    assert r.accepted is False and r.projected and r.trained == "conflict"
    assert r.cosine == pytest.approx(float(fp @ fa / fp.norm() / fa.norm()), rel=1e-5)
    torch.testing.assert_close(before - after, 0.1 * g, rtol=1e-4, atol=1e-7)
    assert abs(float((before - after) @ fp)) < 1e-6 * float(fp.norm() * (before - after).norm())
    assert mils.stats.projected == 1 and mils.stats.rollbacks == 1


def test_norm_cap_scales_a_long_aux_gradient_to_the_primary_norm() -> None:
    """``10·CE`` passes (cos = 1) and, capped, makes the CE step; uncapped, a 10× step."""
    x, y = _data()
    steps = {}
    for cap in (True, False):
        torch.manual_seed(0)
        model = TinyNet()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        before = [p.detach().clone() for p in model.parameters()]
        mils = MILS(model, opt, "ce", {"ten": lambda z, t: 10 * F.cross_entropy(z, t)}, 1.0,
                    None, accept="gradient", norm_cap=cap)
        assert mils.step(x[:32], y[:32]).accepted
        steps[cap] = [b - p.detach() for b, p in zip(before, model.parameters(), strict=True)]
    torch.manual_seed(0)
    ref = TinyNet()
    opt = torch.optim.SGD(ref.parameters(), lr=0.1)
    before = [p.detach().clone() for p in ref.parameters()]
    _plain_step(ref, opt, losses.get("ce"), x[:32], y[:32])
    ce_step = [b - p.detach() for b, p in zip(before, ref.parameters(), strict=True)]
    for capped_step, free, plain in zip(steps[True], steps[False], ce_step, strict=True):
        torch.testing.assert_close(capped_step, plain, rtol=1e-4, atol=1e-7)
        torch.testing.assert_close(free, 10 * plain, rtol=1e-4, atol=1e-6)


def test_zero_aux_gradient_is_a_tie() -> None:
    for ties in (True, False):
        (m1, o1, _), _ = _pair("sgd", TinyNet)
        x, y = _data()
        mils = MILS(m1, o1, "ce", {"zero": zero_loss}, 1.0, None, accept="gradient",
                    accept_ties=ties)
        results = [mils.step(xb, yb) for xb, yb in _batches(x, y, 3)]
        assert all(r.cosine == 0.0 and r.accepted is ties for r in results)
        assert mils.stats.ties == 3


def test_nonfinite_aux_is_never_applied() -> None:
    (m1, o1, _), (m2, o2, _) = _pair("sgd", TinyNet)
    x, y = _data()

    def nan_loss(input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(input, target) * float("nan")

    mils = MILS(m1, o1, "ce", {"nan": nan_loss}, 1.0, None, accept="project")
    ce = losses.get("ce")
    for xb, yb in _batches(x, y, 4):
        r = mils.step(xb, yb)
        assert r.nonfinite and r.accepted is False and r.trained == "primary"
        _plain_step(m2, o2, ce, xb, yb)
    assert_same(full_state(m1, o1), full_state(m2, o2))
    assert mils.stats.nonfinite == mils.stats.rollbacks == 4 and mils.stats.projected == 0


def test_gradient_test_matches_torch_cosine() -> None:
    g = torch.Generator().manual_seed(0)
    gp = [torch.randn(3, 4, generator=g), torch.randn(5, generator=g), None]
    ga = [torch.randn(3, 4, generator=g), torch.randn(5, generator=g), torch.randn(2)]
    test = gradient_test(gp, ga, torch.tensor(1.0))
    fp, fa = torch.cat([gp[0].flatten(), gp[1]]), torch.cat([ga[0].flatten(), ga[1]])
    assert test.finite and test.cosine == pytest.approx(float(F.cosine_similarity(fp, fa, 0)))
    assert test.dot == pytest.approx(float(fp @ fa), rel=1e-6)
    assert test.primary_norm == pytest.approx(float(fp.norm()), rel=1e-6)
    # the projection is orthogonal to gp on the shared parameters, untouched elsewhere
    pr = project(gp, ga, test)
    assert float(torch.cat([pr[0].flatten(), pr[1]]) @ fp) == pytest.approx(0.0, abs=1e-5)
    assert pr[2] is ga[2]
    # the cap leaves non-shared parameters alone
    c = capped(ga, gp, 0.5)
    assert torch.equal(c[0], ga[0] * 0.5) and c[2] is ga[2]
    assert not gradient_test(gp, [ga[0], ga[1] * float("inf"), None], torch.tensor(1.0)).finite
    assert not gradient_test(gp, ga, torch.tensor(float("nan"))).finite


def test_bad_accept() -> None:
    model = TinyNet()
    with pytest.raises(ValueError, match="accept must be one of"):
        MILS(model, torch.optim.SGD(model.parameters(), lr=0.1), "ce", "focal", 0.5, None,
             accept="cosine")
