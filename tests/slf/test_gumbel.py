"""Gumbel sampling and the multiple Gumbel-softmax (SLF paper Eq. 5–10)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from losskit.slf import gumbel_argmax, gumbel_softmax, multi_gumbel_softmax, sample_gumbel


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


P = torch.tensor([0.5, 0.25, 0.15, 0.07, 0.03], dtype=torch.float64)


def test_gumbel_noise_follows_the_standard_gumbel_distribution():
    g = sample_gumbel((20000,), generator=gen(1), dtype=torch.float64).numpy()
    assert stats.kstest(g, "gumbel_r").pvalue > 1e-3
    assert abs(g.mean() - np.euler_gamma) < 0.03  # E[G] = Euler–Mascheroni constant
    assert abs(g.var() - math.pi**2 / 6) < 0.08


def test_k1_samples_are_one_hot_and_frequencies_match_p_chi_square():
    """Eq. 8: P(𝒢(p) = e_i) = p_i. Draw M independent K=1 samples in one call."""
    m = 40000
    logits = P.log().expand(m, -1)
    w = multi_gumbel_softmax(logits, K=1, tau=0.7, generator=gen(2))
    assert torch.equal(w.sum(-1), torch.ones(m, dtype=torch.float64))
    assert torch.equal((w == 1).sum(-1), torch.ones(m, dtype=torch.int64))  # exactly one-hot
    assert torch.equal((w == 0).sum(-1), torch.full((m,), 4))
    counts = w.sum(0).numpy()
    assert stats.chisquare(counts, m * P.numpy()).pvalue > 1e-3
    # the test has power: the same counts clearly reject a slightly different p
    wrong = np.array([0.47, 0.27, 0.16, 0.07, 0.03])
    assert stats.chisquare(counts, m * wrong).pvalue < 1e-6


def test_gumbel_argmax_frequencies_match_softmax_of_unnormalised_logits():
    logits = torch.tensor([1.0, 0.0, -1.0, 2.0])  # not normalised: p = softmax(logits)
    idx = gumbel_argmax(logits, num_samples=30000, generator=gen(3))
    counts = torch.bincount(idx, minlength=4).numpy()
    expected = 30000 * torch.softmax(logits.double(), 0).numpy()
    assert stats.chisquare(counts, expected).pvalue > 1e-3


def _binomial_mad(k: int, p: float) -> float:
    """E|X/k − p| for X ~ Binomial(k, p) (exact)."""
    x = np.arange(k + 1)
    return float((stats.binom.pmf(x, k, p) * np.abs(x / k - p)).sum())


@pytest.mark.parametrize("k", [1, 4, 16, 64])
def test_p_hat_error_matches_exact_binomial_mean_absolute_deviation(k):
    """K·p̂_i ~ Binomial(K, p_i), so E|p̂_i − p_i| is known exactly; it shrinks like 1/√K."""
    m = 20000
    w = multi_gumbel_softmax(P.log().expand(m, -1), K=k, generator=gen(10 + k))
    mae = (w - P).abs().mean(0)
    exact = torch.tensor([_binomial_mad(k, float(p)) for p in P], dtype=torch.float64)
    torch.testing.assert_close(mae, exact, rtol=0.05, atol=2e-3)


def test_p_hat_error_shrinks_as_one_over_sqrt_k():
    ks = [1, 4, 16, 64, 256]
    maes = []
    for k in ks:
        w = multi_gumbel_softmax(P.log().expand(4000, -1), K=k, generator=gen(k))
        maes.append(float((w - P).abs().mean()))
    slope = np.polyfit(np.log(ks[1:]), np.log(maes[1:]), 1)[0]
    assert -0.56 < slope < -0.44
    assert all(a > b for a, b in zip(maes, maes[1:], strict=False))


def test_p_hat_entries_are_multiples_of_one_over_k_and_sum_to_one():
    w = multi_gumbel_softmax(torch.randn(100, 6, generator=gen(4)), K=3, generator=gen(5))
    torch.testing.assert_close(w.sum(-1), torch.ones(100))
    torch.testing.assert_close(w * 3, (w * 3).round())


def test_straight_through_gradient_is_the_relaxed_softmax_gradient():
    logits = torch.randn(7, 5, dtype=torch.float64, generator=gen(6))
    c = torch.randn(3, 7, 5, dtype=torch.float64, generator=gen(7))
    a = logits.clone().requires_grad_(True)
    hard = gumbel_softmax(a, tau=0.5, num_samples=3, hard=True, generator=gen(8))
    (c * hard).sum().backward()
    b = logits.clone().requires_grad_(True)
    soft = gumbel_softmax(b, tau=0.5, num_samples=3, hard=False, generator=gen(8))
    (c * soft).sum().backward()
    torch.testing.assert_close(a.grad, b.grad, rtol=0, atol=0)
    # the hard forward value is the one-hot of the relaxed sample's argmax
    assert torch.equal(hard.detach().argmax(-1), soft.detach().argmax(-1))
    assert torch.equal(hard.detach().max(-1).values, torch.ones(3, 7, dtype=torch.float64))


def test_low_tau_relaxed_samples_approach_one_hot_and_high_tau_uniform():
    logits = torch.randn(200, 4, generator=gen(9))
    cold = gumbel_softmax(logits, tau=0.001, hard=False, generator=gen(1))
    hot = gumbel_softmax(logits, tau=1000.0, hard=False, generator=gen(1))
    assert float((cold.max(-1).values > 0.99).double().mean()) > 0.98  # near-ties aside
    torch.testing.assert_close(hot, torch.full_like(hot, 0.25), atol=0.01, rtol=0)


def test_seeded_generator_is_deterministic_and_seed_matters():
    logits = torch.randn(50, 5, generator=gen(0))
    a = multi_gumbel_softmax(logits, K=3, generator=gen(42))
    b = multi_gumbel_softmax(logits, K=3, generator=gen(42))
    c = multi_gumbel_softmax(logits, K=3, generator=gen(43))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_float64_in_float64_out():
    w = multi_gumbel_softmax(torch.zeros(3, 4, dtype=torch.float64), K=2, generator=gen())
    assert w.dtype == torch.float64


@pytest.mark.parametrize("k", [0, -1, 1.5, True, "3"])
def test_bad_k_raises(k):
    with pytest.raises(ValueError, match="K must be"):
        multi_gumbel_softmax(torch.zeros(4), K=k)


@pytest.mark.parametrize("tau", [0.0, -1.0, float("nan"), float("inf"), "1"])
def test_bad_tau_raises(tau):
    with pytest.raises(ValueError, match="tau must be"):
        gumbel_softmax(torch.zeros(4), tau=tau)


@pytest.mark.parametrize("shape", [(64, 5), (5,)])
@pytest.mark.parametrize("tau", [1.0, 0.3])
def test_fused_multi_gumbel_equals_the_mean_of_hard_samples_bitwise(shape, tau):
    """The one-node p̂ has exactly the values and gradients of gumbel_softmax(...).mean(0)."""
    log_p = torch.log_softmax(torch.randn(*shape, generator=gen(6)), -1)
    a, b = log_p.clone().requires_grad_(True), log_p.clone().requires_grad_(True)
    w_ref = gumbel_softmax(a, tau, num_samples=3, hard=True, generator=gen(7)).mean(0)
    w = multi_gumbel_softmax(b, 3, tau, generator=gen(7))
    upstream = torch.randn(*shape, generator=gen(8))
    (w_ref * upstream).sum().backward()
    (w * upstream).sum().backward()
    assert torch.equal(w, w_ref) and torch.equal(b.grad, a.grad)
    # a 0-dim tensor temperature (a schedule on a step tensor) gives the same
    c = log_p.clone().requires_grad_(True)
    (multi_gumbel_softmax(c, 3, torch.tensor(tau), generator=gen(7)) * upstream).sum().backward()
    torch.testing.assert_close(c.grad, b.grad)
