"""``nn.Module`` forms of the loss zoo, one namespace over the family modules that define them
(each next to its functional form), all registered in ``LOSSES``.

Each module form is a plain class over its functional form
(:class:`~losskit.losses.mirror.FunctionalLoss`; the cross-entropy family's
:class:`~losskit.losses.family.FamilyLoss`): its hyper-parameters, their defaults and checks
are the function's (:func:`~losskit.core._validation.checks`) — checked at construction (one
``ValueError`` naming the argument), stored as attributes, shown by ``repr`` and passed to the
function at every call. The parametric losses (center, L-GM) own their parameters. Registry
names:

* classification: ``ce, bce, prob_mse, prob_mae, prob_bce, hinge, cosine, focal,
  binary_focal, multi_margin, label_smoothing, poly1, center, ce_center, lgm, heatmap_mse``
  (``center`` is the centre term alone; ``ce_center`` the joint CE + centre loss);
* regression: ``mse, mae, huber, smooth_l1, log_cosh`` (torch's meaning of these names).

``mse`` / ``mae`` given class indices fall back to ``prob_mse`` / ``prob_mae`` with a
deprecation warning until losskit 0.2 (see :mod:`losskit.losses.regression`).

The two parametric losses (``center``, ``lgm``) need penultimate features
(``needs_features = True``) and own ``nn.Parameter`` s (``has_parameters = True``) that must be
handed to the optimizer (``LossMethod.parameters()`` does this).

==================================  =====================================================
module                              classes
==================================  =====================================================
:mod:`~losskit.losses.cross_entropy`  ``CrossEntropyLoss``, ``LabelSmoothingLoss``,
                                    ``Poly1Loss``, ``FocalLoss``
:mod:`~losskit.losses.binary`       ``BinaryCrossEntropyLoss``, ``BinaryFocalLoss``
:mod:`~losskit.losses.probability`  ``ProbMSELoss``, ``ProbMAELoss``, ``ProbBCELoss``,
                                    ``CosineLoss``
:mod:`~losskit.losses.margin`       ``HingeLoss``, ``MultiMarginLoss``
:mod:`~losskit.losses.regression`   ``MSELoss``, ``MAELoss``, ``HuberLoss``, ``SmoothL1Loss``,
                                    ``LogCoshLoss``
:mod:`~losskit.losses.feature`      ``CenterLoss``, ``center_term``, ``LGMLoss``
:mod:`~losskit.losses.heatmap`      ``HeatmapMSELoss``
==================================  =====================================================
"""

from __future__ import annotations

from losskit.losses.binary import BCE_ACTIVATIONS as BCE_ACTIVATIONS
from losskit.losses.binary import BinaryCrossEntropyLoss, BinaryFocalLoss
from losskit.losses.cross_entropy import CrossEntropyLoss, FocalLoss, LabelSmoothingLoss, Poly1Loss
from losskit.losses.family import CrossEntropyFamily as _CrossEntropyFamily  # noqa: F401 - old name
from losskit.losses.feature import CenterLoss, LGMLoss, center_term
from losskit.losses.heatmap import HeatmapMSELoss
from losskit.losses.margin import HingeLoss, MultiMarginLoss
from losskit.losses.mirror import loss_module
from losskit.losses.probability import CosineLoss, ProbBCELoss, ProbMAELoss, ProbMSELoss
from losskit.losses.regression import HuberLoss, LogCoshLoss, MAELoss, MSELoss, SmoothL1Loss

__all__ = [
    "CrossEntropyLoss",
    "BinaryCrossEntropyLoss",
    "ProbMSELoss",
    "ProbMAELoss",
    "ProbBCELoss",
    "MSELoss",
    "MAELoss",
    "HuberLoss",
    "SmoothL1Loss",
    "LogCoshLoss",
    "HingeLoss",
    "CosineLoss",
    "FocalLoss",
    "BinaryFocalLoss",
    "MultiMarginLoss",
    "LabelSmoothingLoss",
    "Poly1Loss",
    "CenterLoss",
    "center_term",
    "LGMLoss",
    "HeatmapMSELoss",
    "loss_module",
]
