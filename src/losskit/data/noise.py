"""Label noise for the classification loaders: symmetric or asymmetric (class-pair) flips.

Definitions (the usual ones of the noisy-label literature — symmetric: van Rooyen et al. 2015,
Zhang & Sabuncu 2018; asymmetric: Patrini et al. 2017, Han et al. 2018 "Co-teaching"):

* ``noise="symmetric"``, rate ``η``: a label is replaced, with probability ``η``, by a class drawn
  uniformly from the *other* ``C − 1`` classes (so the label is always wrong when replaced;
  the transition matrix is ``1 − η`` on the diagonal, ``η / (C − 1)`` elsewhere).
* ``noise="asymmetric"``, rate ``η``: a label of a *source* class ``s`` is replaced, with
  probability ``η``, by its paired class ``pairs[s]``; other classes are never changed.
  MNIST (:data:`MNIST_PAIRS`, Patrini et al.): 2→7, 3→8, 5↔6, 7→1. Fashion-MNIST
  (:data:`FASHION_MNIST_PAIRS`, ours: visually similar classes): T-shirt/top (0)→Shirt (6),
  Pullover (2)↔Coat (4), Sandal (5)→Sneaker (7), Sneaker (7)→Ankle boot (9).

=================================  =================================  ========================
literature                         our default                        options
=================================  =================================  ========================
each label flipped independently   exactly ``round(η · n)`` labels    —
with probability ``η`` (realised   flipped per split (symmetric), or
rate ``≈ η``)                      ``round(η · n_s)`` per source
                                   class ``s`` (asymmetric): a
                                   uniformly random subset, so every
                                   label is flipped with probability
                                   ``η`` and the realised rate is
                                   ``η`` to within ``0.5 / n``
symmetric: some papers draw the    the other classes only (a replaced —
new label from all ``C`` classes   label is always wrong)
noisy train; clean test            train and validation noisy (the    ``noise=None``
                                   realistic case: no clean labels to
                                   validate on), test always clean
=================================  =================================  ========================

The noise is drawn from the data ``seed`` (streams ``"noise-train"`` / ``"noise-val"``), after
the validation split has been taken on the clean labels, so the same seed gives the same noisy
labels and the same validation images as without noise. The clean labels are kept in
``meta["clean_train_targets"]`` / ``meta["clean_val_targets"]``; ``meta["noise"]`` records the
kind, the requested rate, the pairs and, per split, the realised counts and rates.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch.utils.data import TensorDataset

from losskit.data.base import DataSplits
from losskit.data.splits import _round_half_up, check_fraction, generator

NOISE_KINDS = ("symmetric", "asymmetric")

#: MNIST class-pair flips (Patrini et al. 2017, "Making deep neural networks robust to label
#: noise", §6): 2→7, 3→8, 5↔6, 7→1.
MNIST_PAIRS: dict[int, int] = {2: 7, 3: 8, 5: 6, 6: 5, 7: 1}

#: Fashion-MNIST class-pair flips (our choice of visually similar classes): T-shirt/top (0) →
#: Shirt (6), Pullover (2) ↔ Coat (4), Sandal (5) → Sneaker (7), Sneaker (7) → Ankle boot (9).
FASHION_MNIST_PAIRS: dict[int, int] = {0: 6, 2: 4, 4: 2, 5: 7, 7: 9}


def check_noise(noise: Any, noise_rate: Any) -> tuple[str | None, float]:
    """``(noise, noise_rate)`` checked: ``noise`` ``None`` / ``"symmetric"`` /
    ``"asymmetric"``, ``noise_rate`` in ``[0, 1)`` and given iff ``noise`` is.
    ``ValueError`` naming the argument otherwise."""
    if noise is None:
        if noise_rate not in (None, 0, 0.0):
            raise ValueError(
                f"noise_rate={noise_rate!r} needs noise='symmetric' or 'asymmetric', got noise=None"
            )
        return None, 0.0
    if noise not in NOISE_KINDS:
        raise ValueError(f"noise must be one of {', '.join(NOISE_KINDS)} or None, got {noise!r}")
    if noise_rate is None:
        raise ValueError(f"noise={noise!r} needs noise_rate, a float in [0, 1)")
    return noise, check_fraction(noise_rate, "noise_rate")


def symmetric_noise(
    y: torch.Tensor, rate: float, num_classes: int, gen: torch.Generator
) -> torch.Tensor:
    """A copy of ``y`` with exactly ``round(rate · n)`` random labels replaced by a uniformly
    drawn *other* class (``(y + U{1, …, C−1}) mod C``)."""
    rate = check_fraction(rate, "noise_rate")
    noisy = y.clone()
    n_flip = _round_half_up(rate * y.numel())
    idx = torch.randperm(y.numel(), generator=gen)[:n_flip]
    offset = torch.randint(1, num_classes, (n_flip,), generator=gen, dtype=y.dtype)
    noisy[idx] = (y[idx] + offset) % num_classes
    return noisy


def asymmetric_noise(
    y: torch.Tensor, rate: float, pairs: Mapping[int, int], gen: torch.Generator
) -> torch.Tensor:
    """A copy of ``y`` in which ``round(rate · n_s)`` random labels of each source class ``s``
    (in increasing order) become ``pairs[s]``; flips follow the *clean* label, so ``2→7`` and
    ``7→1`` never chain."""
    rate = check_fraction(rate, "noise_rate")
    noisy = y.clone()
    for src in sorted(pairs):
        members = torch.nonzero(y == src).flatten()
        k = _round_half_up(rate * members.numel())
        noisy[members[torch.randperm(members.numel(), generator=gen)[:k]]] = int(pairs[src])
    return noisy


def add_noise(
    splits: DataSplits,
    noise: str,
    rate: float,
    *,
    seed: int,
    pairs: Mapping[int, int] | None = None,
) -> DataSplits:
    """``splits`` with noisy train and validation labels (the test set untouched).

    ``noise="asymmetric"`` needs the dataset's ``pairs`` (source → target class). Updates
    ``meta`` in place: ``clean_train_targets`` / ``clean_val_targets`` (int64 tensors aligned
    with the splits) and ``noise`` = ``{"kind", "rate", "pairs", "realised": {split:
    {"flipped", "eligible", "rate", "class_counts"}}}`` where ``eligible`` is every label
    (symmetric) or the source classes' labels (asymmetric), ``rate = flipped / eligible`` and
    ``class_counts`` are those of the noisy labels.
    """
    noise, rate = check_noise(noise, rate)
    if noise is None:
        return splits
    if noise == "asymmetric" and not pairs:
        raise ValueError(f"noise='asymmetric' has no class pairs defined for {splits.name!r}")
    meta = splits.meta if splits.meta is not None else {}
    realised: dict[str, dict[str, float]] = {}
    for part in ("train", "val"):
        ds = getattr(splits, part)
        if ds is None:
            continue
        x, y = ds.tensors[:2]
        gen = generator(seed, f"noise-{part}")
        if noise == "symmetric":
            noisy = symmetric_noise(y, rate, splits.num_classes, gen)
            eligible = y.numel()
        else:
            assert pairs is not None
            noisy = asymmetric_noise(y, rate, pairs, gen)
            eligible = int(torch.isin(y, torch.tensor(sorted(pairs), dtype=y.dtype)).sum())
        flipped = int((noisy != y).sum())
        realised[part] = {
            "flipped": flipped, "eligible": eligible,
            "rate": flipped / eligible if eligible else 0.0,
            "class_counts": torch.bincount(noisy, minlength=splits.num_classes).tolist(),
        }
        meta[f"clean_{part}_targets"] = y
        setattr(splits, part, TensorDataset(x, noisy, *ds.tensors[2:]))
    meta["noise"] = {
        "kind": noise, "rate": rate, "realised": realised,
        "pairs": None if noise == "symmetric" else [[int(s), int(t)] for s, t in
                                                    sorted((pairs or {}).items())],
    }
    splits.meta = meta
    return splits
