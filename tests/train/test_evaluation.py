from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score, roc_auc_score

from losskit.metrics import average_precision, binary_scores
from losskit.train.evaluation import evaluate_binary


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
    assert out["auc"] == pytest.approx(roc_auc_score(y.numpy(), scores.numpy()))
    assert set(out) == {"acc", "loss", "ap", "auc"}


def test_regression_metrics_match_sklearn_and_check_targets():
    from sklearn.metrics import mean_absolute_error, mean_squared_error

    from losskit.train.evaluation import regression_metrics

    g = torch.Generator().manual_seed(0)
    pred, y = torch.randn(50, 2, generator=g), torch.randn(50, 2, generator=g)
    got = regression_metrics(pred, y)
    assert got["mse"] == pytest.approx(mean_squared_error(y.numpy(), pred.numpy()), rel=1e-6)
    assert got["mae"] == pytest.approx(mean_absolute_error(y.numpy(), pred.numpy()), rel=1e-6)
    one = regression_metrics(pred[:, :1], y[:, 0])  # (N, 1) predictions against (N,) targets
    assert one["mse"] == pytest.approx(float(((pred[:, 0] - y[:, 0]) ** 2).mean()), rel=1e-6)
    with pytest.raises(ValueError, match="real-valued"):
        regression_metrics(pred, torch.zeros(50, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="shape"):
        regression_metrics(pred, y[:, :1])


def test_regression_evaluator_is_registered_for_the_trainer():
    from torch import nn

    from losskit.train.evaluation import EVALUATORS

    model = nn.Linear(3, 1)
    with torch.no_grad():
        model.weight.zero_()
        model.bias.fill_(2.0)
    x, y = torch.randn(10, 3), torch.zeros(10, 1)
    assert EVALUATORS.factory("regression")(model, x, y, 4) == {"mse": 4.0, "mae": 2.0}
