"""Functional losses: torch built-ins, hand computations from the formulas, gradcheck, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.stats import multivariate_normal

from losskit.losses import functional as LF

N, C, D = 6, 5, 3


def _data(dtype: torch.dtype = torch.float64, seed: int = 0, n: int = N, c: int = C):
    g = torch.Generator().manual_seed(seed)
    z = (torch.randn(n, c, generator=g) * 2.0).to(dtype)
    y = torch.randint(0, c, (n,), generator=g)
    return z, y


def _softmax_rows(z: torch.Tensor) -> list[list[float]]:
    out = []
    for row in z.tolist():
        m = max(row)
        e = [math.exp(v - m) for v in row]
        s = sum(e)
        out.append([v / s for v in e])
    return out


# ----------------------------------------------------------------------------- torch references
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_matches_torch(reduction: str) -> None:
    z, y = _data()
    got = LF.cross_entropy(z, y, reduction=reduction)
    torch.testing.assert_close(got, F.cross_entropy(z, y, reduction=reduction))


@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("margin", [1.0, 0.5, 2.0])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_multi_margin_matches_torch(p: int, margin: float, reduction: str) -> None:
    z, y = _data()
    got = LF.multi_margin(z, y, p=p, margin=margin, reduction=reduction)
    ref = F.multi_margin_loss(z, y, p=p, margin=margin, reduction=reduction)
    torch.testing.assert_close(got, ref)


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.5, 1.0])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_label_smoothing_matches_torch(smoothing: float, reduction: str) -> None:
    z, y = _data()
    got = LF.label_smoothing(z, y, smoothing=smoothing, reduction=reduction)
    ref = F.cross_entropy(z, y, label_smoothing=smoothing, reduction=reduction)
    torch.testing.assert_close(got, ref)


def test_bce_binary_shapes_match_torch() -> None:
    g = torch.Generator().manual_seed(1)
    z = torch.randn(N, generator=g, dtype=torch.float64)
    t = torch.randint(0, 2, (N,), generator=g)
    ref = F.binary_cross_entropy_with_logits(z, t.double())
    torch.testing.assert_close(LF.binary_cross_entropy_with_logits(z, t), ref)
    torch.testing.assert_close(LF.binary_cross_entropy_with_logits(z, t.double()), ref)
    torch.testing.assert_close(LF.binary_cross_entropy_with_logits(z[:, None], t), ref)
    torch.testing.assert_close(LF.binary_cross_entropy_with_logits(z[:, None], t[:, None]), ref)
    none = LF.binary_cross_entropy_with_logits(z[:, None], t, reduction="none")
    assert none.shape == (N,)
    torch.testing.assert_close(
        none, F.binary_cross_entropy_with_logits(z, t.double(), reduction="none")
    )


def test_bce_multi_hot_and_class_indices_match_torch() -> None:
    z, y = _data(seed=2)
    g = torch.Generator().manual_seed(3)
    multi = (torch.rand(N, C, generator=g) > 0.5).double()
    for reduction in ("mean", "sum"):
        ref = F.binary_cross_entropy_with_logits(z, multi, reduction="none").mean(1)
        ref = ref.mean() if reduction == "mean" else ref.sum()
        torch.testing.assert_close(
            LF.binary_cross_entropy_with_logits(z, multi, reduction=reduction), ref
        )
    torch.testing.assert_close(
        LF.binary_cross_entropy_with_logits(z, multi),
        F.binary_cross_entropy_with_logits(z, multi),
    )
    # integer class indices → one-vs-all on the one-hot target
    onehot = F.one_hot(y, C).double()
    torch.testing.assert_close(
        LF.binary_cross_entropy_with_logits(z, y), F.binary_cross_entropy_with_logits(z, onehot)
    )
    # soft targets in [0, 1] are allowed
    soft = torch.rand(N, C, generator=g, dtype=torch.float64)
    torch.testing.assert_close(
        LF.binary_cross_entropy_with_logits(z, soft), F.binary_cross_entropy_with_logits(z, soft)
    )


# ----------------------------------------------------------------------------- hand computations
def test_focal_hand_computation_and_gamma_zero_is_ce() -> None:
    z, y = _data(seed=4)
    probs = _softmax_rows(z)
    alpha = [0.1, 0.2, 0.3, 0.4, 0.5]
    for gamma in (0.0, 0.5, 2.0):
        ref = [
            -alpha[yi] * (1 - probs[i][yi]) ** gamma * math.log(probs[i][yi])
            for i, yi in enumerate(y.tolist())
        ]
        got = LF.focal(z, y, gamma=gamma, alpha=alpha, reduction="none")
        torch.testing.assert_close(got, torch.tensor(ref, dtype=torch.float64))
        got_scalar = LF.focal(z, y, gamma=gamma, alpha=0.25, reduction="none")
        torch.testing.assert_close(got_scalar, 0.25 * LF.focal(z, y, gamma=gamma, reduction="none"))
    torch.testing.assert_close(LF.focal(z, y, gamma=0.0), F.cross_entropy(z, y))
    # focal ≤ CE when gamma > 0 (down-weights easy examples)
    assert bool((LF.focal(z, y, gamma=2.0, reduction="none")
                 <= F.cross_entropy(z, y, reduction="none")).all())


def test_binary_focal_hand_computation() -> None:
    g = torch.Generator().manual_seed(5)
    z = torch.randn(N, C, generator=g, dtype=torch.float64)
    t = (torch.rand(N, C, generator=g) > 0.5).long()
    gamma, alpha = 2.0, 0.25
    ref = []
    for zr, tr in zip(z.tolist(), t.tolist(), strict=True):
        vals = []
        for zi, ti in zip(zr, tr, strict=True):
            p = 1 / (1 + math.exp(-zi))
            pt = p if ti == 1 else 1 - p
            at = alpha if ti == 1 else 1 - alpha
            vals.append(-at * (1 - pt) ** gamma * math.log(pt))
        ref.append(sum(vals) / len(vals))
    got = LF.binary_focal(z, t, gamma=gamma, alpha=alpha, reduction="none")
    torch.testing.assert_close(got, torch.tensor(ref, dtype=torch.float64))
    # gamma = 0, no alpha → BCE
    torch.testing.assert_close(
        LF.binary_focal(z, t, gamma=0.0, alpha=None),
        F.binary_cross_entropy_with_logits(z, t.double()),
    )


@pytest.mark.parametrize("epsilon", [0.0, 1.0, -0.5, 3.0])
def test_poly1_hand_computation(epsilon: float) -> None:
    z, y = _data(seed=6)
    probs = _softmax_rows(z)
    ref = [-math.log(probs[i][yi]) + epsilon * (1 - probs[i][yi])
           for i, yi in enumerate(y.tolist())]
    got = LF.poly1(z, y, epsilon=epsilon, reduction="none")
    torch.testing.assert_close(got, torch.tensor(ref, dtype=torch.float64))


def test_probability_losses_on_softmax_vs_one_hot() -> None:
    z, y = _data(seed=7)
    probs = _softmax_rows(z)
    mse_ref, mae_ref, cos_ref = [], [], []
    for i, yi in enumerate(y.tolist()):
        onehot = [1.0 if j == yi else 0.0 for j in range(C)]
        diff = [p - o for p, o in zip(probs[i], onehot, strict=True)]
        mse_ref.append(sum(d * d for d in diff) / C)
        mae_ref.append(sum(abs(d) for d in diff) / C)
        norm = math.sqrt(sum(p * p for p in probs[i]))
        cos_ref.append(1 - probs[i][yi] / norm)
    for fn, ref in ((LF.prob_mse, mse_ref), (LF.prob_mae, mae_ref), (LF.cosine, cos_ref)):
        expected = torch.tensor(ref, dtype=torch.float64)
        torch.testing.assert_close(fn(z, y, reduction="none"), expected)
    # mae = 2 (1 - p_y) / C
    p_y = torch.tensor([probs[i][yi] for i, yi in enumerate(y.tolist())], dtype=torch.float64)
    torch.testing.assert_close(LF.prob_mae(z, y, reduction="none"), 2 * (1 - p_y) / C)


def test_probability_losses_vanish_at_perfect_prediction() -> None:
    y = torch.tensor([0, 2, 1])
    z = F.one_hot(y, 3).double() * 60.0
    for fn in (LF.prob_mse, LF.prob_mae, LF.prob_bce, LF.cosine):
        assert float(fn(z, y)) < 1e-12


def test_hinge_hand_computation() -> None:
    z, y = _data(seed=8)
    cs, ova = [], []
    for row, yi in zip(z.tolist(), y.tolist(), strict=True):
        cs.append(max(0.0, 1 + max(v for j, v in enumerate(row) if j != yi) - row[yi]))
        ova.append(
            sum(max(0.0, 1 - (1 if j == yi else -1) * v) ** 2 for j, v in enumerate(row)) / C
        )
    got_cs = LF.hinge(z, y, variant="crammer_singer", reduction="none")
    got_ova = LF.hinge(z, y, variant="ova_squared", reduction="none")
    torch.testing.assert_close(got_cs, torch.tensor(cs, dtype=torch.float64))
    torch.testing.assert_close(got_ova, torch.tensor(ova, dtype=torch.float64))
    assert float(LF.hinge(torch.tensor([[3.0, 1.5, 0.0]]), torch.tensor([0]))) == 0.0


def test_heatmap_mse_hand_computation() -> None:
    side, sigma = 4, 1.5
    g = torch.Generator().manual_seed(9)
    z = torch.randn(3, side * side, generator=g, dtype=torch.float64)
    y = torch.tensor([0, 6, 15])
    ref = []
    for row, yi in zip(z.tolist(), y.tolist(), strict=True):
        ry, cy = divmod(yi, side)
        total = 0.0
        for k, v in enumerate(row):
            r, c = divmod(k, side)
            h = math.exp(-((r - ry) ** 2 + (c - cy) ** 2) / (2 * sigma**2))
            total += (v - h) ** 2
        ref.append(total / (side * side))
    got = LF.heatmap_mse(z, y, sigma=sigma, reduction="none")
    torch.testing.assert_close(got, torch.tensor(ref, dtype=torch.float64))
    heat = LF.gaussian_heatmap(y, side, sigma, z)
    assert heat.shape == (3, 16) and bool((heat.max(1).values == 1).all())
    assert heat.argmax(1).tolist() == y.tolist()
    assert float(LF.heatmap_mse(heat, y, sigma=sigma)) == 0.0


def test_center_hand_computation() -> None:
    z, y = _data(seed=10)
    g = torch.Generator().manual_seed(11)
    f = torch.randn(N, D, generator=g, dtype=torch.float64)
    centers = torch.randn(C, D, generator=g, dtype=torch.float64)
    bare = [0.5 * sum((a - b) ** 2 for a, b in zip(f[i].tolist(), centers[yi].tolist(),
                                                   strict=True))
            for i, yi in enumerate(y.tolist())]
    got = LF.center(z, y, f, centers, lambda_=1.0, ce_weight=0.0, reduction="none")
    torch.testing.assert_close(got, torch.tensor(bare, dtype=torch.float64))
    joint = LF.center(z, y, f, centers, lambda_=0.3, ce_weight=2.0, reduction="none")
    ref = 2.0 * F.cross_entropy(z, y, reduction="none") + 0.3 * torch.tensor(bare).double()
    torch.testing.assert_close(joint, ref)
    # features at their centres: pure CE
    at = LF.center(z, y, centers[y], centers, lambda_=5.0)
    torch.testing.assert_close(at, F.cross_entropy(z, y))


@pytest.mark.parametrize("diagonal", [False, True])
@pytest.mark.parametrize("alpha", [0.0, 0.3])
def test_lgm_against_scipy_gaussians(diagonal: bool, alpha: float) -> None:
    z, y = _data(seed=12)
    g = torch.Generator().manual_seed(13)
    f = torch.randn(N, D, generator=g, dtype=torch.float64)
    means = torch.randn(C, D, generator=g, dtype=torch.float64)
    log_covs = (0.5 * torch.randn(C, D, generator=g, dtype=torch.float64)) if diagonal else None
    lam = 0.2
    covs = [np.diag(np.exp(log_covs[k].numpy())) if diagonal else np.eye(D) for k in range(C)]
    ref = []
    for i, yi in enumerate(y.tolist()):
        x = f[i].numpy()
        # log N = -d_k - ½ log|Σ_k| - (D/2) log 2π ; margin multiplies d_y by (1 + α)
        logpdf = np.array([multivariate_normal(means[k].numpy(), covs[k]).logpdf(x)
                           for k in range(C)])
        const = 0.5 * D * math.log(2 * math.pi)
        half_logdet = np.array([0.5 * np.linalg.slogdet(cv)[1] for cv in covs])
        d = -(logpdf + const + half_logdet)
        logits = -d - half_logdet
        logits[yi] = -(1 + alpha) * d[yi] - half_logdet[yi]
        m = logits.max()
        cls = -(logits[yi] - m - math.log(np.exp(logits - m).sum()))
        lkd = -(logpdf[yi] + const)  # d_y + ½ log|Σ_y|
        ref.append(cls + lam * lkd)
    got = LF.lgm(z, y, f, means, log_covs, alpha=alpha, lambda_=lam, ce_weight=0.0,
                 reduction="none")
    torch.testing.assert_close(got, torch.tensor(ref, dtype=torch.float64))
    with_ce = LF.lgm(z, y, f, means, log_covs, alpha=alpha, lambda_=lam, ce_weight=0.5,
                     reduction="none")
    torch.testing.assert_close(with_ce, got + 0.5 * F.cross_entropy(z, y, reduction="none"))
    # without margin, L_cls is CE on the GM posterior logits
    post = LF.lgm_logits(f, means, log_covs)
    no_margin = LF.lgm(z, y, f, means, log_covs, alpha=0.0, lambda_=0.0, ce_weight=0.0)
    torch.testing.assert_close(no_margin, F.cross_entropy(post, y))


# ----------------------------------------------------------------------------- generic properties
def _call(name: str, z: torch.Tensor, y: torch.Tensor, reduction: str = "mean",
          extra: dict | None = None) -> torch.Tensor:
    """Call loss ``name`` on logits ``z`` with the extra tensors it needs (seeded)."""
    fn = getattr(LF, name)
    g = torch.Generator().manual_seed(99)
    if name == "center":
        f = torch.randn(z.shape[0], D, generator=g).to(z.dtype)
        c = torch.randn(z.shape[1], D, generator=g).to(z.dtype)
        return fn(z, y, f, c, lambda_=0.5, reduction=reduction)
    if name == "lgm":
        f = torch.randn(z.shape[0], D, generator=g).to(z.dtype)
        m = torch.randn(z.shape[1], D, generator=g).to(z.dtype)
        return fn(z, y, f, m, torch.zeros_like(m), reduction=reduction)
    return fn(z, y, reduction=reduction, **(extra or {}))


CLASSIFICATION = ["cross_entropy", "binary_cross_entropy_with_logits", "prob_mse", "prob_mae",
                  "prob_bce", "hinge", "cosine", "focal", "binary_focal", "multi_margin",
                  "label_smoothing", "poly1", "center", "lgm", "heatmap_mse"]


def _logits_for(name: str, dtype: torch.dtype, seed: int = 0):
    return _data(dtype, seed=seed, c=9 if name == "heatmap_mse" else C)


@pytest.mark.parametrize("name", CLASSIFICATION)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_reductions_and_dtype(name: str, dtype: torch.dtype) -> None:
    z, y = _logits_for(name, dtype)
    none = _call(name, z, y, "none")
    assert none.shape == (N,) and none.dtype == dtype
    mean, total = _call(name, z, y, "mean"), _call(name, z, y, "sum")
    assert mean.shape == () and mean.dtype == dtype and total.dtype == dtype
    torch.testing.assert_close(mean, none.mean())
    torch.testing.assert_close(total, none.sum())
    assert bool((none >= 0).all())


@pytest.mark.parametrize("name", CLASSIFICATION)
def test_gradcheck_float64(name: str) -> None:
    z, y = _logits_for(name, torch.float64, seed=3)
    z.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: _call(name, t, y, "none"), (z,))


def test_gradcheck_focal_variants_and_ova_hinge() -> None:
    z, y = _data(seed=5)
    z.requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda t: LF.focal(t, y, gamma=1.5, alpha=[1, 2, 3, 4, 5], reduction="none"), (z,))
    assert torch.autograd.gradcheck(
        lambda t: LF.hinge(t, y, variant="ova_squared", reduction="none"), (z,))
    assert torch.autograd.gradcheck(
        lambda t: LF.multi_margin(t, y, p=2, margin=0.7, reduction="none"), (z,))
    assert torch.autograd.gradcheck(lambda t: LF.binary_focal(t, y, reduction="none"), (z,))


def test_gradcheck_parameters_of_center_and_lgm() -> None:
    z, y = _data(seed=14)
    g = torch.Generator().manual_seed(15)
    f = torch.randn(N, D, generator=g, dtype=torch.float64, requires_grad=True)
    c = torch.randn(C, D, generator=g, dtype=torch.float64, requires_grad=True)
    lc = (0.3 * torch.randn(C, D, generator=g, dtype=torch.float64)).requires_grad_(True)
    zz = z.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda a, b, cc: LF.center(a, y, b, cc, lambda_=0.7, reduction="none"), (zz, f, c))
    assert torch.autograd.gradcheck(
        lambda a, b, m, s: LF.lgm(a, y, b, m, s, alpha=0.2, lambda_=0.3, reduction="none"),
        (zz, f, c, lc))
    assert torch.autograd.gradcheck(
        lambda b, m: LF.lgm(z, y, b, m, None, alpha=0.5, reduction="none"), (f, c))


def test_extreme_logits_stay_finite() -> None:
    z = torch.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0]], requires_grad=True)
    y = torch.tensor([1, 1])
    for name in ["cross_entropy", "focal", "poly1", "label_smoothing", "prob_mse", "prob_mae",
                 "prob_bce", "cosine",
                 "binary_cross_entropy_with_logits", "binary_focal", "hinge", "multi_margin"]:
        out = getattr(LF, name)(z, y)
        (grad,) = torch.autograd.grad(out, z)
        assert bool(torch.isfinite(out)) and bool(torch.isfinite(grad).all()), name


# ----------------------------------------------------------------------------- bad input
BAD_CASES = {
    "target_shape": (lambda z, y: (z, y[:-1]), "target"),
    "target_range": (lambda z, y: (z, torch.full_like(y, z.shape[1])), "target"),
    "target_negative": (lambda z, y: (z, y - 10), "target"),
    "target_float": (lambda z, y: (z, y.double()), "target"),
    "empty": (lambda z, y: (z[:0], y[:0]), "input"),
    "nan": (lambda z, y: (z.masked_fill(torch.eye(*z.shape, dtype=torch.bool), float("nan")), y),
            "input"),
    "inf": (lambda z, y: (z.masked_fill(torch.eye(*z.shape, dtype=torch.bool), float("inf")), y),
            "input"),
    "input_3d": (lambda z, y: (z[:, :, None], y), "input"),
    "input_int": (lambda z, y: (z.long(), y), "input"),
}


@pytest.mark.parametrize("name", [n for n in CLASSIFICATION
                                  if n != "binary_cross_entropy_with_logits"
                                  and n != "binary_focal"])
@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_input_raises_value_error_naming_argument(name: str, case: str) -> None:
    z, y = _logits_for(name, torch.float64)
    make, arg = BAD_CASES[case]
    bad_z, bad_y = make(z, y)
    with pytest.raises(ValueError, match=arg):
        _call(name, bad_z, bad_y)


@pytest.mark.parametrize("name", ["binary_cross_entropy_with_logits", "binary_focal"])
def test_binary_bad_input(name: str) -> None:
    fn = getattr(LF, name)
    z = torch.randn(4, 3)
    with pytest.raises(ValueError, match="target"):
        fn(z, torch.ones(4, 2))  # shape mismatch
    with pytest.raises(ValueError, match="target"):
        fn(z[:, 0], torch.tensor([0, 1, 2, 1]))  # not binary
    with pytest.raises(ValueError, match="target"):
        fn(z, torch.full((4, 3), 1.5))  # outside [0, 1]
    with pytest.raises(ValueError, match="target"):
        fn(z, torch.tensor([0.0, 1.0, 0.0, 1.0]))  # float class indices for (N, C)
    with pytest.raises(ValueError, match="target"):
        fn(z, torch.tensor([0, 1, 3, 1]))  # class index out of range
    with pytest.raises(ValueError, match="input"):
        fn(z[:0], torch.ones(0, 3))
    with pytest.raises(ValueError, match="input"):
        fn(torch.full((4,), float("nan")), torch.ones(4))
    with pytest.raises(ValueError, match="target"):
        fn(z[:, 0], torch.tensor([0.0, float("nan"), 1.0, 1.0]))


@pytest.mark.parametrize(
    ("call", "arg"),
    [
        (lambda z, y: LF.cross_entropy(z, y, reduction="avg"), "reduction"),
        (lambda z, y: LF.focal(z, y, gamma=-1.0), "gamma"),
        (lambda z, y: LF.focal(z, y, alpha=[1.0, 2.0]), "alpha"),
        (lambda z, y: LF.focal(z, y, alpha=-0.5), "alpha"),
        (lambda z, y: LF.binary_focal(z, y, alpha=1.5), "alpha"),
        (lambda z, y: LF.label_smoothing(z, y, smoothing=1.5), "smoothing"),
        (lambda z, y: LF.multi_margin(z, y, p=3), "p"),
        (lambda z, y: LF.multi_margin(z, y, margin=float("nan")), "margin"),
        (lambda z, y: LF.hinge(z, y, variant="weston"), "variant"),
        (lambda z, y: LF.poly1(z, y, epsilon=float("inf")), "epsilon"),
        (lambda z, y: LF.heatmap_mse(z, y), "square"),
        (lambda z, y: LF.heatmap_mse(torch.randn(N, 9), y, sigma=0.0), "sigma"),
    ],
)
def test_bad_hyperparameters(call, arg: str) -> None:
    z, y = _data()
    with pytest.raises(ValueError, match=arg):
        call(z, y)


def test_feature_loss_bad_features_and_parameters() -> None:
    z, y = _data()
    f = torch.randn(N, D, dtype=torch.float64)
    c = torch.randn(C, D, dtype=torch.float64)
    for fn in (LF.center, LF.lgm):
        with pytest.raises(ValueError, match="features"):
            fn(z, y, None, c)
        with pytest.raises(ValueError, match="features"):
            fn(z, y, f[:-1], c)
        with pytest.raises(ValueError, match="features"):
            fn(z, y, f[:, :-1], c)
        with pytest.raises(ValueError, match="features"):
            fn(z, y, f.index_fill(0, torch.tensor([0]), float("nan")), c)  # always a NaN
        with pytest.raises(ValueError, match="features"):
            fn(z, y, f.long(), c)
        with pytest.raises(ValueError, match="centers|means"):
            fn(z, y, f, c[:-1])
        with pytest.raises(ValueError, match="centers|means"):
            fn(z, y, f, c.float())
        with pytest.raises(ValueError, match="lambda_"):
            fn(z, y, f, c, lambda_=-1.0)
        with pytest.raises(ValueError, match="ce_weight"):
            fn(z, y, f, c, ce_weight=-1.0)
    with pytest.raises(ValueError, match="log_covs"):
        LF.lgm(z, y, f, c, c[:, :-1])
    with pytest.raises(ValueError, match="alpha"):
        LF.lgm(z, y, f, c, alpha=-0.1)
