"""The observation set: a random copy of training samples whose accuracy decides whether an
auxiliary update is kept (paper §4.1 "Intuition": "randomly copying some samples from the
training dataset is a reasonable way to build an observation dataset"; §6: one batch suffices).

:func:`observation_set_from` draws it from any map-style ``torch.utils.data.Dataset`` (a
``TensorDataset`` is indexed directly; any other is read item by item once, collated with
``default_collate`` and split into ``(x, y)`` by :func:`losskit.data.batches.unpack_batch`).
"""

from __future__ import annotations

from collections.abc import Sized

import torch
from torch import nn
from torch.utils.data import Dataset, IterableDataset, TensorDataset, default_collate

from losskit.core.step import autocast_for
from losskit.data.batches import DEFAULT_KEYS, BatchKeys, unpack_batch

_INT_DTYPES = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)


def check_observation(
    observation: tuple[torch.Tensor, torch.Tensor] | None,
    name: str = "observation",
    num_classes: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate an ``(x, y)`` observation set: non-empty, same length, integer labels (in
    ``[0, num_classes)`` when ``num_classes`` is known), finite inputs. One ``ValueError``
    naming ``name`` otherwise (a bad set would silently decide every attempt: out-of-range
    labels are never correct, NaN inputs give NaN logits — every comparison a tie)."""
    if observation is None:
        raise ValueError(f"{name} must be an (x, y) pair of tensors, got None")
    try:
        x, y = observation
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an (x, y) pair of tensors") from None
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise ValueError(f"{name} must be an (x, y) pair of tensors")
    if x.dim() == 0 or len(x) == 0:
        raise ValueError(f"{name} is empty; it needs at least one sample")
    if y.dim() != 1 or len(y) != len(x):
        raise ValueError(
            f"{name} labels must have shape ({len(x)},) to match x, got {tuple(y.shape)}"
        )
    if y.dtype not in _INT_DTYPES:
        raise ValueError(f"{name} labels must be integer class indices, got dtype {y.dtype}")
    low, high = int(y.min()), int(y.max())
    if low < 0 or (num_classes is not None and high >= num_classes):
        span = f"[0, {num_classes})" if num_classes is not None else "≥ 0"
        raise ValueError(
            f"{name} labels must be class indices {span}, got values in [{low}, {high}]"
        )
    if x.is_floating_point() or x.is_complex():
        if not bool(torch.isfinite(x).all()):
            raise ValueError(f"{name} inputs must be finite, got NaN or Inf")
    return x, y


def check_label_width(high: int, width: int, name: str = "observation") -> None:
    """``ValueError`` naming ``name``'s labels and the logits' ``width`` unless every label
    (largest ``high``) is a column of the logits: a label ``>= width`` is never predicted, so
    every comparison of observation accuracies would be a tie."""
    if high >= width:
        raise ValueError(
            f"{name} labels must be class indices in [0, {width}) — the width of the model's "
            f"logits — got labels up to {high}; no such sample can ever be correct, so every "
            "acceptance test would be a tie"
        )


def materialise(
    dataset: Dataset, indices: torch.Tensor, keys: BatchKeys = DEFAULT_KEYS
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, y)`` of ``dataset[indices]`` as fresh tensors (copies: later changes to the data do
    not leak in). A ``TensorDataset`` is indexed directly; any other map-style dataset is read
    item by item, collated with ``default_collate`` and unpacked with
    :func:`~losskit.data.batches.unpack_batch` (``(x, y, …)`` items or dicts with ``keys``)."""
    if isinstance(dataset, TensorDataset):
        x, y = dataset.tensors[:2]
        idx = indices.to(x.device)
        return x[idx].clone(), y[idx].clone()
    x, y = unpack_batch(default_collate([dataset[i] for i in indices.tolist()]), keys)
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise ValueError(
            "dataset items must collate to tensors (x, y); got "
            f"{type(x).__name__} and {type(y).__name__} (add a transform such as ToTensor)"
        )
    return x, y


def observation_set_from(
    dataset: Dataset,
    size: int,
    generator: torch.Generator,
    keys: BatchKeys = DEFAULT_KEYS,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``size`` distinct samples of a map-style ``dataset`` drawn with ``generator``:
    ``(x, y, indices)``, ``indices`` sorted (int64, CPU).

    The subset is one ``torch.randperm(len(dataset), generator=generator)[:size]`` (sorted) and
    is materialised once (:func:`materialise`); redraw by calling again with the same generator.
    ``ValueError`` naming ``dataset`` / ``observation_size`` for an iterable-style or unsized
    dataset or a ``size`` outside ``[1, len(dataset)]``.
    """
    if isinstance(dataset, IterableDataset) or not isinstance(dataset, Sized):
        raise ValueError(
            f"dataset must be a map-style Dataset with a length, got {type(dataset).__name__}"
        )
    n = len(dataset)
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= n:
        raise ValueError(f"observation_size must be an integer in [1, {n}], got {size!r}")
    idx = torch.randperm(n, generator=generator)[:size].sort().values
    x, y = materialise(dataset, idx, keys)
    return x, y, idx


def sample_observation(
    train_set: Dataset, size: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``size`` distinct training samples drawn with ``generator``: ``(x, y, indices)`` (the
    name :func:`observation_set_from` had first; same draw, same result)."""
    return observation_set_from(train_set, size, generator)


@torch.no_grad()
def observation_counts(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int | None = None,
    autocast_dtype: torch.dtype | None = None,
    max_label: int | None = None,
) -> torch.Tensor:
    """``[correct, non-finite]`` observation samples (int64 tensor of shape ``(2,)``).

    ``max_label``: the largest label, checked against the logits' width on the first chunk
    (:func:`check_label_width`) — how a model without ``num_classes`` gets its labels checked.

    A sample is correct when its logits are all finite and their argmax is the label: ``argmax``
    of a NaN row is 0, so a broken model would otherwise "predict class 0" and score the class-0
    share. Samples with a NaN or Inf logit are counted in the second entry. Runs in eval mode
    (BatchNorm uses, and does not update, its running statistics; dropout is off, so the global
    RNG is not consumed) and restores the previous mode. No host synchronisation.
    """
    was_training = model.training
    model.eval()
    step = len(x) if batch_size is None else batch_size
    try:
        counts = torch.zeros(2, dtype=torch.int64, device=x.device)
        with autocast_for(x.device, autocast_dtype):
            for start in range(0, len(x), step):
                logits = model(x[start : start + step])
                if max_label is not None and start == 0:
                    check_label_width(max_label, logits.shape[-1] if logits.dim() == 2 else 1)
                finite = torch.isfinite(logits).all(1)
                hit = (logits.argmax(1) == y[start : start + step]) & finite
                counts += torch.stack([hit.sum(), (~finite).sum()])
    finally:
        model.train(was_training)
    return counts

