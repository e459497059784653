"""The cross-entropy family's conventions, shared by every loss that follows
``torch.nn.functional.cross_entropy`` (:mod:`~losskit.losses.cross_entropy`,
:mod:`~losskit.losses.robust`, :mod:`~losskit.losses.imbalance`).

Functional side: :func:`ce_args` (the boundary checks; class indices or soft targets),
:func:`ce_reduce` (torch's reductions: ``"mean"`` divides by ``Σ weight[y]`` over the elements
not ignored) and :func:`class_index_loss` (a loss given per element, for class indices only).

Module side: :class:`CrossEntropyFamily` holds ``weight`` (a buffer), ``ignore_index``,
class-balanced weights (Cui et al. 2019) and deferred re-weighting (Cao et al. 2019's DRW);
:class:`FamilyLoss` is the base of the family's module forms written over their functional form
(:class:`~losskit.losses.mirror.FunctionalLoss`). A subclass's ``__init__`` takes the
hyper-parameters (with the function's defaults — checked at class creation, so they cannot
drift), ``reduction`` and ``**family``: the family's keywords (``weight``, ``ignore_index``,
``class_balanced_beta``, ``drw_epoch``, ``class_counts``, ``validate_args``), which the class's
signature lists explicitly (``inspect.signature``, the registry's keyword checks and the
training context see them).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import torch

from losskit.core._validation import check_class_target, check_int, check_reduction, reduce
from losskit.losses.base import Loss, require_class_target
from losskit.losses.mirror import FunctionalLoss
from losskit.losses.priors import class_balanced_weights

__all__ = ["CrossEntropyFamily", "FamilyLoss", "at_target", "ce_args", "ce_reduce",
           "class_index_loss"]

_P = inspect.Parameter


def ce_args(
    input: torch.Tensor,
    target: torch.Tensor,
    reduction: str,
    weight: torch.Tensor | None,
    ignore_index: int,
    validate_args: bool | None,
    name: str,
) -> tuple[bool, torch.Tensor, torch.Tensor | None]:
    """Validate the arguments of the cross-entropy-family loss ``name``; ``(soft, target,
    weight)`` ready for torch."""
    check_reduction(reduction)
    require_class_target(name, input, target, soft_ok=True)
    soft = check_class_target(
        input, target, validate_args, weight=weight, ignore_index=ignore_index
    )
    if weight is not None:
        weight = weight.to(input.dtype)
    return soft, (target.to(input.dtype) if soft else target.long()), weight


def ce_reduce(
    values: torch.Tensor,
    target: torch.Tensor,
    reduction: str,
    soft: bool,
    weight: torch.Tensor | None,
    ignore_index: int,
) -> torch.Tensor:
    """torch's reductions of a cross-entropy-family loss (see the module docs): ``"mean"``
    divides by ``Σ weight[y]`` over the elements not ignored (by their count without
    ``weight``, by the number of elements for soft targets)."""
    if reduction != "mean" or soft:
        return reduce(values, reduction)
    kept = target != ignore_index
    if weight is None:
        return values.sum() / kept.sum()  # = values.mean() bitwise when nothing is ignored
    return values.sum() / at_target(weight, target, kept).sum()


def at_target(per_class: torch.Tensor, target: torch.Tensor, kept: torch.Tensor) -> torch.Tensor:
    """``per_class[y]`` per element, 0 where the label is ignored (``kept`` false)."""
    return per_class[target.masked_fill(~kept, 0)].masked_fill(~kept, 0.0)


def class_index_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    reduction: str,
    weight: torch.Tensor | None,
    ignore_index: int,
    validate_args: bool | None,
    name: str,
    values_of: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> torch.Tensor:
    """The functional form of a loss ``values_of(z, y)`` per element (logits ``z``
    ``(N, C, …)``, labels ``y`` ``(N, …)``; an element labelled ``ignore_index`` gets the
    stand-in label 0, then the value 0), with the cross-entropy family's checks (one
    ``ValueError`` naming the argument; soft targets refused: ``name`` is for labels),
    ``weight`` (``× weight[y]``; ``"mean"`` divides by ``Σ weight[y]``) and reductions."""
    require_class_target(name, input, target)
    _, target, weight = ce_args(
        input, target, reduction, weight, ignore_index, validate_args, name
    )
    if input.shape[1] < 2:
        raise ValueError(f"input must have at least 2 classes for {name}, got {input.shape[1]}")
    kept = target != ignore_index
    values = values_of(input, target.masked_fill(~kept, 0)).masked_fill(~kept, 0.0)
    if weight is not None:
        values = values * at_target(weight, target, kept)
    return ce_reduce(values, target, reduction, False, weight, ignore_index)


class CrossEntropyFamily(Loss):
    """``weight`` (a ``(C,)`` buffer, moved with the module) and ``ignore_index`` as in
    ``torch.nn.CrossEntropyLoss`` (see :mod:`losskit.losses.cross_entropy`).

    Class-balanced weights (Cui et al. 2019, :func:`~losskit.losses.priors.
    class_balanced_weights`): ``class_balanced_beta=β`` fills ``weight`` from
    ``class_counts`` (the training methods pass them, :mod:`losskit.losses.priors`);
    ``drw_epoch=k`` defers them to epochs ``>= k`` (Cao et al. 2019's DRW; the training
    method calls :meth:`set_epoch`). ``"mean"`` then divides by ``Σ w_y`` (torch's and Cao et
    al.'s convention; Cui et al. divide by ``N``: use ``focal``'s per-class ``alpha``)."""

    weight: torch.Tensor | None

    def __init__(
        self,
        reduction: str = "mean",
        *,
        weight: torch.Tensor | Sequence[float] | None = None,
        ignore_index: int = -100,
        class_balanced_beta: float | None = None,
        drw_epoch: int | None = None,
        class_counts: torch.Tensor | Sequence[float] | None = None,
        validate_args: bool | None = None,
    ) -> None:
        super().__init__(reduction, validate_args=validate_args)
        self.ignore_index = check_int(ignore_index, "ignore_index")
        self.class_balanced_beta = class_balanced_beta
        self.drw_epoch = None if drw_epoch is None else check_int(drw_epoch, "drw_epoch", low=0)
        if class_balanced_beta is None:
            if drw_epoch is not None:
                raise ValueError("drw_epoch needs class_balanced_beta (the re-weighting it "
                                 "defers; Cao et al. use 0.9999)")
            self.register_buffer("weight", None if weight is None else _class_weights(weight))
            return
        if weight is not None:
            raise ValueError("give weight or class_balanced_beta, not both")
        balanced = class_balanced_weights(class_counts, class_balanced_beta)
        self.register_buffer("balanced_weight", balanced, persistent=False)
        # the active weight: derived from the counts, so not saved (DRW switches it on)
        self.register_buffer("weight", balanced if self.drw_epoch in (None, 0) else None,
                             persistent=False)

    @property
    def uses_epoch(self) -> bool:
        """Whether :meth:`set_epoch` changes the loss (deferred re-weighting)."""
        return self.drw_epoch is not None

    def set_epoch(self, epoch: int) -> None:
        """Deferred re-weighting: the class-balanced weights from epoch ``drw_epoch`` on."""
        if self.drw_epoch is not None:
            self.weight = self.balanced_weight if epoch >= self.drw_epoch else None

    def _call_kwargs(self) -> dict[str, Any]:
        return {"weight": self.weight, "ignore_index": self.ignore_index,
                "validate_args": self.validate_args}

    def extra_repr(self) -> str:
        balanced = self.class_balanced_beta is not None
        extra = "" if self.weight is None or balanced else f", weight={self.weight.tolist()}"
        if self.ignore_index != -100:
            extra += f", ignore_index={self.ignore_index}"
        if balanced:
            extra += f", class_balanced_beta={self.class_balanced_beta}"
        if self.drw_epoch is not None:
            extra += f", drw_epoch={self.drw_epoch}"
        return super().extra_repr() + extra


def _class_weights(weight: torch.Tensor | Sequence[float]) -> torch.Tensor:
    """Class weights as a float tensor, validated once (finite, ``>= 0``, 1-D)."""
    try:
        w = torch.as_tensor(weight).detach().clone()
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"weight must be a sequence of numbers, got {weight!r}") from exc
    if not w.is_floating_point():
        w = w.float()
    if w.dim() != 1 or not bool((torch.isfinite(w) & (w >= 0)).all()):
        raise ValueError(f"weight must be one finite weight >= 0 per class, got {weight!r}")
    return w


def _family_keywords() -> list[inspect.Parameter]:
    params = inspect.signature(CrossEntropyFamily.__init__).parameters.values()
    return [p for p in params if p.kind is _P.KEYWORD_ONLY]


class FamilyLoss(FunctionalLoss, CrossEntropyFamily):
    """A loss of the cross-entropy family's conventions (class indices ``(N,)`` /
    ``(N, d1, …)``, ``weight``, ``ignore_index``, class-balanced weights, deferred
    re-weighting) computed by its functional form ``function``
    (:class:`~losskit.losses.mirror.FunctionalLoss`: hyper-parameters, ``forward``, ``repr``).
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" not in cls.__dict__:
            return
        own = [p for p in list(inspect.signature(cls.__init__).parameters.values())[1:]
               if p.kind is not _P.VAR_KEYWORD]
        cls.__signature__ = inspect.Signature([*own, *_family_keywords()])  # type: ignore[attr-defined]
