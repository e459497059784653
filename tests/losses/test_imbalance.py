"""Class-imbalance losses: logit adjustment (Menon et al.), LDAM + DRW (Cao et al.) and
class-balanced weights (Cui et al.) against hand computations of the papers' formulas; class
counts from the training labels through the training context; DRW through the epoch hook."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from losskit import losses
from losskit.losses import imbalance as I
from losskit.losses.priors import class_balanced_weights, class_counts, class_priors

C = 4
COUNTS = [500, 100, 20, 4]


def _batch(n: int = 10, seed: int = 0, shape: tuple[int, ...] = ()):
    g = torch.Generator().manual_seed(seed)
    z = (2 * torch.randn(n, C, *shape, generator=g, dtype=torch.float64)).requires_grad_(True)
    return z, torch.randint(0, C, (n, *shape), generator=g)


# ------------------------------------------------------------------ class-balanced weights
def test_class_balanced_weights_by_hand():
    beta = 0.99
    raw = [(1 - beta) / (1 - beta**n) for n in COUNTS]  # Cui et al. Eq. 5-6
    expected = torch.tensor([w * C / sum(raw) for w in raw])
    got = class_balanced_weights(COUNTS, beta)
    torch.testing.assert_close(got, expected)
    assert got.dtype == torch.float32 and float(got.sum()) == pytest.approx(C)
    torch.testing.assert_close(class_balanced_weights(COUNTS, 0.0), torch.ones(C))
    # β → 1: inverse class frequency
    inv = torch.tensor([1.0 / n for n in COUNTS])
    torch.testing.assert_close(class_balanced_weights(COUNTS, 1 - 1e-9), inv * C / inv.sum(),
                               rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name", ["ce", "focal", "label_smoothing", "poly1"])
def test_class_balanced_beta_fills_the_weight_of_the_ce_family(name):
    z, y = _batch()
    loss = losses.get(name, class_balanced_beta=0.999, class_counts=COUNTS)
    reference = losses.get(name, weight=class_balanced_weights(COUNTS, 0.999))
    torch.testing.assert_close(loss(z, y), reference(z, y))
    assert "weight" not in loss.state_dict()  # derived from the counts: resume-safe


def test_class_counts_from_labels():
    y = torch.tensor([0, 2, 2, 3, 3, 3])
    assert class_counts(y, 5).tolist() == [1, 0, 2, 3, 0]
    assert class_counts(torch.rand(6)) is None  # regression targets have no classes
    torch.testing.assert_close(class_priors([1, 3]), torch.tensor([0.25, 0.75],
                                                                 dtype=torch.float64))


# ------------------------------------------------------------------ logit adjustment
@pytest.mark.parametrize("tau", [0.0, 1.0, 2.5])
def test_logit_adjusted_ce_by_hand(tau):
    z, y = _batch()
    pi = torch.tensor(COUNTS, dtype=torch.float64) / sum(COUNTS)
    adjusted = z + tau * pi.log()
    expected = -(adjusted.log_softmax(1).gather(1, y[:, None]).squeeze(1))
    got = I.logit_adjusted_ce(z, y, pi, tau=tau, reduction="none")
    torch.testing.assert_close(got, expected)
    # priors need not be normalised; the module takes them from the class counts
    torch.testing.assert_close(I.logit_adjusted_ce(z, y, 7 * pi, tau=tau, reduction="none"), got)
    module = losses.get("logit_adjusted_ce", tau=tau, class_counts=COUNTS, reduction="none")
    torch.testing.assert_close(module(z, y), got)
    given = losses.get("logit_adjusted_ce", tau=tau, priors=pi.tolist(), reduction="none")
    torch.testing.assert_close(given(z, y), got)


def test_logit_adjustment_keeps_the_ce_conventions():
    pi = torch.tensor(COUNTS, dtype=torch.float64) / sum(COUNTS)
    z, y = _batch(3, shape=(2,))
    y[0, 0] = -100
    w = torch.rand(C, dtype=torch.float64) + 0.5
    shifted = z + pi.log().view(1, C, 1)
    torch.testing.assert_close(I.logit_adjusted_ce(z, y, pi, weight=w),
                               F.cross_entropy(shifted, y, weight=w))
    soft = torch.softmax(torch.randn(3, C, 2, dtype=torch.float64), dim=1)
    torch.testing.assert_close(I.logit_adjusted_ce(z, soft, pi, reduction="sum"),
                               F.cross_entropy(shifted, soft, reduction="sum"))


# ------------------------------------------------------------------ LDAM
def test_ldam_margins_and_value_by_hand():
    margins = I.ldam_margins(torch.tensor(COUNTS), max_m=0.5)
    inv = torch.tensor([n ** -0.25 for n in COUNTS], dtype=torch.float64)
    torch.testing.assert_close(margins, 0.5 * inv / inv.max())  # Δ_j ∝ n_j^{-1/4}, max 0.5
    assert float(margins[-1]) == pytest.approx(0.5)  # the rarest class gets max_m
    z, y = _batch()
    s = 30.0
    shifted = z.clone()
    shifted[torch.arange(len(y)), y] -= margins[y]  # z_y − Δ_y
    expected = F.cross_entropy(s * shifted, y, reduction="none")
    torch.testing.assert_close(I.ldam(z, y, torch.tensor(COUNTS), reduction="none"), expected)
    module = losses.get("ldam", class_counts=COUNTS, reduction="none")
    torch.testing.assert_close(module(z, y), expected, rtol=1e-6, atol=1e-6)  # float32 Δ


def test_ldam_drw_switches_class_balanced_weights_on_at_drw_epoch():
    z, y = _batch()
    drw = losses.get("ldam", s=1.0, class_counts=COUNTS, class_balanced_beta=0.9999,
                     drw_epoch=2)
    plain = losses.get("ldam", s=1.0, class_counts=COUNTS)
    weighted = losses.get("ldam", s=1.0, class_counts=COUNTS,
                          weight=class_balanced_weights(COUNTS, 0.9999))
    assert drw.uses_epoch and not plain.uses_epoch
    for epoch, reference in [(0, plain), (1, plain), (2, weighted), (7, weighted), (0, plain)]:
        drw.set_epoch(epoch)
        torch.testing.assert_close(drw(z, y), reference(z, y))
    # the switch is not saved: a loss at any epoch loads another's state
    drw.set_epoch(5)
    losses.get("ldam", class_counts=COUNTS, class_balanced_beta=0.9999,
               drw_epoch=2).load_state_dict(drw.state_dict())


@pytest.mark.parametrize("fn", [
    lambda z, y: I.ldam(z, y, torch.tensor(COUNTS), max_m=0.3, s=2.0),
    lambda z, y: I.logit_adjusted_ce(z, y, torch.tensor([0.4, 0.3, 0.2, 0.1],
                                                        dtype=torch.float64), tau=1.5),
])
def test_gradcheck(fn):
    z, y = _batch(5)
    assert torch.autograd.gradcheck(lambda x: fn(x, y), (z,))


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_reductions(reduction):
    z, y = _batch()
    for name in ("ldam", "logit_adjusted_ce"):
        per = losses.get(name, class_counts=COUNTS, reduction="none")(z, y)
        got = losses.get(name, class_counts=COUNTS, reduction=reduction)(z, y)
        torch.testing.assert_close(got, getattr(per, reduction)())


@pytest.mark.parametrize("call,match", [
    (lambda: losses.get("ldam"), "class_counts must be given"),
    (lambda: losses.get("logit_adjusted_ce"), r"class_counts \(or priors\) must be given"),
    (lambda: losses.get("ldam", class_counts=[3, 0, 2]), r"class_counts must be >= 1.*\[1\]"),
    (lambda: losses.get("ldam", class_counts=[3, 2], max_m=0.0), "max_m must be > 0"),
    (lambda: losses.get("ldam", class_counts=[3, 2], s=-1.0), "s must be > 0"),
    (lambda: losses.get("logit_adjusted_ce", priors=[0.5, 0.0]), "priors must be finite and > 0"),
    (lambda: losses.get("logit_adjusted_ce", class_counts=[3, 2], tau=-1), "tau must be >= 0"),
    (lambda: losses.get("ce", class_balanced_beta=0.9, class_counts=[3, 2], weight=[1.0, 2.0]),
     "weight or class_balanced_beta, not both"),
    (lambda: losses.get("ce", drw_epoch=3), "drw_epoch needs class_balanced_beta"),
    (lambda: losses.get("ce", class_balanced_beta=1.0, class_counts=[3, 2]),
     "class_balanced_beta must be < 1"),
    (lambda: losses.get("focal", class_balanced_beta=0.9), "class_counts must be given"),
    (lambda: I.ldam(torch.zeros(2, 3), torch.tensor([0, 1]), torch.tensor([5, 2, 1]),
                    reduction="avg"), "reduction must be one of"),
    (lambda: I.ldam(torch.zeros(2, 3), torch.tensor([0, 1]), torch.tensor([5, 2])),
     "class_counts must have one entry per class"),
    (lambda: I.ldam(torch.zeros(2, 3), torch.rand(2, 3), torch.tensor([5, 2, 1])),
     "must hold integer class indices"),
])
def test_bad_arguments_raise_one_value_error_naming_them(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_the_training_method_passes_class_counts_and_the_epoch():
    """``--method loss``: the loss is built with the training labels' counts (the context) and
    DRW follows ``ctx.epoch`` (0-based) step by step."""
    from torch.utils.data import TensorDataset

    from losskit.core.method import TrainContext, bind_method, setup_method
    from losskit.losses.method import LossMethod
    from losskit.train import with_features

    y = torch.tensor([0] * 30 + [1] * 8 + [2] * 3 + [3] * 1)
    x = torch.randn(len(y), 6)
    model = with_features(torch.nn.Linear(6, C))
    ctx = TrainContext(model=model, num_classes=C, feature_dim=6, train_set=TensorDataset(x, y))
    assert ctx.context["class_counts"].tolist() == [30, 8, 3, 1]
    method = LossMethod("ldam", s=1.0, class_balanced_beta=0.9999, drw_epoch=1)
    params = setup_method(method, ctx)
    bind_method(method, ctx, torch.optim.SGD([*model.parameters(), *params], lr=0.1))
    torch.testing.assert_close(method.loss.margins, I.ldam_margins([30, 8, 3, 1]).float())
    ctx.epoch = 0
    method.step(ctx, x, y)
    assert method.loss.weight is None
    ctx.epoch = 1
    method.step(ctx, x, y)
    torch.testing.assert_close(method.loss.weight, class_balanced_weights([30, 8, 3, 1], 0.9999))
