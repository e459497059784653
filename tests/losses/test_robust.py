"""Noise-robust losses (gce, rce, sce, nce, nce+rce): values against the papers' formulas written
out on the probabilities, the GCE limits, the symmetry of the passive losses, the cross-entropy
family's conventions, gradcheck and the argument errors."""

from __future__ import annotations

import inspect
import math

import pytest
import torch
import torch.nn.functional as F

from losskit import losses
from losskit.losses import functional as LF
from losskit.losses import robust as R

C = 5


def _batch(n: int = 8, seed: int = 0, shape: tuple[int, ...] = ()):
    g = torch.Generator().manual_seed(seed)
    z = (3 * torch.randn(n, C, *shape, generator=g, dtype=torch.float64)).requires_grad_(True)
    y = torch.randint(0, C, (n, *shape), generator=g)
    return z, y


def _paper(name: str, z: torch.Tensor, y: torch.Tensor, **hp) -> torch.Tensor:
    """Per-sample values from the papers' equations, on p = softmax(z) and the one-hot q."""
    p = z.softmax(dim=1)
    q = F.one_hot(y, C).to(p.dtype)
    p_y = (p * q).sum(dim=1)
    ce = -p_y.log()
    a = hp.get("log_zero", -4.0)
    log_q = torch.where(q > 0, torch.zeros_like(q), torch.full_like(q, a))  # log 0 := A
    rce = -(p * log_q).sum(dim=1)
    nce = ce / -p.log().sum(dim=1)
    if name == "gce":
        qq = hp.get("q", 0.7)
        return (1 - p_y**qq) / qq
    if name == "rce":
        return rce
    if name == "sce":
        return hp.get("alpha", 0.1) * ce + hp.get("beta", 1.0) * rce
    if name == "nce":
        return nce
    return hp.get("alpha", 1.0) * nce + hp.get("beta", 1.0) * rce  # nce+rce


FUNCTIONS = {"gce": R.gce, "rce": R.rce, "sce": R.sce, "nce": R.nce, "nce+rce": R.nce_rce}
HYPER = {"gce": {"q": 0.4}, "rce": {"log_zero": -6.0}, "sce": {"alpha": 0.3, "beta": 2.0},
         "nce": {}, "nce+rce": {"alpha": 10.0, "beta": 0.1, "log_zero": -3.0}}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
@pytest.mark.parametrize("defaults", [True, False])
def test_values_follow_the_papers_equations(name, defaults):
    z, y = _batch()
    hp = {} if defaults else HYPER[name]
    got = FUNCTIONS[name](z, y, reduction="none", **hp)
    torch.testing.assert_close(got, _paper(name, z, y, **hp))
    module = losses.get(name, reduction="none", **hp)
    torch.testing.assert_close(module(z, y), got)


def test_gce_limits_are_ce_and_mae():
    z, y = _batch()
    torch.testing.assert_close(R.gce(z, y, q=1e-9, reduction="none"),
                               F.cross_entropy(z, y, reduction="none"))
    # q = 1: 1 - p_y, half the MAE Σ_k |p_k - q_k| (prob_mae averages over the C classes)
    torch.testing.assert_close(R.gce(z, y, q=1.0, reduction="none"),
                               LF.prob_mae(z, y, reduction="none") * C / 2)


def test_default_hyperparameters_are_the_papers():
    assert R.gce.__wrapped__.__defaults__[0] == 0.7  # Zhang & Sabuncu
    assert repr(losses.get("sce")) == (
        "SCELoss(alpha=0.1, beta=1.0, log_zero=-4.0, reduction='mean')")
    assert repr(losses.get("nce+rce")) == (
        "NCERCELoss(alpha=1.0, beta=1.0, log_zero=-4.0, reduction='mean')")


def test_rce_with_the_authors_clamp():
    """The authors' code clamps the one-hot at 1e-4 (A = log 1e-4) and p at 1e-7."""
    z, y = _batch()
    p = z.softmax(1).clamp(min=1e-7, max=1.0)
    q = F.one_hot(y, C).to(p.dtype).clamp(min=1e-4, max=1.0)
    theirs = -(p * q.log()).sum(dim=1)
    torch.testing.assert_close(R.rce(z, y, log_zero=math.log(1e-4), reduction="none"), theirs,
                               atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name,total", [("rce", lambda: 4.0 * (C - 1)), ("nce", lambda: 1.0)])
def test_passive_and_normalized_losses_are_symmetric(name, total):
    """Σ_k L(z, k) is a constant (Ghosh et al.'s condition for noise tolerance)."""
    z, _ = _batch()
    per_label = torch.stack([FUNCTIONS[name](z, torch.full((8,), k), reduction="none")
                             for k in range(C)])
    torch.testing.assert_close(per_label.sum(0), torch.full((8,), total(), dtype=z.dtype))


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_reductions_weight_and_ignore_index_follow_cross_entropy(name):
    z, y = _batch(12, seed=1)
    y[::4] = -100
    w = torch.rand(C, dtype=torch.float64) + 0.1
    fn = FUNCTIONS[name]
    per = fn(z, y, reduction="none", weight=w)
    kept = y != -100
    safe = y.clamp_min(0)
    expected = torch.where(kept, _paper(name, z, safe) * w[safe], torch.zeros_like(per))
    torch.testing.assert_close(per, expected)
    torch.testing.assert_close(fn(z, y, reduction="sum", weight=w), expected.sum())
    torch.testing.assert_close(fn(z, y, weight=w), expected.sum() / w[safe][kept].sum())
    torch.testing.assert_close(fn(z, y), _paper(name, z, safe)[kept].mean())


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_spatial_inputs_equal_the_flattened_batch(name):
    z, y = _batch(3, shape=(2, 2))
    flat_z = z.movedim(1, -1).reshape(-1, C)
    torch.testing.assert_close(FUNCTIONS[name](z, y), FUNCTIONS[name](flat_z, y.reshape(-1)))


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_gradcheck(name):
    z, y = _batch(4)
    y[0] = 3
    y[1] = -100
    w = torch.rand(C, dtype=torch.float64) + 0.5
    assert torch.autograd.gradcheck(lambda x: FUNCTIONS[name](x, y, weight=w, **HYPER[name]),
                                    (z,))


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_module_signature_lists_the_family_keywords_and_class_balancing_applies(name):
    params = inspect.signature(losses.LOSSES.factory(name)).parameters
    assert {"reduction", "weight", "ignore_index", "class_balanced_beta", "class_counts"} <= set(
        params)
    counts = [40, 20, 10, 5, 1]
    balanced = losses.get(name, class_balanced_beta=0.99, class_counts=counts)
    z, y = _batch()
    torch.testing.assert_close(
        balanced(z, y), FUNCTIONS[name](z, y, weight=losses.class_balanced_weights(counts, 0.99)
                                        .double()))


@pytest.mark.parametrize("call,match", [
    (lambda z, y: R.gce(z, y, q=0.0), "q must be > 0"),
    (lambda z, y: R.gce(z, y, q=1.5), "q must be <= 1"),
    (lambda z, y: losses.get("gce", q=-1), "q must be > 0"),
    (lambda z, y: R.rce(z, y, log_zero=0.0), "log_zero must be < 0"),
    (lambda z, y: losses.get("sce", alpha=-1.0), "alpha must be >= 0"),
    (lambda z, y: losses.get("nce+rce", beta=float("nan")), "beta must be finite"),
    (lambda z, y: R.sce(z, y, reduction="avg"), "reduction must be one of"),
    (lambda z, y: R.nce(z, z.softmax(1).detach()), "must hold integer class indices"),
    (lambda z, y: R.nce(z[:, :1], torch.zeros(8, dtype=torch.long)), "at least 2 classes"),
    (lambda z, y: R.gce(z, y + C), r"target values must lie in \[0, 5\)"),
    (lambda z, y: R.sce(z.detach().fill_(float("nan")), y), "input contains NaN"),
    (lambda z, y: R.gce(z, y[:3]), "target must have shape"),
])
def test_bad_arguments_raise_one_value_error_naming_them(call, match):
    z, y = _batch()
    with pytest.raises(ValueError, match=match):
        call(z, y)


def test_a_module_default_that_differs_from_the_function_is_refused():
    with pytest.raises(TypeError, match="the default of 'q' differs from gce's"):
        class Drifted(R.FamilyLoss):
            function = staticmethod(R.gce)

            def __init__(self, q: float = 0.5, reduction: str = "mean", **family) -> None:
                super().__init__(reduction, **family)
