"""nn.Module losses: agree with the functional forms, own parameters, train a tiny classifier."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from losskit import losses
from losskit.losses import functional as LF
from tests.conftest import TinyNet, make_blobs

N, C, D = 6, 4, 3

MODULE_VS_FUNCTION = [
    (losses.CrossEntropyLoss(), lambda z, y: LF.cross_entropy(z, y)),
    (losses.BinaryCrossEntropyLoss(), lambda z, y: LF.binary_cross_entropy_with_logits(z, y)),
    (losses.ProbMSELoss(), lambda z, y: LF.prob_mse(z, y)),
    (losses.ProbMAELoss(reduction="sum"), lambda z, y: LF.prob_mae(z, y, reduction="sum")),
    (losses.ProbBCELoss(reduction="none"), lambda z, y: LF.prob_bce(z, y, reduction="none")),
    (losses.BinaryCrossEntropyLoss("softmax"), lambda z, y: LF.prob_bce(z, y)),
    (losses.HingeLoss("ova_squared"), lambda z, y: LF.hinge(z, y, variant="ova_squared")),
    (losses.CosineLoss(reduction="none"), lambda z, y: LF.cosine(z, y, reduction="none")),
    (losses.FocalLoss(gamma=1.0, alpha=[1, 2, 3, 4]),
     lambda z, y: LF.focal(z, y, gamma=1.0, alpha=[1.0, 2.0, 3.0, 4.0])),
    (losses.BinaryFocalLoss(gamma=0.5, alpha=0.4),
     lambda z, y: LF.binary_focal(z, y, gamma=0.5, alpha=0.4)),
    (losses.MultiMarginLoss(p=2, margin=0.5), lambda z, y: F.multi_margin_loss(z, y, 2, 0.5)),
    (losses.LabelSmoothingLoss(0.2), lambda z, y: F.cross_entropy(z, y, label_smoothing=0.2)),
    (losses.Poly1Loss(epsilon=2.0), lambda z, y: LF.poly1(z, y, epsilon=2.0)),
    (losses.HeatmapMSELoss(sigma=0.7), lambda z, y: LF.heatmap_mse(z, y, sigma=0.7)),
]


@pytest.mark.parametrize(("module", "reference"), MODULE_VS_FUNCTION,
                         ids=[type(m).__name__ for m, _ in MODULE_VS_FUNCTION])
def test_module_equals_functional(module, reference) -> None:
    g = torch.Generator().manual_seed(0)
    z = torch.randn(N, C, generator=g)
    y = torch.randint(0, C, (N,), generator=g)
    torch.testing.assert_close(module(z, y), reference(z, y))
    # extra features are ignored by losses that do not need them
    torch.testing.assert_close(module(z, y, features=torch.randn(N, 2)), reference(z, y))
    assert not module.needs_features and not module.has_parameters
    assert list(module.parameters()) == []


def test_center_module_owns_centers_and_matches_functional() -> None:
    g = torch.Generator().manual_seed(0)
    loss = losses.CenterLoss(C, D, lambda_=0.5, ce_weight=1.0, generator=g)
    assert loss.needs_features and loss.has_parameters
    params = dict(loss.named_parameters())
    assert set(params) == {"centers"} and params["centers"].shape == (C, D)
    assert "centers" in loss.state_dict()
    z, y, f = torch.randn(N, C), torch.randint(0, C, (N,)), torch.randn(N, D)
    out = loss(z, y, features=f)
    torch.testing.assert_close(out, LF.center(z, y, f, loss.centers, lambda_=0.5))
    out.backward()
    # d/dc_k of λ·½||f - c_y||² averaged over the batch: λ·Σ_{i: y_i=k} (c_k - f_i) / N
    expect = torch.zeros(C, D)
    for i in range(N):
        expect[y[i]] += 0.5 * (loss.centers[y[i]].detach() - f[i]) / N
    torch.testing.assert_close(loss.centers.grad, expect)


def test_center_module_float64_input_and_gradcheck() -> None:
    loss = losses.CenterLoss(C, D, lambda_=0.3).double()
    z = torch.randn(N, C, dtype=torch.float64, requires_grad=True)
    f = torch.randn(N, D, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, C, (N,))
    assert torch.autograd.gradcheck(lambda a, b: loss(a, y, features=b), (z, f))
    # parameters in float32, input in float64: the parameters are cast, output is float64
    loss32 = losses.CenterLoss(C, D)
    assert loss32(z, y, features=f).dtype == torch.float64


@pytest.mark.parametrize("covariance", ["identity", "diagonal"])
def test_lgm_module(covariance: str) -> None:
    loss = losses.LGMLoss(C, D, alpha=0.2, lambda_=0.1, covariance=covariance)
    names = {n for n, _ in loss.named_parameters()}
    assert names == ({"means", "log_covs"} if covariance == "diagonal" else {"means"})
    z, y, f = torch.randn(N, C), torch.randint(0, C, (N,)), torch.randn(N, D)
    out = loss(z, y, features=f)
    ref = LF.lgm(z, y, f, loss.means, loss.log_covs, alpha=0.2, lambda_=0.1)
    torch.testing.assert_close(out, ref)
    out.backward()
    for p in loss.parameters():
        assert p.grad is not None and bool(torch.isfinite(p.grad).all())
    logits = loss.logits(f)
    assert logits.shape == (N, C)
    # identity-covariance posterior logits are -½||f - μ_k||²
    if covariance == "identity":
        torch.testing.assert_close(logits, -0.5 * torch.cdist(f, loss.means.detach()) ** 2,
                                   atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="features"):
        loss.logits(torch.randn(N, D + 1))


def test_lgm_module_gradcheck_including_parameters() -> None:
    loss = losses.LGMLoss(C, D, covariance="diagonal").double()
    with torch.no_grad():
        loss.log_covs.normal_(0.0, 0.3)
    z = torch.randn(N, C, dtype=torch.float64, requires_grad=True)
    f = torch.randn(N, D, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, C, (N,))

    def fn(a, b, m, s):
        with torch.no_grad():
            loss.means.copy_(m)
            loss.log_covs.copy_(s)
        return LF.lgm(a, y, b, m, s, alpha=loss.alpha, lambda_=loss.lambda_, reduction="none")

    m0 = loss.means.detach().clone().requires_grad_(True)
    s0 = loss.log_covs.detach().clone().requires_grad_(True)
    assert torch.autograd.gradcheck(fn, (z, f, m0, s0))
    # module gradients w.r.t. its own parameters equal the functional's
    out = loss(z, y, features=f)
    gm, gs = torch.autograd.grad(out, [loss.means, loss.log_covs])
    ref = LF.lgm(z, y, f, m0, s0, alpha=loss.alpha, lambda_=loss.lambda_)
    rm, rs = torch.autograd.grad(ref, [m0, s0])
    torch.testing.assert_close(gm, rm)
    torch.testing.assert_close(gs, rs)


@pytest.mark.parametrize("cls", [losses.CenterLoss, losses.LGMLoss])
def test_feature_losses_reject_missing_or_bad_features(cls) -> None:
    loss = cls(C, D)
    z, y = torch.randn(N, C), torch.randint(0, C, (N,))
    with pytest.raises(ValueError, match="features"):
        loss(z, y)
    with pytest.raises(ValueError, match="features"):
        loss(z, y, features=torch.randn(N, D + 1))
    with pytest.raises(ValueError, match="features"):
        loss(z, y, features=torch.randn(N + 1, D))
    with pytest.raises(ValueError, match="centers|means"):
        loss(torch.randn(N, C + 1), y, features=torch.randn(N, D))


@pytest.mark.parametrize(
    ("factory", "arg"),
    [
        (lambda: losses.CenterLoss(0, 3), "num_classes"),
        (lambda: losses.CenterLoss(3, 2.5), "feature_dim"),
        (lambda: losses.CenterLoss(3, 2, lambda_=-1), "lambda_"),
        (lambda: losses.LGMLoss(3, 2, covariance="full"), "covariance"),
        (lambda: losses.LGMLoss(3, 2, alpha=-1), "alpha"),
        (lambda: losses.FocalLoss(gamma=-2), "gamma"),
        (lambda: losses.FocalLoss(alpha=["a"]), "alpha"),
        (lambda: losses.BinaryFocalLoss(alpha=2.0), "alpha"),
        (lambda: losses.HingeLoss("weston"), "variant"),
        (lambda: losses.MultiMarginLoss(p=0), "p"),
        (lambda: losses.LabelSmoothingLoss(-0.1), "smoothing"),
        (lambda: losses.Poly1Loss(float("nan")), "epsilon"),
        (lambda: losses.HeatmapMSELoss(sigma=-1.0), "sigma"),
        (lambda: losses.CrossEntropyLoss(reduction="batchmean"), "reduction"),
    ],
)
def test_constructor_validation(factory, arg: str) -> None:
    with pytest.raises(ValueError, match=arg):
        factory()


TRAINABLE = ["ce", "bce", "prob_mse", "prob_mae", "prob_bce", "hinge", "cosine", "focal",
             "binary_focal", "multi_margin", "label_smoothing", "poly1", "ce_center", "lgm",
             "heatmap_mse"]


@pytest.mark.parametrize("name", TRAINABLE)
def test_each_loss_trains_a_classifier_on_blobs(name: str) -> None:
    """Every zoo loss, alone, trains TinyNet's head to well above chance (25%) on 4 blobs."""
    torch.manual_seed(0)
    data = make_blobs(n=200, num_classes=4, seed=1)
    x, y = data.train.tensors
    xt, yt = data.test.tensors
    model = TinyNet(num_classes=4)
    loss = losses.build(name, {"num_classes": 4, "feature_dim": model.feature_dim})
    opt = torch.optim.Adam(list(model.parameters()) + list(loss.parameters()), lr=0.03)
    first = None
    for _ in range(60):
        model.train()
        opt.zero_grad()
        logits, feats = model(x, return_features=True)
        value = loss(logits, y, features=feats) if loss.needs_features else loss(logits, y)
        first = float(value.detach()) if first is None else first
        value.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        acc = float((model(xt).argmax(1) == yt).float().mean())
    assert float(value.detach()) < first
    assert acc > 0.8, (name, acc)
