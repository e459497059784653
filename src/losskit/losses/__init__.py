"""The loss zoo: pure functions (:mod:`losskit.losses.functional`), ``nn.Module`` forms
(:mod:`losskit.losses.modules`) and the ``LOSSES`` registry (``get``, ``build``, ``names``).

Each family is one module holding its functional forms and their module forms, with the papers:
:mod:`~losskit.losses.cross_entropy`, :mod:`~losskit.losses.binary`,
:mod:`~losskit.losses.probability` (SLF's candidates), :mod:`~losskit.losses.margin`,
:mod:`~losskit.losses.regression`, :mod:`~losskit.losses.feature` (center, L-GM),
:mod:`~losskit.losses.heatmap`, :mod:`~losskit.losses.robust` and
:mod:`~losskit.losses.imbalance`; ``functional`` and ``modules`` are the namespaces over them.

Every loss declares its ``task``: ``"classification"`` (integer class-index targets; ``ce``,
``prob_mse``, ``prob_mae``, ``prob_bce``, ``bce``, ``hinge``, ``cosine``, ``focal``, …) or
``"regression"`` (real-valued targets; ``mse``, ``mae``, ``huber``, ``smooth_l1``,
``log_cosh``, with torch's meaning). A target of the other task raises one ``ValueError``
naming the loss.

Label noise: ``gce``, ``sce``, ``rce``, ``nce``, ``nce+rce`` (:mod:`losskit.losses.robust`).
Class imbalance: ``logit_adjusted_ce``, ``ldam`` (:mod:`losskit.losses.imbalance`) and
class-balanced weights for the cross-entropy family (``class_balanced_beta=``); the class
counts they need come from the training labels (:mod:`losskit.losses.priors`).

>>> from losskit import losses
>>> losses.get("focal", gamma=2.0)
FocalLoss(gamma=2.0, alpha=None, reduction='mean')
>>> losses.get("huber").task
'regression'
"""

from __future__ import annotations

import warnings

from losskit.losses import functional
from losskit.losses.base import TASKS, Loss, LosskitDeprecationWarning
from losskit.losses.imbalance import LDAMLoss, LogitAdjustedLoss
from losskit.losses.modules import (
    BinaryCrossEntropyLoss,
    BinaryFocalLoss,
    CenterLoss,
    CosineLoss,
    CrossEntropyLoss,
    FocalLoss,
    HeatmapMSELoss,
    HingeLoss,
    HuberLoss,
    LabelSmoothingLoss,
    LGMLoss,
    LogCoshLoss,
    MAELoss,
    MSELoss,
    MultiMarginLoss,
    Poly1Loss,
    ProbBCELoss,
    ProbMAELoss,
    ProbMSELoss,
    SmoothL1Loss,
)
from losskit.losses.priors import class_balanced_weights, class_counts, class_priors
from losskit.losses.registry import LOSSES, build, get, names
from losskit.losses.robust import GCELoss, NCELoss, NCERCELoss, RCELoss, SCELoss

# deprecations of losskit names are shown (once per call site), not hidden like torch's
warnings.filterwarnings("default", category=LosskitDeprecationWarning)

__all__ = [
    "functional",
    "Loss",
    "LosskitDeprecationWarning",
    "TASKS",
    "LOSSES",
    "get",
    "build",
    "names",
    "BinaryCrossEntropyLoss",
    "BinaryFocalLoss",
    "CenterLoss",
    "CosineLoss",
    "CrossEntropyLoss",
    "FocalLoss",
    "HeatmapMSELoss",
    "HingeLoss",
    "HuberLoss",
    "LabelSmoothingLoss",
    "LGMLoss",
    "LogCoshLoss",
    "MAELoss",
    "MSELoss",
    "MultiMarginLoss",
    "Poly1Loss",
    "ProbBCELoss",
    "ProbMAELoss",
    "ProbMSELoss",
    "SmoothL1Loss",
    # label noise (losskit.losses.robust) and class imbalance (losskit.losses.imbalance)
    "GCELoss",
    "NCELoss",
    "NCERCELoss",
    "RCELoss",
    "SCELoss",
    "LDAMLoss",
    "LogitAdjustedLoss",
    "class_balanced_weights",
    "class_counts",
    "class_priors",
]
