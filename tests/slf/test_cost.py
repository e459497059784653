"""What one SLF loss step dispatches (machine-independent: aten ops, forward and backward).

Ceilings, not targets: an added op fails here and must be paid for knowingly. Measured with
torch 2.13 at batch 128, 10 classes, value checks on (as ``losskit bench`` counts them)."""

from __future__ import annotations

import torch

from losskit.bench.counts import count_aten_ops
from losskit.core._validation import validate_args
from losskit.losses.fused import fused_losses
from losskit.slf import PAPER_LOSSES, StochasticLoss


def _batch():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(128, 10, generator=g).requires_grad_(True)
    return logits, torch.randint(0, 10, (128,), generator=g)


def _ops(step, checks: bool = True) -> float:
    step()  # the gradients exist from here on: later steps accumulate into them, as in training
    with validate_args(checks):
        return count_aten_ops(step, steps=2)


def test_paper_slf_loss_step_ops():
    """The paper preset's loss alone, forward + backward: 111 ops (was 132 before the one-pass
    candidates, the fused straight-through backward and the lazily reduced ``last_*``)."""
    logits, y = _batch()
    slf = StochasticLoss.paper(10, k=3, generator=0)
    assert _ops(lambda: slf(logits, y).backward()) <= 111
    # reading the bookkeeping costs its reductions once, then nothing
    with validate_args(True):
        assert count_aten_ops(lambda: (slf.last_losses, slf.last_weights, slf.last_probs)) == 4
        assert count_aten_ops(lambda: slf.last_weights) == 0


def test_paper_candidates_in_one_pass_ops():
    """The five paper candidates' per-sample values and their closed-form gradient: 62 ops
    (74 before; five separate losses through autograd: several times more)."""
    logits, y = _batch()
    kinds = list(PAPER_LOSSES)
    assert _ops(lambda: fused_losses(logits, y, kinds).sum().backward(), checks=False) <= 62
