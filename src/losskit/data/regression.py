"""Regression datasets (``meta["task"] == "regression"``, evaluated with test MSE and MAE).

For regression :class:`~losskit.data.base.DataSplits` stores targets ``y`` as float32 of shape
``(N, D)`` and ``num_classes = D``, the number of model outputs (1 here), so that a registered
model gets a ``D``-output head and a regression loss compares ``(N, D)`` with ``(N, D)``.

* ``diabetes``: scikit-learn's diabetes set (442 patients × 10 features, disease progression
  after one year), **bundled with scikit-learn** (no download). Seeded random split into
  train / (validation) / test; features and the target standardised with the statistics of
  the final training part only (``meta["target_mean"]``, ``meta["target_std"]``: a test MSE
  times ``target_std²`` is in the original squared units).
* ``heavy-tail``: synthetic ``y = f(x) + σ·ε`` with ``x ~ N(0, I_d)``, the fixed smooth
  function :func:`heavy_tail_function` and heavy-tailed Student-t noise ``ε ~ t_ν``
  (``df = ν = 2`` by default: finite mean, infinite variance; ``σ = 0.5``), so single outliers
  dominate the squared error and MAE / Huber should beat MSE. Training and validation targets
  are noisy; the test targets are the noise-free ``f(x)`` (``clean_test=True``), so the test MSE
  measures how well ``f`` was learnt rather than the noise. ``df=None`` gives Gaussian noise
  (the control where MSE is the right loss). Targets are not standardised (``Var f ≈ 2.25``).

Both take ``seed`` and ``val_fraction`` (default 0: no validation split) like every loader.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch.utils.data import TensorDataset

from losskit.core._validation import check_int
from losskit.data.base import DATASETS, DataSplits
from losskit.data.sklearn_sets import standardize
from losskit.data.splits import check_fraction, check_seed, generator, random_split


def _as_targets(y: torch.Tensor) -> torch.Tensor:
    """Float32 ``(N, D)`` targets (a flat ``(N,)`` vector becomes ``(N, 1)``)."""
    y = y.to(torch.float32)
    return y.unsqueeze(1) if y.dim() == 1 else y


def regression_splits(
    name: str,
    train: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor] | None,
    test: tuple[torch.Tensor, torch.Tensor],
    meta: dict[str, Any] | None = None,
) -> DataSplits:
    """Assemble regression :class:`DataSplits` (float32 ``x``; ``y`` as float32 ``(N, D)``)."""
    parts = [train, test] + ([val] if val is not None else [])
    for x, y in parts:
        if x.shape[0] != y.shape[0] or x.shape[0] == 0:
            raise ValueError(f"x and y must hold the same number (>= 1) of samples, got "
                             f"{tuple(x.shape)} and {tuple(y.shape)}")
    y_train = _as_targets(train[1])
    return DataSplits(
        name=name,
        train=TensorDataset(train[0].float(), y_train),
        val=TensorDataset(val[0].float(), _as_targets(val[1])) if val is not None else None,
        test=TensorDataset(test[0].float(), _as_targets(test[1])),
        num_classes=int(y_train.shape[1]),
        input_shape=tuple(int(s) for s in train[0].shape[1:]),
        meta={**(meta or {}), "task": "regression"},
    )


# --------------------------------------------------------------------------- diabetes
def load_diabetes(
    seed: int = 0, val_fraction: float = 0.0, test_fraction: float = 0.25
) -> DataSplits:
    """scikit-learn's bundled diabetes regression set (442 × 10, one target), module doc."""
    seed = check_seed(seed)
    test_fraction = check_fraction(test_fraction, "test_fraction", allow_zero=False)
    val_fraction = check_fraction(val_fraction, "val_fraction")
    from sklearn.datasets import load_diabetes as sk_load  # a dependency (pyproject)

    bunch = sk_load()
    x = torch.as_tensor(np.asarray(bunch.data, dtype=np.float64))
    y = torch.as_tensor(np.asarray(bunch.target, dtype=np.float64))
    keep, test = random_split(len(y), test_fraction, generator(seed, "test"))
    held = None
    if val_fraction > 0:
        kept, held = random_split(len(keep), val_fraction, generator(seed, "val"))
        keep, held = keep[kept], keep[held]
    others = [x[test]] + ([x[held]] if held is not None else [])
    mean, std, scaled = standardize(x[keep], *others)
    y_mean, y_std = float(y[keep].mean()), float(y[keep].std(correction=0))

    def target(idx: torch.Tensor) -> torch.Tensor:
        return ((y[idx] - y_mean) / y_std).float()

    return regression_splits(
        "diabetes",
        (scaled[0], target(keep)),
        (scaled[2], target(held)) if held is not None else None,
        (scaled[1], target(test)),
        meta={"feature_mean": mean.tolist(), "feature_std": std.tolist(),
              "target_mean": y_mean, "target_std": y_std},
    )


DATASETS.register("diabetes", help="diabetes progression, 442 x 10, regression (sklearn bundled)")(
    load_diabetes
)


# --------------------------------------------------------------------------- heavy-tailed synthetic
def heavy_tail_function(x: torch.Tensor) -> torch.Tensor:
    """The noise-free target ``f(x) = sin(2 x₀) + ½ (x₁² − 1) + ½ x₂ x₃ + Σ_k x_k / √d``
    of the ``heavy-tail`` set (``x`` of shape ``(N, d)``, ``d ≥ 4``); variance ≈ 2.25 under
    ``x ~ N(0, I)``."""
    d = x.shape[1]
    return (torch.sin(2 * x[:, 0]) + 0.5 * (x[:, 1] ** 2 - 1) + 0.5 * x[:, 2] * x[:, 3]
            + x.sum(1) / math.sqrt(d))


def make_heavy_tail(
    n: int,
    gen: torch.Generator,
    dim: int = 8,
    df: float | None = 2.0,
    noise_scale: float = 0.5,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``n`` samples ``(x, f(x), f(x) + noise_scale · ε)``, ``ε ~ t_df`` (``df=None``:
    standard normal). Deterministic given ``gen``."""
    n = check_int(n, "n", low=1)
    dim = check_int(dim, "dim", low=4)
    if df is not None and (isinstance(df, bool) or not isinstance(df, (int, float))
                           or not math.isfinite(df) or df <= 0):
        raise ValueError(f"df must be a number > 0 (Student-t degrees of freedom) or None, "
                         f"got {df!r}")
    if isinstance(noise_scale, bool) or not isinstance(noise_scale, (int, float)) or not (
        math.isfinite(noise_scale) and noise_scale >= 0
    ):
        raise ValueError(f"noise_scale must be a finite number >= 0, got {noise_scale!r}")
    x = torch.randn(n, dim, generator=gen, dtype=torch.float64)
    clean = heavy_tail_function(x)
    rng = np.random.default_rng(int(torch.randint(0, 2**62, (1,), generator=gen)))
    eps = rng.standard_normal(n) if df is None else rng.standard_t(float(df), n)
    noisy = clean + float(noise_scale) * torch.as_tensor(eps)
    return x.float(), clean.float(), noisy.float()


def load_heavy_tail(
    seed: int = 0,
    val_fraction: float = 0.0,
    n_train: int = 2000,
    n_test: int = 2000,
    dim: int = 8,
    df: float | None = 2.0,
    noise_scale: float = 0.5,
    clean_test: bool = True,
) -> DataSplits:
    """Synthetic regression with heavy-tailed (Student-t) noise, module doc: ``n_train`` noisy
    samples, of which a seeded random ``val_fraction`` is held out for validation, and
    ``n_test`` test samples (noise-free targets with ``clean_test``), each from its own stream.
    """
    seed = check_seed(seed)
    val_fraction = check_fraction(val_fraction, "val_fraction")
    if not isinstance(clean_test, bool):
        raise ValueError(f"clean_test must be a bool, got {clean_test!r}")
    kw = {"dim": dim, "df": df, "noise_scale": noise_scale}
    x, _, y = make_heavy_tail(n_train, generator(seed, "train"), **kw)
    keep, held = random_split(len(y), val_fraction, generator(seed, "val"))
    if len(keep) == 0:
        raise ValueError(f"val_fraction={val_fraction} leaves no training sample of "
                         f"n_train={n_train}")
    val = (x[held], y[held]) if len(held) else None
    xt, clean, noisy = make_heavy_tail(n_test, generator(seed, "test"), **kw)
    meta = {"df": df, "noise_scale": float(noise_scale), "clean_test": clean_test}
    return regression_splits("heavy-tail", (x[keep], y[keep]), val,
                             (xt, clean if clean_test else noisy), meta)


DATASETS.register(
    "heavy-tail", help="synthetic regression, Student-t (df 2) noise, noise-free test targets"
)(load_heavy_tail)
