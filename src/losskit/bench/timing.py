"""Timing primitives: interleaved block timing so that ratios measured in one run are fair.

Each *sample* times a block of consecutive steps (so rare expensive steps, e.g. MILS's
auxiliary updates at participation 0.1, are amortised inside the block); the reported figure is
the median over samples of the per-step time. Candidates are interleaved round-robin so that
drift in machine speed (another process, thermal state) hits all of them alike.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Timing:
    """Per-step seconds: median and quartiles over blocks, and the number of blocks."""

    median_s: float
    q1_s: float
    q3_s: float
    blocks: int
    steps_per_block: int

    @property
    def median_ms(self) -> float:
        return 1000 * self.median_s


def interleaved_timings(
    candidates: dict[str, Callable[[], object]],
    blocks: int = 20,
    steps_per_block: int = 5,
    warmup: int = 3,
) -> dict[str, Timing]:
    """Time each zero-argument ``candidates[name]`` step function, interleaved round-robin.

    Returns per-step :class:`Timing` for each name (median over ``blocks`` samples, each the mean
    over ``steps_per_block`` consecutive calls), after ``warmup`` untimed calls each.
    """
    if blocks < 1 or steps_per_block < 1:
        raise ValueError("blocks and steps_per_block must be ≥ 1")
    for fn in candidates.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(blocks):
        for name, fn in candidates.items():
            t0 = time.perf_counter()
            for _ in range(steps_per_block):
                fn()
            samples[name].append((time.perf_counter() - t0) / steps_per_block)
    out = {}
    for name, values in samples.items():
        q = statistics.quantiles(values, n=4) if len(values) > 1 else values * 3
        out[name] = Timing(statistics.median(values), q[0], q[2], blocks, steps_per_block)
    return out
