"""The settings of :class:`~losskit.slf.loss.StochasticLoss`: the option values, the paper's
setting (Liu & Lai, "Stochastic Loss Function", AAAI 2020: Eq. 9–11, Algorithm 1) and the
checks of the constructor's arguments that are not plain numbers or choices.
"""

from __future__ import annotations

from numbers import Real
from typing import Any

import torch

from losskit.slf.schedule import as_schedule

__all__ = ["GRANULARITIES", "MODES", "NORMALIZATIONS", "PAPER_SETTINGS", "generator_or_seed",
           "momentum_value", "tau_like"]

MODES = ("gumbel", "softmax", "fixed")
GRANULARITIES = ("sample", "batch")
NORMALIZATIONS = ("none", "running_mean")

#: The paper's setting (Eq. 9–11, Algorithm 1): per-sample p = h(f(x; w); v), K = 3 one-hot
#: Gumbel samples (best on MNIST, Fig. 2a), nothing detached, no normalisation. These are also
#: the defaults of :class:`StochasticLoss` and of the ``slf`` training method.
PAPER_SETTINGS: dict[str, Any] = {
    "k": 3,
    "tau": 1.0,
    "mode": "gumbel",
    "granularity": "sample",
    "normalize": "none",
    "detach_input": False,
}


def tau_like(tau: object, name: str) -> object:
    """A valid ``tau`` (:func:`~losskit.slf.schedule.as_schedule` accepts it), as given."""
    as_schedule(tau)
    return tau


def generator_or_seed(generator: object, name: str) -> object:
    if generator is None or isinstance(generator, torch.Generator):
        return generator
    if isinstance(generator, bool) or not isinstance(generator, int):
        raise ValueError(f"{name} must be a torch.Generator, an int seed or None, got "
                         f"{generator!r}")
    return generator


def momentum_value(value: object, name: str) -> float:
    if not isinstance(value, Real) or isinstance(value, bool) or not 0.0 <= float(value) < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return float(value)
