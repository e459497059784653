"""The loss registry: names, get/build by string, context handling, unknown names."""

from __future__ import annotations

import pytest
import torch

from losskit import losses
from losskit.losses import Loss

CLASSIFICATION = ["bce", "binary_focal", "ce", "ce_center", "center", "cosine", "focal",
                  "heatmap_mse", "hinge", "label_smoothing", "lgm", "multi_margin", "poly1",
                  "prob_bce", "prob_mae", "prob_mse"]
FEATURES = ("ce_center", "center", "lgm")
REGRESSION = ["huber", "log_cosh", "mae", "mse", "smooth_l1"]
ALL = sorted(CLASSIFICATION + REGRESSION)


def test_names_contains_every_loss() -> None:
    assert set(ALL) <= set(losses.names())
    assert losses.names() == sorted(losses.names())
    assert all(losses.LOSSES.describe()[n] for n in ALL)


def test_get_with_hyperparameters() -> None:
    focal = losses.get("focal", gamma=2.0)
    assert isinstance(focal, losses.FocalLoss) and focal.gamma == 2.0
    z, y = torch.randn(4, 3), torch.tensor([0, 1, 2, 0])
    torch.testing.assert_close(focal(z, y), losses.functional.focal(z, y, gamma=2.0))
    assert losses.get("hinge", variant="ova_squared").variant == "ova_squared"


def test_build_passes_context_only_where_accepted() -> None:
    ctx = {"num_classes": 10, "feature_dim": 8}
    center = losses.build("center", ctx)
    assert isinstance(center, losses.CenterLoss) and center.centers.shape == (10, 8)
    lgm = losses.build("lgm", ctx, alpha=0.3)
    assert lgm.means.shape == (10, 8) and lgm.alpha == 0.3
    ce = losses.build("ce", ctx)
    assert isinstance(ce, losses.CrossEntropyLoss)


@pytest.mark.parametrize("name", CLASSIFICATION)
def test_every_registered_classification_loss_builds_and_runs(name: str) -> None:
    loss = losses.build(name, {"num_classes": 9, "feature_dim": 5})
    assert isinstance(loss, Loss)
    assert loss.needs_features == (name in FEATURES)
    assert loss.has_parameters == (name in FEATURES)
    z, y = torch.randn(3, 9), torch.tensor([0, 4, 8])
    out = loss(z, y, features=torch.randn(3, 5)) if loss.needs_features else loss(z, y)
    assert out.shape == () and bool(torch.isfinite(out))
    assert loss.task == "classification"


@pytest.mark.parametrize("name", REGRESSION)
def test_every_registered_regression_loss_builds_and_runs(name: str) -> None:
    loss = losses.build(name, {"num_classes": 1, "feature_dim": 5})
    assert loss.task == "regression" and not loss.needs_features and not loss.has_parameters
    out = loss(torch.randn(3, 1), torch.randn(3))
    assert out.shape == () and bool(torch.isfinite(out))


def test_every_registered_loss_declares_a_known_task() -> None:
    context = {"num_classes": 3, "feature_dim": 2, "class_counts": [5, 2, 1]}
    tasks = {n: losses.build(n, context).task for n in losses.names()}
    assert set(tasks.values()) <= set(losses.TASKS)
    assert {n: tasks[n] for n in ALL} == {
        **{n: "classification" for n in CLASSIFICATION}, **{n: "regression" for n in REGRESSION}
    }


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(ValueError, match="unknown loss 'nope'") as err:
        losses.get("nope")
    for name in ALL:
        assert name in str(err.value)
    with pytest.raises(ValueError, match="focal"):
        losses.build("Focal", {})


def test_missing_context_for_parametric_loss() -> None:
    with pytest.raises(ValueError, match="num_classes"):
        losses.build("center", {})
    with pytest.raises(ValueError, match="feature_dim"):
        losses.build("lgm", {"num_classes": 3})
