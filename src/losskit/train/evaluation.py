"""Evaluation per task, streamed batch by batch.

The Trainer evaluates a split by feeding ``(x, y)`` batches (slices of in-memory tensors or the
batches of any ``DataLoader``) to :func:`evaluate_batches`, which keeps per sample only what the
task's metrics need (a hit flag and the target's log-probability; a binary score; a residual)
— never the inputs, never the ``(N, C)`` logits — and reduces once at the end, in the same
order as a single pass over the concatenated outputs: the figures are bitwise those of the
whole-split computation (``F.cross_entropy`` of all logits, …) whatever the batch size.

``TASK_METRICS[task]`` is the accumulator class of a task (``update(outputs, y)``,
``compute() -> dict``).

Classification reports ``acc``, ``loss``, ``bal_acc``, the balanced accuracy (mean per-class
recall over the classes present in ``y``: ``sklearn.metrics.balanced_accuracy_score``), and
``unpredicted``, the number of classes present in ``y`` that the model never predicts (a run
that has "stalled" with a dead class; the experiment report flags it). Given
the training set's ``class_counts`` (the Trainer passes them for long-tailed data) it adds the
usual many / medium / few-shot splits (Liu et al. 2019, "OLTR"; Cao et al. 2019): ``many_acc``
over the classes with more than 100 training samples, ``few_acc`` under 20, ``medium_acc`` from
20 to 100 (:data:`SHOT_THRESHOLDS`), each the mean recall of its classes (on a balanced test set:
the accuracy on their samples); a group without a class is left out. :class:`NoisyLabelMetrics`
measures memorisation of noisy training labels (:mod:`losskit.train.labels`).

``EVALUATORS[task]`` keeps the older whole-tensor form
``fn(model, x, y, batch_size) -> dict[str, float]`` (un-prefixed keys: ``acc``, ``loss``, …;
the Trainer prefixes them with the split name: ``test_acc``); a task registered only there is
evaluated on its materialised split.

Binary tasks take one-logit outputs ``(N,)`` / ``(N, 1)`` (the logit of the positive class) or
two logits ``(N, 2)`` (score ``logit_1 − logit_0``) and integer or float 0/1 targets; they
report accuracy at score 0 (``sigmoid = ½``; for two logits the argmax), the loss (binary
cross-entropy with logits for one output, cross-entropy for two), average precision ``ap`` and
ROC-AUC ``auc`` (ties count ½, as ``sklearn.metrics.roc_auc_score``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from losskit.core.ranking import average_precision, binary_scores, roc_auc
from losskit.core.registry import Registry

EVALUATORS: Registry[dict[str, float]] = Registry("task")
TASK_METRICS: Registry[Any] = Registry("task")


def tensor_batches(x: torch.Tensor, y: torch.Tensor, batch_size: int = 1024
                   ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Consecutive ``(x, y)`` slices of ``batch_size`` samples."""
    for i in range(0, len(x), batch_size):
        yield x[i : i + batch_size], y[i : i + batch_size]


@torch.no_grad()
def predict_logits(model: nn.Module, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Outputs (logits; predictions for regression) of ``model`` on ``x`` in eval mode
    (restores the previous mode), as float32."""
    was_training = model.training
    model.eval()
    try:
        outs = [model(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(outs).float()


@torch.no_grad()
def evaluate_batches(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    task: str = "classification",
    device: torch.device | None = None,
    metrics: Any = None,
    **kwargs: Any,
) -> dict[str, float]:
    """Metrics of ``task`` (:data:`TASK_METRICS`, built with ``kwargs``, e.g. the
    classification ``class_counts``) of ``model`` over ``(x, y)`` batches, in eval mode (the
    previous mode is restored); batches are moved to ``device`` when given. ``metrics``: a
    ready accumulator (``update`` / ``compute``) instead of the task's."""
    metrics = TASK_METRICS.get(task, **kwargs) if metrics is None else metrics
    was_training = model.training
    model.eval()
    try:
        for x, y in batches:
            if device is not None:
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            metrics.update(model(x).float(), y)
    finally:
        model.train(was_training)
    return metrics.compute()


def _count(n: int) -> None:
    if n == 0:
        raise ValueError("nothing to evaluate: the split holds no sample")


#: ``(few, many)``: a class is few-shot under ``few`` training samples, many-shot over ``many``,
#: medium-shot in between (both ends included) — the usual thresholds (Liu et al. 2019).
SHOT_THRESHOLDS = (20, 100)


def shot_groups(class_counts: torch.Tensor, thresholds: tuple[int, int] = SHOT_THRESHOLDS
                ) -> dict[str, torch.Tensor]:
    """``{"many", "medium", "few"}`` → bool masks ``(C,)`` of the classes in each group by their
    training counts (:data:`SHOT_THRESHOLDS`)."""
    few, many = thresholds
    counts = torch.as_tensor(class_counts)
    return {"many": counts > many, "medium": (counts >= few) & (counts <= many),
            "few": counts < few}


def per_class_recall(hits: torch.Tensor, y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Recall of each class ``(num_classes,)`` float64 (NaN for a class absent from ``y``)."""
    y = y.long()
    total = torch.bincount(y, minlength=num_classes).double()
    right = torch.bincount(y[hits], minlength=num_classes).double()
    return right / total  # 0/0 = NaN: absent


@TASK_METRICS.register("classification",
                       help="accuracy, cross-entropy, balanced accuracy (and shot splits)")
class ClassificationMetrics:
    """Accuracy, mean cross-entropy and balanced accuracy of logits ``(N, C ≥ 2)`` against
    class indices; with the training ``class_counts`` ``(C,)`` also the many / medium /
    few-shot accuracies (module doc)."""

    def __init__(self, class_counts: torch.Tensor | None = None) -> None:
        self._hits: list[torch.Tensor] = []
        self._logp: list[torch.Tensor] = []  # log-probability of each sample's target
        self._y: list[torch.Tensor] = []
        self._predicted: list[torch.Tensor] = []  # per batch: how often each class is predicted
        self._width = 0
        self.class_counts = None if class_counts is None else torch.as_tensor(class_counts)

    def update(self, logits: torch.Tensor, y: torch.Tensor) -> None:
        if logits.dim() != 2 or logits.shape[1] < 2:
            raise ValueError(
                f"classification evaluation needs logits (N, C >= 2), got "
                f"{tuple(logits.shape)}; a one-output binary model is evaluated with "
                "task='binary' (accuracy at logit 0, AP, AUC)")
        if y.is_floating_point() or y.dim() != 1:
            raise ValueError(f"classification targets must be class indices (N,), got dtype "
                             f"{y.dtype} with shape {tuple(y.shape)}")
        pred = logits.argmax(1)
        self._hits.append(pred == y)
        self._predicted.append(torch.bincount(pred, minlength=logits.shape[1]))
        self._logp.append(F.log_softmax(logits, 1).gather(1, y.long().unsqueeze(1)))
        self._y.append(y)
        self._width = max(self._width, logits.shape[1])

    def compute(self) -> dict[str, float]:
        hits = torch.cat(self._hits) if self._hits else torch.zeros(0, dtype=torch.bool)
        _count(len(hits))
        logp = torch.cat(self._logp)
        # nll_loss of the gathered column: bitwise F.cross_entropy of the concatenated logits
        loss = F.nll_loss(logp, torch.zeros(len(logp), dtype=torch.long, device=logp.device))
        out = {"acc": float(hits.float().mean()), "loss": float(loss)}
        counts = self.class_counts
        width = max(self._width, 0 if counts is None else len(counts))
        recall = per_class_recall(hits.cpu(), torch.cat(self._y).cpu(), width)
        out["bal_acc"] = float(recall.nanmean())
        predicted = torch.zeros(width, dtype=torch.int64)
        for counts_of_batch in self._predicted:
            predicted[: len(counts_of_batch)] += counts_of_batch.cpu()
        out["unpredicted"] = int(((predicted == 0) & ~recall.isnan()).sum())
        if counts is not None:
            if counts.dim() != 1 or len(counts) != width:
                raise ValueError(f"class_counts must have one count per class ({width},), got "
                                 f"shape {tuple(counts.shape)}")
            for group, mask in shot_groups(counts.cpu()).items():
                values = recall[mask]
                if bool((~values.isnan()).any()):
                    out[f"{group}_acc"] = float(values.nanmean())
        return out


class NoisyLabelMetrics:
    """Memorisation of noisy labels on the training set, fed its batches in order with their
    (noisy) labels; ``clean`` ``(N,)`` holds the true label of every sample.

    ``memorised``: share of the noisy-labelled samples (``y ≠ clean``) predicted as their noisy
    label — the labels the model has fitted (Arpit et al. 2017; Liu et al. 2020); ``noisy_true``:
    share of them predicted as their true label; ``clean_acc``: accuracy on the correctly
    labelled samples. Without a noisy (or clean) sample its keys are left out.
    """

    def __init__(self, clean: torch.Tensor) -> None:
        self.clean = torch.as_tensor(clean).long()
        self._seen = 0
        self._tallies = torch.zeros(4, dtype=torch.int64)  # noisy, memorised, true, clean hits

    def update(self, logits: torch.Tensor, y: torch.Tensor) -> None:
        n = len(y)
        clean = self.clean[self._seen : self._seen + n].to(y.device)
        if len(clean) != n:
            raise ValueError(f"more training samples than clean labels ({len(self.clean)})")
        self._seen += n
        pred = logits.argmax(1)
        noisy = y.long() != clean
        self._tallies += torch.stack([
            noisy.sum(), (noisy & (pred == y)).sum(), (noisy & (pred == clean)).sum(),
            (~noisy & (pred == y)).sum()]).cpu()

    def compute(self) -> dict[str, float]:
        _count(self._seen)
        if self._seen != len(self.clean):
            raise ValueError(f"evaluated {self._seen} training samples, expected "
                             f"{len(self.clean)} (one per clean label)")
        noisy, memorised, true, clean_hits = (int(v) for v in self._tallies)
        out: dict[str, float] = {}
        if noisy:
            out.update(memorised=memorised / noisy, noisy_true=true / noisy)
        if self._seen > noisy:
            out["clean_acc"] = clean_hits / (self._seen - noisy)
        return out


def classification_metrics(logits: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """Accuracy and mean cross-entropy of ``logits`` against labels ``y``."""
    metrics = ClassificationMetrics()
    metrics.update(logits, y)
    return metrics.compute()


def binary_labels(y: torch.Tensor, n: int) -> torch.Tensor:
    """``y`` (``(N,)`` or ``(N, 1)``, integer or float, values 0/1) as int64 ``(N,)``;
    ``ValueError`` naming ``target`` otherwise."""
    if y.dim() == 2 and y.shape[1] == 1:
        y = y.reshape(-1)
    if y.dim() != 1 or len(y) != n:
        raise ValueError(f"binary targets must have shape ({n},) or ({n}, 1), got "
                         f"{tuple(y.shape)}")
    if y.dtype == torch.bool:
        return y.long()
    if y.is_complex() or not bool(((y == 0) | (y == 1)).all()):
        raise ValueError("binary targets must be 0 or 1 (integer or float)")
    return y.long()


@TASK_METRICS.register("binary",
                       help="accuracy at logit 0, loss, average precision and ROC-AUC")
class BinaryMetrics:
    """Binary metrics of one-logit ``(N,)`` / ``(N, 1)`` or two-logit ``(N, 2)`` outputs
    (module doc)."""

    def __init__(self) -> None:
        self._scores: list[torch.Tensor] = []
        self._labels: list[torch.Tensor] = []
        self._logp: list[torch.Tensor] = []  # two logits: log-probability of the target
        self._two: bool | None = None

    def update(self, outputs: torch.Tensor, y: torch.Tensor) -> None:
        scores = binary_scores(outputs)
        two = outputs.dim() == 2 and outputs.shape[1] == 2
        if self._two is not None and two != self._two:
            raise ValueError("binary outputs changed shape between batches")
        self._two = two
        labels = binary_labels(y, len(scores))
        self._scores.append(scores)
        self._labels.append(labels)
        if two:
            self._logp.append(F.log_softmax(outputs, 1).gather(1, labels.unsqueeze(1)))

    def compute(self) -> dict[str, float]:
        scores = torch.cat(self._scores) if self._scores else torch.zeros(0)
        _count(len(scores))
        labels = torch.cat(self._labels)
        if self._two:
            logp = torch.cat(self._logp)
            loss = F.nll_loss(logp, torch.zeros(len(logp), dtype=torch.long, device=logp.device))
        else:
            loss = F.binary_cross_entropy_with_logits(scores, labels.to(scores.dtype))
        return {"acc": float(((scores > 0).long() == labels).float().mean()),
                "loss": float(loss), "ap": average_precision(scores, labels),
                "auc": roc_auc(scores, labels)}


@TASK_METRICS.register("regression", help="mean squared error and mean absolute error")
class RegressionMetrics:
    """Mean squared / absolute error over all ``N·D`` entries, in float64
    (:func:`regression_metrics`)."""

    def __init__(self) -> None:
        self._residuals: list[torch.Tensor] = []

    def update(self, prediction: torch.Tensor, y: torch.Tensor) -> None:
        if not y.is_floating_point():
            raise ValueError(f"y must hold real-valued regression targets, got dtype {y.dtype}")
        if prediction.shape != y.shape:
            if (prediction.dim() == 2 and prediction.shape[1] == 1
                    and y.shape == prediction.shape[:1]):
                y = y.unsqueeze(1)
            else:
                raise ValueError(f"y must have the shape of the predictions "
                                 f"{tuple(prediction.shape)}, got {tuple(y.shape)}")
        self._residuals.append(prediction.double() - y.double())

    def compute(self) -> dict[str, float]:
        _count(sum(len(r) for r in self._residuals))
        residual = torch.cat(self._residuals)
        return {"mse": float(residual.pow(2).mean()), "mae": float(residual.abs().mean())}


def regression_metrics(prediction: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """Mean squared and mean absolute error of ``prediction`` ``(N, D)`` against real-valued
    targets ``y`` (same shape, or ``(N,)`` for ``D = 1``), averaged over all ``N·D`` entries
    (``F.mse_loss`` / ``F.l1_loss``), in float64."""
    metrics = RegressionMetrics()
    metrics.update(prediction, y)
    return metrics.compute()


class ConcatMetrics:
    """Keeps every output and target and applies ``fn(outputs, targets) -> dict`` once at the
    end: for metrics without a streaming form (e.g. keypoints' PCK)."""

    def __init__(self, fn: Callable[[torch.Tensor, torch.Tensor], dict[str, float]]) -> None:
        self.fn = fn
        self._outputs: list[torch.Tensor] = []
        self._targets: list[torch.Tensor] = []

    def update(self, outputs: torch.Tensor, y: torch.Tensor) -> None:
        self._outputs.append(outputs)
        self._targets.append(y)

    def compute(self) -> dict[str, float]:
        _count(sum(len(o) for o in self._outputs))
        return self.fn(torch.cat(self._outputs), torch.cat(self._targets))


def _whole(task: str) -> Callable[..., dict[str, float]]:
    def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1024
                 ) -> dict[str, float]:
        return evaluate_batches(model, tensor_batches(x, y, batch_size), task)

    evaluate.__name__ = f"evaluate_{task}"
    evaluate.__doc__ = f"{TASK_METRICS.describe()[task]} of ``model`` on ``(x, y)`` ({task})."
    return evaluate


evaluate_classification = EVALUATORS.register(
    "classification", _whole("classification"),
    help="accuracy, cross-entropy and balanced accuracy")
evaluate_regression = EVALUATORS.register(
    "regression", _whole("regression"), help="mean squared error and mean absolute error")
evaluate_binary = EVALUATORS.register(
    "binary", _whole("binary"), help="accuracy at logit 0, loss, average precision, ROC-AUC")
