"""Hard consistency (the core property): g(sign(b)) equals the real metric on the scores."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    f1_score,
    roc_auc_score,
    top_k_accuracy_score,
)

from losskit.train.keypoints import pck as direct_pck
from losskit.uniloss import METRICS, UniLoss
from losskit.uniloss.refactor import disk_offsets

FAST = settings(max_examples=60, deadline=None)


def unique_scores(n: int, nonzero: bool = False) -> st.SearchStrategy[list[float]]:
    element = st.floats(-20, 20, allow_nan=False, width=32)
    if nonzero:
        element = element.filter(lambda v: v != 0)
    return st.lists(element, min_size=n, max_size=n, unique=True)


@st.composite
def classification_case(draw, min_classes: int = 2, ties: bool = False):
    n = draw(st.integers(1, 12))
    c = draw(st.integers(min_classes, 7))
    if ties:
        values = draw(st.lists(st.integers(0, 2), min_size=n * c, max_size=n * c))
    else:
        values = draw(unique_scores(n * c))
    y = draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n))
    return torch.tensor(values, dtype=torch.float64).reshape(n, c), torch.tensor(y)


@st.composite
def binary_case(draw, max_n: int = 16, nonzero: bool = False):
    n = draw(st.integers(2, max_n))
    labels = draw(st.lists(st.integers(0, 1), min_size=n - 2, max_size=n - 2)) + [0, 1]
    labels = draw(st.permutations(labels))  # at least one positive and one negative
    scores = draw(unique_scores(n, nonzero))
    return torch.tensor(scores, dtype=torch.float64), torch.tensor(labels)


@given(classification_case())
@FAST
def test_accuracy_matches_sklearn(case):
    logits, y = case
    expected = accuracy_score(y.numpy(), logits.argmax(1).numpy())
    assert METRICS.get("accuracy").hard(logits, y) == pytest.approx(expected, abs=1e-12)


@given(classification_case(ties=True))
@FAST
def test_accuracy_ties_count_as_errors(case):
    """Documented rule: a competitor tied with the target class beats it."""
    logits, y = case
    s_y = logits.gather(1, y[:, None])
    strict = ((logits >= s_y).sum(1) == 1).double().mean().item()
    metric = METRICS.get("accuracy")
    assert metric.hard(logits, y) == pytest.approx(strict, abs=1e-12)
    assert metric.reference(logits, y) == pytest.approx(strict, abs=1e-12)


@given(classification_case(min_classes=3), st.integers(1, 3))
@FAST
def test_topk_matches_sklearn(case, k):
    logits, y = case
    c = logits.shape[1]
    assume(k < c)
    expected = top_k_accuracy_score(y.numpy(), logits.numpy(), k=k, labels=np.arange(c))
    assert METRICS.get("topk", k=k).hard(logits, y) == pytest.approx(expected, abs=1e-12)


@given(binary_case())
@FAST
def test_ap_matches_sklearn(case):
    scores, y = case
    expected = average_precision_score(y.numpy(), scores.numpy())
    metric = METRICS.get("ap")
    assert metric.hard(scores, y) == pytest.approx(expected, abs=1e-12)
    assert metric.reference(scores, y) == pytest.approx(expected, abs=1e-12)


@given(st.data())
@FAST
def test_ap_positive_negative_ties_match_sklearn(data):
    """Ties between a positive and negatives are exact; only positive–positive ties differ."""
    p = data.draw(st.integers(1, 6))
    q = data.draw(st.integers(1, 8))
    pos = data.draw(st.lists(st.integers(0, 6), min_size=p, max_size=p, unique=True))
    neg = data.draw(st.lists(st.integers(0, 6), min_size=q, max_size=q))
    scores = torch.tensor(pos + neg, dtype=torch.float64)
    y = torch.tensor([1] * p + [0] * q)
    expected = average_precision_score(y.numpy(), scores.numpy())
    assert METRICS.get("ap").hard(scores, y) == pytest.approx(expected, abs=1e-12)


def test_ap_two_logits_equal_single_score():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(40, 2, generator=g, dtype=torch.float64)
    y = (torch.arange(40) % 4 == 0).long()
    metric = METRICS.get("ap")
    diff = logits[:, 1] - logits[:, 0]
    assert metric.hard(logits, y) == metric.hard(diff, y) == metric.hard(diff[:, None], y)
    expected = average_precision_score(y.numpy(), diff.numpy())
    assert metric.hard(logits, y) == pytest.approx(expected, abs=1e-12)


@given(binary_case())
@FAST
def test_auc_matches_sklearn(case):
    scores, y = case
    expected = roc_auc_score(y.numpy(), scores.numpy())
    assert METRICS.get("auc").hard(scores, y) == pytest.approx(expected, abs=1e-12)


@given(binary_case(), st.integers(1, 16))
@FAST
def test_precision_at_k_matches_direct(case, k):
    scores, y = case
    assume(k <= len(y))
    top = np.argsort(-scores.numpy(), kind="stable")[:k]
    expected = y.numpy()[top].sum() / k
    assert METRICS.get("precision_at_k", k=k).hard(scores, y) == pytest.approx(expected, abs=1e-12)


@given(binary_case(nonzero=True))
@FAST
def test_f1_matches_sklearn(case):
    scores, y = case
    expected = f1_score(y.numpy(), (scores > 0).long().numpy(), zero_division=0.0)
    assert METRICS.get("f1").hard(scores, y) == pytest.approx(expected, abs=1e-12)


@st.composite
def keypoint_case(draw):
    side = draw(st.integers(2, 6))
    radius = draw(st.sampled_from([0.0, 1.0, 1.5, 2.0, 2.9]))
    n = draw(st.integers(1, 5))
    values = draw(unique_scores(n * side * side))
    target = draw(st.lists(st.integers(0, side * side - 1), min_size=n, max_size=n))
    return torch.tensor(values, dtype=torch.float64).reshape(n, side * side), torch.tensor(
        target
    ), radius


def _covers_canvas(target: torch.Tensor, side: int, radius: float) -> bool:
    r, c = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    tr, tc = target // side, target % side
    d2 = (r.flatten()[None] - tr[:, None]) ** 2 + (c.flatten()[None] - tc[:, None]) ** 2
    return bool((d2 <= radius * radius).all(1).any())


@given(keypoint_case())
@FAST
def test_pck_matches_direct_pck(case):
    logits, target, radius = case
    side = int(logits.shape[1] ** 0.5)
    metric = METRICS.get("pck", radius=radius)
    if _covers_canvas(target, side, radius):
        with pytest.raises(ValueError, match="radius"):
            metric.hard(logits, target)
        return
    expected = direct_pck(logits, target, radius)
    assert metric.hard(logits, target) == pytest.approx(expected, abs=1e-12)
    # the same heatmaps as (N, S, S) and (N, 1, S, S)
    square = logits.reshape(-1, side, side)
    assert metric.hard(square, target) == metric.hard(square[:, None], target)
    assert metric.hard(square, target) == pytest.approx(expected, abs=1e-12)


def test_pck_tie_between_positive_and_negative_is_an_error():
    """Documented rule: the best positive pixel must strictly beat every negative pixel."""
    logits = torch.zeros(1, 16, dtype=torch.float64)
    logits[0, 0] = 1.0  # target pixel (top-left)
    logits[0, 15] = 1.0  # a far negative pixel with the same score
    target = torch.tensor([0])
    assert METRICS.get("pck", radius=1.0).hard(logits, target) == 0.0
    assert direct_pck(logits, target, 1.0) == 1.0  # argmax picks index 0


def test_disk_offsets():
    assert disk_offsets(0) == [(0, 0)]
    assert sorted(disk_offsets(1)) == [(-1, 0), (0, -1), (0, 0), (0, 1), (1, 0)]
    assert len(disk_offsets(1.5)) == 9 and len(disk_offsets(2)) == 13


@given(classification_case(), st.integers(1, 3))
@FAST
def test_topk_subsampling_keeps_accuracy_exact(case, keep):
    """Keeping the k highest-scoring competitors never changes the exact accuracy."""
    logits, y = case
    loss = UniLoss("accuracy", subsample=keep, seed=0)
    comps = loss.comparisons(logits, y)
    assert comps.shape[2] == min(keep, logits.shape[1] - 1)
    hard = float(loss.metric.evaluate(comps.hard_binaries()[None], comps)[0])
    assert hard == pytest.approx(accuracy_score(y.numpy(), logits.argmax(1).numpy()), abs=1e-12)


@given(keypoint_case(), st.integers(1, 4))
@FAST
def test_topk_subsampling_keeps_pck_exact(case, keep):
    logits, target, radius = case
    side = int(logits.shape[1] ** 0.5)
    assume(not _covers_canvas(target, side, radius))
    loss = UniLoss("pck", radius=radius, subsample=keep, seed=0)
    comps = loss.comparisons(logits, target)
    hard = float(loss.metric.evaluate(comps.hard_binaries()[None], comps)[0])
    assert hard == pytest.approx(direct_pck(logits, target, radius), abs=1e-12)


def test_last_metric_is_the_exact_batch_metric():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(64, 10, generator=g)
    y = torch.randint(0, 10, (64,), generator=g)
    loss = UniLoss("accuracy", seed=0)
    loss(logits, y)
    assert float(loss.last_metric) == pytest.approx(
        accuracy_score(y.numpy(), logits.argmax(1).numpy())
    )
