from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score

from losskit.train.evaluation import average_precision, binary_scores, evaluate_binary


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(-3, 3), min_size=2, max_size=40),  # small ints: many ties
    st.integers(0, 2**31 - 1),
)
def test_average_precision_matches_sklearn_including_ties(raw_scores, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, len(raw_scores))
    if labels.sum() == 0:
        labels[0] = 1
    scores = torch.tensor(raw_scores, dtype=torch.float64)
    expected = average_precision_score(labels, np.array(raw_scores, dtype=float))
    assert average_precision(scores, torch.tensor(labels)) == pytest.approx(expected, abs=1e-12)


def test_average_precision_needs_a_positive():
    with pytest.raises(ValueError, match="no positive"):
        average_precision(torch.randn(5), torch.zeros(5, dtype=torch.long))


def test_binary_scores_are_log_odds_for_two_logits():
    logits = torch.tensor([[0.5, 2.0], [1.0, -1.0]])
    assert torch.equal(binary_scores(logits), torch.tensor([1.5, -2.0]))
    assert torch.equal(binary_scores(torch.tensor([[0.3], [0.1]])), torch.tensor([0.3, 0.1]))


def test_evaluate_binary_reports_ap():
    model = torch.nn.Linear(3, 2)
    x = torch.randn(50, 3)
    y = (x[:, 0] > 0).long()
    out = evaluate_binary(model, x, y)
    scores = binary_scores(model(x).detach())
    assert out["ap"] == pytest.approx(average_precision_score(y.numpy(), scores.numpy()))
    assert set(out) == {"acc", "loss", "ap"}
