"""Train LeNet on Fashion-MNIST inside PyTorch Lightning with MILS (CE + multi-margin).

    pip install 'losskit[lightning]'
    python examples/lightning_mils.py            # 1 epoch on a 5,000-image subset

Any other method works the same way: "loss", "slf", "uniloss".
"""

from __future__ import annotations

import lightning as L
import torch
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
        method_kwargs={"aux": "multi_margin", "participation": 0.1, "observation_size": 128},
        lr=0.05,
    )
    trainer = L.Trainer(max_epochs=1, accelerator="cpu", logger=False,
                        enable_checkpointing=False)
    trainer.fit(module, DataLoader(train, batch_size=128, shuffle=True),
                DataLoader(Subset(splits.test, range(2000)), batch_size=1000))
    print({k: float(v) for k, v in trainer.callback_metrics.items()})


if __name__ == "__main__":
    main()
