"""Base class and calling convention of every loss in the zoo.

Convention (torch-style): ``loss(input, target, features=None)``

* ``input``: logits ``(N, C)`` for classification losses (other shapes where a loss says so);
* ``target``: integer class indices ``(N,)`` for classification losses;
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

import torch
from torch import nn

from losskit._validation import check_reduction


class Loss(nn.Module):
    """Base of all losses. Subclasses implement :meth:`forward`."""

    needs_features: bool = False
    has_parameters: bool = False

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

    def extra_repr(self) -> str:
        checks = "" if self.validate_args is None else f", validate_args={self.validate_args}"
        return f"reduction={self.reduction!r}{checks}"
