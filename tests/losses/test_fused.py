"""The fused softmax-family losses equal the individual zoo functions, values and gradients."""

from __future__ import annotations

import pytest
import torch

from losskit import losses
from losskit.losses import functional as LF
from losskit.losses.fused import FUSABLE_KINDS, fusable_kind, fused_losses

FUNCTIONS = {"ce": LF.cross_entropy, "prob_mse": LF.prob_mse, "prob_mae": LF.prob_mae,
             "cosine": LF.cosine, "hinge": LF.hinge, "prob_bce": LF.prob_bce}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_columns_equal_the_individual_losses(dtype):
    g = torch.Generator().manual_seed(0)
    x = (3 * torch.randn(64, 7, generator=g)).to(dtype)
    y = torch.randint(0, 7, (64,), generator=g)
    kinds = list(FUSABLE_KINDS)
    block = fused_losses(x, y, kinds)
    assert block.shape == (64, len(kinds)) and block.dtype == dtype
    for i, k in enumerate(kinds):
        torch.testing.assert_close(block[:, i], FUNCTIONS[k](x, y, reduction="none"))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("scale", [0.3, 3.0, 30.0])
def test_one_pass_is_within_1e6_relative_of_the_separate_losses(dtype, scale):
    """The fused pass (one softmax, one log_softmax, one one-hot for all probability-space
    candidates; one stacked reduction) against each functional loss on its own: values within
    1e-6 relative in float32 and float64, gradients (float64) within 1e-6 relative."""
    g = torch.Generator().manual_seed(0)
    x = (scale * torch.randn(512, 10, generator=g, dtype=torch.float64)).to(dtype)
    y = torch.randint(0, 10, (512,), generator=g)
    kinds = ["prob_mse", "prob_mae", "hinge", "cosine", "prob_bce", "ce"]
    block = fused_losses(x, y, kinds)
    for i, k in enumerate(kinds):
        torch.testing.assert_close(block[:, i], FUNCTIONS[k](x, y, reduction="none"),
                                   rtol=1e-6, atol=0.0)
    if dtype == torch.float64:
        w = torch.rand(len(kinds), generator=g, dtype=dtype)
        a = x.clone().requires_grad_(True)
        (fused_losses(a, y, kinds) * w).sum().backward()
        for k in kinds:  # each loss's gradient on its own, then the mixture
            ai, bi = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
            fused_losses(ai, y, [k]).sum().backward()
            FUNCTIONS[k](bi, y, reduction="sum").backward()
            torch.testing.assert_close(ai.grad, bi.grad, rtol=1e-6,
                                       atol=1e-6 * float(bi.grad.abs().max()))
        b = x.clone().requires_grad_(True)
        sum(wi * FUNCTIONS[k](b, y, reduction="sum") for wi, k in zip(w, kinds)).backward()
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-6, atol=1e-6 * float(b.grad.abs().max()))


def test_gradients_equal_the_individual_losses():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(16, 5, generator=g, dtype=torch.float64)
    y = torch.randint(0, 5, (16,), generator=g)
    w = torch.rand(len(FUSABLE_KINDS), generator=g, dtype=torch.float64)
    a = x.clone().requires_grad_(True)
    (fused_losses(a, y, list(FUSABLE_KINDS)).mean(0) * w).sum().backward()
    b = x.clone().requires_grad_(True)
    sum(wi * FUNCTIONS[k](b, y) for wi, k in zip(w, FUSABLE_KINDS)).backward()
    torch.testing.assert_close(a.grad, b.grad)
    assert torch.autograd.gradcheck(
        lambda t: fused_losses(t, y, ["ce", "prob_mse", "cosine", "prob_bce"]), (b,))


@pytest.mark.parametrize("kinds", [FUSABLE_KINDS, ("prob_bce",), ("hinge", "cosine", "ce")])
def test_closed_form_backward_passes_gradcheck(kinds):
    g = torch.Generator().manual_seed(2)
    x = (3 * torch.randn(12, 6, generator=g, dtype=torch.float64)).requires_grad_(True)
    y = torch.randint(0, 6, (12,), generator=g)
    assert torch.autograd.gradcheck(lambda t: fused_losses(t, y, list(kinds)), (x,))


def test_closed_form_backward_is_finite_where_p_rounds_to_one():
    """float32 logits so far apart that p_top == 1 exactly (and others underflow): the
    gradient equals autograd's through the individual (stable) losses and stays finite."""
    x = torch.tensor([[60.0, 0.0, -30.0], [0.0, 120.0, 1.0], [200.0, -200.0, 0.0]])
    y = torch.tensor([1, 1, 0])  # wrong, right, right with an extreme gap
    w = torch.tensor([0.3, 1.0, 0.7, 1.3, 0.5, 2.0])
    a = x.clone().requires_grad_(True)
    (fused_losses(a, y, list(FUSABLE_KINDS)) * w).sum().backward()
    b = x.clone().requires_grad_(True)
    sum(wi * FUNCTIONS[k](b, y, reduction="sum") for wi, k in zip(w, FUSABLE_KINDS)).backward()
    assert bool(torch.isfinite(a.grad).all())
    torch.testing.assert_close(a.grad, b.grad)


def test_which_modules_fuse():
    assert fusable_kind(losses.get("ce")) == "ce"
    assert fusable_kind(losses.get("prob_mse", reduction="none")) == "prob_mse"
    assert fusable_kind(losses.get("prob_mse", reduction="sum")) is None
    assert fusable_kind(losses.get("bce", activation="softmax")) == "prob_bce"
    assert fusable_kind(losses.get("bce")) is None  # sigmoid BCE is computed on its own
    assert fusable_kind(losses.get("mse")) is None  # regression
    assert fusable_kind(losses.get("hinge", variant="ova_squared")) is None
    assert fusable_kind(losses.get("focal")) is None
    # class weights or a real ignored class change the value: such a CE is not fused
    assert fusable_kind(losses.get("ce", weight=[1.0, 2.0, 1.0])) is None
    assert fusable_kind(losses.get("ce", ignore_index=0)) is None
    assert fusable_kind(lambda x, y: x.sum()) is None


def test_bad_input():
    x = torch.randn(4, 3)
    with pytest.raises(ValueError, match="target"):
        fused_losses(x, torch.tensor([0, 1, 2, 3]), ["ce"])
    with pytest.raises(ValueError, match="kinds"):
        fused_losses(x, torch.tensor([0, 1, 2, 0]), ["focal"])
    with pytest.raises(ValueError, match="classification loss 'hinge'"):
        fused_losses(x, torch.randn(4), ["hinge", "ce"])
