"""Measure MILS's cost: one MILS step vs one plain CE step, and snapshot + rollback vs a forward.

The paper (§5, "extra computational cost") argues the overhead is small because an auxiliary
loss participates rarely; this measures it on Fashion-MNIST-shaped random data::

    python -m losskit.mils.overhead --model mlp --participation 0.1 --observation-size 128

Steps are timed in interleaved blocks (CE block, MILS block, alternating which goes first) with
the calling thread's CPU clock by default, so that other processes on a loaded machine do not
inflate one side; the ratio is the median over blocks of the per-step time ratio's numerator /
denominator medians.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch

from losskit.mils.scheduling import MILS


def _median_ms(fn: Callable[[], Any], reps: int, clock: Callable[[], float]) -> float:
    for _ in range(5):
        fn()
    times = []
    for _ in range(reps):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return 1000 * statistics.median(times)


def measure_overhead(
    model_name: str = "mlp",
    batch_size: int = 128,
    observation_size: int = 128,
    participation: float = 0.1,
    aux: str = "multi_margin",
    blocks: int = 60,
    steps_per_block: int = 20,
    reps: int = 200,
    seed: int = 0,
    clock: str = "thread",
) -> dict[str, float]:
    """Time a MILS step against a plain CE step (same model / optimizer / batches).

    Returns ``ce_step_ms``, ``mils_step_ms``, ``ratio`` (medians over interleaved blocks),
    ``aux_attempts`` / ``rollbacks`` during the timed MILS steps, and the component costs
    ``forward_ms`` (eval forward of one batch), ``observation_ms`` (one observation evaluation),
    ``snapshot_ms``, ``restore_ms`` and ``snapshot_restore_per_forward``.
    """
    from losskit import models

    tick = time.thread_time if clock == "thread" else time.perf_counter
    g = torch.Generator().manual_seed(seed)
    n = batch_size * 8
    x_all = torch.randn(n, 1, 28, 28, generator=g)
    y_all = torch.randint(0, 10, (n,), generator=g)
    obs = (x_all[:observation_size].clone(), y_all[:observation_size].clone())
    batches = [
        (x_all[i : i + batch_size], y_all[i : i + batch_size]) for i in range(0, n, batch_size)
    ]

    def make(p: float) -> MILS:
        torch.manual_seed(seed)
        model = models.build(model_name, (1, 28, 28), 10)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        return MILS(model, opt, "ce", aux, p, obs, generator=torch.Generator().manual_seed(seed))

    ce, mils = make(0.0), make(participation)
    state = {"ce": 0, "mils": 0}

    def step(which: str, runner: MILS) -> None:
        x, y = batches[state[which] % len(batches)]
        state[which] += 1
        runner.step(x, y)

    for _ in range(3):
        step("ce", ce)
        step("mils", mils)
    mils.reset_stats()
    ce_t, mils_t = [], []
    for b in range(blocks):
        order = [("ce", ce, ce_t), ("mils", mils, mils_t)]
        for name, runner, out in order if b % 2 == 0 else order[::-1]:
            t0 = tick()
            for _ in range(steps_per_block):
                step(name, runner)
            out.append((tick() - t0) / steps_per_block)
    stats = mils.stats
    ce_ms, mils_ms = 1000 * statistics.median(ce_t), 1000 * statistics.median(mils_t)

    model = mils.model
    x0 = batches[0][0]

    @torch.no_grad()
    def forward() -> None:
        model.eval()
        model(x0)
        model.train()

    snap = mils._snapshot
    snap.capture()
    out = {
        "ce_step_ms": ce_ms,
        "mils_step_ms": mils_ms,
        "ratio": mils_ms / ce_ms,
        "ratio_of_means": statistics.fmean(mils_t) / statistics.fmean(ce_t),
        "aux_attempts": float(stats.attempts),
        "rollbacks": float(stats.rollbacks),
        "forward_ms": _median_ms(forward, reps, tick),
        "observation_ms": _median_ms(mils._observe, reps, tick),
        "snapshot_ms": _median_ms(snap.capture, reps, tick),
        "restore_ms": _median_ms(snap.restore, reps, tick),
    }
    out["snapshot_restore_per_forward"] = (out["snapshot_ms"] + out["restore_ms"]) / out[
        "forward_ms"
    ]
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="mlp")
    p.add_argument("--participation", type=float, default=0.1)
    p.add_argument("--observation-size", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--aux", default="multi_margin")
    p.add_argument("--blocks", type=int, default=60)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--clock", choices=["thread", "wall"], default="thread")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    from losskit.plugins import load_all

    load_all()
    res = measure_overhead(
        args.model,
        args.batch_size,
        args.observation_size,
        args.participation,
        args.aux,
        blocks=args.blocks,
        clock=args.clock,
    )
    for key, value in res.items():
        print(f"{key:>30s}  {value:.4g}")


if __name__ == "__main__":  # pragma: no cover
    main()
