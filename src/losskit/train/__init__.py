"""The one Trainer, the registered methods and their interface."""

from losskit.core.method import Method, TrainContext, bind_method, setup_method
from losskit.core.step import StepResult, compute_loss, forward, loss_step
from losskit.losses.method import LossMethod
from losskit.train.callbacks import Callback, ConsoleLogger
from losskit.train.config import TrainConfig
from losskit.train.evaluation import (
    EVALUATORS,
    evaluate_classification,
    evaluate_regression,
    predict_logits,
    regression_metrics,
)
from losskit.train.features import FeatureModel, with_features
from losskit.train.methods import METHODS
from losskit.train.trainer import Trainer, TrainResult, batches, fit, seeded_generator

__all__ = [
    "EVALUATORS",
    "METHODS",
    "Callback",
    "ConsoleLogger",
    "FeatureModel",
    "LossMethod",
    "Method",
    "StepResult",
    "TrainConfig",
    "TrainContext",
    "TrainResult",
    "Trainer",
    "batches",
    "bind_method",
    "compute_loss",
    "evaluate_classification",
    "evaluate_regression",
    "fit",
    "forward",
    "loss_step",
    "predict_logits",
    "regression_metrics",
    "seeded_generator",
    "setup_method",
    "with_features",
]
import losskit.train.keypoints  # noqa: F401
