"""Transforms and data augmentation in plain torch (no torchvision).

* :class:`TransformDataset` — ``transform`` / ``target_transform`` applied to each sample of any
  map-style dataset (tuple or dict samples); the built-in loaders take ``transform=`` /
  ``target_transform=`` and wrap their splits in it (:func:`with_transforms`).
* :class:`RandomCropFlip` — the CIFAR recipe of the ResNet paper (He et al. 2016, §4.2), which
  the MILS and UniLoss CIFAR experiments train with: pad 4 pixels on each side, take a random
  crop of the original size, flip horizontally with probability ½. Per sample (any dataset,
  also inside ``DataLoader`` workers) or a whole batch at once (:func:`crop_flip_batch`, the
  in-memory path of ``fit(…, augment="crop-flip")``).

Randomness (no global RNG): a random transform draws from its own ``torch.Generator``. In the
main process that is the ``generator`` it was given (the Trainer's, saved in checkpoints, so a
resumed run draws what an uninterrupted one would); inside a ``DataLoader`` worker it is seeded
from the worker's seed (``get_worker_info().seed``: the loader's base seed, drawn from the
loader's generator once per epoch, plus the worker id), so workers draw different crops, every
epoch draws new ones, and a seeded loader repeats them.

=====================  ================================  ==========================================
the papers             our default                       options
=====================  ================================  ==========================================
pad 4, zero pixels     pad 4 with ``fill=0.0``; the      ``padding``, ``fill`` (e.g. the value of
                       built-in CIFAR/SVHN tensors are   a black pixel after normalisation,
                       normalised, so 0 is the mean      ``-mean/std``)
                       colour
random 32×32 crop      crop of the input's own size      —
horizontal flip ½      ``flip=0.5``                      ``flip=0.0`` (no flip)
=====================  ================================  ==========================================
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset, get_worker_info

from losskit.data.base import DataSplits

#: ``TrainConfig.augment`` recipes (``--augment``).
AUGMENTATIONS = ("crop-flip",)
_WORKER_STREAM = 0x5DEECE66D  # mixed into worker seeds: this transform's stream in a worker


def _check(padding: Any, flip: Any) -> tuple[int, float]:
    if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
        raise ValueError(f"padding must be an integer ≥ 0, got {padding!r}")
    if isinstance(flip, bool) or not isinstance(flip, (int, float)) or not 0.0 <= flip <= 1.0:
        raise ValueError(f"flip must be a probability in [0, 1], got {flip!r}")
    return int(padding), float(flip)


def crop_flip_batch(
    x: torch.Tensor, generator: torch.Generator | None = None, padding: int = 4,
    flip: float = 0.5, fill: float = 0.0,
) -> torch.Tensor:
    """Random crop of padded images + horizontal flip, for a batch ``(N, C, H, W)`` (or one
    image ``(C, H, W)``) at once: each image is padded by ``padding`` pixels of ``fill`` on
    every side, an ``H × W`` window at a uniformly random offset in ``[0, 2·padding]²`` is
    cut out, and it is mirrored left–right with probability ``flip``. Draws (one
    ``randint`` of the offsets, one ``rand`` of the flips, on the CPU ``generator``) do not
    touch the global RNG."""
    padding, flip = _check(padding, flip)
    single = x.dim() == 3
    if single:
        x = x.unsqueeze(0)
    if x.dim() != 4:
        raise ValueError(f"images must have shape (N, C, H, W) or (C, H, W), got "
                         f"{tuple(x.shape)}")
    n, _, h, w = x.shape
    offsets = torch.randint(0, 2 * padding + 1, (n, 2), generator=generator)
    flips = torch.rand(n, generator=generator) < flip
    if padding:
        padded = F.pad(x, (padding,) * 4, value=fill)
        rows = (offsets[:, 0, None] + torch.arange(h)).to(x.device)  # (N, H)
        cols = (offsets[:, 1, None] + torch.arange(w)).to(x.device)  # (N, W)
        batch = torch.arange(n, device=x.device)[:, None, None]
        # (N, H, W, C) gather of each image's window, back to (N, C, H, W)
        x = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]
        x = x.permute(0, 3, 1, 2).contiguous()
    if bool(flips.any()):
        x = torch.where(flips.to(x.device)[:, None, None, None], x.flip(-1), x)
    return x[0] if single else x


class RandomCropFlip:
    """Per-sample :func:`crop_flip_batch` (the CIFAR recipe; module doc): ``t(image)`` for one
    image ``(C, H, W)``. ``generator``: the main process's stream (default: seeded with
    ``seed``); in ``DataLoader`` workers each worker seeds its own from the worker seed."""

    def __init__(self, padding: int = 4, flip: float = 0.5, fill: float = 0.0, seed: int = 0,
                 generator: torch.Generator | None = None) -> None:
        self.padding, self.flip = _check(padding, flip)
        self.fill = float(fill)
        self.generator = generator if generator is not None else torch.Generator().manual_seed(
            int(seed))
        self._worker: tuple[int, int, int] | None = None  # (pid, worker id, worker seed)
        self._worker_generator: torch.Generator | None = None

    def _stream(self) -> torch.Generator:
        info = get_worker_info()
        if info is None:
            return self.generator
        key = (os.getpid(), info.id, info.seed)
        if key != self._worker:  # a new worker (or a new epoch's worker): its own stream
            self._worker = key
            self._worker_generator = torch.Generator().manual_seed(
                (info.seed ^ _WORKER_STREAM) % (2**63 - 1))
        assert self._worker_generator is not None
        return self._worker_generator

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        if not isinstance(image, torch.Tensor) or image.dim() != 3:
            raise ValueError(f"RandomCropFlip takes one image tensor (C, H, W), got "
                             f"{getattr(image, 'shape', type(image).__name__)}")
        return crop_flip_batch(image, self._stream(), self.padding, self.flip, self.fill)

    def __repr__(self) -> str:
        return f"RandomCropFlip(padding={self.padding}, flip={self.flip}, fill={self.fill})"


class Compose:
    """``Compose([f, g])(x) == g(f(x))``."""

    def __init__(self, transforms: list[Callable[[Any], Any]]) -> None:
        self.transforms = list(transforms)

    def __call__(self, value: Any) -> Any:
        for t in self.transforms:
            value = t(value)
        return value

    def __repr__(self) -> str:
        return f"Compose({self.transforms!r})"


class TransformDataset(Dataset):
    """``dataset`` with ``transform`` applied to each sample's input and ``target_transform``
    to its target. Samples are ``(x, y, …)`` tuples (extra items kept) or dicts (keys
    ``input_key`` / ``target_key``, the others kept)."""

    def __init__(self, dataset: Dataset, transform: Callable[[Any], Any] | None = None,
                 target_transform: Callable[[Any], Any] | None = None,
                 input_key: str = "input", target_key: str = "target") -> None:
        for name, fn in (("transform", transform), ("target_transform", target_transform)):
            if fn is not None and not callable(fn):
                raise ValueError(f"{name} must be callable or None, got {fn!r}")
        self.dataset = dataset
        self.transform, self.target_transform = transform, target_transform
        self.input_key, self.target_key = input_key, target_key

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def _apply(self, x: Any, y: Any) -> tuple[Any, Any]:
        if self.transform is not None:
            x = self.transform(x)
        if self.target_transform is not None:
            y = self.target_transform(y)
        return x, y

    def __getitem__(self, index: int) -> Any:
        sample = self.dataset[index]
        if isinstance(sample, Mapping):
            out = dict(sample)
            out[self.input_key], out[self.target_key] = self._apply(
                sample[self.input_key], sample[self.target_key])
            return out
        x, y = self._apply(sample[0], sample[1])
        return (x, y, *sample[2:])

    def __repr__(self) -> str:
        return (f"TransformDataset({type(self.dataset).__name__}, transform={self.transform!r}, "
                f"target_transform={self.target_transform!r})")


def with_transforms(splits: DataSplits, transform: Callable[[Any], Any] | None = None,
                    target_transform: Callable[[Any], Any] | None = None) -> DataSplits:
    """``splits`` with every split wrapped in :class:`TransformDataset` (unchanged when both
    are ``None``). For training-only augmentation use ``TrainConfig.augment`` (or wrap
    ``splits.train`` alone)."""
    if transform is None and target_transform is None:
        return splits

    def wrap(ds: Any) -> Any:
        return None if ds is None else TransformDataset(ds, transform, target_transform)

    return DataSplits(splits.name, wrap(splits.train), wrap(splits.val), wrap(splits.test),
                      splits.num_classes, splits.input_shape, splits.meta)
