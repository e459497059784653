"""MILS's gradient test (``accept="gradient"``, one :func:`losskit.core.step.train_step` whose
backward is replaced by the test) against a hand-written plain-torch reference, bit for bit."""

from __future__ import annotations

import pytest
import torch

from losskit import losses
from losskit.mils import MILS
from tests.mils.test_scheduling import _batches, _data, _pair
from tests.mils.util import assert_same, full_state, neg_ce


def _reference_step(model, opt, primary, aux, x, y) -> tuple[torch.Tensor, bool]:
    """Forward once, both gradients by autograd, keep the auxiliary's iff their cosine is
    positive (no norm cap), one optimizer step. Returns the loss that trained and the verdict."""
    model.train()
    opt.zero_grad(set_to_none=True)
    logits = model(x)
    loss_p, loss_a = primary(logits, y), aux(logits, y)
    params = [p for g in opt.param_groups for p in g["params"] if p.requires_grad]
    g_p = torch.autograd.grad(loss_p, params, retain_graph=True, allow_unused=True)
    g_a = torch.autograd.grad(loss_a, params, allow_unused=True)
    flat_p = torch.cat([g.reshape(-1) for g in g_p]).double()
    flat_a = torch.cat([g.reshape(-1) for g in g_a]).double()
    kept = bool(flat_p @ flat_a > 0)
    for p, g in zip(params, g_a if kept else g_p, strict=True):
        p.grad = g
    opt.step()
    return (loss_a if kept else loss_p).detach(), kept


@pytest.mark.parametrize("aux_name", ["multi_margin", "neg"])
def test_gradient_test_step_equals_the_plain_torch_reference(aux_name: str) -> None:
    (m1, o1, _), (m2, o2, _) = _pair("sgd")
    context = {"num_classes": 3, "feature_dim": 16}
    aux = neg_ce if aux_name == "neg" else losses.build(aux_name, context)
    ce = losses.build("ce", context)
    mils = MILS(m1, o1, "ce", {aux_name: aux}, participation=1.0, accept="gradient",
                norm_cap=False)
    x, y = _data()
    verdicts = []
    for xb, yb in _batches(x, y, 6):
        torch.manual_seed(1)  # the same dropout draws for both (one forward each)
        result = mils.step(xb, yb)
        torch.manual_seed(1)
        loss, kept = _reference_step(m2, o2, ce, aux, xb, yb)
        assert result.accepted is kept
        assert result.trained == (aux_name if kept else "primary")
        assert torch.equal(result.loss, loss)
        verdicts.append(kept)
    assert_same(full_state(m1, o1), full_state(m2, o2))
    assert all(verdicts) if aux_name == "multi_margin" else not any(verdicts)
