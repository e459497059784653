"""LeNet-5 style convolutional network (LeCun et al., 1998), with ReLU and max pooling.

conv 5×5 (6) → pool 2 → conv 5×5 (16) → pool 2 → fc 120 → fc 84 → head. On 32×32 inputs the
first conv is unpadded as in the original; on smaller inputs it is padded so that the
second-stage map is at least 5×5 (28×28 → padding 2, the usual MNIST adaptation). ``(H, W)`` and
square flat ``(D,)`` input shapes are read as one channel.
"""

from __future__ import annotations

import torch
from torch import nn

from losskit.models._common import as_image_shape, check_positive_int, kaiming_init
from losskit.models.base import MODELS, Classifier


def _stage_size(size: int, padding: int) -> int:
    """Spatial size after conv5(pad) → pool2 → conv5 → pool2."""
    return ((size + 2 * padding - 4) // 2 - 4) // 2


class LeNet(Classifier):
    """LeNet-5: features are the 84 activations of the second fully connected layer."""

    def __init__(self, input_shape: tuple[int, ...], num_classes: int) -> None:
        super().__init__()
        self.input_shape = as_image_shape(input_shape)
        self.num_classes = check_positive_int(num_classes, "num_classes")
        channels, height, width = self.input_shape
        padding = max(0, (32 - min(height, width) + 1) // 2)
        # padding lifts the smaller side to ≥ 32 px, so both stage sizes are ≥ 5
        out_h, out_w = _stage_size(height, padding), _stage_size(width, padding)
        self.conv = nn.Sequential(
            nn.Conv2d(channels, 6, 5, padding=padding),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )
        self.fc = nn.Sequential(
            nn.Linear(16 * out_h * out_w, 120),
            nn.ReLU(inplace=True),
            nn.Linear(120, 84),
            nn.ReLU(inplace=True),
        )
        kaiming_init(self.conv)
        kaiming_init(self.fc)
        self.feature_dim = 84
        self.head = nn.Linear(84, self.num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(len(x), *self.input_shape)
        return self.fc(self.conv(x).flatten(1))


@MODELS.register("lenet", help="LeNet-5 (conv 6/16 5×5, fc 120-84), for 28×28 or 32×32")
def lenet(input_shape: tuple[int, ...], num_classes: int) -> LeNet:
    """LeNet-5 style CNN for ``(C, H, W)`` inputs such as (1, 28, 28) or (3, 32, 32)."""
    return LeNet(input_shape, num_classes)
