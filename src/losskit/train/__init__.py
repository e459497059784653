"""The one Trainer and the method interface."""

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
from losskit.train.method import (
    METHODS,
    LossMethod,
    Method,
    StepResult,
    TrainContext,
    compute_loss,
    forward,
    loss_step,
)
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
    "compute_loss",
    "evaluate_classification",
    "evaluate_regression",
    "fit",
    "forward",
    "loss_step",
    "predict_logits",
    "regression_metrics",
    "seeded_generator",
    "with_features",
]
import losskit.train.keypoints  # noqa: F401
