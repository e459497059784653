"""Keypoint heatmap network: every pixel of an ``S × S`` image is a "class".

Used for the UniLoss PCK experiment (UniLoss §5.4): input ``(C, S, S)`` (usually ``C = 1``),
``num_classes = S·S``, and the logits ``(N, S·S)`` are the heatmap flattened row-major, so
pixel ``(r, c)`` is class ``r·S + c``. A flat ``(S·S,)`` input shape is read as ``(1, S, S)``.

How the :class:`Classifier` contract maps here:

* ``features(x)`` is the last conv feature map ``(N, K, S, S)`` flattened channel-major to
  ``(N, K·S·S)`` (``feature_dim = K·S·S``, ``K = channels``);
* ``head`` is a :class:`PixelHead`: a 1×1 conv to one channel, i.e. the same ``nn.Linear(K, 1)``
  applied at every pixel, which turns those features into the ``S·S`` logits.

So ``model(x, return_features=True)`` keeps working, and ``head(features(x)) == model(x)``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from losskit.models._common import as_image_shape, check_positive_int, kaiming_init
from losskit.models.base import MODELS, Classifier


class PixelHead(nn.Module):
    """A 1×1 convolution to a single channel on flattened ``(N, K·P)`` features → ``(N, P)``.

    ``weight`` ``(1, K)`` and ``bias`` ``(1,)`` have ``nn.Linear(K, 1)``'s shapes and init;
    the logit of pixel ``p`` is ``Σ_k weight[0, k] · f[n, k, p] + bias``.
    """

    def __init__(self, channels: int, pixels: int) -> None:
        super().__init__()
        self.channels, self.pixels = channels, pixels
        self.weight = nn.Parameter(torch.empty(1, channels))
        self.bias = nn.Parameter(torch.empty(1))
        bound = 1.0 / math.sqrt(channels)
        nn.init.uniform_(self.weight, -bound, bound)  # nn.Linear's default init
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        maps = features.reshape(len(features), self.channels, self.pixels)
        return torch.matmul(self.weight, maps).squeeze(1) + self.bias

    def extra_repr(self) -> str:
        return f"channels={self.channels}, pixels={self.pixels}"


class HeatmapNet(Classifier):
    """``layers`` × [conv3×3 (padding 1, optional dilation) → BN → ReLU] at full resolution,
    then a :class:`PixelHead`. Dilations grow the receptive field without pooling."""

    head: PixelHead  # type: ignore[assignment]

    def __init__(
        self,
        input_shape: tuple[int, ...],
        num_classes: int,
        channels: int = 32,
        layers: int = 4,
        dilation: int = 1,
    ) -> None:
        super().__init__()
        self.input_shape = as_image_shape(input_shape)
        self.num_classes = check_positive_int(num_classes, "num_classes")
        channels = check_positive_int(channels, "channels")
        layers = check_positive_int(layers, "layers")
        dilation = check_positive_int(dilation, "dilation")
        in_channels, height, width = self.input_shape
        if height * width != num_classes:
            raise ValueError(
                f"num_classes must equal H·W = {height * width} for a heatmap on input_shape "
                f"{self.input_shape}, got {num_classes}"
            )
        body: list[nn.Module] = []
        previous = in_channels
        for i in range(layers):
            d = 1 if i == 0 else dilation
            body += [
                nn.Conv2d(previous, channels, 3, padding=d, dilation=d, bias=False),
                nn.BatchNorm2d(channels),
                nn.ReLU(inplace=True),
            ]
            previous = channels
        self.body = nn.Sequential(*body)
        kaiming_init(self.body)
        self.channels = channels
        self.side = (height, width)
        self.feature_dim = channels * height * width
        self.head = PixelHead(channels, height * width)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(len(x), *self.input_shape)
        return self.body(x).flatten(1)


@MODELS.register("heatmap", help="full-resolution conv net: one logit per pixel (keypoints)")
def heatmap(
    input_shape: tuple[int, ...],
    num_classes: int,
    channels: int = 32,
    layers: int = 4,
    dilation: int = 1,
) -> HeatmapNet:
    """Keypoint heatmap net for ``(C, S, S)`` input with ``num_classes = S·S``."""
    return HeatmapNet(input_shape, num_classes, channels=channels, layers=layers, dilation=dilation)
