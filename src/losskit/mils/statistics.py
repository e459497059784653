"""Class statistics of parametric auxiliary losses: how centre / L-GM-mean parameters learn under
MILS.

Center loss's centres ``c_k`` (Wen et al. 2016, Eq. 2-4) and L-GM's means ``μ_k`` and
covariances (Wan et al. 2018, Eq. 6-10) are per-class statistics of the model's features, not
part of the model. Rolled back with the model (the literal reading of the paper's "reload the
last model parameters"), they start random, the first auxiliary update drags every feature
towards a random point, observation accuracy drops, the update is undone — and the statistics,
undone with it, never learn: MILS+L-GM equals CE bitwise (0 accepted attempts in every seed).

Our rule (``statistics="learn"``, the default):

1. **estimated from the features** — on every attempt, before the auxiliary loss is evaluated,
   its class means are set to the per-class means of the attempt batch's features (the features
   of the model the update starts from; classes absent from the batch keep their value). With
   primary steps in between, the features move between two attempts; a mean that only followed
   its own loss's gradient on the ~10 % of steps an auxiliary trains would lag behind them
   (measured, LeNet on Fashion-MNIST, 1 epoch, participation 0.1: initialising them from the
   first attempt's batch only keeps 1-3 L-GM attempts of 37, this rule 6-16 of 37-55; rolled
   back, 0). Other statistics (L-GM's log-covariances) follow their gradient;
2. **never rolled back** — the statistics (and their optimizer state) keep the update of every
   attempt, accepted or not: they were computed from the features of the model *before* the
   attempt, which is the model that stands after a rollback. Only an attempt whose update is
   not finite rolls them back too.

``statistics="rollback"`` restores them with everything else and never re-estimates them (the
literal reading).

A loss declares its statistics by naming them in a ``class_statistics`` attribute; the first
name is the ``(C, D)`` class-mean parameter (``CenterLoss``: ``centers``; ``LGMLoss``:
``means``, ``log_covs``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from losskit.core.distributed import all_reduce_sum, is_distributed

STATISTICS = ("learn", "rollback")


def class_statistics(loss: Any) -> list[nn.Parameter]:
    """The parameters ``loss`` declares as class statistics (empty for other losses)."""
    names = getattr(loss, "class_statistics", ()) if isinstance(loss, nn.Module) else ()
    params = [getattr(loss, name, None) for name in names]
    return [p for p in params if isinstance(p, nn.Parameter)]


@torch.no_grad()
def estimate_class_means(loss: Any, features: torch.Tensor, target: torch.Tensor) -> None:
    """Set the class means of ``loss`` (its first ``class_statistics`` entry, ``(C, D)``) to the
    per-class means of ``features`` ``(N, D)`` — of the global batch under ``torch.distributed``
    (sums and counts are all-reduced, so every rank holds the same means). Classes without a
    sample keep their value, and so do all of them when ``features`` are not finite. No host
    synchronisation."""
    params = class_statistics(loss)
    if not params:
        return
    means = params[0]
    f = features.detach().to(means.dtype)
    y = target.long().to(means.device)
    sums = torch.zeros_like(means).index_add_(0, y, f)
    counts = torch.bincount(y, minlength=means.shape[0]).to(means.dtype).unsqueeze(1)
    if is_distributed():
        both = all_reduce_sum(torch.cat([sums, counts], dim=1))
        sums, counts = both[:, :-1], both[:, -1:]
    update = (counts > 0) & torch.isfinite(sums).all()
    means.copy_(torch.where(update, sums / counts.clamp_min(1), means))
