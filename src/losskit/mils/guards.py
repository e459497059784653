"""Guards against MILS runs that look fine and test nothing.

An acceptance test that cannot order two models (a *tie*) keeps the update under
``accept_ties=True`` (the default): the paper's "does not drop" rule, §4.1. A run in which every
test ties is therefore silently the "no scheduling" ablation. Two set-ups do that by
construction and are refused up front — observation labels the model can never predict
(:func:`losskit.mils.observation.check_label_width`) and an optimizer that belongs to another
model (:func:`check_optimizer_owner`) — and :func:`warn_all_ties` reports the rest once.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable

import torch
from torch import nn

from losskit.core.errors import LossKitWarning
from losskit.mils.counters import MILSStats


def check_optimizer_owner(
    optimizer: torch.optim.Optimizer, model: nn.Module, losses: Iterable[nn.Module] = ()
) -> None:
    """``ValueError`` naming ``optimizer`` when it holds a parameter that is neither ``model``'s
    nor one of the loss modules' (center / L-GM centres, SLF's decision network).

    MILS rolls back and judges ``model``: an optimizer built for another model would step
    parameters the test never sees, so every attempt would tie and be kept. Holding only some
    of the model's parameters (frozen layers) is fine.
    """
    owned = {id(p) for p in model.parameters()}
    for loss in losses:
        owned.update(id(p) for p in loss.parameters())
    params = [p for group in optimizer.param_groups for p in group["params"]]
    foreign = [p for p in params if id(p) not in owned]
    if foreign:
        shapes = ", ".join(str(tuple(p.shape)) for p in foreign[:3])
        more = f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
        raise ValueError(
            f"optimizer holds {len(foreign)} of {len(params)} parameter tensors that are not "
            f"the model's (nor a loss module's): shapes {shapes}{more}; build it from "
            "model.parameters() (plus the loss modules' parameters) of the model given to MILS"
        )


def warn_all_ties(
    stats: MILSStats,
    accept: str,
    accept_ties: bool,
    last_obs_acc: float | None = None,
    observation_size: int | None = None,
) -> None:
    """One :class:`~losskit.core.errors.LossKitWarning` (a ``UserWarning``; the CLI prints it once
    as ``losskit: warning: …``): every one of the epoch's ``stats.attempts`` attempts was a tie, so
    each was kept (``accept_ties``) or rejected without being judged; names the likely causes.

    Seen in practice (paper suite, MNIST MLP): a 128-sample observation set drawn from the
    training data is soon classified 100 % correctly and stays so — the test then keeps every
    auxiliary update, like the "no scheduling" ablation.
    """
    verdict = "kept" if accept_ties else "rejected"
    if accept == "observation":
        seen = "" if last_obs_acc is None else f" (observation accuracy {last_obs_acc:.4f})"
        size = "" if observation_size is None else f" of {observation_size} samples"
        causes = (
            f"an observation set{size} that is saturated{seen} — e.g. memorised training "
            "samples (draw a larger or held-out set, or observation_refresh='epoch') — or too "
            "small to register one update; updates too small to change any prediction "
            "(learning rate)"
        )
    else:
        causes = ("auxiliary or primary gradients that are zero (a loss not connected to the "
                  "parameters, or saturated)")
    warnings.warn(
        f"MILS: all {stats.attempts} auxiliary attempts of this epoch were ties, so every one "
        f"was {verdict} without being judged (accept={accept!r}, accept_ties={accept_ties}). "
        f"Likely causes: {causes}. Warned once per MILS object.",
        LossKitWarning,
        stacklevel=3,
    )
