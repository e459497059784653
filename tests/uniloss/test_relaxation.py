"""The ``relaxation`` presets, checked against an independent re-implementation of the authors'
published UniLoss backward (princeton-vl/uniloss, ``train_mnist.py`` / ``train_cifar10.py``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from losskit.train import METHODS
from losskit.uniloss import RELAXATIONS, UniLoss


def authors_backward(pred, pairs, anchors_pm, values, fix_sign=True):
    """The authors' hand-written UniLoss on sigmoid outputs ``pred`` (numpy, float64).

    ``pairs`` ``(D, 2)``: flat indices ``(i, j)`` of the compared outputs (``cur = pred_i −
    pred_j``); ``anchors_pm`` ``(A, D)``: anchors in their ±1 coding; ``values`` ``(A,)``: the
    anchors' ``−metric``. Returns their interpolated value and ``∂/∂pred``. Their published
    gradient subtracts the second term of the quotient rule; ``fix_sign`` adds it (the correct
    derivative).
    """
    cur_before = pred[pairs[:, 0]] - pred[pairs[:, 1]]
    sig = 1.0 / (1.0 + np.exp(-cur_before))
    cur = sig * 2 - 1
    diff = cur[None, :] - anchors_pm  # (A, D)
    dis = np.sqrt((diff**2).sum(1))
    sum_wi = np.sum(1 / dis)
    weighted = np.sum(values / dis)
    first = -np.sum(values[:, None] / dis[:, None] ** 3 * diff, 0) / sum_wi
    second = weighted / sum_wi**2 * np.sum(diff / dis[:, None] ** 3, 0)
    grad_cur = first + second if fix_sign else first - second
    grad_before = 2 * sig * (1 - sig) * grad_cur
    grad = np.zeros_like(pred)
    np.add.at(grad, pairs[:, 0], grad_before)
    np.add.at(grad, pairs[:, 1], -grad_before)
    return weighted / sum_wi, grad


def _ours(loss, logits, target, bits):
    x = logits.clone().requires_grad_(True)
    value = loss(x, target) if bits is None else 1.0 - loss.surrogate(x, target, anchors=bits)
    value.backward()
    return float(value.detach()), x.grad


def _cosine(a, b):
    return float(np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b))


def test_authors_preset_is_squash_with_temperature_two():
    assert RELAXATIONS["authors"] == (True, 2.0) and RELAXATIONS["logit"] == (False, 1.0)
    loss = UniLoss("ap", relaxation="authors")
    assert (loss.squash, loss.temperature) == (True, 2.0)
    loss = UniLoss("ap", relaxation="authors", temperature=1.0)  # the knobs still override
    assert (loss.squash, loss.temperature) == (True, 1.0)
    assert (UniLoss().squash, UniLoss().temperature) == (False, 1.0)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(30, 2, generator=g, dtype=torch.float64), (torch.arange(30) % 4 == 0).long()
    preset = _ours(UniLoss("ap", relaxation="authors", seed=3), x, y, None)
    knobs = _ours(UniLoss("ap", squash=True, temperature=2.0, seed=3), x, y, None)
    assert preset[0] == knobs[0] and torch.equal(preset[1], knobs[1])
    with pytest.raises(ValueError, match="relaxation"):
        UniLoss(relaxation="sigmoid")


def test_authors_relaxation_matches_their_accuracy_formula():
    g = torch.Generator().manual_seed(1)
    n, c = 12, 5
    logits = 2 * torch.randn(n, c, generator=g, dtype=torch.float64)
    y = torch.randint(0, c, (n,), generator=g)
    loss = UniLoss("accuracy", relaxation="authors", seed=0)
    comps = loss.comparisons(logits, y)
    bits = loss.sample_anchors(comps).bits  # (A, N, 1, C − 1)
    values = loss.metric.evaluate(bits, comps).numpy()
    # their layout: per sample i, pred[i, y_i] − pred[i, j] for the classes j ≠ y_i in order
    pairs = np.array(
        [(i * c + int(y[i]), i * c + j) for i in range(n) for j in range(c) if j != int(y[i])]
    )
    anchors_pm = 2.0 * bits.reshape(bits.shape[0], -1).double().numpy() - 1.0
    pred = torch.sigmoid(logits).numpy().reshape(-1)
    theirs, grad_pred = authors_backward(pred, pairs, anchors_pm, -values)
    grad_logits = (grad_pred * pred * (1 - pred)).reshape(n, c)  # through their final sigmoid
    ours, grad = _ours(loss, logits, y, bits)
    assert ours == pytest.approx(1.0 + theirs, abs=1e-12)  # theirs is −g̃, ours 1 − g̃
    np.testing.assert_allclose(grad.numpy(), grad_logits, rtol=1e-9, atol=1e-15)
    _, published = authors_backward(pred, pairs, anchors_pm, -values, fix_sign=False)
    assert _cosine((published * pred * (1 - pred)), grad_logits.reshape(-1)) < 0.99


def test_authors_relaxation_matches_their_ap_formula():
    g = torch.Generator().manual_seed(2)
    n = 14
    scores = 3 * torch.randn(n, generator=g, dtype=torch.float64)
    y = torch.zeros(n, dtype=torch.long)
    y[torch.randperm(n, generator=g)[:4]] = 1
    loss = UniLoss("ap", relaxation="authors", seed=0)
    comps = loss.comparisons(scores, y)
    bits = loss.sample_anchors(comps).bits  # (A, 1, P, Q): positives × negatives, index order
    values = loss.metric.evaluate(bits, comps).numpy()
    positives = [int(i) for i in torch.nonzero(y).flatten()]
    negatives = [int(i) for i in torch.nonzero(1 - y).flatten()]
    # their layout: every pair i < j with different labels, compared as pred_i − pred_j
    pairs, columns, flips = [], [], []
    for i in range(n - 1):
        for j in range(i + 1, n):
            if y[i] != y[j]:
                p, q = (i, j) if y[i] == 1 else (j, i)
                pairs.append((i, j))
                columns.append(positives.index(p) * len(negatives) + negatives.index(q))
                flips.append(1.0 if y[i] == 1 else -1.0)  # their bit: score_i > score_j
    flat = bits.reshape(bits.shape[0], -1).double().numpy()
    anchors_pm = (2.0 * flat[:, columns] - 1.0) * np.array(flips)
    pred = torch.sigmoid(scores).numpy()
    theirs, grad_pred = authors_backward(pred, np.array(pairs), anchors_pm, -values)
    ours, grad = _ours(loss, scores, y, bits)
    assert ours == pytest.approx(1.0 + theirs, abs=1e-12)
    np.testing.assert_allclose(grad.numpy(), grad_pred * pred * (1 - pred), rtol=1e-9, atol=1e-15)


def test_logit_relaxation_differs_from_the_authors():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(20, 4, generator=g, dtype=torch.float64)
    y = torch.randint(0, 4, (20,), generator=g)
    a = _ours(UniLoss(seed=0), x, y, None)
    b = _ours(UniLoss(relaxation="authors", seed=0), x, y, None)
    assert a[0] != b[0]


def test_authors_relaxed_binaries_stay_inside_their_range():
    """Squashed differences lie in (−2, 2); at T = 2 the relaxed binaries in (0.27, 0.73)."""
    x = torch.tensor([[40.0, -40.0, 0.0]], dtype=torch.float64)
    loss = UniLoss("accuracy", relaxation="authors")
    c = loss.comparisons(x, torch.tensor([0])).differences()
    u = torch.sigmoid(c / loss.temperature)
    assert float(u.max()) < 0.7311 and float(u.min()) > 0.2689


def test_method_adapter_takes_the_relaxation():
    method = METHODS.get("uniloss", metric="ap", relaxation="authors", seed=4)
    assert method.loss.relaxation == "authors" and method.loss.squash
    assert method.loss.temperature == 2.0 and method.options.seed == 4
