"""IDW (eq. 10) and the sigmoid relaxation (eq. 9)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from losskit.uniloss import idw, sigmoid_relaxation


def random_problem(seed: int, num_anchors: int = 7, length: int = 12):
    g = torch.Generator().manual_seed(seed)
    anchors = torch.rand(num_anchors, length, generator=g) < 0.5
    anchors = torch.unique(anchors, dim=0)  # distinct configurations
    values = torch.rand(anchors.shape[0], generator=g, dtype=torch.float64)
    return g, anchors, values


def test_idw_matches_hand_formula():
    anchors = torch.tensor([[1.0, 1.0], [0.0, 0.0], [1.0, 0.0]])
    values = torch.tensor([1.0, 0.0, 0.5], dtype=torch.float64)
    u = torch.tensor([0.7, 0.4], dtype=torch.float64)
    for power in (1.0, 2.0, 3.5):
        d = [math.dist(u.tolist(), a.tolist()) for a in anchors]
        w = [di**-power for di in d]
        expected = sum(wi * vi for wi, vi in zip(w, values.tolist(), strict=True)) / sum(w)
        assert float(idw(u, anchors, values, power)) == pytest.approx(expected, rel=1e-12)
    d1 = [sum(abs(x - y) for x, y in zip(u.tolist(), a.tolist(), strict=True)) for a in anchors]
    w = [1 / di for di in d1]
    expected = sum(wi * vi for wi, vi in zip(w, values.tolist(), strict=True)) / sum(w)
    assert float(idw(u, anchors, values, 1.0, "manhattan")) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("distance", ["euclidean", "manhattan"])
@pytest.mark.parametrize("seed", range(3))
def test_idw_exact_at_every_anchor_with_finite_zero_gradient(seed, distance):
    _, anchors, values = random_problem(seed)
    for a, v in zip(anchors, values, strict=True):
        u = a.to(torch.float64).requires_grad_(True)
        out = idw(u, anchors, values, power=1.0, distance=distance)
        assert float(out.detach()) == float(v)  # exactly, no NaN
        out.backward()
        assert torch.isfinite(u.grad).all() and bool((u.grad == 0).all())


@given(st.integers(0, 10_000), st.floats(0.25, 6.0))
@settings(max_examples=40, deadline=None)
def test_idw_within_range_of_anchor_values(seed, power):
    g, anchors, values = random_problem(seed)
    u = torch.rand(anchors.shape[1], generator=g, dtype=torch.float64)
    out = float(idw(u, anchors, values, power))
    assert float(values.min()) - 1e-12 <= out <= float(values.max()) + 1e-12


@pytest.mark.parametrize("power", [1.0, 2.0, 0.5])
@pytest.mark.parametrize("distance", ["euclidean", "manhattan"])
def test_idw_gradcheck_away_from_anchors(power, distance):
    g, anchors, values = random_problem(1)
    u = (0.1 + 0.8 * torch.rand(anchors.shape[1], generator=g, dtype=torch.float64))
    u.requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda x: idw(x, anchors, values, power, distance), (u,), eps=1e-6, atol=1e-8
    )


def test_idw_near_an_anchor_approaches_its_value_and_stays_finite():
    _, anchors, values = random_problem(2)
    a = anchors[0].to(torch.float64)
    for eps in (1e-2, 1e-5, 1e-9, 1e-150):
        u = (a + eps * (1 - 2 * a)).requires_grad_(True)  # move eps into the cube
        out = idw(u, anchors, values, power=2.0)
        out.backward()
        assert torch.isfinite(out) and torch.isfinite(u.grad).all()
        if eps <= 1e-5:
            assert float(out.detach()) == pytest.approx(float(values[0]), abs=1e-6)


def test_idw_power_sharpens_towards_nearest_anchor():
    anchors = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    values = torch.tensor([0.0, 1.0], dtype=torch.float64)
    u = torch.tensor([0.3, 0.3], dtype=torch.float64)
    outs = [float(idw(u, anchors, values, p)) for p in (0.5, 1.0, 2.0, 8.0)]
    assert outs == sorted(outs, reverse=True) and outs[-1] < 0.01


def test_idw_rejects_bad_arguments():
    anchors = torch.ones(2, 3, dtype=torch.bool)
    values = torch.zeros(2)
    with pytest.raises(ValueError, match="distance"):
        idw(torch.zeros(3), anchors, values, distance="cosine")
    with pytest.raises(ValueError, match="anchors"):
        idw(torch.zeros(4), anchors, values)


def test_sigmoid_relaxation_temperature_and_mask():
    c = torch.tensor([[-2.0, 0.0, 3.0]])
    assert torch.allclose(sigmoid_relaxation(c, 1.0), torch.sigmoid(c))
    assert torch.allclose(sigmoid_relaxation(c, 2.0), torch.sigmoid(c / 2))
    valid = torch.tensor([[True, False, True]])
    u = sigmoid_relaxation(c, 1.0, valid)
    assert u[0, 1] == 1.0 and u[0, 0] == torch.sigmoid(torch.tensor(-2.0))
