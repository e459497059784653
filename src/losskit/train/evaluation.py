"""Evaluation per task: the Trainer looks up ``EVALUATORS[data.meta["task"]]``.

An evaluator is ``fn(model, x, y, batch_size) -> dict[str, float]`` with un-prefixed keys
(``acc``, ``loss``, …); the Trainer prefixes them with the split name (``test_acc``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from losskit.metrics import average_precision, binary_scores
from losskit.registry import Registry

EVALUATORS: Registry[dict[str, float]] = Registry("task")


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


@EVALUATORS.register("classification", help="accuracy and cross-entropy")
def evaluate_classification(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1024
) -> dict[str, float]:
    return classification_metrics(predict_logits(model, x, batch_size), y)


def classification_metrics(logits: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """Accuracy and mean cross-entropy of ``logits`` against labels ``y``."""
    return {
        "acc": float((logits.argmax(1) == y).float().mean()),
        "loss": float(F.cross_entropy(logits, y)),
    }


def regression_metrics(prediction: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """Mean squared and mean absolute error of ``prediction`` ``(N, D)`` against real-valued
    targets ``y`` (same shape, or ``(N,)`` for ``D = 1``), averaged over all ``N·D`` entries
    (``F.mse_loss`` / ``F.l1_loss``), in float64."""
    if not y.is_floating_point():
        raise ValueError(f"y must hold real-valued regression targets, got dtype {y.dtype}")
    if prediction.shape != y.shape:
        if prediction.dim() == 2 and prediction.shape[1] == 1 and y.shape == prediction.shape[:1]:
            y = y.unsqueeze(1)
        else:
            raise ValueError(f"y must have the shape of the predictions "
                             f"{tuple(prediction.shape)}, got {tuple(y.shape)}")
    residual = prediction.double() - y.double()
    return {"mse": float(residual.pow(2).mean()), "mae": float(residual.abs().mean())}


@EVALUATORS.register("regression", help="mean squared error and mean absolute error")
def evaluate_regression(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1024
) -> dict[str, float]:
    return regression_metrics(predict_logits(model, x, batch_size), y)


@EVALUATORS.register("binary", help="accuracy, cross-entropy and average precision")
def evaluate_binary(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1024
) -> dict[str, float]:
    logits = predict_logits(model, x, batch_size)
    return {**classification_metrics(logits, y), "ap": average_precision(binary_scores(logits), y)}
