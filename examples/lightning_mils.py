"""Train LeNet on Fashion-MNIST inside PyTorch Lightning with MILS (CE + multi-margin).

    pip install 'losskit[lightning]'
    python examples/lightning_mils.py            # 2 epochs on a 5,000-image subset

Lightning logs every epoch's MILS statistics (attempts, successes, rollbacks, success ratio)
to ``lightning_logs/mils/version_N/metrics.csv`` and keeps a checkpoint, which holds the MILS
state too: ``trainer.fit(..., ckpt_path=...)`` resumes exactly. Any other method works the same
way: "loss", "slf", "uniloss".
"""

from __future__ import annotations

import csv

import lightning as L
import torch
from lightning.pytorch.loggers import CSVLogger
from torch.utils.data import DataLoader, Subset, TensorDataset

from losskit import data, models
from losskit.integrations.lightning import LossKitModule


def main() -> None:
    torch.manual_seed(0)
    splits = data.load("fashion-mnist")
    x, y = splits.train.tensors[0][:5000], splits.train.tensors[1][:5000]
    train = TensorDataset(x, y)
    model = models.build("lenet", splits.input_shape, splits.num_classes)
    module = LossKitModule(
        model, "mils", train,
        method_kwargs={"aux": "multi_margin", "participation": 0.2, "observation_size": 128},
        lr=0.05,
    )
    logger = CSVLogger("lightning_logs", name="mils")
    trainer = L.Trainer(max_epochs=2, accelerator="cpu", logger=logger, log_every_n_steps=10)
    trainer.fit(module, DataLoader(train, batch_size=128, shuffle=True),
                DataLoader(Subset(splits.test, range(2000)), batch_size=1000))

    with open(f"{logger.log_dir}/metrics.csv") as f:
        epochs = [row for row in csv.DictReader(f) if row.get("mils_attempts")]
    for epoch, row in enumerate(epochs, 1):
        print(f"epoch {epoch}: MILS attempts {float(row['mils_attempts']):.0f}, successes "
              f"{float(row['mils_successes']):.0f}, rollbacks {float(row['mils_rollbacks']):.0f}"
              f" (success ratio {float(row['mils_success_ratio']):.2f})")
    print(f"val_acc {float(trainer.callback_metrics['val_acc']):.4f}; logs and checkpoint in "
          f"{logger.log_dir}")


if __name__ == "__main__":
    main()
