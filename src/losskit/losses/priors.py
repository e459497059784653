"""Class statistics of the training labels, for the losses that need them (class-balanced
weights, logit adjustment, LDAM), and the epoch hook of deferred re-weighting.

**Class counts: one mechanism.** A loss that needs the training set's class counts says so by
taking a ``class_counts`` keyword (``(C,)`` counts ``n_c``). The training methods build their
losses with :func:`losskit.losses.build` and the run's context
(:attr:`losskit.core.method.TrainContext.context`), which holds ``class_counts`` — the
:func:`class_counts` of the training targets — next to ``num_classes`` and ``feature_dim``;
:meth:`~losskit.core.registry.Registry.build` hands each context key to the losses whose
constructor takes it. So ``--loss ldam``, ``--loss ce --method-arg class_balanced_beta=0.9999``,
SLF candidates and MILS auxiliaries all get the counts without a flag; outside a training method
pass them yourself (``losses.get("ldam", class_counts=counts)``). Every class needs at least
one training sample (``n_c ≥ 1``): the formulas below are undefined at ``n_c = 0``.

**The epoch: one hook.** A loss whose value depends on the epoch (deferred re-weighting,
``drw_epoch``) has ``set_epoch(epoch)`` and ``uses_epoch = True`` (the convention of
``DistributedSampler.set_epoch``); the training method calls :func:`sync_epoch` with
``ctx.epoch`` (0-based) before each step — ``--method loss`` and the loss-weighting methods
(:mod:`losskit.weighting`) do.

* :func:`class_balanced_weights` — Cui et al. 2019, "Class-Balanced Loss Based on Effective
  Number of Samples", Eq. 5–6: ``w_c = (1 − β) / (1 − β^{n_c})``, normalised to ``Σ_c w_c = C``;
* :func:`class_priors` — ``π_c = n_c / Σ_k n_k`` (Menon et al. 2021, logit adjustment).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import torch
from torch import nn

from losskit.core._validation import check_int, check_number
from losskit.core.labels import class_counts

__all__ = [
    "class_counts",
    "check_class_counts",
    "class_balanced_weights",
    "class_priors",
    "epoch_losses",
    "sync_epoch",
]

def check_class_counts(
    counts: torch.Tensor | Sequence[float] | None, name: str = "class_counts",
    num_classes: int | None = None,
) -> torch.Tensor:
    """``counts`` as a float64 ``(C,)`` tensor, checked once: 1-D, finite, every entry
    ``≥ 1`` (``ValueError`` naming ``name`` and the empty classes otherwise); ``C =
    num_classes`` when given. ``None`` is refused with a hint at the training context."""
    if counts is None:
        raise ValueError(f"{name} must be given: the number of training samples per class, "
                         "(C,) (the training methods pass it from the training labels)")
    try:
        c = torch.as_tensor(counts).detach().to(torch.float64).cpu()
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"{name} must be a sequence of numbers, got {counts!r}") from exc
    if c.dim() != 1 or c.numel() < 2:
        raise ValueError(f"{name} must have shape (C,) with C >= 2 classes, got "
                         f"{tuple(c.shape)}")
    if num_classes is not None and c.numel() != num_classes:
        raise ValueError(f"{name} must have one entry per class ({num_classes}), got "
                         f"{c.numel()}")
    if not bool(torch.isfinite(c).all()):
        raise ValueError(f"{name} must be finite, got {c.tolist()}")
    empty = (c < 1).nonzero().flatten().tolist()
    if empty:
        raise ValueError(f"{name} must be >= 1 for every class (a class without training "
                         f"samples has no prior / margin / class-balanced weight); classes "
                         f"{empty} have {[c[i].item() for i in empty]}")
    return c


def class_balanced_weights(
    counts: torch.Tensor | Sequence[float], beta: float
) -> torch.Tensor:
    """Class-balanced weights of Cui et al. 2019 (Eq. 5–6): ``w_c = (1 − β) / (1 − β^{n_c})``
    (the inverse "effective number" of samples), normalised to sum to ``C``; float32 ``(C,)``.

    ``beta`` in ``[0, 1)``: 0 gives equal weights (no re-weighting), ``β → 1`` inverse class
    frequency. Cui et al. search ``β ∈ {0.9, 0.99, 0.999, 0.9999}``; Cao et al.'s deferred
    re-weighting uses 0.9999. Computed in float64 (``β^{n_c}`` for large ``n_c``).
    """
    beta = check_number(beta, "class_balanced_beta", low=0.0)
    if beta >= 1.0:
        raise ValueError(f"class_balanced_beta must be < 1, got {beta}")
    n = check_class_counts(counts)
    if beta == 0.0:
        w = torch.ones_like(n)
    else:  # 1 − β^n = −expm1(n log β): no cancellation for β near 1
        w = (1.0 - beta) / -torch.expm1(n * math.log(beta))
    return (w * (n.numel() / w.sum())).float()


def class_priors(counts: torch.Tensor | Sequence[float]) -> torch.Tensor:
    """Class priors ``π_c = n_c / Σ_k n_k`` (float64 ``(C,)``) of checked counts."""
    n = check_class_counts(counts)
    return n / n.sum()


def check_epoch(epoch: object) -> int:
    return check_int(epoch, "epoch", low=0)


def epoch_losses(*modules: object) -> list[nn.Module]:
    """The (sub)modules of ``modules`` whose value depends on the epoch (``uses_epoch``)."""
    found: list[nn.Module] = []
    for module in modules:
        if isinstance(module, nn.Module):
            found.extend(m for m in module.modules() if getattr(m, "uses_epoch", False))
    return found


def sync_epoch(losses: Iterable[nn.Module], epoch: int) -> None:
    """``set_epoch(epoch)`` on each of ``losses`` (from :func:`epoch_losses`; a Python
    attribute update, no tensor work)."""
    for loss in losses:
        loss.set_epoch(epoch)  # type: ignore[operator]
