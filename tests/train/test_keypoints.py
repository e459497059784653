from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import losskit.train  # noqa: F401  (registers the evaluator)
from losskit import models
from losskit.train.evaluation import EVALUATORS
from losskit.train.keypoints import (
    DEFAULT_PCK_RADIUS,
    evaluate_keypoints,
    keypoint_distances,
    keypoint_metrics,
    pck,
)

S = 5


def _onehot_logits(points: list[tuple[int, int]], side: int = S) -> torch.Tensor:
    logits = torch.zeros(len(points), side * side)
    for i, (r, c) in enumerate(points):
        logits[i, r * side + c] = 10.0
    return logits


def _index(r: int, c: int, side: int = S) -> int:
    return r * side + c


# predictions at distance 0, 1, √2, 2 and √5 from the target (2, 2)
PRED = [(2, 2), (2, 3), (3, 3), (0, 2), (4, 3)]
TARGET = torch.tensor([_index(2, 2)] * 5)


def test_distances_by_hand():
    d = keypoint_distances(_onehot_logits(PRED), TARGET)
    expected = torch.tensor([0.0, 1.0, math.sqrt(2), 2.0, math.sqrt(5)], dtype=torch.float64)
    torch.testing.assert_close(d, expected)


@pytest.mark.parametrize(
    ("radius", "expected"),
    [(0.0, 1 / 5), (0.5, 1 / 5), (1.0, 2 / 5), (1.5, 3 / 5), (math.sqrt(2), 3 / 5),
     (2.0, 4 / 5), (3.0, 1.0)],
)
def test_pck_against_hand_computation(radius, expected):
    assert pck(_onehot_logits(PRED), TARGET, radius) == pytest.approx(expected, abs=1e-12)


def test_pck_default_radius_is_one_and_inclusive():
    assert DEFAULT_PCK_RADIUS == 1.0
    logits = _onehot_logits([(0, 0), (0, 1), (1, 1)])
    target = torch.tensor([_index(0, 0)] * 3)
    assert pck(logits, target) == pytest.approx(2 / 3)  # distance 1 counts, √2 does not


def test_pck_uses_row_major_pixels_not_index_distance():
    # index 4 → (0, 4) and index 5 → (1, 0): adjacent indices, 4.12 pixels apart
    logits = _onehot_logits([(0, 4)])
    assert pck(logits, torch.tensor([_index(1, 0)]), 1.0) == 0.0
    assert pck(logits, torch.tensor([_index(1, 4)]), 1.0) == 1.0


def test_keypoint_metrics_match_torch():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(32, 36, generator=g)
    target = torch.randint(0, 36, (32,), generator=g)
    m = keypoint_metrics(logits, target, radius=1.0)
    assert m["loss"] == pytest.approx(float(F.cross_entropy(logits, target)), rel=1e-6)
    assert m["acc"] == pytest.approx(float((logits.argmax(1) == target).float().mean()))
    assert m["acc"] <= m["pck"] <= 1.0


@pytest.mark.parametrize(
    ("logits", "target", "radius", "match"),
    [
        (torch.zeros(2, 10), torch.tensor([0, 1]), 1.0, "perfect-square"),
        (torch.zeros(2, 9), torch.tensor([0, 9]), 1.0, "target"),
        (torch.zeros(2, 9), torch.tensor([0, 1]), -1.0, "radius"),
        (torch.zeros(2, 9), torch.tensor([0, 1]), float("nan"), "radius"),
        (torch.zeros(9), torch.tensor([0]), 1.0, "input"),
    ],
)
def test_bad_input(logits, target, radius, match):
    with pytest.raises(ValueError, match=match):
        pck(logits, target, radius)


def test_evaluator_registered_and_runs_on_heatmap_model():
    assert "keypoints" in EVALUATORS
    assert EVALUATORS.factory("keypoints") is evaluate_keypoints
    torch.manual_seed(0)
    model = models.build("heatmap", (1, 6, 6), 36, channels=4, layers=2)
    model.train()
    x = torch.randn(10, 1, 6, 6)
    y = torch.randint(0, 36, (10,))
    out = evaluate_keypoints(model, x, y, batch_size=4)
    assert set(out) == {"pck", "loss", "acc"}
    assert model.training  # mode restored
    model.eval()
    with torch.no_grad():
        expected = keypoint_metrics(model(x), y, 1.0)
    assert out == pytest.approx(expected)
