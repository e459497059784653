"""Whole-epoch evaluation metrics fed batch by batch, binary-aware (one logit, or two).

Used by :class:`~losskit.integrations.lightning.LossKitModule` for ``val_*`` / ``test_*``; the
table of tasks and metrics is in that module's doc. AP and ROC-AUC are computed once over the
epoch's scores (a mean of per-batch values is a different, batch-size-dependent number).
The definitions are those of the Trainer's :data:`losskit.train.evaluation.TASK_METRICS`; this
form adds what a Lightning validation loop needs: the task read from each batch's shapes, the
state gathered across processes (DDP), and an epoch without a positive (Lightning's sanity
check) or a diverged model logging what is defined (with a warning) or ``nan`` instead of
stopping the run.

>>> import torch
>>> m = EpochMetrics()
>>> m.update(torch.tensor([2.0, -1.0, 0.5]), torch.tensor([1, 0, 0]))
>>> m.update(torch.tensor([[-3.0]]), torch.tensor([1]))
>>> {k: round(v, 4) for k, v in m.compute(lambda t: t).items()}
{'loss': 1.1157, 'acc': 0.5, 'ap': 0.75, 'auc': 0.5}
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import torch
import torch.nn.functional as F

from losskit.core.errors import ConfigError
from losskit.core.ranking import average_precision, binary_scores, roc_auc
from losskit.train.evaluation import regression_metrics

TASKS = ("binary", "classification", "regression")


def task_of(logits: torch.Tensor, target: torch.Tensor, task: str | None = None) -> str:
    """The evaluation task of a batch (module doc table): ``task`` when given; else binary for
    one or two outputs with ``(N,)`` / ``(N, 1)`` targets, classification otherwise."""
    if task is not None:
        return task
    width = 1 if logits.dim() == 1 else logits.shape[1]
    flat_target = target.dim() == 1 or (target.dim() == 2 and target.shape[1] == 1)
    return "binary" if width <= 2 and flat_target else "classification"


def batch_accuracy(logits: torch.Tensor, target: torch.Tensor, task: str | None = None
                   ) -> torch.Tensor | None:
    """Accuracy of one batch as a tensor (no host sync); ``None`` for regression."""
    kind = task_of(logits, target, task)
    if kind == "binary":
        predicted = binary_scores(logits, validate_args=False) > 0
        return (predicted == (target.reshape(-1) > 0.5)).float().mean()
    if kind == "classification" and logits.dim() == 2:
        labels = target.argmax(1) if target.dim() == 2 else target
        return (logits.argmax(1) == labels).float().mean()
    return None


class EpochMetrics:
    """Whole-epoch evaluation metrics, fed batch by batch (module doc table).

    Classification keeps three sums on the device; binary and regression keep the epoch's
    scores / predictions and targets (AP and AUC need them all)."""

    def __init__(self, task: str | None = None) -> None:
        self.task = task
        self.reset()

    def reset(self) -> None:
        self.kind: str | None = None
        self.sums: torch.Tensor | None = None  # classification: loss sum, correct, count
        self.outputs: list[torch.Tensor] = []
        self.targets: list[torch.Tensor] = []

    def update(self, logits: torch.Tensor, target: torch.Tensor) -> None:
        logits = logits.detach()
        logits = logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits
        kind = task_of(logits, target, self.task)
        if self.kind is not None and kind != self.kind:
            raise ConfigError(f"task changed within an epoch ({self.kind} → {kind}); pass "
                              f"task= to LossKitModule", "task")
        self.kind = kind
        if kind == "classification":
            if logits.dim() != 2:
                raise ConfigError(f"classification needs (N, C) outputs, got shape "
                                  f"{tuple(logits.shape)}; pass task='binary' or "
                                  f"'regression'", "task")
            labels = target.argmax(1) if target.dim() == 2 else target
            batch = torch.stack([
                F.cross_entropy(logits, target, reduction="sum").double(),
                (logits.argmax(1) == labels).sum().double(),
                torch.tensor(float(len(logits)), dtype=torch.float64, device=logits.device),
            ])
            self.sums = batch if self.sums is None else self.sums + batch
        else:
            out = binary_scores(logits, validate_args=False) if kind == "binary" else logits
            self.outputs.append(out)
            # binary targets as float32 (0/1 exact; bool / int gather alike across processes)
            self.targets.append(target.reshape(len(out)).float() if kind == "binary" else target)

    def compute(self, gather: Callable[[torch.Tensor], torch.Tensor]) -> dict[str, float]:
        """The epoch's metrics (un-prefixed). ``gather``: a tensor from every process,
        concatenated along dim 0 (the identity in one process)."""
        if self.kind is None:
            return {}
        if self.kind == "classification":
            assert self.sums is not None
            loss, correct, count = gather(self.sums.unsqueeze(0)).sum(0).tolist()
            return {"loss": loss / count, "acc": correct / count}
        outputs, targets = gather(torch.cat(self.outputs)), gather(torch.cat(self.targets))
        if self.kind == "regression":
            metrics = regression_metrics(outputs.float(), targets)
            return {"loss": metrics["mse"], **metrics}
        return binary_metrics(outputs, targets)


def binary_metrics(scores: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """BCE-with-logits, accuracy at score 0, AP and ROC-AUC of binary ``scores`` against 0/1
    ``target`` (int, bool or float); ``ConfigError`` for other target values."""
    if not bool(((target == 0) | (target == 1)).all()):
        raise ConfigError(
            "target of a binary model (one or two outputs per sample) must be 0 or 1, got "
            f"values in [{float(target.min())}, {float(target.max())}]; real-valued targets "
            "need task='regression', class indices ≥ 2 a model with one output per class",
            "target",
        )
    y = target.to(torch.float32)
    scores = scores.float()
    out = {"loss": float(F.binary_cross_entropy_with_logits(scores, y)),
           "acc": float(((scores > 0) == (y > 0.5)).float().mean())}
    if not bool(torch.isfinite(scores).all()):
        return {**out, "ap": math.nan, "auc": math.nan}
    positives = int(y.sum())
    if 0 < positives < len(y):
        out.update(ap=average_precision(scores, y), auc=roc_auc(scores, y))
    else:
        warnings.warn(f"the epoch's binary targets are all {int(positives > 0)}: AP and "
                       "ROC-AUC are undefined and not logged", stacklevel=2)
    return out
