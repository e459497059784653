"""The learning-rate grid of the protocol: a log-scale :class:`Tuning` that is extended at an end
until the choice is interior (the search itself: :class:`losskit.experiments.plan.TuneGroup`).

=============================  ===============================  ===============================
paper / issue                  our default                      options
=============================  ===============================  ===============================
one rate per method, by hand   a log grid ×√10 (0.01, 0.0316,   ``grid``, ``per_decade``
                               0.1), chosen on validation
one tuning run                 2 tuning seeds (100, 101), the   ``seeds``
                               mean of their best validation
best at a grid end             extended that way until          ``extensions`` (2),
                               interior                         ``bounds`` ([1e-4, 1])
ties broken arbitrarily        mean of the last 3 epochs'       —
                               validation, then the larger rate
=============================  ===============================  ===============================
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from losskit.train.config import TrainConfig

_FIELDS = frozenset(TrainConfig.__dataclass_fields__)
_DICT_FIELDS = frozenset(
    name for name, f in TrainConfig.__dataclass_fields__.items() if f.default_factory is dict
)


def round_sig(x: float, digits: int = 3) -> float:
    """``x`` to ``digits`` significant digits (grid values print as written: 0.0316)."""
    return float(f"{x:.{digits}g}")


def log_grid(low: float, high: float, per_decade: int = 2) -> tuple[float, ...]:
    """``10^(k/per_decade)`` from ``low`` to ``high`` (3 significant digits).

    >>> log_grid(0.01, 0.1)
    (0.01, 0.0316, 0.1)
    """
    a = round(math.log10(low) * per_decade)
    b = round(math.log10(high) * per_decade)
    return tuple(round_sig(10.0 ** (k / per_decade)) for k in range(a, b + 1))


@dataclass(frozen=True)
class Tuning:
    """Per-variant hyper-parameter choice on validation (the protocol's LR tuning).

    Every tuned variant is run once per ``grid`` value of ``param`` at each tuning seed; a
    value's score is the mean over the ``seeds`` of the run's best validation metric (the
    experiment's metric with ``val_`` for ``test_``, best over epochs). The best value is used
    for the experiment's seeds; ties go to the larger mean of the last 3 epochs' validation
    metric, then to the larger value. When the best value is at an end of the grid, the grid
    is extended that way by one step (``10^(1/per_decade)``, ×√10 by default) — at most
    ``extensions`` times, never past ``bounds`` — until the choice is interior; the report says
    which choices stayed at an end and why. ``seeds`` must not be reported seeds.
    """

    grid: tuple[float, ...]
    seeds: tuple[int, ...] = (100, 101)
    param: str = "lr"
    extensions: int = 2
    bounds: tuple[float, float] = (1e-4, 1.0)
    per_decade: int = 2

    def __post_init__(self) -> None:
        grid = tuple(sorted(self.grid))
        if not grid or len(set(grid)) != len(grid):
            raise ValueError(f"grid must hold distinct values, got {self.grid!r}")
        if not all(isinstance(g, (int, float)) and not isinstance(g, bool) and g > 0
                   for g in grid):
            raise ValueError(f"grid must hold positive numbers, got {self.grid!r}")
        object.__setattr__(self, "grid", grid)
        seeds = tuple(self.seeds) if isinstance(self.seeds, (tuple, list)) else (self.seeds,)
        if not seeds or len(set(seeds)) != len(seeds) or not all(
                isinstance(s, int) and not isinstance(s, bool) for s in seeds):
            raise ValueError(f"seeds must be distinct integers, got {self.seeds!r}")
        object.__setattr__(self, "seeds", seeds)
        if self.param not in _FIELDS or self.param in _DICT_FIELDS or self.param == "seed":
            raise ValueError(f"param must be a scalar TrainConfig field, got {self.param!r}")
        if isinstance(self.extensions, bool) or not isinstance(self.extensions, int) or (
                self.extensions < 0):
            raise ValueError(f"extensions must be an integer ≥ 0, got {self.extensions!r}")
        lo, hi = (float(b) for b in self.bounds)
        if not 0 < lo <= grid[0] or not grid[-1] <= hi:
            raise ValueError(f"bounds must be positive and hold the grid {grid}, got "
                             f"{self.bounds!r}")
        object.__setattr__(self, "bounds", (lo, hi))
        if isinstance(self.per_decade, bool) or not isinstance(self.per_decade, int) or (
                self.per_decade < 1):
            raise ValueError(f"per_decade must be an integer ≥ 1, got {self.per_decade!r}")

    def step(self, value: float, direction: int) -> float | None:
        """The next grid value beyond ``value`` (``direction`` −1: down, +1: up) on the
        ``10^(k/per_decade)`` lattice, or ``None`` past ``bounds``."""
        e = math.log10(value) * self.per_decade
        if abs(e - round(e)) < 0.01:  # on the lattice: stay on it (no rounding drift)
            e = round(e)
        nxt = round_sig(10.0 ** ((e + direction) / self.per_decade))
        lo, hi = self.bounds
        return nxt if lo * (1 - 1e-9) <= nxt <= hi * (1 + 1e-9) else None

    def to_dict(self) -> dict[str, Any]:
        return {"grid": list(self.grid), "seeds": list(self.seeds), "param": self.param,
                "extensions": self.extensions, "bounds": list(self.bounds),
                "per_decade": self.per_decade}
