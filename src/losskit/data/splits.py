"""Seeded index arithmetic shared by all loaders: generators, stratified splits, imbalance.

Everything random takes a ``torch.Generator`` (or a seed from which one named stream is derived),
so the same seed always yields the same subsets on CPU.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from typing import Any

import torch
from torch.utils.data import TensorDataset

from losskit.data.base import DataSplits


def check_seed(seed: Any) -> int:
    """``seed`` as an ``int``; ``ValueError`` naming ``seed`` otherwise."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an int, got {seed!r}")
    return int(seed)


def check_fraction(value: Any, name: str, *, allow_zero: bool = True) -> float:
    """``value`` as a float in ``[0, 1)`` (or ``(0, 1)``); ``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a float in [0, 1), got {value!r}")
    v = float(value)
    low_ok = v >= 0.0 if allow_zero else v > 0.0
    if not (math.isfinite(v) and low_ok and v < 1.0):
        interval = "[0, 1)" if allow_zero else "(0, 1)"
        raise ValueError(f"{name} must be a float in {interval}, got {value!r}")
    return v


def generator(seed: int, stream: str = "") -> torch.Generator:
    """A CPU generator for ``(seed, stream)``: distinct named streams are independent.

    Loaders draw e.g. the validation split from stream ``"val"`` and the imbalance mask from
    stream ``"imbalance"``, so changing one option does not reshuffle the other.
    """
    seed = check_seed(seed)
    mixed = (seed * 0x9E3779B97F4A7C15 + zlib.crc32(stream.encode())) % (2**63 - 1)
    return torch.Generator().manual_seed(mixed)


def stratified_split(
    y: torch.Tensor,
    fraction: float,
    gen: torch.Generator,
    counts: Sequence[int] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Split indices ``0..len(y)-1`` into (kept, held) with ``fraction`` of each class held out.

    ``round(fraction * len(y))`` indices are held in total, shared among classes by largest
    remainder, so class ``c`` with ``n_c`` samples gives ``floor`` or ``ceil(fraction * n_c)``
    random members. ``counts`` (one per class present, in increasing class order) replaces that
    quota with explicit held-out counts (``fraction`` is then unused), e.g. to keep a binary
    set's positive:negative ratio exact in both parts. Both index tensors are sorted (original
    order preserved) and disjoint.
    """
    if y.dim() != 1:
        raise ValueError(f"y must be 1-D class indices, got shape {tuple(y.shape)}")
    classes, sizes = torch.unique(y, return_counts=True)
    if counts is None:
        fraction = check_fraction(fraction, "fraction")
        quota = fraction * sizes.double()
        held = torch.floor(quota).long()
        extra = _round_half_up(fraction * y.numel()) - int(held.sum())
        if extra > 0:
            order = torch.argsort(quota - held, descending=True, stable=True)
            held[order[:extra]] += 1
    else:
        held = torch.tensor([int(c) for c in counts], dtype=torch.long)
        if held.shape != sizes.shape or bool((held < 0).any() or (held > sizes).any()):
            raise ValueError(
                f"counts must give 0..n_c held-out samples for each of the {sizes.numel()} "
                f"classes (sizes {sizes.tolist()}), got {list(counts)}"
            )
    mask = torch.zeros(y.numel(), dtype=torch.bool)
    for c, count in zip(classes.tolist(), held.tolist()):
        if count:
            members = torch.nonzero(y == c).flatten()
            mask[members[torch.randperm(members.numel(), generator=gen)[:count]]] = True
    return torch.nonzero(~mask).flatten(), torch.nonzero(mask).flatten()


def _round_half_up(value: float) -> int:
    return int(math.floor(value + 0.5))


def random_split(
    n: int, fraction: float, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Split ``0..n-1`` into (kept, held) with ``round(fraction * n)`` random ones held; sorted."""
    fraction = check_fraction(fraction, "fraction")
    count = _round_half_up(fraction * n)
    mask = torch.zeros(n, dtype=torch.bool)
    mask[torch.randperm(n, generator=gen)[:count]] = True
    return torch.nonzero(~mask).flatten(), torch.nonzero(mask).flatten()


def retention_probabilities(r: float, num_classes: int) -> torch.Tensor:
    """Keep-probability per class for minimum retention rate ``r`` (SLF paper, §Experiments).

    "Images of class 0 will be held with probability r and class 9 with probability 1, with the
    other classes linearly between": ``p_c = r + (1 - r) * c / (C - 1)``.
    """
    if isinstance(r, bool) or not isinstance(r, (int, float)) or not (0.0 < float(r) <= 1.0):
        raise ValueError(f"r (retention) must be a float in (0, 1], got {r!r}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
    c = torch.arange(num_classes, dtype=torch.float64)
    p = float(r) + (1.0 - float(r)) * c / (num_classes - 1)
    p[-1] = 1.0  # exactly, whatever the rounding
    return p


def imbalance(
    x: torch.Tensor,
    y: torch.Tensor,
    r: float,
    num_classes: int,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random imbalanced subset: sample ``i`` is kept with probability ``p_{y_i}``.

    ``p`` is :func:`retention_probabilities` (SLF minimum retention rate ``r``): class 0 kept with
    probability ``r``, class ``C-1`` always, linear in between. Order is preserved.
    """
    p = retention_probabilities(r, num_classes)
    if y.dim() != 1 or x.shape[0] != y.shape[0]:
        raise ValueError(
            f"x and y must have the same first dimension and y must be 1-D, got "
            f"{tuple(x.shape)} and {tuple(y.shape)}"
        )
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise ValueError(f"y must hold class indices in [0, {num_classes}), got out-of-range")
    u = torch.rand(y.numel(), generator=generator, dtype=torch.float64)
    keep = u < p[y]
    return x[keep], y[keep]


def make_splits(
    name: str,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    num_classes: int,
    *,
    seed: int,
    val_fraction: float,
    meta: dict[str, Any],
    stratify: bool = True,
    val_counts: Sequence[int] | None = None,
) -> DataSplits:
    """Assemble a :class:`DataSplits`, taking a seeded validation part off train.

    The validation part is stratified by class (``stratify``) or a plain random subset;
    ``val_counts`` fixes how many of each class it holds (:func:`stratified_split`'s ``counts``).
    """
    val_fraction = check_fraction(val_fraction, "val_fraction")
    if "task" not in meta:
        raise ValueError("meta must set 'task'")
    val = None
    if val_fraction > 0:
        gen = generator(seed, "val")
        if stratify:
            keep, held = stratified_split(y_train, val_fraction, gen, val_counts)
        else:
            keep, held = random_split(y_train.shape[0], val_fraction, gen)
        val = TensorDataset(x_train[held], y_train[held])
        x_train, y_train = x_train[keep], y_train[keep]
    return DataSplits(
        name=name,
        train=TensorDataset(x_train, y_train),
        val=val,
        test=TensorDataset(x_test, y_test),
        num_classes=int(num_classes),
        input_shape=tuple(int(s) for s in x_train.shape[1:]),
        meta=dict(meta),
    )
