"""The loss zoo: pure functions (:mod:`losskit.losses.functional`), ``nn.Module`` mirrors
(:mod:`losskit.losses.modules`) and the ``LOSSES`` registry (``get``, ``build``, ``names``).

>>> from losskit import losses
>>> losses.get("focal", gamma=2.0)
FocalLoss(gamma=2.0, alpha=None, reduction='mean')
"""

from __future__ import annotations

from losskit.losses import functional
from losskit.losses.base import Loss
from losskit.losses.modules import (
    BinaryCrossEntropyLoss,
    BinaryFocalLoss,
    CenterLoss,
    CosineLoss,
    CrossEntropyLoss,
    FocalLoss,
    HeatmapMSELoss,
    HingeLoss,
    LabelSmoothingLoss,
    LGMLoss,
    MAELoss,
    MSELoss,
    MultiMarginLoss,
    Poly1Loss,
)
from losskit.losses.registry import LOSSES, build, get, names

__all__ = [
    "functional",
    "Loss",
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
    "LabelSmoothingLoss",
    "LGMLoss",
    "MAELoss",
    "MSELoss",
    "MultiMarginLoss",
    "Poly1Loss",
]
