"""Whole-epoch evaluation metrics against sklearn / torch, fed in uneven batches."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from losskit.core.errors import ConfigError
from losskit.core.ranking import roc_auc
from losskit.integrations.epoch_metrics import EpochMetrics, batch_accuracy, task_of

metrics = pytest.importorskip("sklearn.metrics")


def _identity(t: torch.Tensor) -> torch.Tensor:
    return t


def _feed(outputs: torch.Tensor, target: torch.Tensor, task: str | None = None) -> dict:
    m = EpochMetrics(task)
    for o, t in zip(outputs.split(7), target.split(7)):  # 7-sample batches, a short last one
        m.update(o, t)
    return m.compute(_identity)


def _binary_data(n: int = 50, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = (torch.rand(n, generator=g) < 0.3).long()
    scores = torch.randn(n, generator=g) + 1.5 * y
    scores[:6] = 0.25  # ties across classes
    return scores, y


def test_roc_auc_equals_sklearn_with_ties():
    scores, y = _binary_data()
    assert roc_auc(scores, y) == pytest.approx(metrics.roc_auc_score(y, scores), abs=1e-12)
    rounded = scores.round()  # many ties
    assert roc_auc(rounded, y) == pytest.approx(metrics.roc_auc_score(y, rounded), abs=1e-12)
    with pytest.raises(ValueError, match="at least one positive and one negative"):
        roc_auc(scores, torch.zeros_like(y))


@pytest.mark.parametrize("shape", ["(N,)", "(N, 1)", "(N, 2)"])
@pytest.mark.parametrize("target_dtype", [torch.long, torch.float32, torch.bool])
def test_binary_outputs_of_every_shape_match_sklearn(shape, target_dtype):
    scores, y = _binary_data()
    outputs = {"(N,)": scores, "(N, 1)": scores.unsqueeze(1),
               # two logits whose difference is the score
               "(N, 2)": torch.stack([-0.5 * scores + 1.0, 0.5 * scores + 1.0], 1)}[shape]
    target = y.to(target_dtype)
    got = _feed(outputs, target)
    yf = y.float()
    assert got["ap"] == pytest.approx(metrics.average_precision_score(y, scores), abs=1e-6)
    assert got["auc"] == pytest.approx(metrics.roc_auc_score(y, scores), abs=1e-6)
    assert got["acc"] == pytest.approx(float(((scores > 0).long() == y).float().mean()))
    assert got["loss"] == pytest.approx(float(F.binary_cross_entropy_with_logits(scores, yf)),
                                        rel=1e-5)
    if shape == "(N, 2)":  # BCE on the logit difference is the 2-class cross-entropy
        assert got["loss"] == pytest.approx(float(F.cross_entropy(outputs, y)), rel=1e-5)
    # one column is never argmax-ed: that would predict class 0 everywhere
    assert got["acc"] != pytest.approx(float((y == 0).float().mean()))


def test_binary_accuracy_of_a_batch_thresholds_the_score_at_zero():
    logits = torch.tensor([[2.0], [-1.0], [0.5], [-3.0]])
    y = torch.tensor([1.0, 0.0, 0.0, 1.0])
    assert float(batch_accuracy(logits, y)) == 0.5
    assert float(batch_accuracy(logits.squeeze(1), y.long())) == 0.5
    assert task_of(logits, y) == "binary" and task_of(torch.zeros(4, 3), y.long()) == (
        "classification")


def test_epoch_ap_is_not_a_mean_of_batch_aps():
    scores, y = _binary_data(n=56)
    epoch = _feed(scores, y)["ap"]
    per_batch = [metrics.average_precision_score(t, s)
                 for s, t in zip(scores.split(7), y.split(7)) if 0 < int(t.sum()) < len(t)]
    assert epoch == pytest.approx(metrics.average_precision_score(y, scores), abs=1e-6)
    assert abs(epoch - sum(per_batch) / len(per_batch)) > 1e-3


def test_classification_loss_and_accuracy_match_torch():
    g = torch.Generator().manual_seed(1)
    logits, y = torch.randn(40, 5, generator=g), torch.randint(0, 5, (40,), generator=g)
    got = _feed(logits, y)
    assert got["loss"] == pytest.approx(float(F.cross_entropy(logits, y)), rel=1e-6)
    assert got["acc"] == pytest.approx(float((logits.argmax(1) == y).float().mean()))
    soft = F.softmax(torch.randn(40, 5, generator=g), 1)  # probability targets
    got = _feed(logits, soft)
    assert got["loss"] == pytest.approx(float(F.cross_entropy(logits, soft)), rel=1e-6)


def test_regression_needs_the_task_and_reports_mse_mae():
    g = torch.Generator().manual_seed(2)
    pred, y = torch.randn(30, 1, generator=g), torch.randn(30, generator=g) * 3
    got = _feed(pred, y, task="regression")
    assert got["loss"] == got["mse"] == pytest.approx(float(F.mse_loss(pred.squeeze(1), y)))
    assert got["mae"] == pytest.approx(float(F.l1_loss(pred.squeeze(1), y)))
    with pytest.raises(ConfigError, match="task='regression'"):
        _feed(pred, y)  # one output, real-valued targets: not binary


def test_degenerate_epochs_are_explicit():
    scores = torch.randn(10)
    with pytest.warns(UserWarning, match="AP and ROC-AUC are undefined"):
        got = _feed(scores, torch.zeros(10, dtype=torch.long))
    assert set(got) == {"loss", "acc"}
    diverged = _feed(torch.full((10,), math.nan), torch.arange(10) % 2)
    assert all(math.isnan(v) for k, v in diverged.items() if k != "acc")
    assert EpochMetrics().compute(_identity) == {}
