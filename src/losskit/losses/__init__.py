"""The loss zoo: pure functions (:mod:`losskit.losses.functional`), ``nn.Module`` mirrors
(:mod:`losskit.losses.modules`) and the ``LOSSES`` registry (``get``, ``build``, ``names``).

Every loss declares its ``task``: ``"classification"`` (integer class-index targets; ``ce``,
``prob_mse``, ``prob_mae``, ``prob_bce``, ``bce``, ``hinge``, ``cosine``, ``focal``, …) or
``"regression"`` (real-valued targets; ``mse``, ``mae``, ``huber``, ``smooth_l1``,
``log_cosh``, with torch's meaning). A target of the other task raises one ``ValueError``
naming the loss.

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
from losskit.losses.registry import LOSSES, build, get, names

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
]
