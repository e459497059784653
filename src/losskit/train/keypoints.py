"""Keypoint evaluation on flattened square heatmaps: PCK, pixel CE and exact-pixel accuracy.

A keypoint model outputs logits ``(N, S·S)`` over the pixels of an ``S × S`` heatmap (row-major:
pixel ``(r, c)`` is index ``r·S + c``); the target is the keypoint's pixel index ``(N,)``.
PCK (percentage of correct keypoints, UniLoss §5.4) counts a prediction — the argmax pixel —
as correct when it lies within Euclidean distance ``radius`` (pixels, inclusive) of the target.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import nn

from losskit.core._validation import check_logits_and_labels
from losskit.train.evaluation import EVALUATORS, TASK_METRICS, ConcatMetrics, predict_logits

DEFAULT_PCK_RADIUS = 1.0


def heatmap_side(num_pixels: int) -> int:
    """``S`` for a square heatmap of ``S·S`` pixels; ``ValueError`` when not a square."""
    side = math.isqrt(num_pixels)
    if side * side != num_pixels:
        raise ValueError(
            f"logits must have a perfect-square number of columns (S·S pixels), got {num_pixels}"
        )
    return side


def pixel_coords(index: torch.Tensor, side: int) -> torch.Tensor:
    """Row-major pixel indices ``(N,)`` → ``(N, 2)`` float ``(row, col)`` coordinates."""
    return torch.stack((index // side, index % side), dim=1).to(torch.float64)


def keypoint_distances(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Euclidean pixel distance ``(N,)`` between each argmax pixel and its target pixel."""
    check_logits_and_labels(logits, target)
    side = heatmap_side(logits.shape[1])
    predicted = pixel_coords(logits.argmax(dim=1), side)
    return torch.linalg.vector_norm(predicted - pixel_coords(target.long(), side), dim=1)


def pck(logits: torch.Tensor, target: torch.Tensor, radius: float = DEFAULT_PCK_RADIUS) -> float:
    """Fraction of samples whose argmax pixel is within ``radius`` pixels (inclusive, Euclidean)
    of the target pixel on the square heatmap of side ``isqrt(C)``.

    PCK = (1/N) Σ_n [‖argmax(logits_n) − target_n‖₂ ≤ radius].
    """
    if isinstance(radius, bool) or not isinstance(radius, (int, float)) or not (
        math.isfinite(radius) and radius >= 0
    ):
        raise ValueError(f"radius must be a finite number ≥ 0, got {radius!r}")
    distances = keypoint_distances(logits, target)
    return float((distances <= radius).to(torch.float64).mean())


def keypoint_metrics(
    logits: torch.Tensor, target: torch.Tensor, radius: float = DEFAULT_PCK_RADIUS
) -> dict[str, float]:
    """``pck`` at ``radius``, ``loss`` = mean cross-entropy over pixels, ``acc`` = exact pixel."""
    check_logits_and_labels(logits, target)
    return {
        "pck": pck(logits, target, radius),
        "loss": float(F.cross_entropy(logits, target.long())),
        "acc": float((logits.argmax(dim=1) == target).to(torch.float64).mean()),
    }


TASK_METRICS.register(
    "keypoints", lambda: ConcatMetrics(functools.partial(keypoint_metrics,
                                                         radius=DEFAULT_PCK_RADIUS)),
    help="PCK (radius 1 px), pixel cross-entropy, exact-pixel acc")


@EVALUATORS.register("keypoints", help="PCK (radius 1 px), pixel cross-entropy, exact-pixel acc")
def evaluate_keypoints(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1024
) -> dict[str, float]:
    """Evaluate a heatmap model on ``(x, y)`` with PCK at :data:`DEFAULT_PCK_RADIUS` (1 px)."""
    return keypoint_metrics(predict_logits(model, x, batch_size), y, DEFAULT_PCK_RADIUS)
