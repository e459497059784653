"""One rule for reading a batch: ``(x, y, …)`` sequences or ``{input_key: x, target_key: y}`` dicts.

Every entry point (the Trainer, :class:`~losskit.integrations.lightning.LossKitModule`, MILS's
observation set, SLF's bilevel validation batches) reads batches through :func:`unpack_batch`,
so a user's ``DataLoader`` works the same everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from losskit.core.errors import ConfigError


@dataclass(frozen=True)
class BatchKeys:
    """Where a batch keeps its input and target.

    Sequence batches (``(x, y)``, ``[x, y, extra…]``) use positions 0 and 1; dict batches use
    ``input`` and ``target`` (configurable: e.g. ``BatchKeys("image", "label")``).
    """

    input: str = "input"
    target: str = "target"


DEFAULT_KEYS = BatchKeys()


def unpack_batch(batch: Any, keys: BatchKeys = DEFAULT_KEYS) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, y)`` of one batch (a tuple/list of at least two tensors, or a mapping).

    Raises one :class:`~losskit.core.errors.ConfigError` naming ``batch`` and the expected forms
    when the batch is neither.
    """
    if isinstance(batch, Mapping):
        missing = [k for k in (keys.input, keys.target) if k not in batch]
        if missing:
            raise ConfigError(
                f"batch is a dict with keys {sorted(map(str, batch))}, missing {missing}; set "
                f"input_key/target_key (now {keys.input!r}/{keys.target!r}) to the dict's keys",
                "batch",
            )
        return batch[keys.input], batch[keys.target]
    if isinstance(batch, Sequence) and not isinstance(batch, (str, bytes)) and len(batch) >= 2:
        return batch[0], batch[1]
    raise ConfigError(
        f"batch must be an (input, target, …) tuple/list or a dict with {keys.input!r} and "
        f"{keys.target!r}, got {type(batch).__name__}", "batch",
    )
