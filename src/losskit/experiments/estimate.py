"""How long runs take: measured from finished runs, else timed on a few steps (calibration).

Runs of one *cost class* (:func:`~losskit.experiments.spec.cost_class`: same data, model,
method and batch size; seed, learning rate and epochs do not matter) cost the same per epoch.
:class:`Estimator` answers per run, in order of trust:

1. the median seconds per epoch of recorded runs of the class (real conditions, contention
   included);
2. a calibration: a Trainer is built for the class and ``steps`` training steps (after
   ``warmup``) and one validation + test evaluation are timed; an epoch is
   ``steps_per_epoch × step + evaluation``. Calibrations are cached in a JSON file (keyed by
   class, thread count and host) so a restart does not repeat them;
3. nothing (``None``).

Calibrated numbers leave out the contention between parallel jobs and the variation of per-step
cost during training (MILS attempts, SLF draws); treat them as ±30 %.
"""

from __future__ import annotations

import json
import math
import platform
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from losskit.experiments.spec import RunSpec, cost_class
from losskit.train.config import TrainConfig


@dataclass(frozen=True)
class EpochCost:
    """Seconds per epoch of one cost class and where the number comes from."""

    seconds: float
    source: str  # "measured" | "calibrated"


def calibrate(config: TrainConfig, steps: int = 20, warmup: int = 3) -> float:
    """Seconds per epoch of ``config``: time ``steps`` training steps and one evaluation.

    With one torch thread the clock is this thread's CPU time, so other load on the machine
    (and idle OpenMP helper threads) do not inflate the estimate: it is then the wall time of
    an otherwise idle core; with more threads it is wall time.
    """
    import torch

    clock = time.thread_time if torch.get_num_threads() == 1 else time.perf_counter

    from losskit.train.trainer import Trainer, batches

    cfg = replace(config, epochs=1, progress=False, out_dir=None, resume=False,
                  lr=0.01 if not isinstance(config.lr, (int, float)) else config.lr)
    trainer = Trainer(cfg)
    ctx, method = trainer.ctx, trainer.method
    n_batches = math.ceil(len(trainer.train_set) / cfg.batch_size)
    it = batches(trainer.train_set, cfg.batch_size, trainer.generator)
    timed = 0
    t0 = 0.0
    for i, batch in enumerate(it):
        if i == warmup:
            t0 = clock()
        if i >= warmup + steps:
            break
        x, y = batch[:2]
        method.step(ctx, x, y)
        ctx.global_step += 1
        timed += i >= warmup
    step_s = (clock() - t0) / max(timed, 1) if timed else 0.0
    t1 = clock()
    with torch.no_grad():
        trainer.evaluate("val")
        trainer.evaluate("test")
    eval_s = clock() - t1
    return n_batches * step_s + eval_s


class Estimator:
    """Seconds per run (module docstring). ``calibrate_fn=None``: measured numbers only."""

    def __init__(
        self,
        records: Iterable[dict[str, Any]] = (),
        calibrate_fn: Callable[[TrainConfig], float] | None = None,
        cache_path: str | Path | None = None,
        threads: int = 1,
    ) -> None:
        self.calibrate_fn = calibrate_fn
        self.cache_path = Path(cache_path) if cache_path else None
        self.threads = int(threads)
        per_class: dict[str, list[float]] = {}
        for r in records:
            epochs = len(r.get("history") or [])
            wall = r.get("wall_time_s")
            if epochs and isinstance(wall, (int, float)) and isinstance(r.get("config"), dict):
                per_class.setdefault(cost_class(r["config"]), []).append(float(wall) / epochs)
        self._measured = {k: statistics.median(v) for k, v in per_class.items()}
        self._calibrated: dict[str, float] = self._load_cache()

    def _cache_key(self, cls: str) -> str:
        return f"{cls}/threads={self.threads}/host={platform.node()}"

    def _load_cache(self) -> dict[str, float]:
        if self.cache_path is None or not self.cache_path.exists():
            return {}
        try:
            data = json.loads(self.cache_path.read_text())
        except (OSError, json.JSONDecodeError):
            return {}
        return {k: float(v) for k, v in data.items() if isinstance(v, (int, float))}

    def _save_cache(self) -> None:
        if self.cache_path is None:
            return
        self.cache_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.cache_path.with_name(self.cache_path.name + ".tmp")
        tmp.write_text(json.dumps(self._calibrated, indent=1, sort_keys=True))
        tmp.replace(self.cache_path)

    def add(self, record: dict[str, Any]) -> None:
        """Fold a newly finished run into the measured numbers (a running mean)."""
        epochs = len(record.get("history") or [])
        if not epochs or not isinstance(record.get("config"), dict):
            return
        cls = cost_class(record["config"])
        per_epoch = float(record.get("wall_time_s", 0.0)) / epochs
        old = self._measured.get(cls)
        self._measured[cls] = per_epoch if old is None else 0.5 * (old + per_epoch)

    def epoch_cost(self, config: TrainConfig) -> EpochCost | None:
        cls = cost_class(config.to_dict())
        if cls in self._measured:
            return EpochCost(self._measured[cls], "measured")
        key = self._cache_key(cls)
        if key not in self._calibrated and self.calibrate_fn is not None:
            self._calibrated[key] = float(self.calibrate_fn(config))
            self._save_cache()
        if key in self._calibrated:
            return EpochCost(self._calibrated[key], "calibrated")
        return None

    def seconds(self, spec: RunSpec) -> float | None:
        """Estimated wall seconds of ``spec`` (``None``: no measurement, no calibration)."""
        cost = self.epoch_cost(spec.config)
        return None if cost is None else cost.seconds * spec.config.epochs


def format_duration(seconds: float | None) -> str:
    """``1h05m``, ``12m30s``, ``45s``; ``?`` for ``None``."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


def plan_table(rows: list[dict[str, Any]], jobs: int) -> str:
    """The dry-run table of :func:`~losskit.experiments.runner.estimate_plan` rows and its
    summary line (run counts, estimated run time and wall time with ``jobs``)."""
    lines = [f"{'experiment':<28} {'tune':>5} {'eval':>5} {'done':>5} {'est. left (1 job)':>18}"]
    for r in rows:
        est = format_duration(r["seconds"]) if r["seconds"] or not r["unknown"] else "?"
        if r["unknown"] and r["seconds"]:
            est += f" +{r['unknown']}?"
        lines.append(f"{r['experiment']:<28} {r['tune']:>5} {r['eval']:>5} {r['done']:>5} "
                     f"{est:>18}")
    runs = sum(r["tune"] + r["eval"] for r in rows)
    done = sum(r["done"] for r in rows)
    seconds = sum(r["seconds"] for r in rows)
    unknown = sum(r["unknown"] for r in rows)
    extra = sum(r.get("extra", 0) for r in rows)
    text = (f"{runs} runs ({sum(r['tune'] for r in rows)} tuning), {done} done, "
            f"{runs - done} to run; ")
    if unknown == runs - done and unknown:
        text += "no estimate (nothing measured yet; run without --no-estimate)"
    else:
        text += (f"estimated {format_duration(seconds)} of run time, "
                 f"≈ {format_duration(seconds / jobs)} wall with --jobs {jobs}")
        if unknown:
            text += f" (+ {unknown} runs not estimated)"
    if extra:
        text += (f"; grid extensions may add up to {extra} tuning runs (a choice at a grid end "
                 "is extended until interior)")
    return "\n".join(lines + [text])
