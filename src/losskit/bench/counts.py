"""Machine-independent cost counts of a step: aten ops dispatched and host-device syncs.

* :func:`count_aten_ops`: the operator calls that reach the dispatcher below autograd
  (counted by a ``TorchDispatchMode``), forward and backward. On a GPU each is about one
  kernel launch, so for small models the fixed cost of a loss is roughly this count.
* :func:`count_syncs`: the calls that make the host wait for the device, counted by a
  ``TorchFunctionMode`` whatever the device (on the CPU they are cheap, on a GPU each one stalls
  the launch queue): reading a value (``bool``/``int``/``float``/``index`` of a tensor,
  ``item``, ``tolist``) and ops whose output shape depends on values (``nonzero``,
  ``masked_select``, ``unique``, boolean-mask indexing, one-argument ``where``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

SYNC_METHODS = frozenset(
    {"__bool__", "__int__", "__float__", "__index__", "item", "tolist"}
)
DATA_DEPENDENT_SHAPE = frozenset(
    {"nonzero", "argwhere", "masked_select", "unique", "unique_consecutive", "bincount"}
)


class OpCounter(TorchDispatchMode):
    """Counts aten operator calls (``with OpCounter() as c: ...; c.count``)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        self.count += 1
        return func(*args, **(kwargs or {}))


def _has_bool_mask(index: Any) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return any(isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in items)


class SyncCounter(TorchFunctionMode):
    """Counts host-device synchronisations (see the module docs); ``names`` lists them."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    @property
    def count(self) -> int:
        return len(self.names)

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        name = getattr(func, "__name__", "")
        if (
            name in SYNC_METHODS
            or name in DATA_DEPENDENT_SHAPE
            or (name == "where" and len(args) == 1 and not kwargs)
            or (name in ("__getitem__", "__setitem__") and len(args) > 1
                and _has_bool_mask(args[1]))
        ):
            self.names.append(name)
        return func(*args, **(kwargs or {}))


def count_aten_ops(fn: Callable[[], object], steps: int = 1) -> float:
    """Aten ops per call of ``fn`` (the mean over ``steps`` calls)."""
    with OpCounter() as counter:
        for _ in range(steps):
            fn()
    return counter.count / steps


def count_syncs(fn: Callable[[], object], steps: int = 1) -> float:
    """Host-device syncs per call of ``fn`` (the mean over ``steps`` calls)."""
    with SyncCounter() as counter:
        for _ in range(steps):
            fn()
    return counter.count / steps
