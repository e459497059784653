"""UniLoss balanced accuracy (registered ``balanced_accuracy``): hard consistency with
``sklearn.metrics.balanced_accuracy_score``, and ``g`` at every anchor configuration against
sklearn on the predictions those binaries describe."""

from __future__ import annotations

import pytest
import torch
from sklearn.metrics import balanced_accuracy_score

from losskit.uniloss import UniLoss
from losskit.uniloss.metrics import METRICS, resolve_metric


def _data(seed: int, n: int = 40, c: int = 5):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, c, (n,), generator=g)
    y[: c - 1] = torch.arange(c - 1)  # class c-1 may be absent: sklearn averages present ones
    logits = torch.randn(n, c, generator=g, dtype=torch.float64)
    logits += 1.5 * torch.nn.functional.one_hot(y, c)
    return logits, y


@pytest.mark.parametrize("seed", range(6))
def test_hard_consistency_with_sklearn(seed):
    logits, y = _data(seed)
    metric = resolve_metric("balanced_accuracy")
    expected = balanced_accuracy_score(y.numpy(), logits.argmax(1).numpy())
    assert metric.hard(logits, y) == pytest.approx(expected, abs=1e-12)
    assert metric.reference(logits, y) == pytest.approx(expected, abs=1e-12)
    assert "balanced_accuracy" in METRICS


def test_binary_one_logit_matches_sklearn():
    g = torch.Generator().manual_seed(0)
    s = torch.randn(30, generator=g, dtype=torch.float64)
    y = (torch.rand(30, generator=g) < 0.2).long()
    y[0] = 1
    expected = balanced_accuracy_score(y.numpy(), (s > 0).long().numpy())
    assert resolve_metric("balanced_accuracy").hard(s, y.float()) == pytest.approx(expected)


@pytest.mark.parametrize("seed", range(3))
def test_g_at_every_anchor_matches_sklearn(seed):
    logits, y = _data(seed)
    loss = UniLoss("balanced_accuracy", seed=seed)
    comps = loss.comparisons(logits, y)
    anchors = loss.sample_anchors(comps)
    bits = anchors.bits_with(comps.hard_binaries())  # (A + 1, N, 1, C - 1)
    values = loss.metric.evaluate(bits, comps)
    c = logits.shape[1]
    for b, value in zip(bits, values):
        correct = b.reshape(len(y), -1).all(1)
        pred = torch.where(correct, y, (y + 1) % c)  # a wrong class for each lost sample
        assert float(value) == pytest.approx(balanced_accuracy_score(y.numpy(), pred.numpy()),
                                             abs=1e-12)
    assert values.min() < values.max()  # the anchors are not all one value


def test_uniloss_balanced_accuracy_trains_and_matches_its_metric():
    logits, y = _data(1)
    logits = logits.float().requires_grad_()
    loss = UniLoss("balanced_accuracy", seed=0)
    value = loss(logits, y)
    value.backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0
    expected = balanced_accuracy_score(y.numpy(), logits.detach().argmax(1).numpy())
    assert float(loss.last_metric) == pytest.approx(expected, abs=1e-6)
