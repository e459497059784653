"""Trainer callbacks: hooks around the one training loop, and the console logger.

A callback is a :class:`Callback` (override any of its hooks) or a plain function
``fn(record)``, called with each finished epoch's record. Hooks run on every rank of a
distributed run; loggers write on the main rank only (``trainer.is_main``).

:class:`ConsoleLogger` prints one line per finished epoch and flushes it at once, so a run
whose output goes to a file, a pipe or a scheduler's log shows its progress while it runs.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from losskit.core.step import StepResult
    from losskit.train.trainer import Trainer, TrainResult

LOG_FORMATS = ("text", "json")


class Callback:
    """Base class; every hook is a no-op.

    * ``on_fit_start(trainer)``: after resuming, before the first epoch of this call;
    * ``on_step_end(trainer, result)``: after each training step (``trainer.ctx.global_step``
      already counts it); ``result.loss`` is a detached tensor: keep it, don't ``.item()`` it
      every step (a device sync);
    * ``on_epoch_end(trainer, record)``: after an epoch's record is written to the run
      directory;
    * ``on_fit_end(trainer, result)``: after the last epoch (not on an exception).
    """

    def on_fit_start(self, trainer: Trainer) -> None:
        pass

    def on_step_end(self, trainer: Trainer, result: StepResult) -> None:
        pass

    def on_epoch_end(self, trainer: Trainer, record: dict[str, Any]) -> None:
        pass

    def on_fit_end(self, trainer: Trainer, result: TrainResult) -> None:
        pass


class EpochFunction(Callback):
    """Adapts a plain ``fn(record)`` to the :class:`Callback` interface."""

    def __init__(self, fn: Callable[[dict[str, Any]], None]) -> None:
        self.fn = fn

    def on_epoch_end(self, trainer: Trainer, record: dict[str, Any]) -> None:
        self.fn(record)


def as_callback(obj: Callback | Callable[[dict[str, Any]], None]) -> Callback:
    return obj if isinstance(obj, Callback) else EpochFunction(obj)


_TIME_KEYS = ("epoch", "lr", "train_time_s", "step_time_ms")


def format_epoch(record: dict[str, Any], epochs: int, eta_s: float | None = None) -> str:
    """One readable line: ``epoch 2/5 train_loss=… test_acc=… … lr=0.05 1.2 s ETA 3.6 s``
    (every scalar of the record; lists and dicts are left to ``metrics.jsonl``)."""
    parts = [f"epoch {record['epoch']}/{epochs}"]
    for key, value in record.items():
        if key in _TIME_KEYS or isinstance(value, (bool, str, list, dict)) or value is None:
            continue
        parts.append(f"{key}={value:.4f}" if isinstance(value, float) else f"{key}={value}")
    if "lr" in record:
        parts.append(f"lr={record['lr']:.4g}")
    if "train_time_s" in record:
        parts.append(f"{record['train_time_s']:.1f} s")
    if eta_s is not None:
        parts.append(f"ETA {eta_s:.0f} s")
    return " ".join(parts)


class ConsoleLogger(Callback):
    """Prints each finished epoch as one flushed line on ``stream`` (default: ``sys.stdout``
    at the time of printing): ``fmt="text"`` (:func:`format_epoch`, with an ETA) or
    ``"json"`` (the full record, as in ``metrics.jsonl``). Main rank only."""

    def __init__(self, fmt: str = "text", stream: TextIO | None = None) -> None:
        if fmt not in LOG_FORMATS:
            from losskit.core.errors import ConfigError

            raise ConfigError(f"log_format must be one of {', '.join(LOG_FORMATS)}, got {fmt!r}",
                              "log_format")
        self.fmt = fmt
        self.stream = stream
        self._t0 = 0.0
        self._first = 0

    def on_fit_start(self, trainer: Trainer) -> None:
        self._t0 = time.perf_counter()
        self._first = len(trainer.history)

    def on_epoch_end(self, trainer: Trainer, record: dict[str, Any]) -> None:
        if not trainer.is_main:
            return
        if self.fmt == "json":
            line = json.dumps(record)
        else:
            done = int(record["epoch"]) - self._first
            left = trainer.config.epochs - int(record["epoch"])
            eta = (time.perf_counter() - self._t0) / max(done, 1) * left
            line = format_epoch(record, trainer.config.epochs, eta)
        print(line, file=self.stream or sys.stdout, flush=True)
