"""TensorBoard logging for the Trainer (``losskit train --tensorboard``), through
``torch.utils.tensorboard``. Install the optional extra: ``pip install 'losskit[tensorboard]'``.

Written on the main rank:

* ``train/loss_step`` at every global step (kept on the device during an epoch and written
  at its end: one host sync per epoch, not per step);
* every number of each epoch's record at that epoch, tagged ``group/name`` from the record's
  key (``test_acc`` → ``test/acc``, ``mils_success_ratio`` → ``mils/success_ratio``,
  ``uniloss_surrogate`` → ``uniloss/surrogate``); a list becomes one scalar per entry, named
  by the record's ``<group>_losses`` list when it has one (SLF's selection shares per loss:
  ``slf/select_freq/mse``), a dict one scalar per key (``mils/aux_successes/focal``);
* a custom-scalars layout with one multi-line chart per group (UniLoss surrogate next to the
  exact metric, SLF shares of all losses together, …).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import torch

from losskit.core.errors import require
from losskit.train.callbacks import Callback

if TYPE_CHECKING:
    from losskit.core.step import StepResult
    from losskit.train.trainer import Trainer, TrainResult


def epoch_scalars(record: dict[str, Any]) -> dict[str, float]:
    """``tag → value`` for every number in an epoch record (see the module doc)."""
    names = {
        key[: -len("_losses")]: value for key, value in record.items()
        if key.endswith("_losses") and isinstance(value, list)
        and all(isinstance(v, str) for v in value)
    }
    out: dict[str, float] = {}

    def number(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    for key, value in record.items():
        if key == "epoch":
            continue
        group, _, rest = key.partition("_")
        tag = f"{group}/{rest}" if rest else f"train/{group}"
        if number(value):
            out[tag] = float(value)
        elif isinstance(value, dict):
            out.update({f"{tag}/{k}": float(v) for k, v in value.items() if number(v)})
        elif isinstance(value, list) and value and all(number(v) for v in value):
            labels = names.get(group)
            if labels is None or len(labels) != len(value):
                labels = [str(i) for i in range(len(value))]
            out.update({f"{tag}/{label}": float(v) for label, v in zip(labels, value)})
    return out


class TensorBoardLogger(Callback):
    """Writes a run's TensorBoard event files to ``log_dir`` (module doc)."""

    def __init__(self, log_dir: str | os.PathLike[str]) -> None:
        require("tensorboard", "tensorboard", "--tensorboard")
        from torch.utils.tensorboard import SummaryWriter

        self._writer_cls = SummaryWriter
        self.log_dir = str(log_dir)
        self.writer: Any = None
        self._losses: list[torch.Tensor] = []
        self._steps: list[int] = []
        self._layout_groups: set[str] = set()

    def on_fit_start(self, trainer: Trainer) -> None:
        if trainer.is_main and self.writer is None:
            self.writer = self._writer_cls(self.log_dir)

    def on_step_end(self, trainer: Trainer, result: StepResult) -> None:
        if self.writer is not None:
            self._losses.append(result.loss.detach().reshape(()))
            self._steps.append(trainer.ctx.global_step)

    def on_epoch_end(self, trainer: Trainer, record: dict[str, Any]) -> None:
        if self.writer is None:
            return
        if self._losses:
            values = torch.stack(self._losses).float().cpu().tolist()
            for step, value in zip(self._steps, values):
                self.writer.add_scalar("train/loss_step", value, step)
            self._losses, self._steps = [], []
        scalars = epoch_scalars(record)
        epoch = int(record["epoch"])
        for tag, value in scalars.items():
            self.writer.add_scalar(tag, value, epoch)
        groups = {tag.split("/")[0] for tag in scalars}
        if not groups <= self._layout_groups:
            self._layout_groups |= groups
            self.writer.add_custom_scalars({"losskit": {
                g: ["Multiline", [f"^{g}/"]] for g in sorted(self._layout_groups)
            }})
        self.writer.flush()

    def on_fit_end(self, trainer: Trainer, result: TrainResult) -> None:
        self.close()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
