"""Long-tailed class imbalance with an exponential profile (Cui et al. 2019, "Class-Balanced
Loss Based on Effective Number of Samples", §5; Cao et al. 2019, "LDAM", §4).

Class ``c`` of ``C`` keeps ``n_c = ⌊n_max · ρ^(−c/(C−1))⌋`` samples, ``ρ = imbalance_ratio =
n_0 / n_{C−1}`` (head class 0, tail class ``C − 1``); a seeded random subset of each class,
original order kept. The papers apply it to balanced sets (CIFAR: ``n_max`` = the class size);
for unequal classes (MNIST: 5,421 to 6,742) ``n_max`` is the *smallest* class size, so every
class can supply its quota and the profile is exact.

=============================  ====================================  ============================
paper                          our default                           options
=============================  ====================================  ============================
``n_max`` = class size         ``n_max`` = smallest class size       —
(balanced CIFAR)
validation: a balanced         validation held out (stratified)      ``val_fraction``
held-out set                   after the imbalance: same profile as
                               train (no clean balanced set in a
                               long-tailed world); test balanced
=============================  ====================================  ============================
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

IMBALANCE_KINDS = ("long_tail",)


def check_imbalance(imbalance: Any, imbalance_ratio: Any, retention: float = 1.0) -> float | None:
    """``imbalance_ratio`` checked (``None`` when ``imbalance`` is ``None``): ``imbalance`` is
    ``None`` or ``"long_tail"``, ``imbalance_ratio`` a finite number ``>= 1`` given iff it is,
    and not combined with the SLF ``retention < 1`` (two imbalance profiles at once).
    ``ValueError`` naming the argument otherwise."""
    if imbalance is None:
        if imbalance_ratio is not None:
            raise ValueError(
                f"imbalance_ratio={imbalance_ratio!r} needs imbalance='long_tail', got None"
            )
        return None
    if imbalance not in IMBALANCE_KINDS:
        raise ValueError(f"imbalance must be 'long_tail' or None, got {imbalance!r}")
    if (
        isinstance(imbalance_ratio, bool)
        or not isinstance(imbalance_ratio, (int, float))
        or not math.isfinite(imbalance_ratio)
        or imbalance_ratio < 1
    ):
        raise ValueError(
            f"imbalance='long_tail' needs imbalance_ratio, a number >= 1 (n_head / n_tail), "
            f"got {imbalance_ratio!r}"
        )
    if retention != 1.0:
        raise ValueError(
            f"imbalance='long_tail' and retention={retention!r} are two imbalance profiles; "
            "use one (retention=1.0 or imbalance=None)"
        )
    return float(imbalance_ratio)


def long_tail_counts(sizes: Sequence[int], ratio: float) -> list[int]:
    """``⌊n_max · ratio^(−c/(C−1))⌋`` for ``c = 0 … C−1``, ``n_max = min(sizes)``.

    ``ValueError`` naming ``imbalance_ratio`` when the tail class would be empty.
    """
    if len(sizes) < 2:
        raise ValueError(f"a long tail needs at least 2 classes, got {len(sizes)}")
    n_max, last = min(int(s) for s in sizes), len(sizes) - 1
    # the tiny offset keeps products exact in reals (6000 · 100^−1 = 60) from flooring to 59
    counts = [math.floor(n_max * ratio ** (-c / last) + 1e-9) for c in range(len(sizes))]
    if counts[-1] < 1:
        raise ValueError(
            f"imbalance_ratio={ratio!r} leaves the tail class empty (n_max = {n_max}); use at "
            f"most {n_max}"
        )
    return counts


def long_tail(
    x: torch.Tensor,
    y: torch.Tensor,
    ratio: float,
    num_classes: int,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The long-tailed subset of ``(x, y)`` (:func:`long_tail_counts` of the class sizes):
    a random ``n_c`` members of each class ``c`` (drawn in increasing class order), original
    order kept."""
    if y.dim() != 1 or x.shape[0] != y.shape[0]:
        raise ValueError(
            f"x and y must have the same first dimension and y must be 1-D, got "
            f"{tuple(x.shape)} and {tuple(y.shape)}"
        )
    sizes = torch.bincount(y, minlength=num_classes)
    if sizes.numel() != num_classes or bool((sizes == 0).any()):
        raise ValueError(
            f"y must hold every class of [0, {num_classes}) for a long tail, got class sizes "
            f"{sizes.tolist()}"
        )
    keep = torch.zeros(y.numel(), dtype=torch.bool)
    for c, n_c in enumerate(long_tail_counts(sizes.tolist(), ratio)):
        members = torch.nonzero(y == c).flatten()
        keep[members[torch.randperm(members.numel(), generator=generator)[:n_c]]] = True
    return x[keep], y[keep]
