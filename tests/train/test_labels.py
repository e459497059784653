"""Balanced accuracy, many / medium / few-shot splits and noisy-label memorisation: against
sklearn and hand computations, streamed and through the Trainer."""

from __future__ import annotations

import pytest
import torch
from sklearn.metrics import balanced_accuracy_score
from torch.utils.data import TensorDataset

from losskit.data.base import DataSplits
from losskit.train import TrainConfig, fit
from losskit.train.evaluation import (
    SHOT_THRESHOLDS,
    ClassificationMetrics,
    NoisyLabelMetrics,
    evaluate_batches,
    predict_logits,
    shot_groups,
    tensor_batches,
)
from losskit.train.sources import subset_indices


def _stream(metrics, logits, y, size):
    for i in range(0, len(y), size):
        metrics.update(logits[i : i + size], y[i : i + size])
    return metrics.compute()


@pytest.mark.parametrize("seed", range(5))
def test_balanced_accuracy_matches_sklearn_streamed(seed):
    g = torch.Generator().manual_seed(seed)
    n, c = 257, 6
    y = torch.randint(0, c - 1, (n,), generator=g)  # class 5 absent: sklearn averages present
    logits = torch.randn(n, c, generator=g) + 2 * torch.nn.functional.one_hot(y, c)
    expected = balanced_accuracy_score(y.numpy(), logits.argmax(1).numpy())
    for size in (1, 50, n):
        out = _stream(ClassificationMetrics(), logits, y, size)
        assert out["bal_acc"] == pytest.approx(expected, abs=1e-12)
        assert out["acc"] == pytest.approx(float((logits.argmax(1) == y).float().mean()))


def test_shot_groups_use_the_usual_thresholds():
    assert SHOT_THRESHOLDS == (20, 100)
    groups = shot_groups(torch.tensor([500, 101, 100, 20, 19, 3]))
    assert groups["many"].tolist() == [True, True, False, False, False, False]
    assert groups["medium"].tolist() == [False, False, True, True, False, False]
    assert groups["few"].tolist() == [False, False, False, False, True, True]


def test_shot_accuracies_are_mean_recalls_of_their_classes_by_hand():
    # classes 0 many (200), 1 medium (50), 2 few (5), 3 few (10); predictions chosen by hand
    y = torch.tensor([0, 0, 0, 0, 1, 1, 2, 2, 2, 3])
    pred = torch.tensor([0, 0, 0, 1, 1, 0, 2, 0, 0, 3])
    logits = torch.nn.functional.one_hot(pred, 4).float()
    out = _stream(ClassificationMetrics(torch.tensor([200, 50, 5, 10])), logits, y, 3)
    assert out["many_acc"] == pytest.approx(3 / 4)
    assert out["medium_acc"] == pytest.approx(1 / 2)
    assert out["few_acc"] == pytest.approx((1 / 3 + 1) / 2)
    assert out["bal_acc"] == pytest.approx((3 / 4 + 1 / 2 + 1 / 3 + 1) / 4)
    # no few-shot class: the key is left out, not NaN
    out = _stream(ClassificationMetrics(torch.tensor([200, 150, 50, 60])), logits, y, 4)
    assert "few_acc" not in out and out["medium_acc"] == pytest.approx((1 / 3 + 1) / 2)
    with pytest.raises(ValueError, match="class_counts"):
        _stream(ClassificationMetrics(torch.tensor([1, 2])), logits, y, 4)


def test_noisy_label_metrics_by_hand():
    clean = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    noisy = torch.tensor([1, 1, 0, 0, 2, 2, 0, 1])  # samples 0, 2, 4 are noisy
    pred = torch.tensor([1, 1, 2, 0, 1, 0, 0, 2])  # 0 memorised, 2 true, 4 true
    logits = torch.nn.functional.one_hot(pred, 3).float()
    out = _stream(NoisyLabelMetrics(clean), logits, noisy, 3)
    assert out == pytest.approx({"memorised": 1 / 3, "noisy_true": 2 / 3, "clean_acc": 3 / 5})
    assert "memorised" not in _stream(NoisyLabelMetrics(clean), logits, clean, 8)
    with pytest.raises(ValueError, match="expected 8"):
        m = NoisyLabelMetrics(clean)
        m.update(logits[:4], noisy[:4])
        m.compute()


def _splits(meta_fn, n=300, c=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 5, generator=g)
    clean = (x[:, 0] > 0).long() + (x[:, 1] > 0.5).long()
    noisy = clean.clone()
    flip = torch.rand(n, generator=g) < 0.3
    noisy[flip] = (clean[flip] + 1) % c
    xt = torch.randn(90, 5, generator=g)
    yt = (xt[:, 0] > 0).long() + (xt[:, 1] > 0.5).long()
    return DataSplits("toy", TensorDataset(x, noisy), None, TensorDataset(xt, yt), c, (5,),
                      meta_fn(clean, noisy)), x, clean, noisy


def test_trainer_records_memorisation_on_the_train_size_subset():
    data, x, clean, noisy = _splits(lambda clean, noisy: {"task": "classification",
                                                         "clean_train_targets": clean})
    run = fit(TrainConfig(data="toy", model="mlp", epochs=2, train_size=200, seed=3, lr=0.1),
              data=data)
    idx = subset_indices(300, 200, 3)
    pred = predict_logits(run.model, x[idx]).argmax(1)
    bad = noisy[idx] != clean[idx]
    rec = run.history[-1]
    assert len(run.history) == 2 and all("train_memorised" in h for h in run.history)
    assert rec["train_memorised"] == pytest.approx(float((pred[bad] == noisy[idx][bad]).double()
                                                         .mean()))
    assert rec["train_noisy_true"] == pytest.approx(float((pred[bad] == clean[idx][bad]).double()
                                                          .mean()))
    assert rec["train_clean_acc"] == pytest.approx(float((pred[~bad] == clean[idx][~bad])
                                                         .double().mean()))
    assert "test_many_acc" not in rec  # not long-tailed


def test_trainer_shot_splits_from_the_clean_training_counts():
    data, x, clean, noisy = _splits(lambda clean, noisy: {
        "task": "classification", "imbalance": {"kind": "long_tail", "ratio": 10.0}})
    run = fit(TrainConfig(data="toy", model="mlp", epochs=1, seed=0), data=data)
    counts = torch.bincount(noisy, minlength=3)  # no clean labels: the trained ones
    xt, yt = data.test.tensors
    m = ClassificationMetrics(counts)
    expected = evaluate_batches(run.model, tensor_batches(xt, yt, 7), metrics=m)
    got = {k.removeprefix("test_"): v for k, v in run.final.items() if k.startswith("test_")}
    assert got == pytest.approx(expected)
    assert {f"{g}_acc" for g, mask in shot_groups(counts).items() if mask.any()} <= set(got)
    assert got["bal_acc"] == pytest.approx(balanced_accuracy_score(
        yt.numpy(), predict_logits(run.model, xt).argmax(1).numpy()))
