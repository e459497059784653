"""CIFAR-style ResNets (He et al., 2016, §4.2): ``resnet8``, ``resnet20``, ``resnet32``.

A 3×3 stem conv, then three stages of ``n = (depth − 2) / 6`` BasicBlocks with ``w, 2w, 4w``
channels (``w = width``, 16 in the paper) and strides 1, 2, 2, global average pooling and a
linear head: ``6n + 2`` weighted layers. Shortcuts that change shape are either option A
(parameter-free: stride-2 subsampling and zero-padded channels, the paper's CIFAR choice) or
option B (1×1 conv + BatchNorm). Works on any ``(C, H, W)``, e.g. (1, 28, 28) and (3, 32, 32)
(``(H, W)`` and square flat ``(D,)`` shapes are read as one channel).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from losskit.models._common import as_image_shape, check_positive_int, kaiming_init
from losskit.models.base import MODELS, Classifier

SHORTCUTS = ("A", "B")


class PadShortcut(nn.Module):
    """Option A shortcut: take every ``stride``-th pixel and zero-pad the new channels."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.extra = out_channels - in_channels
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.extra)) if self.extra else x


class BasicBlock(nn.Module):
    """conv3×3 → BN → ReLU → conv3×3 → BN, plus the shortcut, then ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, shortcut: str) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut: nn.Module
        if stride == 1 and in_channels == out_channels:
            self.shortcut = nn.Identity()
        elif shortcut == "A":
            self.shortcut = PadShortcut(in_channels, out_channels, stride)
        else:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet(Classifier):
    """CIFAR ResNet of ``depth = 6n + 2``; features are the ``4·width`` pooled activations."""

    def __init__(
        self,
        input_shape: tuple[int, ...],
        num_classes: int,
        depth: int = 20,
        width: int = 16,
        shortcut: str = "A",
    ) -> None:
        super().__init__()
        self.input_shape = as_image_shape(input_shape)
        self.num_classes = check_positive_int(num_classes, "num_classes")
        check_positive_int(depth, "depth")
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f"depth must be 6n + 2 with n ≥ 1 (8, 14, 20, 32, …), got {depth}")
        check_positive_int(width, "width")
        shortcut = shortcut.upper() if isinstance(shortcut, str) else shortcut
        if shortcut not in SHORTCUTS:
            raise ValueError(f"shortcut must be one of {SHORTCUTS}, got {shortcut!r}")
        self.depth, self.width, self.shortcut = depth, width, shortcut
        blocks_per_stage = (depth - 2) // 6
        self.stem = nn.Sequential(
            nn.Conv2d(self.input_shape[0], width, 3, 1, 1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        )
        stages: list[nn.Module] = []
        channels = width
        for stage, out_channels in enumerate((width, 2 * width, 4 * width)):
            for i in range(blocks_per_stage):
                stride = 2 if stage > 0 and i == 0 else 1
                stages.append(BasicBlock(channels, out_channels, stride, shortcut))
                channels = out_channels
        self.stages = nn.Sequential(*stages)
        kaiming_init(self)
        self.feature_dim = channels
        self.head = nn.Linear(channels, self.num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(len(x), *self.input_shape)
        return self.stages(self.stem(x)).mean(dim=(2, 3))


def _register(depth: int) -> None:
    name = f"resnet{depth}"

    def factory(
        input_shape: tuple[int, ...], num_classes: int, width: int = 16, shortcut: str = "A"
    ) -> ResNet:
        return ResNet(input_shape, num_classes, depth=depth, width=width, shortcut=shortcut)

    factory.__name__ = name
    factory.__doc__ = f"CIFAR-style ResNet-{depth} ({(depth - 2) // 6} blocks per stage)."
    MODELS.register(
        name, help=f"CIFAR ResNet-{depth}: 3 stages × {(depth - 2) // 6} BasicBlocks, 16/32/64 ch"
    )(factory)


for _depth in (8, 20, 32):
    _register(_depth)


def resnet(
    input_shape: tuple[int, ...],
    num_classes: int,
    depth: int = 20,
    width: int = 16,
    shortcut: str = "A",
) -> ResNet:
    """Any-depth CIFAR ResNet (``depth = 6n + 2``); not registered, for direct use."""
    return ResNet(input_shape, num_classes, depth=depth, width=width, shortcut=shortcut)
