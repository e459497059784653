"""``torch.distributed`` helpers: rank/world queries, batch sharding, collectives, gradient
averaging for method parameters. (How ``losskit train`` runs on several processes —
``torchrun … -m losskit train`` or ``losskit train --nproc N`` — is :mod:`losskit.launch`.)

Only rank 0 prints, writes the run directory and holds its lock; every rank resumes from
``--out`` (on several machines it must be a shared filesystem).

How each method behaves under DistributedDataParallel (DDP):

* the model is wrapped in DDP; every rank sees the same shuffled global batch order (same seed)
  and trains on its slice ``batch[rank::world]``, so N ranks ≈ one process with the same
  ``batch_size``;
* parameters a method adds (SLF's decision network, center/L-GM loss parameters) are not inside
  the DDP module: :func:`average_gradients` registers hooks that all-reduce (average) their
  gradients, so they stay identical on every rank;
* MILS all-reduces observation-set counts so that every rank takes the same accept/reject
  decision (see ``losskit.mils``); participation draws come from a generator seeded identically
  on every rank.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def shard(tensors: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    """This rank's slice ``t[rank::world]`` of each tensor of a global batch."""
    if not is_distributed():
        return tensors
    r, w = rank(), world_size()
    return tuple(t[r::w] for t in tensors)


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """In-place sum over ranks (no-op outside distributed runs); returns ``tensor``."""
    if is_distributed():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def gather_batch(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate every rank's ``tensor`` along dim 0 (rank order); differentiable for the
    local part.

    Ranks may hold different batch sizes (padded for the collective, trimmed after). The own
    slice carries the gradient scaled by ``world_size`` (its value is unchanged): every rank
    computes the same global-batch loss ``L``, so rank ``r`` gets ``world · ∂L/∂x_r`` and DDP's
    gradient *averaging* yields exactly ``∂L/∂θ`` of the global loss. Other ranks' slices are
    constants here (no collective runs in backward). Outside distributed runs: ``tensor``.
    """
    if not is_distributed():
        return tensor
    w, r = world_size(), rank()
    sizes = torch.zeros(w, dtype=torch.int64, device=tensor.device)
    sizes[r] = tensor.shape[0]
    all_reduce_sum(sizes)
    longest = int(sizes.max())
    padded = tensor.detach().new_zeros((longest, *tensor.shape[1:]))
    padded[: tensor.shape[0]] = tensor.detach()
    parts = [torch.empty_like(padded) for _ in range(w)]
    dist.all_gather(parts, padded.contiguous())
    own = tensor + (w - 1) * (tensor - tensor.detach()) if tensor.requires_grad else tensor
    pieces = [own if i == r else parts[i][: int(sizes[i])] for i in range(w)]
    return torch.cat(pieces, dim=0)


def average_gradients(params: Iterable[nn.Parameter]) -> list[Any]:
    """Register hooks that average each parameter's gradient over ranks after accumulation.

    For parameters outside the DDP module (a method's own). Returns the hook handles.
    """
    if not is_distributed():
        return []
    w = world_size()

    def hook(p: torch.Tensor) -> None:
        if p.grad is not None:
            dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
            p.grad.div_(w)

    return [p.register_post_accumulate_grad_hook(hook) for p in params if p.requires_grad]


def file_init_method(folder: str | os.PathLike[str]) -> str:
    """A ``file://`` rendezvous in ``folder`` (must be empty of a previous run's store).

    Used instead of ``tcp://``: a file store has no server thread in rank 0, so no rank can
    be torn down while another still talks to it (gloo then aborts the process)."""
    return Path(folder, "losskit-store").resolve().as_uri()


def exit_worker(code: int = 0) -> None:
    """End a spawned worker that finished, skipping interpreter teardown.

    Gloo's background threads can hit ``std::terminate`` ("terminate called without an active
    exception", SIGABRT) while Python finalises a process that used them, turning a finished
    run into a failed one; the work is done and flushed, so leave with ``code`` at once."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
