"""Synthetic single-keypoint localisation: a small analogue of UniLoss §5.4 (MPII head joint, PCKh).

Each image is a ``size × size`` canvas with

* a **keypoint blob** ``a · exp(-(d / ρ)²)`` centred on an integer pixel ``(r, c)``: peak
  intensity ``a ~ U(0.6, 1.0)``, radius ``ρ ~ U(1, 2)`` pixels;
* one **distractor** blob of the same family but dimmer, peak ``k · a`` with
  ``k ~ U(distractor_ratio)`` (default 0.5–0.85), its centre at least ``min_separation`` pixels
  (Euclidean) from the keypoint;
* a random constant background level ``U(0, 0.2)`` and i.i.d. Gaussian pixel noise
  (``noise_std``, default 0.3).

The target is the flat index ``r * size + c`` of the keypoint centre, which is the arg-max of the
noise-free canvas (tested). With noise, the brightest single pixel is often not the keypoint, so a
model has to integrate a neighbourhood (a small conv net does) and tell the two blobs apart by
brightness. Evaluated with PCK: a prediction is correct within ``pck_radius`` pixels.
"""

from __future__ import annotations

import math

import torch

from losskit.data.base import DATASETS, DataSplits
from losskit.data.splits import check_seed, generator, make_splits

_CANDIDATES = 64


def _uniform(n: int, low: float, high: float, gen: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=gen)


def _blob(
    centres: torch.Tensor, peak: torch.Tensor, radius: torch.Tensor, size: int
) -> torch.Tensor:
    """(n, size, size) blobs ``peak · exp(-(d / radius)²)`` around integer ``centres`` (n, 2)."""
    coords = torch.arange(size, dtype=torch.float32)
    dr = coords.view(1, -1, 1) - centres[:, 0].float().view(-1, 1, 1)
    dc = coords.view(1, 1, -1) - centres[:, 1].float().view(-1, 1, 1)
    d2 = dr.square() + dc.square()
    return peak.view(-1, 1, 1) * torch.exp(-d2 / radius.view(-1, 1, 1).square())


def make_keypoints(
    n: int,
    size: int = 16,
    gen: torch.Generator | None = None,
    *,
    noise_std: float = 0.3,
    distractor_ratio: tuple[float, float] = (0.5, 0.85),
    min_separation: float = 4.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` synthetic images ``x`` float32 (n, 1, size, size) and targets ``y`` int64 (n,).

    ``y = row * size + col`` of the keypoint centre. With ``noise_std=0``, ``y`` is exactly the
    arg-max pixel of ``x``. Deterministic given ``gen``.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 8:
        raise ValueError(f"size must be an int >= 8, got {size!r}")
    if not (isinstance(noise_std, (int, float)) and math.isfinite(noise_std) and noise_std >= 0):
        raise ValueError(f"noise_std must be a finite float >= 0, got {noise_std!r}")
    lo, hi = (float(v) for v in distractor_ratio)
    if not 0.0 <= lo <= hi < 0.9:
        raise ValueError(
            f"distractor_ratio must be (low, high) with 0 <= low <= high < 0.9, got "
            f"{distractor_ratio!r}"
        )
    if not (isinstance(min_separation, (int, float)) and min_separation >= 4.0):
        raise ValueError(f"min_separation must be >= 4 pixels, got {min_separation!r}")
    gen = gen if gen is not None else torch.Generator().manual_seed(0)

    centre = torch.randint(0, size, (n, 2), generator=gen)
    peak = _uniform(n, 0.6, 1.0, gen)
    radius = _uniform(n, 1.0, 2.0, gen)

    # Distractor: first of _CANDIDATES random pixels far enough away (else the farthest one).
    cand = torch.randint(0, size, (n, _CANDIDATES, 2), generator=gen)
    dist = (cand - centre.unsqueeze(1)).float().norm(dim=2)
    ok = dist >= min_separation
    first_ok = torch.argmax(ok.int(), dim=1)
    pick = torch.where(ok.any(dim=1), first_ok, torch.argmax(dist, dim=1))
    d_centre = cand[torch.arange(n), pick]
    d_peak = peak * _uniform(n, lo, hi, gen)
    d_radius = _uniform(n, 1.0, 2.0, gen)

    background = _uniform(n, 0.0, 0.2, gen).view(-1, 1, 1)
    noise = torch.randn(n, size, size, generator=gen) * float(noise_std)
    x = (
        _blob(centre, peak, radius, size)
        + _blob(d_centre, d_peak, d_radius, size)
        + background
        + noise
    )
    y = centre[:, 0] * size + centre[:, 1]
    return x.unsqueeze(1).float(), y.long()


@DATASETS.register("keypoints", help="synthetic blob + distractor keypoint task (UniLoss PCK)")
def load_keypoints(
    n_train: int = 6000,
    n_test: int = 2000,
    size: int = 16,
    seed: int = 0,
    val_fraction: float = 0.0,
    pck_radius: float = 1.0,
    noise_std: float = 0.3,
) -> DataSplits:
    """Synthetic keypoint localisation (see module docstring); ``num_classes = size²``.

    Train and test come from independent seeded streams, so the test set does not depend on
    ``n_train``. ``meta = {"task": "keypoints", "heatmap_size": size, "pck_radius": pck_radius}``.
    """
    seed = check_seed(seed)
    if not (isinstance(pck_radius, (int, float)) and math.isfinite(pck_radius) and pck_radius >= 0):
        raise ValueError(f"pck_radius must be a finite float >= 0, got {pck_radius!r}")
    x_tr, y_tr = make_keypoints(n_train, size, generator(seed, "keypoints-train"),
                                noise_std=noise_std)
    x_te, y_te = make_keypoints(n_test, size, generator(seed, "keypoints-test"),
                                noise_std=noise_std)
    meta = {"task": "keypoints", "heatmap_size": size, "pck_radius": float(pck_radius)}
    return make_splits(
        "keypoints", x_tr, y_tr, x_te, y_te, size * size,
        seed=seed, val_fraction=val_fraction, meta=meta, stratify=False,
    )
