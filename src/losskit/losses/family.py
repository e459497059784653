"""Base of the loss modules written as plain classes over a functional form of the
cross-entropy family (:mod:`losskit.losses.robust`, :mod:`losskit.losses.imbalance`).

A subclass names its functional form (``function``), and its ``__init__`` takes the
hyper-parameters (with the function's defaults — checked at class creation, so they cannot
drift), ``reduction`` and ``**family``: the cross-entropy family's keywords (``weight``,
``ignore_index``, ``class_balanced_beta``, ``drw_epoch``, ``class_counts``,
``validate_args``), which the class's signature lists explicitly (``inspect.signature``, the
registry's keyword checks and the training context see them). The hyper-parameters are checked
with the checks the function declares (:func:`~losskit._validation.checks`), once, at
construction.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, ClassVar

import torch

from losskit._validation import check_declared
from losskit.losses import functional as LF
from losskit.losses.base import require_class_target
from losskit.losses.modules import _CrossEntropyFamily

__all__ = ["FamilyLoss", "class_index_loss"]

_P = inspect.Parameter


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
    _, target, weight = LF._ce_args(
        input, target, reduction, weight, ignore_index, validate_args, name
    )
    if input.shape[1] < 2:
        raise ValueError(f"input must have at least 2 classes for {name}, got {input.shape[1]}")
    kept = target != ignore_index
    values = values_of(input, target.masked_fill(~kept, 0)).masked_fill(~kept, 0.0)
    if weight is not None:
        values = values * LF._at_target(weight, target, kept)
    return LF._ce_reduce(values, target, reduction, False, weight, ignore_index)


def _family_keywords() -> list[inspect.Parameter]:
    params = inspect.signature(_CrossEntropyFamily.__init__).parameters.values()
    return [p for p in params if p.kind is _P.KEYWORD_ONLY]


class FamilyLoss(_CrossEntropyFamily):
    """A loss of the cross-entropy family's conventions (class indices ``(N,)`` /
    ``(N, d1, …)``, ``weight``, ``ignore_index``, class-balanced weights, deferred
    re-weighting) computed by ``function``."""

    #: the functional form, ``function = staticmethod(fn)`` with ``fn(input, target,
    #: *hyper-parameters, reduction, *, weight, ignore_index, validate_args)``
    function: ClassVar[Callable[..., torch.Tensor]]
    #: the hyper-parameters' names, in the function's argument order (derived)
    hyperparameters: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" not in cls.__dict__:
            return
        own = [p for p in list(inspect.signature(cls.__init__).parameters.values())[1:]
               if p.kind is not _P.VAR_KEYWORD]
        function = getattr(cls, "function", None)  # a staticmethod in the class body
        if function is not None:
            declared = inspect.signature(function).parameters
            names = tuple(p.name for p in own if p.name in declared and p.name != "reduction"
                          and p.kind is _P.POSITIONAL_OR_KEYWORD)
            for name in names:
                if own[[p.name for p in own].index(name)].default != declared[name].default:
                    raise TypeError(f"{cls.__name__}: the default of {name!r} differs from "
                                    f"{function.__name__}'s")
            cls.hyperparameters = names
        cls.__signature__ = inspect.Signature([*own, *_family_keywords()])  # type: ignore[attr-defined]

    def _set_hyperparameters(self, **values: Any) -> None:
        """Check ``values`` with the function's declared checks and keep them."""
        for name, value in check_declared(type(self).function, **values).items():
            setattr(self, name, value)

    def forward(
        self, input: torch.Tensor, target: torch.Tensor, features: torch.Tensor | None = None
    ) -> torch.Tensor:
        compute = getattr(self.function, "__wrapped__", self.function)  # checked at __init__
        hyper = [getattr(self, name) for name in self.hyperparameters]
        return compute(input, target, *hyper, self.reduction, **self._call_kwargs())

    def extra_repr(self) -> str:
        own = "".join(f"{name}={getattr(self, name)!r}, " for name in self.hyperparameters)
        return own + super().extra_repr()
