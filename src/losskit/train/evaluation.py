"""Evaluation per task: the Trainer looks up ``EVALUATORS[data.meta["task"]]``.

An evaluator is ``fn(model, x, y, batch_size) -> dict[str, float]`` with un-prefixed keys
(``acc``, ``loss``, …); the Trainer prefixes them with the split name (``test_acc``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from losskit.registry import Registry

Evaluator = Callable[[nn.Module, torch.Tensor, torch.Tensor, int], dict[str, float]]
EVALUATORS: Registry[dict[str, float]] = Registry("task")


@torch.no_grad()
def predict_logits(model: nn.Module, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Logits of ``model`` on ``x`` in eval mode (restores the previous mode)."""
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
    logits = predict_logits(model, x, batch_size)
    return {
        "acc": float((logits.argmax(1) == y).float().mean()),
        "loss": float(F.cross_entropy(logits, y)),
    }
