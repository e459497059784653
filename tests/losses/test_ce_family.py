"""The cross-entropy family (ce, focal, label_smoothing, poly1) as a drop-in for
``F.cross_entropy``: ``weight=``, ``ignore_index=``, ``(N, C, d1, …)`` inputs, soft targets —
each against ``F.cross_entropy`` with the same arguments (focal at γ = 0, poly1 at ε = 0), and
the focal / poly1 terms against hand computations under the same conventions."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from losskit import losses
from losskit.losses import functional as LF

C = 5

# each family member with the hyper-parameter that makes it F.cross_entropy (+ its smoothing)
AS_CE = {
    "cross_entropy": (lambda *a, **k: LF.cross_entropy(*a, **k), 0.0),
    "focal": (lambda *a, **k: LF.focal(*a, gamma=0.0, **k), 0.0),
    "poly1": (lambda *a, **k: LF.poly1(*a, epsilon=0.0, **k), 0.0),
    "label_smoothing": (lambda *a, **k: LF.label_smoothing(*a, smoothing=0.2, **k), 0.2),
}


def _case(kind: str, seed: int = 0):
    """``(input, target, kwargs)`` for one convention; inputs float64 with requires_grad."""
    g = torch.Generator().manual_seed(seed)
    shape = (6, C, 3, 2) if kind.startswith("spatial") else (8, C)
    z = (2 * torch.randn(*shape, generator=g, dtype=torch.float64)).requires_grad_(True)
    label_shape = (shape[0], *shape[2:])
    y = torch.randint(0, C, label_shape, generator=g)
    w = torch.rand(C, generator=g, dtype=torch.float64) + 0.1
    kwargs: dict = {}
    if "weight" in kind:
        kwargs["weight"] = w
    if "ignore" in kind:
        ignored = 3 if "custom_ignore" in kind else -100
        if ignored != -100:
            kwargs["ignore_index"] = ignored
        y = y.masked_fill(torch.rand(label_shape, generator=g) < 0.3, ignored)
        y.view(-1)[0] = 2  # at least one kept label
    if "soft" in kind:
        y = torch.softmax(3 * torch.randn(*shape, generator=g, dtype=torch.float64), dim=1)
    return z, y, kwargs


KINDS = ["plain", "weight", "ignore", "custom_ignore", "weight_ignore", "spatial",
         "spatial_weight_ignore", "soft", "soft_weight", "spatial_soft_weight"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", sorted(AS_CE))
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_family_equals_f_cross_entropy_with_the_same_arguments(name, kind, reduction):
    fn, smoothing = AS_CE[name]
    z, y, kwargs = _case(kind)
    got = fn(z, y, reduction=reduction, **kwargs)
    ref = F.cross_entropy(z, y, reduction=reduction, label_smoothing=smoothing, **kwargs)
    assert got.shape == ref.shape
    torch.testing.assert_close(got, ref)
    (g_got,) = torch.autograd.grad(got.sum(), z)
    (g_ref,) = torch.autograd.grad(ref.sum(), z)
    torch.testing.assert_close(g_got, g_ref)


@pytest.mark.parametrize("name", sorted(AS_CE))
def test_modules_are_drop_ins_for_nn_cross_entropy(name):
    module_cls = {"cross_entropy": losses.CrossEntropyLoss, "focal": losses.FocalLoss,
                  "poly1": losses.Poly1Loss, "label_smoothing": losses.LabelSmoothingLoss}[name]
    hyper = {"focal": {"gamma": 0.0}, "poly1": {"epsilon": 0.0},
             "label_smoothing": {"smoothing": 0.2}}.get(name, {})
    z, y, kwargs = _case("spatial_weight_ignore", seed=1)
    w = kwargs["weight"].float()
    ours = module_cls(**hyper, weight=w.tolist(), ignore_index=-100)
    ref = torch.nn.CrossEntropyLoss(weight=w, label_smoothing=AS_CE[name][1])
    torch.testing.assert_close(ours(z.float(), y), ref(z.float(), y))
    assert torch.equal(ours.state_dict()["weight"], w)  # a buffer, saved like torch's
    ours.double()
    torch.testing.assert_close(ours(z, y), F.cross_entropy(
        z, y, weight=w.double(), label_smoothing=AS_CE[name][1]))
    assert "weight=" in repr(ours)
    assert "ignore_index=3" in repr(module_cls(**hyper, ignore_index=3))


def _softmax(z: torch.Tensor) -> torch.Tensor:
    return torch.softmax(z, dim=1)


@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_focal_weight_ignore_and_spatial_by_hand(gamma):
    z, y, kwargs = _case("spatial_weight_ignore", seed=2)
    w = kwargs["weight"]
    # flatten (N, C, d1, d2) to rows and compute -w_y (1 - p_y)^γ log p_y element by element
    rows = z.detach().movedim(1, -1).reshape(-1, C)
    labels = y.reshape(-1)
    num, den, per = 0.0, 0.0, []
    for r, t in zip(_softmax(rows).tolist(), labels.tolist(), strict=True):
        if t == -100:
            per.append(0.0)
            continue
        v = -w[t].item() * (1 - r[t]) ** gamma * math.log(r[t])
        per.append(v)
        num += v
        den += w[t].item()
    none = LF.focal(z, y, gamma=gamma, reduction="none", **kwargs)
    assert none.shape == y.shape
    torch.testing.assert_close(none.reshape(-1), torch.tensor(per, dtype=torch.float64))
    torch.testing.assert_close(LF.focal(z, y, gamma=gamma, **kwargs),
                               torch.tensor(num / den, dtype=torch.float64))


def test_focal_alpha_with_ignore_and_soft_one_hot_targets():
    z, y, _ = _case("ignore", seed=3)
    alpha = [0.1, 0.2, 0.3, 0.4, 0.5]
    kept = y != -100
    none = LF.focal(z, y, gamma=2.0, alpha=alpha, reduction="none")
    assert bool((none[~kept] == 0).all())
    ref = LF.focal(z[kept], y[kept], gamma=2.0, alpha=alpha, reduction="none")
    torch.testing.assert_close(none[kept], ref)
    # alpha keeps the mean a plain mean over the kept elements (the paper's normalisation)
    torch.testing.assert_close(LF.focal(z, y, gamma=2.0, alpha=alpha), ref.mean())
    # one-hot probability targets give the class-index values
    onehot = F.one_hot(y[kept], C).double()
    for a in (None, 0.25, alpha):
        torch.testing.assert_close(
            LF.focal(z[kept], onehot, gamma=1.5, alpha=a, reduction="none"),
            LF.focal(z[kept], y[kept], gamma=1.5, alpha=a, reduction="none"),
        )


def test_poly1_soft_targets_follow_the_paper_formula():
    """Leng et al. 2022 (App., smoothed labels): Poly-1 = CE(t) + ε (1 - Σ_c t_c p_c)."""
    z, t, _ = _case("soft", seed=4)
    eps = 2.0
    p = _softmax(z)
    ref = F.cross_entropy(z, t, reduction="none") + eps * (1 - (t * p).sum(1))
    torch.testing.assert_close(LF.poly1(z, t, epsilon=eps, reduction="none"), ref)
    torch.testing.assert_close(LF.poly1(z, t, epsilon=eps), ref.mean())


def test_poly1_weight_and_ignore_by_hand():
    z, y, kwargs = _case("weight_ignore", seed=5)
    w, eps = kwargs["weight"], 1.5
    kept = y != -100
    p_y = _softmax(z[kept]).gather(1, y[kept, None]).squeeze(1)
    per = w[y[kept]] * (-p_y.log() + eps * (1 - p_y))
    torch.testing.assert_close(LF.poly1(z, y, epsilon=eps, **kwargs),
                               per.sum() / w[y[kept]].sum())
    none = LF.poly1(z, y, epsilon=eps, reduction="none", **kwargs)
    torch.testing.assert_close(none[kept], per)
    assert bool((none[~kept] == 0).all())


def test_gradcheck_family_spatial_soft_weight():
    z, t, kwargs = _case("spatial_soft_weight", seed=6)
    for fn in (lambda x: LF.focal(x, t, gamma=1.5, **kwargs),
               lambda x: LF.poly1(x, t, epsilon=0.7, **kwargs),
               lambda x: LF.label_smoothing(x, t, smoothing=0.3, **kwargs)):
        assert torch.autograd.gradcheck(fn, (z,))
    z, y, kwargs = _case("spatial_weight_ignore", seed=6)
    assert torch.autograd.gradcheck(lambda x: LF.focal(x, y, gamma=2.0, **kwargs), (z,))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda z, y: LF.cross_entropy(z, y, weight=torch.ones(C + 1)), "weight"),
        (lambda z, y: LF.cross_entropy(z, y, weight=torch.ones(C, dtype=torch.long)), "weight"),
        (lambda z, y: LF.focal(z, y, weight=-torch.ones(C)), "weight"),
        (lambda z, y: LF.poly1(z, y, ignore_index=1.5), "ignore_index"),
        (lambda z, y: LF.cross_entropy(z, torch.full_like(y, 7), ignore_index=3),
         r"\[0, 5\) \(or equal ignore_index=3\)"),
        (lambda z, y: LF.label_smoothing(z, F.one_hot(y, C).float(), ignore_index=0),
         "ignore_index"),
        (lambda z, y: LF.focal(z, F.one_hot(y, C).float()[:, :-1]), "target"),
        (lambda z, y: LF.cross_entropy(z, 2 * F.one_hot(y, C).float()), "target"),
        (lambda z, y: LF.cross_entropy(z[..., None], y), "target"),
        (lambda z, y: losses.CrossEntropyLoss(weight=[1.0, float("nan")]), "weight"),
        (lambda z, y: losses.FocalLoss(ignore_index=None), "ignore_index"),
    ],
)
def test_family_bad_arguments(call, match):
    g = torch.Generator().manual_seed(7)
    z, y = torch.randn(4, C, generator=g), torch.randint(0, C, (4,), generator=g)
    with pytest.raises(ValueError, match=match):
        call(z, y)
