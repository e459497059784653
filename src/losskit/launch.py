"""How ``losskit train`` runs on several processes:

* ``torchrun --nproc_per_node=N -m losskit train …`` (one or several machines): each process
  joins the group from the environment torchrun sets (``RANK``, ``WORLD_SIZE``,
  ``LOCAL_RANK``, ``MASTER_ADDR`` / ``MASTER_PORT``; :func:`run_from_env`), with the backend
  chosen by ``--device``: ``gloo`` on CPU, ``nccl`` on CUDA (one GPU per process,
  ``cuda:LOCAL_RANK``);
* ``losskit train --nproc N`` (a convenience on one machine): spawns N processes that each run
  the same :func:`run_from_env`, meeting through a file in a temporary directory.

Each process trains with ``train(config, log_format, tensorboard) -> exit code`` (the CLI's
``train_and_report``); what each method does under DDP: :mod:`losskit.core.distributed`.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist

from losskit.core.distributed import exit_worker, file_init_method, is_distributed
from losskit.core.errors import ConfigError
from losskit.train.trainer import resolve_device

TrainFn = Callable[[Any, str, "str | None"], int]

_ENV_KEYS = ("RANK", "WORLD_SIZE")


def launched_by_torchrun() -> bool:
    """Whether this process is one rank of a torchrun-style launch (``RANK`` and
    ``WORLD_SIZE`` set) that has not joined its process group yet."""
    return all(k in os.environ for k in _ENV_KEYS) and not is_distributed()


def run_from_env(
    config: Any, train: TrainFn, log_format: str = "text", tensorboard: str | None = None,
    init_method: str = "env://",
) -> int:
    """One process of a distributed ``losskit train``: join the process group (rank and world
    size from ``RANK`` / ``WORLD_SIZE``; ``gloo`` on CPU, ``nccl`` on CUDA with
    ``cuda:LOCAL_RANK``), ``train`` exactly as a single process would (rank 0 prints and
    writes the run directory), leave the group. Returns the exit code."""
    try:
        rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    except (KeyError, ValueError) as exc:
        raise ConfigError(f"RANK / WORLD_SIZE / LOCAL_RANK must be integers: {exc}") from exc
    device = resolve_device(config.device)
    backend = "gloo"
    if device.type == "cuda":
        backend = "nccl"
        if device.index is None:
            torch.cuda.set_device(local_rank)
    if rank != 0:
        config = dataclasses.replace(config, progress=False)
    dist.init_process_group(backend, init_method=init_method, rank=rank, world_size=world)
    try:
        code = train(config, log_format, tensorboard)
        dist.barrier()  # every rank done before teardown
    finally:
        dist.destroy_process_group()
    return code


def _worker(local_rank: int, world: int, init_method: str, config: Any, train: TrainFn,
            log_format: str, tensorboard: str | None) -> None:
    os.environ.update(RANK=str(local_rank), LOCAL_RANK=str(local_rank), WORLD_SIZE=str(world))
    exit_worker(run_from_env(config, train, log_format, tensorboard, init_method=init_method))


def launch(config: Any, nproc: int, train: TrainFn, log_format: str = "text",
           tensorboard: str | None = None) -> int:
    """Train ``config`` with ``nproc`` processes on this machine (``--nproc``): each runs
    :func:`run_from_env`, meeting through a file store in a temporary directory. ``train``
    must be picklable (a module-level function)."""
    if nproc < 1:
        raise ValueError(f"nproc must be ≥ 1, got {nproc}")
    import torch.multiprocessing as mp

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory(prefix="losskit-dist-") as folder:
        mp.start_processes(
            _worker,
            args=(nproc, file_init_method(folder), config, train, log_format, tensorboard),
            nprocs=nproc, start_method="spawn",
        )
    return 0
