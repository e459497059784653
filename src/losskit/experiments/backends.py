"""Where the runner's runs execute: this process, a local process pool, or Ray tasks.

Every backend takes ``submit(fn, *args) → Future`` and ``close(now)``; the runner stays the
only writer of the results file whatever the backend (workers and tasks *return* records).

* ``"local"`` (default): ``jobs=1`` runs inline in this process; ``jobs > 1`` in a ``spawn``
  process pool, each worker limited to ``cores // jobs`` torch threads; a worker whose parent
  dies (SIGKILL) exits within a second; a broken pool (a worker killed, e.g. out of memory) is
  replaced.
* ``"ray"``: each run is a Ray task (``pip install 'losskit[ray]'``). ``address`` joins an
  existing cluster (``ray start --head`` …; each task then asks for one CPU and runs with one
  torch thread); without it a local cluster is started for this call (each task asks for and
  uses as many threads as a local run would: ``cores // jobs``, or this process's setting with
  ``jobs=1`` — the same thread count gives the same numbers) and shut down at the end. The
  runner keeps at most ``jobs`` tasks in flight. Each task returns the source hash of the code
  it imported; a task that ran other code than the runner planned for (a cluster with another
  checkout) fails instead of being recorded.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from losskit.core.errors import ConfigError

BACKENDS = ("local", "ray")
RAY_HINT = "pip install 'losskit[ray]'"


# ---------------------------------------------------------------------------- local
def _watch_parent(parent: int) -> None:  # pragma: no cover - runs in worker processes
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(1)


def _init_worker(threads: int, parent: int | None = None) -> None:
    import torch

    torch.set_num_threads(threads)
    if parent is not None:  # exit when the runner is killed without a chance to clean up
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS / Windows
        return os.cpu_count() or 1


def worker_threads(jobs: int) -> int:
    """Torch threads per run: ``cores // jobs`` in pool workers; with ``jobs=1`` runs execute in
    this process with its current setting."""
    if jobs == 1:
        import torch

        return torch.get_num_threads()
    return max(1, available_cores() // jobs)


def process_pool(jobs: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(worker_threads(jobs), os.getpid()),
    )


def terminate_pool(pool: Any) -> None:
    """Stop a process pool now: terminate its workers (not just cancel queued work)."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    for proc in procs:
        with contextlib.suppress(Exception):
            proc.terminate()
    for proc in procs:
        with contextlib.suppress(Exception):
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=5)
    pool.shutdown(wait=False, cancel_futures=True)


class LocalBackend:
    """Inline (``jobs=1``) or a spawn process pool started at the first submission."""

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs
        self._pool: ProcessPoolExecutor | None = None

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        if self.jobs == 1:  # BaseExceptions (KeyboardInterrupt) propagate
            fut: Future[Any] = Future()
            try:
                fut.set_result(fn(*args))
            except Exception as exc:  # noqa: BLE001 - delivered through the future
                fut.set_exception(exc)
            return fut
        if self._pool is None:
            self._pool = process_pool(self.jobs)
        try:
            return self._pool.submit(fn, *args)
        except BrokenProcessPool:  # a worker died (e.g. out of memory): start afresh
            terminate_pool(self._pool)
            self._pool = process_pool(self.jobs)
            return self._pool.submit(fn, *args)

    def close(self, now: bool = False) -> None:
        """Wait for the workers (``now``: terminate them)."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if now:
            terminate_pool(pool)
        else:
            pool.shutdown(wait=True)


# ---------------------------------------------------------------------------- ray
def ray_available() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


def check_backend(backend: str) -> None:
    """One clear :class:`ConfigError` for an unknown backend or a missing Ray."""
    if backend not in BACKENDS:
        raise ConfigError(f"--backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "ray" and not ray_available():
        raise ConfigError(f"--backend ray needs Ray, which is not installed: {RAY_HINT}")


def ray_task(threads: int, fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """What a Ray task runs: ``fn(*args)`` with ``threads`` torch threads; the result carries
    the source hash of the code this worker imported (``src_hash``)."""
    import torch

    from losskit.experiments.version import src_hash

    torch.set_num_threads(threads)
    out = fn(*args)
    return {**out, "src_hash": src_hash()}


class RayBackend:
    """Each submission a Ray task (module doc); ``close`` cancels what is still running and
    shuts down a cluster this backend started."""

    def __init__(self, jobs: int, address: str | None = None) -> None:
        check_backend("ray")
        import logging

        import ray

        self._ray = ray
        self._started = False
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                      "logging_level": logging.WARNING}
            if address:
                ray.init(address=address, **kwargs)
            else:
                ray.init(num_cpus=available_cores(), **kwargs)
                self._started = True
        # as the local backend: cores // jobs threads (jobs=1: this process's setting), so
        # both backends compute the same numbers
        self.threads = 1 if address else min(worker_threads(jobs), available_cores())
        self._task = ray.remote(num_cpus=self.threads, max_retries=0)(ray_task)
        self._refs: list[Any] = []

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        ref = self._task.remote(self.threads, fn, *args)
        self._refs.append(ref)
        return ref.future()

    def close(self, now: bool = False) -> None:
        for ref in self._refs:
            with contextlib.suppress(Exception):
                self._ray.cancel(ref, force=True)
        self._refs.clear()
        if self._started:
            self._ray.shutdown()
            self._started = False


def make_backend(backend: str, jobs: int, address: str | None = None) -> Any:
    """A :class:`LocalBackend` or :class:`RayBackend` (``address`` only for Ray)."""
    check_backend(backend)
    if backend == "ray":
        return RayBackend(jobs, address)
    if address:
        raise ConfigError("--address is for --backend ray (a Ray cluster's address)")
    return LocalBackend(jobs)
