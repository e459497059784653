"""One (or two) training steps of each weighting method against a hand computation with plain
autograd: a tiny two-layer model, two losses (ce, prob_mse), SGD without momentum."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from losskit.core.method import TrainContext, bind_method, setup_method
from losskit.train import METHODS, with_features
from losskit.weighting import DynamicWeightAverage, GradNorm, dwa_weights

C, LR = 3, 0.1


def _data(seed: int, n: int = 6):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 4, generator=g, dtype=torch.float64), torch.randint(0, C, (n,),
                                                                               generator=g)


def _model() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, C)).double()


def _losses(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
    """``[CE, prob_mse]`` written out."""
    z = model(x)
    onehot = F.one_hot(y, C).to(z.dtype)
    return [-(z.log_softmax(1) * onehot).sum(1).mean(), (z.softmax(1) - onehot).pow(2).mean()]


def _method(name: str, model: nn.Module, x, y, **options):
    method = METHODS.get(name, losses="ce,prob_mse", **options)
    ctx = TrainContext(model=with_features(model), num_classes=C, feature_dim=5,
                       train_set=TensorDataset(x, y))
    params = setup_method(method, ctx)
    bind_method(method, ctx, torch.optim.SGD([*model.parameters(), *params], lr=LR))
    return method, ctx


def _sgd(model: nn.Module, objective: torch.Tensor) -> list[torch.Tensor]:
    grads = torch.autograd.grad(objective, list(model.parameters()))
    return [(p - LR * g).detach() for p, g in zip(model.parameters(), grads, strict=True)]


def _assert_params(model: nn.Module, expected: list[torch.Tensor]) -> None:
    for p, e in zip(model.parameters(), expected, strict=True):
        torch.testing.assert_close(p.detach(), e)


def test_uncertainty_step():
    x, y = _data(0)
    model, ref = _model(), _model()
    method, ctx = _method("uncertainty", model, x, y)
    s0 = torch.tensor([0.3, -0.5])
    with torch.no_grad():
        method.weighting.log_vars.copy_(s0)
    result = method.step(ctx, x, y)
    L = torch.stack(_losses(ref, x, y))
    s = s0.double()
    objective = (torch.exp(-s) * L + s).sum()  # Σ exp(−s_i) L_i + s_i
    torch.testing.assert_close(result.loss, objective.detach())
    _assert_params(model, _sgd(ref, objective))
    # ∂/∂s_i = 1 − exp(−s_i) L_i
    expected_s = s0 - LR * (1 - torch.exp(-s0) * L.detach().float())
    torch.testing.assert_close(method.weighting.log_vars.detach(), expected_s)


def test_fixed_step():
    x, y = _data(1)
    model, ref = _model(), _model()
    method, ctx = _method("fixed", model, x, y, weights="2,0.5")
    method.step(ctx, x, y)
    L = _losses(ref, x, y)
    _assert_params(model, _sgd(ref, 2.0 * L[0] + 0.5 * L[1]))
    default, _ = _method("fixed", _model(), x, y)
    assert default.weighting.weights().tolist() == [1.0, 1.0]


def test_gradnorm_two_steps():
    (x1, y1), (x2, y2) = _data(2), _data(3)
    model, ref = _model(), _model()
    method, ctx = _method("gradnorm", model, x1, y1, alpha=1.5)
    assert method.weighting._shared[0] is model[2].weight  # the last nn.Linear's weight
    w = torch.ones(2, dtype=torch.float64)
    L0 = None
    for x, y in ((x1, y1), (x2, y2)):
        method.step(ctx, x, y)
        L = _losses(ref, x, y)
        norms = torch.stack([torch.autograd.grad(li, ref[2].weight, retain_graph=True)[0].norm()
                             for li in L])
        Ld = torch.stack(L).detach()
        L0 = Ld if L0 is None else L0  # L_i(0): the first step's losses
        G = w * norms
        rate = (Ld / L0) / (Ld / L0).mean()
        target = G.mean() * rate.pow(1.5)
        grad_w = torch.sign(G - target) * norms  # ∂ Σ|G_i − target_i| / ∂w_i
        expected = _sgd(ref, w[0] * L[0] + w[1] * L[1])
        w = w - LR * grad_w
        w = 2 * w / w.sum()  # renormalised to Σ w = K
        _assert_params(model, expected)
        with torch.no_grad():
            for p, e in zip(ref.parameters(), expected, strict=True):
                p.copy_(e)
        torch.testing.assert_close(method.weighting.loss_weights.detach().double(), w,
                                   rtol=1e-5, atol=1e-6)
    assert not torch.allclose(w, torch.ones(2, dtype=torch.float64))


def test_dwa_weights_follow_the_last_two_epochs():
    dwa = DynamicWeightAverage("ce,prob_mse", temperature=2.0, context={"num_classes": C})
    model = _model()
    epochs = [[_data(10), _data(11)], [_data(12)], [_data(13), _data(14)]]
    means = []
    for batches in epochs:
        assert dwa.weights().tolist() == ([1.0, 1.0] if len(means) < 2 else
                                          pytest.approx(expected.tolist()))  # noqa: F821
        sums = torch.zeros(2, dtype=torch.float64)
        for x, y in batches:
            value = dwa(model(x), y)
            L = torch.stack(_losses(model, x, y)).detach()
            torch.testing.assert_close(value.detach(), (dwa.weights().double() * L).sum())
            sums += L
        means.append(sums / len(batches))
        got = dwa.end_epoch()
        torch.testing.assert_close(got.losses, means[-1])
        if len(means) >= 2:
            ratio = means[-1] / means[-2]
            expected = 2 * torch.softmax(ratio / 2.0, dim=0)  # K exp(r/T) / Σ exp(r/T)
            torch.testing.assert_close(dwa_weights(means[-1], means[-2], 2.0), expected)
    torch.testing.assert_close(dwa.weights().double(), expected, rtol=1e-6, atol=1e-7)
    # exact resume: the loss history is state
    again = DynamicWeightAverage("ce,prob_mse", context={"num_classes": C})
    again.load_state_dict(dwa.state_dict())
    assert again.weights().tolist() == dwa.weights().tolist()
    assert int(again.epochs_seen) == 3


def test_gradnorm_state_keeps_the_initial_losses():
    x, y = _data(4)
    model = _model()
    gn = GradNorm("ce,prob_mse", context={"num_classes": C}, shared=model[2].weight)
    gn(model(x), y).backward()
    fresh = GradNorm("ce,prob_mse", context={"num_classes": C}, shared=model[2].weight)
    fresh.load_state_dict(gn.state_dict())
    torch.testing.assert_close(fresh.initial_losses, gn.initial_losses)
    assert bool((fresh.initial_losses > 0).all())


def test_epoch_dependent_candidates_follow_the_epoch():
    """A candidate with deferred re-weighting (DRW) switches at ``drw_epoch`` inside a
    weighting method, as under ``--method loss``."""
    from losskit import losses

    x, y = _data(5)
    ldam = losses.get("ldam", s=1.0, class_counts=[3, 2, 1], class_balanced_beta=0.9999,
                      drw_epoch=1)
    method = METHODS.get("fixed", losses=[ldam, "ce"])
    ctx = TrainContext(model=with_features(_model()), num_classes=C, feature_dim=5,
                       train_set=TensorDataset(x, y))
    params = setup_method(method, ctx)
    bind_method(method, ctx, torch.optim.SGD([*ctx.model.parameters(), *params], lr=LR))
    for epoch, active in [(0, False), (1, True), (2, True)]:
        ctx.epoch = epoch
        method.step(ctx, x, y)
        assert (ldam.weight is not None) == active
