"""What the Trainer knows about the training labels beyond the labels themselves.

* **Noisy labels** (``meta["clean_train_targets"]``, :mod:`losskit.data.noise`): the true label
  of every training sample; at the end of every epoch the Trainer evaluates the (unshuffled,
  unaugmented) training set against the noisy labels it trained on and records ``train_memorised``
  (share of the noisy-labelled samples predicted as their noisy label), ``train_noisy_true``
  (… as their true label) and ``train_clean_acc`` (accuracy on the correctly labelled ones)
  (:class:`~losskit.train.evaluation.NoisyLabelMetrics`). This costs one forward pass over the
  training set per epoch (inference only: about a tenth of an epoch's training).
* **Long-tailed labels** (``meta["imbalance"]``, :mod:`losskit.data.longtail`): the training
  class counts (of the clean labels, of the samples trained on) give the many / medium /
  few-shot accuracies of the test and validation splits
  (:data:`~losskit.train.evaluation.SHOT_THRESHOLDS`).

Both follow ``train_size``: the clean labels are cut to the same seeded subset as the training
data (:func:`~losskit.train.sources.subset_indices`). Only in-memory training data (the
registry's datasets) carries them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from losskit.train.evaluation import NoisyLabelMetrics, evaluate_batches, tensor_batches
from losskit.train.sources import subset_indices


@dataclass(frozen=True)
class TrainLabels:
    """``clean``: the true labels of the trained samples (noisy data; else ``None``);
    ``class_counts``: their class counts ``(C,)`` (long-tailed data; else ``None``)."""

    clean: torch.Tensor | None = None
    class_counts: torch.Tensor | None = None


def train_labels(meta: dict[str, Any] | None, targets: torch.Tensor | None, total: int | None,
                 num_classes: int | None, train_size: int | None, seed: int) -> TrainLabels:
    """The :class:`TrainLabels` of a run: ``meta`` of the data, ``targets`` the labels trained
    on (after the ``train_size`` subset of ``total`` samples drawn with ``seed``; ``None`` when
    the training data is not in memory)."""
    meta = meta or {}
    if targets is None:
        return TrainLabels()
    clean = meta.get("clean_train_targets")
    if clean is not None:
        clean = torch.as_tensor(clean).long()
        if train_size is not None and total is not None:
            clean = clean[subset_indices(total, train_size, seed)]
        if len(clean) != len(targets):
            raise ValueError(f"meta['clean_train_targets'] holds {len(clean)} labels for "
                             f"{len(targets)} training samples")
    counts = None
    if meta.get("imbalance") is not None:
        labels = (clean if clean is not None else targets).long().cpu()
        counts = torch.bincount(labels, minlength=int(num_classes or 0))
    return TrainLabels(clean, counts)


def noisy_label_metrics(model: nn.Module, train: Any, clean: torch.Tensor | None,
                        batch_size: int = 1024) -> dict[str, float]:
    """``train_memorised``, ``train_noisy_true``, ``train_clean_acc`` of ``model`` on the
    in-memory training split ``train`` (a :class:`~losskit.train.sources.SplitReader`) against
    its true labels ``clean`` (module doc); ``{}`` without them."""
    if clean is None or train is None or train.memory is None:
        return {}
    x, y = train.memory.tensors[:2]
    out = evaluate_batches(model, tensor_batches(x, y, batch_size),
                           metrics=NoisyLabelMetrics(clean))
    return {f"train_{k}": v for k, v in out.items()}
