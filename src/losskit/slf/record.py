"""The record of a :class:`~losskit.slf.loss.StochasticLoss` call (``last_record``): the
candidates' values, the weights ``p̂`` and the probabilities ``p``, kept unreduced and reduced
on their first read (no op per step for bookkeeping nobody reads).
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["LAST_FIELDS", "read_last"]

#: the fields of a record that may wait, unreduced (``(N, n)``), for their first read
LAST_FIELDS = frozenset({"losses", "weights", "probs"})


def read_last(record: dict[str, Any], name: str) -> torch.Tensor | None:
    """``"losses"``, ``"weights"`` or ``"probs"`` of a :attr:`StochasticLoss.last_record`: the
    ``(n,)`` vector, reduced (batch mean; ``probs`` kept as ``log p``) on its first read."""
    value = record.get(name)
    pending = record.get("pending", ())
    if value is not None and name in pending:
        with torch.no_grad():
            value = (value.exp() if name == "probs" else value).mean(0)
        record[name], record["pending"] = value, pending - {name}
    return value
