"""Epoch time of the streamed (DataLoader) path relative to the in-memory path.

Fashion-MNIST, LeNet, plain CE, batch 128, one thread for the model: the same run trained from
(1) the registry's in-memory TensorDataset, (2) a user ``DataLoader`` over a TensorDataset
(per-sample ``__getitem__`` + ``default_collate``), (3) a map-style ``Dataset`` that is not a
TensorDataset (fit builds the DataLoader), each with 0 and 2 workers. Runs are interleaved
(``--rounds`` rounds) and the median ``train_time_s`` per path is reported, so load on a
shared machine hits every path alike.

    python scripts/loader_overhead.py --epochs 1 --rounds 2
"""

from __future__ import annotations

import argparse
import statistics

import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

from losskit import data
from losskit.data.loading import EpochBatchSampler
from losskit.train import TrainConfig, fit


class Rows(Dataset):
    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int):
        return self.x[i], self.y[i]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    splits = data.load("fashion-mnist")
    x, y = splits.train.tensors
    cfg = dict(model="lenet", num_classes=10, epochs=args.epochs, batch_size=128, seed=0,
               threads=args.threads, progress=False)

    def loader(workers: int) -> DataLoader:
        sampler = EpochBatchSampler(len(x), 128, torch.Generator().manual_seed(0))
        return DataLoader(TensorDataset(x, y), batch_sampler=sampler, num_workers=workers,
                          persistent_workers=workers > 0)

    paths = {
        "in-memory TensorDataset": lambda: fit(TrainConfig(**cfg), data=splits),
        "DataLoader, 0 workers": lambda: fit(TrainConfig(**cfg), train=loader(0),
                                             test=splits.test),
        "DataLoader, 2 workers": lambda: fit(TrainConfig(**cfg), train=loader(2),
                                             test=splits.test),
        "Dataset, 0 workers": lambda: fit(TrainConfig(**cfg), train=Rows(x, y),
                                          test=splits.test),
        "Dataset, 2 workers": lambda: fit(TrainConfig(**cfg, num_workers=2,
                                                      persistent_workers=True),
                                          train=Rows(x, y), test=splits.test),
    }
    times: dict[str, list[float]] = {k: [] for k in paths}
    accs: dict[str, float] = {}
    for _ in range(args.rounds):
        for name, run in paths.items():
            result = run()
            times[name] += [r["train_time_s"] for r in result.history]
            accs[name] = result.final["test_acc"]
    base = statistics.median(times["in-memory TensorDataset"])
    print(f"Fashion-MNIST LeNet, batch 128, {args.threads} thread(s), {args.epochs} epoch(s) x "
          f"{args.rounds} rounds; median train_time_s per epoch")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"  {name:<26} {med:7.2f} s   ratio {med / base:5.2f}   test_acc "
              f"{accs[name]:.4f}")


if __name__ == "__main__":
    main()
