"""Base class and calling convention of every loss in the zoo.

Convention (torch-style): ``loss(input, target, features=None)``

* every loss declares its ``task``: ``"classification"`` or ``"regression"``;
* ``input``: logits ``(N, C)`` for classification losses (other shapes where a loss says so),
  real-valued predictions ``(N,)`` or ``(N, D)`` for regression losses;
* ``target``: integer class indices ``(N,)`` for classification losses (multi-hot / binary
  floats where a loss says so), real values of the input's shape for regression losses. A
  target of the other task gets one ``ValueError`` naming the loss
  (:func:`require_class_target`, :func:`require_real_target`);
* ``features``: penultimate-layer features ``(N, D)``; only losses with ``needs_features = True``
  (center, L-GM) use them and raise ``ValueError`` when they are missing;
* ``reduction``: ``"mean" | "sum" | "none"``; the output follows the input's device and dtype;
* ``validate_args``: value checks (NaN/Inf scans, label ranges: host syncs) of this instance,
  ``None`` following the global switch :func:`losskit.set_validate_args` (torchmetrics'
  convention); shape and dtype checks always run.

Parametric losses (``has_parameters = True``) own ``nn.Parameter`` s that must be given to the
optimizer (the Trainer does this through ``Method.parameters()``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from losskit.core._validation import check_reduction

TASKS = ("classification", "regression")
REGRESSION_NAMES = "mse, mae, huber, smooth_l1, log_cosh"
CLASSIFICATION_NAMES = "ce, prob_mse, prob_mae, prob_bce, hinge, cosine, …"


class LosskitDeprecationWarning(DeprecationWarning):
    """A losskit name or behaviour that goes away in the next release (shown once per call
    site: ``losskit.losses`` installs a ``"default"`` warnings filter for this category)."""


def require_class_target(
    name: str, input: object, target: object, *, soft_ok: bool = False
) -> None:
    """``ValueError`` naming the classification loss ``name`` when ``target`` is real-valued.

    ``soft_ok``: the loss also takes class probabilities of ``input``'s shape ``(N, C, …)``
    with ``C ≥ 2`` (the cross-entropy family); a single output (``C = 1``) is refused, its
    softmax is constant 1 and the loss identically 0.
    """
    if not (isinstance(target, torch.Tensor) and target.is_floating_point()):
        return
    if (soft_ok and isinstance(input, torch.Tensor) and input.dim() >= 2
            and input.shape[1] >= 2 and target.shape == input.shape):
        return
    probs = " or class probabilities of input's shape (N, C >= 2)" if soft_ok else ""
    raise ValueError(
        f"target of the classification loss {name!r} must hold integer class indices{probs}, "
        f"got a floating-point tensor of shape {tuple(target.shape)}; real-valued targets "
        f"need a regression loss ({REGRESSION_NAMES})"
    )


def require_real_target(name: str, target: object) -> None:
    """``ValueError`` naming the regression loss ``name`` when ``target`` is not real-valued."""
    if isinstance(target, torch.Tensor) and not target.is_floating_point():
        raise ValueError(
            f"target of the regression loss {name!r} must be real-valued (floating point), got "
            f"dtype {target.dtype}; class indices need a classification loss "
            f"({CLASSIFICATION_NAMES})"
        )


def class_index_call(input_shape: tuple[int, ...], target: object) -> bool:
    """Outputs ``(N, C ≥ 2)`` with integer class indices ``(N,)``: the classification call
    (that ``mse`` / ``mae`` still accept, deprecated, until losskit 0.2)."""
    return (
        isinstance(target, torch.Tensor)
        and not target.is_floating_point()
        and target.dim() == 1
        and len(input_shape) == 2
        and input_shape[1] >= 2
    )


def loss_name(loss: Any) -> str:
    """The display name of a loss given by name, module or callable (the one naming rule of
    SLF's candidates and MILS's auxiliaries): a name as given, a loss's ``name`` attribute, a
    function's ``__name__``, else the class name in lower case."""
    if isinstance(loss, str):
        return loss
    name = getattr(loss, "name", None)
    if isinstance(name, str) and name:
        return name
    fn = getattr(loss, "__name__", None)
    return fn if isinstance(fn, str) else type(loss).__name__.lower()


def check_task(name: str, loss: object, target: torch.Tensor, num_outputs: int) -> None:
    """Set-up check that ``loss`` (named ``name``) fits the data's targets ``target`` for a
    model with ``num_outputs`` outputs, by its declared ``task``: the ``ValueError`` the loss
    would raise on its first batch, before training starts. Undeclared callables pass."""
    task = getattr(loss, "task", None)
    shape = (int(target.shape[0]), int(num_outputs))
    if (task == "classification" and num_outputs == 1 and target.dim() == 1
            and bool(((target == 0) | (target == 1)).all())):
        return  # one output per sample: 0/1 targets of any dtype (the sigmoid losses check them)
    if task == "classification":
        # any (N, C ≥ 2) real-valued target may be soft / multi-hot labels: the loss decides
        require_class_target(name, torch.empty(shape, device="meta"), target, soft_ok=True)
    elif task == "regression":
        legacy = getattr(loss, "class_index_fallback", False) and class_index_call(shape, target)
        if not legacy:
            require_real_target(name, target)


class Loss(nn.Module):
    """Base of all losses. Subclasses implement :meth:`forward` and set :attr:`task`."""

    needs_features: bool = False
    has_parameters: bool = False
    task: str = "classification"  # or "regression": which targets the loss takes

    def __init__(self, reduction: str = "mean", *, validate_args: bool | None = None) -> None:
        super().__init__()
        self.reduction = check_reduction(reduction)
        if validate_args is not None and not isinstance(validate_args, bool):
            raise ValueError(f"validate_args must be None or a bool, got {validate_args!r}")
        self.validate_args = validate_args

    def forward(  # pragma: no cover - abstract
        self, input: torch.Tensor, target: torch.Tensor, features: torch.Tensor | None = None
    ) -> torch.Tensor:
        raise NotImplementedError

    def _call_kwargs(self) -> dict[str, Any]:
        """Keywords every call of the functional form gets (beside the hyper-parameters)."""
        return {"validate_args": self.validate_args}

    def extra_repr(self) -> str:
        checks = "" if self.validate_args is None else f", validate_args={self.validate_args}"
        return f"reduction={self.reduction!r}{checks}"
