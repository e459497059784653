"""Models: every one is a :class:`Classifier` registered in :data:`MODELS`.

``build(name, input_shape, num_classes, **kwargs)`` builds one by name: ``linear``, ``mlp``,
``lenet``, ``resnet8``, ``resnet20``, ``resnet32``, ``heatmap``.
"""

from losskit.models.base import MODELS, Classifier, build, names
from losskit.models.heatmap import HeatmapNet, PixelHead
from losskit.models.lenet import LeNet
from losskit.models.mlp import MLP, LinearClassifier
from losskit.models.resnet import BasicBlock, ResNet, resnet

__all__ = [
    "MLP",
    "MODELS",
    "BasicBlock",
    "Classifier",
    "HeatmapNet",
    "LeNet",
    "LinearClassifier",
    "PixelHead",
    "ResNet",
    "build",
    "names",
    "resnet",
]
