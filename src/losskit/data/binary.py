"""One-vs-rest binary subsets with an exact positive:negative ratio (UniLoss paper §4.2 / §5.3).

UniLoss evaluates average precision on "zeros vs non-zeros" with positives to negatives 1:9.
``neg_per_pos = r`` asks for ``r`` negatives per positive; when a split holds fewer than
``r · P`` negatives the *positives* are thinned (seeded) until the ratio is met, so the ratio
asked for is the ratio delivered (``r = 19`` on Fashion-MNIST: 2,842 : 53,998 in train, not
6,000 : 54,000 = 1:9). The realised counts of every split are in ``meta["counts"]``
(:func:`binary_counts`).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from losskit.data.base import DataSplits
from losskit.data.splits import _round_half_up, check_fraction, generator, make_splits


def check_neg_per_pos(neg_per_pos: Any) -> float:
    """``neg_per_pos`` as a positive finite number; ``ValueError`` naming it otherwise."""
    if (
        isinstance(neg_per_pos, bool)
        or not isinstance(neg_per_pos, (int, float))
        or not math.isfinite(neg_per_pos)
        or neg_per_pos <= 0
    ):
        raise ValueError(f"neg_per_pos must be a positive number, got {neg_per_pos!r}")
    return float(neg_per_pos)


def ratio_sizes(n_pos: int, n_neg: int, neg_per_pos: float, what: str = "") -> tuple[int, int]:
    """``(positives, negatives)`` to keep out of ``n_pos`` / ``n_neg`` available for ratio
    ``1 : neg_per_pos``: every positive and ``round(neg_per_pos · n_pos)`` negatives when there
    are enough, else the most positives ``p`` with ``round(neg_per_pos · p) <= n_neg``.

    The ratio is exact whenever ``neg_per_pos · p`` is an integer (any integer ``neg_per_pos``).
    ``ValueError`` naming ``neg_per_pos`` when not even one positive can be matched.
    """
    r = check_neg_per_pos(neg_per_pos)
    p = n_pos
    if _round_half_up(r * p) > n_neg:
        p = min(n_pos, int(math.floor(n_neg / r)))
        while p > 0 and _round_half_up(r * p) > n_neg:
            p -= 1
        while p < n_pos and _round_half_up(r * (p + 1)) <= n_neg:
            p += 1
    if p == 0:
        where = f" in {what}" if what else ""
        raise ValueError(
            f"neg_per_pos={neg_per_pos!r} is impossible{where}: it needs at least "
            f"{_round_half_up(r)} negatives for one positive, only {n_neg} available "
            f"({n_pos} positives); ask for a smaller neg_per_pos"
        )
    return p, _round_half_up(r * p)


def one_vs_rest(
    x: torch.Tensor,
    y: torch.Tensor,
    positive_class: int,
    neg_per_pos: float,
    generator: torch.Generator,
    what: str = "",
) -> tuple[torch.Tensor, torch.Tensor]:
    """``positive_class`` (label 1) vs the other classes (label 0) at ratio ``1 : neg_per_pos``.

    With ``P`` positives and ``N`` negatives available: when ``round(neg_per_pos · P) <= N``,
    every positive and that many seeded random negatives are kept; otherwise the positives are
    thinned (a seeded random subset, drawn after the negatives) to the most ``p`` with
    ``round(neg_per_pos · p) <= N`` (:func:`ratio_sizes`). Original order is preserved.
    Returns ``(x_subset, y01)`` with ``y01`` int64 in {0, 1}. ``what`` names the split in the
    error raised when the ratio is impossible.
    """
    if isinstance(positive_class, bool) or not isinstance(positive_class, int):
        raise ValueError(f"positive_class must be an int class index, got {positive_class!r}")
    check_neg_per_pos(neg_per_pos)
    pos = y == positive_class
    n_pos = int(pos.sum())
    if n_pos == 0:
        raise ValueError(f"positive_class {positive_class} has no samples")
    neg_idx = torch.nonzero(~pos).flatten()
    keep_pos, n_neg = ratio_sizes(n_pos, neg_idx.numel(), neg_per_pos, what)
    chosen = neg_idx[torch.randperm(neg_idx.numel(), generator=generator)[:n_neg]]
    keep = pos.clone()
    if keep_pos < n_pos:  # only then: an achievable ratio draws exactly what it always drew
        pos_idx = torch.nonzero(pos).flatten()
        keep[pos_idx[torch.randperm(n_pos, generator=generator)[keep_pos:]]] = False
    keep[chosen] = True
    return x[keep], pos[keep].long()


def binary_val_counts(y01: torch.Tensor, val_fraction: float, neg_per_pos: float) -> list[int]:
    """Held-out ``[negatives, positives]`` of a ``1 : neg_per_pos`` set for ``val_fraction``:
    ``round(val_fraction · P)`` positives and ``round(neg_per_pos ·`` that ``)`` negatives, so
    train and validation keep the ratio (the class-proportional quota of
    :func:`~losskit.data.splits.stratified_split` would round each class on its own)."""
    n_pos, n_neg = int(y01.sum()), int(y01.numel() - y01.sum())
    held_pos = _round_half_up(val_fraction * n_pos)
    return [min(n_neg, _round_half_up(neg_per_pos * held_pos)), held_pos]


def binary_counts(splits: DataSplits) -> dict[str, dict[str, float]]:
    """``{split: {"positives", "negatives", "ratio"}}`` (ratio = negatives / positives) of a
    binary :class:`DataSplits`, for ``meta["counts"]``."""
    out: dict[str, dict[str, float]] = {}
    for part in ("train", "val", "test"):
        ds = getattr(splits, part)
        if ds is None:
            continue
        y = ds.tensors[1]
        p = int((y == 1).sum())
        n = int(y.numel()) - p
        out[part] = {"positives": p, "negatives": n, "ratio": n / p if p else math.inf}
    return out


def binary_splits(
    name: str,
    data: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
    *,
    positive_class: int,
    neg_per_pos: float,
    seed: int,
    val_fraction: float,
    meta: dict[str, Any] | None = None,
) -> DataSplits:
    """Train / val / test of ``positive_class`` vs the rest at ``1 : neg_per_pos`` in every part.

    Train and test are subsampled by :func:`one_vs_rest` (streams ``"train"`` / ``"test"`` of
    ``seed``); the validation part is held out of train with :func:`binary_val_counts`
    (stream ``"val"``). ``meta`` gets ``task="binary"``, ``positive_class``, ``neg_per_pos``
    and the realised ``counts`` (:func:`binary_counts`).
    """
    check_fraction(val_fraction, "val_fraction")
    x_tr, y_tr, x_te, y_te = data
    x_tr, y_tr = one_vs_rest(x_tr, y_tr, positive_class, neg_per_pos,
                             generator(seed, "train"), "the train split")
    x_te, y_te = one_vs_rest(x_te, y_te, positive_class, neg_per_pos,
                             generator(seed, "test"), "the test split")
    splits = make_splits(
        name, x_tr, y_tr, x_te, y_te, 2, seed=seed, val_fraction=val_fraction,
        meta={**(meta or {}), "task": "binary", "positive_class": positive_class,
              "neg_per_pos": neg_per_pos},
        val_counts=binary_val_counts(y_tr, val_fraction, neg_per_pos) if val_fraction else None,
    )
    assert splits.meta is not None
    splits.meta["counts"] = binary_counts(splits)
    return splits
