"""Your images: ``DIR/train/<class>/*.png|*.jpg`` (+ ``DIR/test/…``, optional ``DIR/val/…``).

``losskit train --data folder --data-arg root=DIR`` (or ``data.load("folder", root=DIR)``)
reads the layout below; images are decoded lazily, one per ``__getitem__`` (Pillow: ``pip
install 'losskit[images]'``), so the set never has to fit in memory, and train through the
same ``DataLoader`` path as any other dataset (``--num-workers`` decodes in parallel)::

    DIR/train/cat/0001.png      class names: the sub-folders of train/, sorted
    DIR/train/dog/0002.jpg      (label = position in that order)
    DIR/test/cat/…              required; its class folders must be train's
    DIR/val/…                   optional; else val_fraction of train (stratified, seeded)

Every image becomes a float32 tensor ``(C, H, W)`` with pixels in ``[0, 1]`` (``mean`` /
``std`` normalise per channel); ``channels`` is 1 (grey) or 3 (RGB), by default that of the
first training image; all images must share one size unless ``size`` resizes them. A layout
that does not fit is one :class:`~losskit.core.errors.ConfigError` naming ``root`` and what is
wrong (``losskit: error: --data-arg root=…``, exit code 2).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset, Subset

from losskit.core.errors import ConfigError
from losskit.data.base import DATASETS, DataSplits
from losskit.data.splits import check_fraction, check_seed, generator, stratified_split

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


def _error(root: Path, why: str) -> ConfigError:
    return ConfigError(f"data_kwargs root={str(root)!r}: {why}", "data_kwargs")


def _pil() -> Any:
    from losskit.core.errors import require

    return require("PIL.Image", "images", "read an image folder")


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and not p.name.startswith(".")
                  and p.suffix.lower() in EXTENSIONS)


def _class_folders(part: Path) -> list[str]:
    return sorted(p.name for p in part.iterdir() if p.is_dir() and not p.name.startswith("."))


def scan(root: Path, part: str, classes: list[str] | None = None
         ) -> tuple[list[tuple[Path, int]], list[str]]:
    """``([(image path, label)], classes)`` of ``root/part``; ``classes`` (train's) fixes the
    labels of another part."""
    folder = root / part
    if not folder.is_dir():
        raise _error(root, f"has no {part}/ folder; expected {part}/<class>/<image> files "
                           f"({', '.join(EXTENSIONS)})")
    found = _class_folders(folder)
    if not found:
        raise _error(root, f"{part}/ holds no class folders; expected {part}/<class>/<image>")
    if classes is None:
        classes = found
    unknown = sorted(set(found) - set(classes))
    if unknown:
        raise _error(root, f"{part}/ has class folder(s) {unknown} that train/ does not have "
                           f"(train classes: {classes})")
    samples = []
    for name in found:
        files = _images(folder / name)
        if not files:
            raise _error(root, f"{part}/{name}/ holds no image ({', '.join(EXTENSIONS)})")
        samples += [(f, classes.index(name)) for f in files]
    return samples, classes


def _size(size: Any) -> tuple[int, int] | None:
    if size is None:
        return None
    values = [size, size] if isinstance(size, int) and not isinstance(size, bool) else size
    if (not isinstance(values, (list, tuple)) or len(values) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                       for v in values)):
        raise ConfigError(f"data_kwargs size must be an integer or [height, width] > 0, got "
                          f"{size!r}", "data_kwargs")
    return int(values[0]), int(values[1])


def _stats(value: Any, channels: int, name: str) -> torch.Tensor | None:
    if value is None:
        return None
    values = [value] * channels if isinstance(value, (int, float)) else value
    if (not isinstance(values, (list, tuple)) or len(values) != channels
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)):
        raise ConfigError(f"data_kwargs {name} must be a number or {channels} numbers (one per "
                          f"channel), got {value!r}", "data_kwargs")
    if name == "std" and any(v <= 0 for v in values):
        raise ConfigError(f"data_kwargs std must be > 0, got {value!r}", "data_kwargs")
    return torch.tensor(values, dtype=torch.float32).view(-1, 1, 1)


class ImageFolder(Dataset):
    """``(image, label)`` of image files, decoded on access (module doc): ``image`` float32
    ``(channels, H, W)`` in ``[0, 1]`` (then ``(x − mean) / std`` when given), ``label`` int64.
    ``classes``: the class names (``len(classes)`` is the number of classes)."""

    def __init__(self, samples: list[tuple[Path, int]], classes: list[str], channels: int,
                 size: tuple[int, int] | None = None, mean: torch.Tensor | None = None,
                 std: torch.Tensor | None = None) -> None:
        self.samples, self.classes = samples, classes
        self.targets = [label for _, label in samples]
        self.channels, self.size, self.mean, self.std = channels, size, mean, std

    def __len__(self) -> int:
        return len(self.samples)

    def load(self, path: Path) -> torch.Tensor:
        image_module = _pil()
        with image_module.open(path) as image:
            image = image.convert("L" if self.channels == 1 else "RGB")
            if self.size is not None and image.size != (self.size[1], self.size[0]):
                image = image.resize((self.size[1], self.size[0]), image_module.BILINEAR)
            width, height = image.size
            data = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8)
        x = data.view(height, width, self.channels).permute(2, 0, 1).float().div_(255.0)
        if self.mean is not None:
            x = x - self.mean
        if self.std is not None:
            x = x / self.std
        return x

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        path, label = self.samples[index]
        return self.load(path), torch.tensor(label, dtype=torch.int64)


@DATASETS.register("folder", help="your images: root=DIR with train/<class>/*.png|jpg, test/, "
                                  "val/ (optional)")
def load_folder(
    root: str | None = None,
    channels: int | None = None,
    size: int | list[int] | None = None,
    mean: float | list[float] | None = None,
    std: float | list[float] | None = None,
    val_fraction: float = 0.0,
    seed: int = 0,
) -> DataSplits:
    """The image folder ``root`` (module doc) as lazy :class:`ImageFolder` splits.

    ``channels``: 1 or 3 (default: the first training image's); ``size``: resize every
    image to ``size × size`` (or ``[height, width]``); ``mean`` / ``std``: per-channel
    normalisation; ``val_fraction``: stratified seeded validation part of train when there is
    no ``val/`` folder.
    """
    if root is None or not isinstance(root, (str, os.PathLike)):
        raise ConfigError(f"data_kwargs root must be the folder holding train/ and test/, got "
                          f"{root!r} (--data-arg root=DIR)", "data_kwargs")
    path = Path(root).expanduser()
    if not path.is_dir():
        raise _error(path, "is not a folder")
    seed = check_seed(seed)
    val_fraction = check_fraction(val_fraction, "val_fraction")
    train, classes = scan(path, "train")
    test, _ = scan(path, "test", classes)
    val = scan(path, "val", classes)[0] if (path / "val").is_dir() else None
    if val is not None and val_fraction > 0:
        raise _error(path, "has a val/ folder; leave val_fraction out (or remove val/)")
    first = train[0][0]
    try:
        with _pil().open(first) as image:
            mode, (width, height) = image.mode, image.size
    except OSError as exc:
        raise _error(path, f"{first} cannot be read as an image: {exc}") from exc
    if channels is None:
        channels = 1 if mode in ("1", "L", "I", "I;16", "F") else 3
    if channels not in (1, 3):
        raise ConfigError(f"data_kwargs channels must be 1 or 3, got {channels!r}", "data_kwargs")
    shape = _size(size) or (height, width)
    if size is None:
        for sample, _ in (*train, *test, *(val or ())):  # one size, or say which differs
            with _pil().open(sample) as image:
                if image.size != (width, height):
                    raise _error(path, f"images differ in size: {first.name} is {width}×{height}"
                                       f", {sample} is {image.size[0]}×{image.size[1]}; give "
                                       "size=H (or [H, W]) to resize them")
    norm = (_stats(mean, channels, "mean"), _stats(std, channels, "std"))

    def folder(samples: list[tuple[Path, int]]) -> ImageFolder:
        return ImageFolder(samples, classes, channels, _size(size), *norm)

    train_set: Any = folder(train)
    val_set: Any = None if val is None else folder(val)
    if val_fraction > 0:
        labels = torch.tensor(train_set.targets)
        keep, held = stratified_split(labels, val_fraction, generator(seed, "val"))
        val_set = Subset(train_set, held.tolist())
        train_set = Subset(train_set, keep.tolist())
    return DataSplits(
        name="folder", train=train_set, val=val_set, test=folder(test),
        num_classes=len(classes), input_shape=(channels, *shape),
        meta={"task": "binary" if len(classes) == 2 else "classification",
              "classes": classes, "root": str(path)},
    )
