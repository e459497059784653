"""UniLoss (Liu, Wang & Deng): a metric refactored into signs of score differences, relaxed
by a sigmoid and interpolated over anchors by IDW — a surrogate loss for any such metric.

>>> from losskit.uniloss import UniLoss
>>> loss = UniLoss("accuracy")(logits, target)  # doctest: +SKIP
"""

from losskit.uniloss.anchors import Anchors, sample_anchors
from losskit.uniloss.interpolation import idw, sigmoid_relaxation
from losskit.uniloss.loss import RELAXATIONS, UniLoss
from losskit.uniloss.method import UniLossMethod
from losskit.uniloss.metrics import METRICS, Metric, custom_metric, resolve_metric
from losskit.uniloss.refactor import Comparisons, DegenerateBatchError, binary_scores, subsample

__all__ = [
    "METRICS",
    "RELAXATIONS",
    "Anchors",
    "Comparisons",
    "DegenerateBatchError",
    "Metric",
    "UniLoss",
    "UniLossMethod",
    "binary_scores",
    "custom_metric",
    "idw",
    "resolve_metric",
    "sample_anchors",
    "sigmoid_relaxation",
    "subsample",
]
