"""Regression losses against torch, the task of every loss, the deprecated mse/mae fallback and
the SLF paper's binary cross-entropy on softmax probabilities."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
import torch.nn.functional as F

from losskit import losses
from losskit.losses import functional as LF

# name → (our functional form, torch reference); hyper-parameters away from the defaults
TORCH_REFERENCES = {
    "mse": (LF.mse, F.mse_loss),
    "mae": (LF.mae, F.l1_loss),
    "huber": (lambda x, t, **kw: LF.huber(x, t, delta=0.7, **kw),
              lambda x, t, **kw: F.huber_loss(x, t, delta=0.7, **kw)),
    "smooth_l1": (lambda x, t, **kw: LF.smooth_l1(x, t, beta=0.4, **kw),
                  lambda x, t, **kw: F.smooth_l1_loss(x, t, beta=0.4, **kw)),
}
REGRESSION = ["mse", "mae", "huber", "smooth_l1", "log_cosh"]


def _pair(shape=(7, 3), dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = (2 * torch.randn(shape, generator=g)).to(dtype)
    t = (2 * torch.randn(shape, generator=g)).to(dtype)
    return x, t


@pytest.mark.parametrize("name", sorted(TORCH_REFERENCES))
@pytest.mark.parametrize("shape", [(7,), (7, 1), (7, 3)])
def test_values_and_gradients_match_torch(name, shape):
    ours, ref = TORCH_REFERENCES[name]
    x, t = _pair(shape)
    a, b = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    got, want = ours(a, t), ref(b, t)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-14)
    got.backward()
    want.backward()
    torch.testing.assert_close(a.grad, b.grad, rtol=1e-12, atol=1e-14)
    # per sample: the mean over the outputs; "sum" sums the per-sample means
    elementwise = ref(x, t, reduction="none")
    per_sample = elementwise.reshape(len(x), -1).mean(1)
    torch.testing.assert_close(ours(x, t, reduction="none"), per_sample)
    torch.testing.assert_close(ours(x, t, reduction="sum"), per_sample.sum())
    torch.testing.assert_close(ours(x, t, reduction="sum") * elementwise[0].numel(),
                               ref(x, t, reduction="sum"))  # torch's sum = ours × D
    if len(shape) == 1 or shape[1] == 1:  # one output: torch's "sum" exactly
        torch.testing.assert_close(ours(x, t, reduction="sum"), ref(x, t, reduction="sum"))


@pytest.mark.parametrize("name", sorted(TORCH_REFERENCES))
def test_modules_match_functional_and_torch(name):
    x, t = _pair((9, 2), seed=3)
    kwargs = {"huber": {"delta": 0.7}, "smooth_l1": {"beta": 0.4}}.get(name, {})
    module = losses.get(name, **kwargs)
    torch.testing.assert_close(module(x, t), TORCH_REFERENCES[name][1](x, t))
    assert module.task == "regression"


def test_log_cosh_hand_computation_gradient_and_extremes():
    x, t = _pair((6, 2), seed=4)
    ref = [[math.log(math.cosh(a - b)) for a, b in zip(r1, r2, strict=True)]
           for r1, r2 in zip(x.tolist(), t.tolist(), strict=True)]
    got = LF.log_cosh(x, t, reduction="none")
    torch.testing.assert_close(got, torch.tensor(ref, dtype=torch.float64).mean(1))
    a = x.clone().requires_grad_(True)
    LF.log_cosh(a, t, reduction="sum").backward()
    torch.testing.assert_close(a.grad, torch.tanh(x - t) / x.shape[1])  # d/dr log cosh r = tanh r
    big = torch.tensor([1e4, -1e4, 0.0], requires_grad=True)  # cosh(1e4) overflows; log_cosh not
    v = LF.log_cosh(big, torch.zeros(3), reduction="none")
    far = 1e4 - math.log(2)
    torch.testing.assert_close(v.detach(), torch.tensor([far, far, 0.0]))
    v.sum().backward()
    assert torch.equal(big.grad, torch.tensor([1.0, -1.0, 0.0]))


def test_huber_and_smooth_l1_relation_and_edge_parameters():
    x, t = _pair(seed=5)
    torch.testing.assert_close(LF.smooth_l1(x, t, beta=0.5), LF.huber(x, t, delta=0.5) / 0.5)
    torch.testing.assert_close(LF.smooth_l1(x, t, beta=0.0), LF.mae(x, t))
    with pytest.raises(ValueError, match="delta"):
        LF.huber(x, t, delta=0.0)
    with pytest.raises(ValueError, match="beta"):
        losses.get("smooth_l1", beta=-1.0)


@pytest.mark.parametrize("name", REGRESSION)
def test_gradcheck_and_dtypes(name):
    fn = getattr(LF, name)
    x, t = _pair((5, 2), seed=6)
    x.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a: fn(a, t, reduction="none"), (x,))
    x32, t64 = x.detach().float(), t
    assert fn(x32, t64).dtype == torch.float32  # output follows the input's dtype
    assert fn(x32, t64.float(), reduction="none").shape == (5,)
    assert float(fn(x.detach(), x.detach())) == 0.0  # perfect prediction


@pytest.mark.parametrize("name", REGRESSION)
def test_one_output_against_flat_targets_is_aligned_not_broadcast(name):
    fn = getattr(LF, name)
    x, t = _pair((8, 1), seed=7)
    flat = fn(x, t.squeeze(1), reduction="none")
    assert flat.shape == (8,)
    torch.testing.assert_close(flat, fn(x, t, reduction="none"))
    torch.testing.assert_close(fn(x.squeeze(1), t, reduction="none"), flat)


@pytest.mark.parametrize("name", REGRESSION)
def test_bad_regression_input(name):
    fn = getattr(LF, name)
    x, t = _pair((4, 2))
    for bad_x, bad_t, arg in [
        (x, t[:, :1], "target"),  # shape mismatch
        (x, t[:3], "target"),
        (x, t.masked_fill(t > 0, float("nan")), "target"),
        (x.masked_fill(x > 0, float("inf")), t, "input"),
        (x[:0], t[:0], "input"),
        (x.long(), t, "input"),
    ]:
        with pytest.raises(ValueError, match=arg):
            fn(bad_x, bad_t)
    with pytest.raises(ValueError, match="reduction"):
        fn(x, t, reduction="avg")


# ------------------------------------------------------------------ task mismatch
CLASSIFICATION_MODULES = ["ce", "prob_mse", "prob_mae", "prob_bce", "bce", "binary_focal",
                          "hinge", "cosine", "focal", "multi_margin", "label_smoothing", "poly1",
                          "center", "ce_center", "lgm", "heatmap_mse"]


@pytest.mark.parametrize("name", CLASSIFICATION_MODULES)
def test_classification_loss_given_real_targets_names_itself(name):
    loss = losses.build(name, {"num_classes": 9, "feature_dim": 3})
    z, real = torch.randn(4, 9), torch.randn(4) * 3.0
    kwargs = {"features": torch.randn(4, 3)} if loss.needs_features else {}
    named = "center" if name == "ce_center" else name  # one functional form for both
    with pytest.raises(ValueError, match=f"classification loss '{named}'"):
        loss(z, real, **kwargs)
    with pytest.raises(ValueError, match=f"'{named}'"):  # a regression model's (N, 1) output
        loss(torch.randn(4, 1), real.unsqueeze(1), **kwargs)


@pytest.mark.parametrize("name", REGRESSION)
def test_regression_loss_given_class_indices_names_itself(name):
    loss = losses.get(name)
    with pytest.raises(ValueError, match=f"regression loss '{name}'.*class indices"):
        loss(torch.randn(4, 1), torch.tensor([0, 1, 1, 0]))
    if name not in ("mse", "mae"):  # the two deprecated names fall back instead (below)
        with pytest.raises(ValueError, match=f"regression loss '{name}'"):
            loss(torch.randn(4, 3), torch.tensor([0, 1, 2, 0]))


# ------------------------------------------------------------------ deprecated mse / mae
@pytest.mark.parametrize("name", ["mse", "mae"])
def test_deprecated_class_index_call_keeps_the_old_numbers_and_warns(name):
    z = torch.randn(6, 4, dtype=torch.float64)
    y = torch.randint(0, 4, (6,))
    new = getattr(LF, f"prob_{name}")
    for call in (lambda: getattr(LF, name)(z, y, reduction="none"),
                 lambda: losses.get(name, reduction="none")(z, y)):
        with pytest.warns(DeprecationWarning, match=f"'prob_{name}'"):
            old = call()
        torch.testing.assert_close(old, new(z, y, reduction="none"), rtol=0, atol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # real-valued targets: the regression loss, no warning
        torch.testing.assert_close(getattr(LF, name)(z, z.exp()),
                                   {"mse": F.mse_loss, "mae": F.l1_loss}[name](z, z.exp()))


def test_deprecation_warning_is_shown_to_a_user_once_per_call_site():
    """Python hides library DeprecationWarnings by default; ours is shown (once per site)."""
    import subprocess
    import sys

    code = ("import torch; from losskit import losses\n"
            "for _ in range(3): losses.get('mae')(torch.randn(4, 3), torch.tensor([0, 1, 2, 0]))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stderr.count("LosskitDeprecationWarning: loss 'mae'") == 1, run.stderr
    assert issubclass(losses.LosskitDeprecationWarning, DeprecationWarning)


# ------------------------------------------------------------------ BCE on probabilities
def test_prob_bce_hand_computation_and_bce_activation():
    g = torch.Generator().manual_seed(8)
    z = 2 * torch.randn(5, 4, generator=g, dtype=torch.float64)
    y = torch.randint(0, 4, (5,), generator=g)
    ref = []
    for row, yi in zip(z.tolist(), y.tolist(), strict=True):
        e = [math.exp(v) for v in row]
        p = [v / sum(e) for v in e]
        ref.append(-sum(math.log(pj) if j == yi else math.log(1 - pj)
                        for j, pj in enumerate(p)) / 4)
    got = LF.prob_bce(z, y, reduction="none")
    torch.testing.assert_close(got, torch.tensor(ref, dtype=torch.float64))
    # Keras' binary_crossentropy on a softmax output, without its clipping
    torch.testing.assert_close(
        got, F.binary_cross_entropy(F.softmax(z, 1), F.one_hot(y, 4).double(),
                                    reduction="none").mean(1))
    torch.testing.assert_close(losses.get("bce", activation="softmax")(z, y), got.mean())
    assert not torch.allclose(losses.get("bce")(z, y), got.mean())  # sigmoid is another loss
    with pytest.raises(ValueError, match="activation"):
        losses.get("bce", activation="tanh")


def test_prob_bce_stays_finite_where_probabilities_round_to_one():
    # confidently wrong in float32: p of class 0 rounds to 1, log(1 - p) must not be -inf
    z = torch.tensor([[30.0, 0.0, -5.0], [0.0, 200.0, 0.0]], requires_grad=True)
    y = torch.tensor([1, 0])
    v = LF.prob_bce(z, y, reduction="none")
    exact = LF.prob_bce(z.detach().double(), y, reduction="none")
    torch.testing.assert_close(v.detach().double(), exact, rtol=1e-6, atol=0)
    assert exact[0] > 30 / 3 - 0.1  # -log(1 - p_0) / 3 ≈ (30 - log(1 + e^-5)) / 3 ... ≈ 10
    v.sum().backward()
    assert bool(torch.isfinite(z.grad).all())
    z64 = z.detach().double().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a: LF.log1m_softmax(a), (z64,))
    with pytest.raises(ValueError, match="at least 2 classes"):
        LF.prob_bce(torch.randn(3, 1), torch.zeros(3, dtype=torch.long))


# ------------------------------------------------------------------ set-up check of the task
def test_check_task_refuses_the_wrong_task_before_training():
    from losskit.losses.base import check_task

    real, classes = torch.randn(6, 1), torch.tensor([0, 1, 2, 0, 1, 2])
    with pytest.raises(ValueError, match="classification loss 'ce'"):
        check_task("ce", losses.get("ce"), real, num_outputs=1)
    with pytest.raises(ValueError, match="classification loss 'hinge'"):
        check_task("hinge", losses.get("hinge"), real.squeeze(1), num_outputs=3)
    with pytest.raises(ValueError, match="regression loss 'huber'"):
        check_task("huber", losses.get("huber"), classes, num_outputs=3)
    with pytest.raises(ValueError, match="regression loss 'mse'"):
        check_task("mse", losses.get("mse"), classes, num_outputs=1)  # no (N, C ≥ 2) logits
    check_task("mse", losses.get("mse"), classes, num_outputs=3)  # deprecated call: allowed
    check_task("ce", losses.get("ce"), torch.rand(6, 3), num_outputs=3)  # soft targets
    check_task("bce", losses.get("bce"), torch.rand(6, 3), num_outputs=3)  # multi-hot
    check_task("custom", lambda o, t: (o - t).abs().mean(), classes, num_outputs=1)


def test_plain_loss_method_trains_regression_and_refuses_a_classification_loss():
    from losskit import data
    from losskit.models.mlp import MLP
    from losskit.train import LossMethod, TrainConfig, fit

    splits = data.load("heavy-tail", n_train=400, n_test=200)
    config = TrainConfig(optimizer="adam", lr=0.01, epochs=5, batch_size=32, progress=False)
    result = fit(config, data=splits, model=MLP((8,), 1, hidden=[32]), method=LossMethod("mae"))
    variance = float(splits.test.tensors[1].var(correction=0))
    assert result.final["test_mse"] < 0.5 * variance and "test_mae" in result.final
    with pytest.raises(ValueError, match="classification loss 'ce'"):
        fit(config, data=splits, model=MLP((8,), 1, hidden=[32]), method=LossMethod("ce"))
