from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score, roc_auc_score

from losskit.core.ranking import average_precision, binary_scores
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


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(-3, 3), min_size=2, max_size=40),  # small ints: many ties
    st.integers(0, 2**31 - 1),
)
def test_roc_auc_matches_sklearn_including_ties(raw_scores, seed):
    from losskit.core.ranking import roc_auc

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, len(raw_scores))
    labels[0], labels[1] = 1, 0  # a positive and a negative
    expected = roc_auc_score(labels, np.array(raw_scores, dtype=float))
    got = roc_auc(torch.tensor(raw_scores, dtype=torch.float64), torch.tensor(labels))
    assert got == pytest.approx(expected, abs=1e-12)
    with pytest.raises(ValueError, match="positive and one negative"):
        roc_auc(torch.randn(4), torch.ones(4))


@pytest.mark.parametrize("batch_size", [1, 7, 64, 1000])
def test_streamed_evaluation_is_bitwise_the_whole_split(batch_size):
    """Batch by batch, keeping per sample a hit and a log-probability (never the logits), the
    figures equal those of one pass over all logits, whatever the batch size."""
    import torch.nn.functional as F

    from losskit.train.evaluation import evaluate_batches, tensor_batches

    g = torch.Generator().manual_seed(batch_size)
    logits, y = torch.randn(1000, 7, generator=g) * 3, torch.randint(0, 7, (1000,), generator=g)
    model = torch.nn.Identity()  # row-wise exact: outputs do not depend on the batch size
    got = evaluate_batches(model, tensor_batches(logits, y, batch_size), "classification")
    assert got["loss"] == float(F.cross_entropy(logits, y))
    assert got["acc"] == float((logits.argmax(1) == y).float().mean())
    binary = evaluate_batches(model, tensor_batches(logits[:, :1], (y > 3).float(), batch_size),
                              "binary")
    scores = logits[:, 0]
    assert binary["loss"] == float(F.binary_cross_entropy_with_logits(scores, (y > 3).float()))
    assert binary["acc"] == float(((scores > 0) == (y > 3)).float().mean())
    assert binary["ap"] == pytest.approx(average_precision_score((y > 3).numpy(),
                                                                 scores.numpy()), abs=1e-12)
    reg = evaluate_batches(model, tensor_batches(logits[:, :2], y[:, None].float().expand(
        -1, 2), batch_size), "regression")
    residual = logits[:, :2].double() - y[:, None].double()
    assert reg == {"mse": float(residual.pow(2).mean()), "mae": float(residual.abs().mean())}


@pytest.mark.parametrize("batch_size", [1, 5, 1000])
def test_unpredicted_counts_present_classes_the_model_never_predicts(batch_size):
    """A stalled run's signature: a class of the split that is never the argmax. Classes absent
    from the targets do not count (their recall is undefined), whatever the batch size."""
    from losskit.train.evaluation import evaluate_batches, tensor_batches

    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 5, (200,), generator=g)  # classes 0-4 present; 5 and 6 absent
    logits = torch.randn(200, 7, generator=g)
    logits[:, 2] = -1e9  # class 2: present, never predicted
    logits[:, 6] = -1e9  # class 6: absent and never predicted: not counted
    model = torch.nn.Identity()
    got = evaluate_batches(model, tensor_batches(logits, y, batch_size), "classification")
    pred = logits.argmax(1)
    expected = sum(int((y == c).any() and not (pred == c).any()) for c in range(7))
    assert got["unpredicted"] == expected == 1
    logits[:, 2] = 0.0  # now class 2 wins somewhere
    logits[y == 2, 2] = 1e9
    got = evaluate_batches(model, tensor_batches(logits, y, batch_size), "classification")
    assert got["unpredicted"] == 0


def test_evaluation_refuses_what_it_cannot_score():
    from losskit.train.evaluation import ClassificationMetrics, binary_labels

    with pytest.raises(ValueError, match="task='binary'"):
        ClassificationMetrics().update(torch.randn(4, 1), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="0 or 1"):
        binary_labels(torch.tensor([0.0, 0.5]), 2)
    with pytest.raises(ValueError, match="no sample"):
        ClassificationMetrics().compute()
