"""The cost of MILS's pieces relative to one forward pass (paper §5, "extra computational cost").

An auxiliary attempt costs two observation evaluations, one snapshot and, when rejected, one
restore plus the primary step that replaces the update. :func:`component_costs` times those
pieces on Fashion-MNIST-shaped random data; ``losskit bench mils`` prints them next to the full
MILS-step / CE-step ratio (the one training-step benchmark lives in :mod:`losskit.bench`).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import torch

from losskit.mils.scheduling import MILS


def _median_ms(fn: Callable[[], Any], reps: int) -> float:
    for _ in range(5):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def component_costs(
    model_name: str = "mlp",
    batch_size: int = 128,
    observation_size: int = 128,
    momentum: float = 0.9,
    reps: int = 100,
    seed: int = 0,
) -> dict[str, float]:
    """Median milliseconds of ``forward`` (eval forward of one training batch),
    ``observation`` (one observation-set evaluation), ``snapshot`` (capture of model, buffers and
    optimizer state into preallocated buffers) and ``restore``, plus
    ``snapshot_restore_per_forward`` = (snapshot + restore) / forward."""
    from losskit import models

    g = torch.Generator().manual_seed(seed)
    x = torch.randn(max(batch_size, observation_size), 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (len(x),), generator=g)
    torch.manual_seed(seed)
    model = models.build(model_name, (1, 28, 28), 10)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=momentum)
    mils = MILS(model, opt, "ce", "multi_margin", 1.0,
                (x[:observation_size], y[:observation_size]),
                generator=torch.Generator().manual_seed(seed))
    for _ in range(2):  # materialise optimizer state (momentum buffers) before timing
        mils.step(x[:batch_size], y[:batch_size])
    batch = x[:batch_size]

    @torch.no_grad()
    def forward() -> None:
        model.eval()
        model(batch)
        model.train()

    snap = mils._snapshot
    snap.capture()
    out = {
        "forward": _median_ms(forward, reps),
        "observation": _median_ms(lambda: mils._observation_counts().tolist(), reps),
        "snapshot": _median_ms(snap.capture, reps),
        "restore": _median_ms(snap.restore, reps),
    }
    out["snapshot_restore_per_forward"] = (out["snapshot"] + out["restore"]) / out["forward"]
    return out
