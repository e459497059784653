"""The base of a loss module written over its functional form (as torchmetrics pairs its
modules with their functions).

A subclass names its functional form (``function = staticmethod(fn)``) and writes out its
``__init__``: the hyper-parameters (``fn``'s arguments besides the call's — input, target,
reduction and the keyword-only ones), with ``fn``'s defaults (checked when the class is
created, so they cannot drift), then ``reduction`` and the keyword-only arguments of its base.
``__init__`` checks the hyper-parameters with the checks ``fn`` declares
(:func:`~losskit.core._validation.checks`) through :meth:`FunctionalLoss._set_hyperparameters`,
once, and keeps them as attributes; ``forward(input, target, features=None)`` passes them to
``fn`` in its argument order (unchecked: they were checked at construction) and ``repr``
shows them. ::

    @LOSSES.register("hinge", help="multi-class hinge on logits")
    class HingeLoss(FunctionalLoss):
        \"\"\"Multi-class hinge loss, see :func:`hinge`.\"\"\"

        function = staticmethod(hinge)

        def __init__(self, variant: str = "crammer_singer", reduction: str = "mean", *,
                     validate_args: bool | None = None) -> None:
            super().__init__(reduction, validate_args=validate_args)
            self._set_hyperparameters(variant=variant)

:func:`loss_module` builds such a class from a function alone (for a user's own functional
loss); the zoo's classes are written out.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, ClassVar

import torch

from losskit.core._validation import check_declared
from losskit.losses.base import Loss

__all__ = ["FunctionalLoss", "loss_module"]

_P = inspect.Parameter


class FunctionalLoss(Loss):
    """A loss module computed by its functional form ``function`` (see the module docs)."""

    #: the functional form, ``function = staticmethod(fn)`` with ``fn(input, target,
    #: *hyper-parameters, reduction, *, <keywords of _call_kwargs>)``
    function: ClassVar[Callable[..., torch.Tensor]]
    #: the hyper-parameters' names, in the function's argument order (derived from the
    #: subclass's ``__init__``)
    hyperparameters: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        function = getattr(cls, "function", None)  # a staticmethod in the class body
        if "__init__" not in cls.__dict__ or function is None:
            return
        own = list(inspect.signature(cls.__init__).parameters.values())[1:]
        declared = inspect.signature(function).parameters
        names = tuple(p.name for p in own if p.name in declared and p.name != "reduction"
                      and p.kind is _P.POSITIONAL_OR_KEYWORD)
        for p in own:
            if p.name in names and p.default != declared[p.name].default:
                raise TypeError(f"{cls.__name__}: the default of {p.name!r} differs from "
                                f"{function.__name__}'s")
        cls.hyperparameters = names

    def _set_hyperparameters(self, **values: Any) -> None:
        """Check ``values`` with the function's declared checks and keep them."""
        for name, value in check_declared(type(self).function, **values).items():
            setattr(self, name, value)

    def _hyper_values(self) -> list[Any]:
        """The hyper-parameters passed to the functional form, in its argument order."""
        return [getattr(self, name) for name in self.hyperparameters]

    def forward(
        self, input: torch.Tensor, target: torch.Tensor, features: torch.Tensor | None = None
    ) -> torch.Tensor:
        compute = getattr(self.function, "__wrapped__", self.function)  # checked at __init__
        return compute(input, target, *self._hyper_values(), self.reduction,
                       **self._call_kwargs())

    def extra_repr(self) -> str:
        own = "".join(f"{name}={getattr(self, name)!r}, " for name in self.hyperparameters)
        return own + super().extra_repr()


#: the arguments of a functional loss that are the call's, not hyper-parameters
_CALL_ARGS = ("input", "target", "features", "reduction", "validate_args", "weight",
              "ignore_index")


def loss_module(
    fn: Callable[..., torch.Tensor],
    class_name: str,
    *,
    task: str = "classification",
    base: type[Loss] | None = None,
    doc: str | None = None,
    **attributes: Any,
) -> type[Loss]:
    """A :class:`FunctionalLoss` class over the functional loss ``fn``, built from ``fn``'s
    signature (for a user's own functional loss; the zoo writes its classes out).

    ``__init__(*hyper-parameters, reduction="mean", *, <base keywords>, validate_args=None)``:
    ``fn``'s hyper-parameters (its arguments besides input, target, reduction and the
    ``base``'s keywords) with ``fn``'s defaults, checked with ``fn``'s declared checks and
    stored as attributes (set them again through the constructor: ``forward`` does not
    re-check them); ``forward(input, target, features=None)`` calls ``fn`` with them.
    ``base``: :class:`~losskit.losses.base.Loss` or a subclass adding keyword arguments
    (:class:`~losskit.losses.family.CrossEntropyFamily`: ``weight``, ``ignore_index``, …).
    ``attributes``: class attributes (``class_index_fallback``).
    """
    base = base or Loss
    params = inspect.signature(fn).parameters.values()
    hyper = [p for p in params if p.name not in _CALL_ARGS
             and p.kind is _P.POSITIONAL_OR_KEYWORD]
    keywords = [p for p in inspect.signature(base.__init__).parameters.values()
                if p.kind is _P.KEYWORD_ONLY]
    signature = inspect.Signature(
        [*hyper, _P("reduction", _P.POSITIONAL_OR_KEYWORD, default="mean", annotation=str),
         *keywords]
    )

    class Mirror(FunctionalLoss, base):  # type: ignore[valid-type, misc]
        function = staticmethod(fn)

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            try:
                bound = signature.bind(*args, **kwargs)
            except TypeError as exc:
                raise TypeError(f"{class_name}.__init__() {exc}") from None
            bound.apply_defaults()
            values = dict(bound.arguments)
            base.__init__(self, values.pop("reduction"),
                          **{p.name: values.pop(p.name) for p in keywords})
            self._set_hyperparameters(**values)

    Mirror.hyperparameters = tuple(p.name for p in hyper)
    Mirror.__signature__ = signature  # type: ignore[attr-defined]
    Mirror.__name__ = Mirror.__qualname__ = class_name
    Mirror.__doc__ = doc or f"``nn.Module`` form of :func:`{fn.__module__}.{fn.__name__}`."
    Mirror.task = task
    for name, value in attributes.items():
        setattr(Mirror, name, value)
    return Mirror
