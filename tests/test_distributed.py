"""Trainer under DistributedDataParallel: 2 gloo processes on this machine, spawned here."""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from losskit.distributed import free_port
from losskit.models.base import Classifier
from losskit.train import LossMethod, TrainConfig, fit
from tests.conftest import make_blobs


class PlainNet(Classifier):
    """No BatchNorm, so that N ranks × batch/N equals one process × batch up to rounding."""

    def __init__(self) -> None:
        super().__init__()
        self.num_classes, self.feature_dim = 3, 16
        self.body = nn.Sequential(nn.Linear(8, 16), nn.Tanh())
        self.head = nn.Linear(16, 3)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


CONFIG = dict(epochs=2, batch_size=32, lr=0.1, seed=5, progress=False)


def _train_single() -> list[torch.Tensor]:
    torch.manual_seed(0)
    result = fit(
        TrainConfig(**CONFIG), data=make_blobs(), model=PlainNet(), method=LossMethod("ce")
    )
    return [p.detach() for p in result.model.parameters()]


def _worker(rank: int, world: int, port: int, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world
    )
    try:
        torch.manual_seed(0)
        result = fit(
            TrainConfig(**CONFIG), data=make_blobs(), model=PlainNet(), method=LossMethod("ce")
        )
        torch.save([p.detach() for p in result.model.parameters()], f"{out}.{rank}")
    finally:
        dist.destroy_process_group()


def test_two_gloo_processes_match_one_process_and_each_other(tmp_path):
    out = str(tmp_path / "params")
    mp.start_processes(_worker, args=(2, free_port(), out), nprocs=2, start_method="spawn")
    rank0, rank1 = torch.load(f"{out}.0"), torch.load(f"{out}.1")
    for a, b in zip(rank0, rank1):
        assert torch.equal(a, b)  # DDP keeps replicas bitwise identical
    for a, b in zip(rank0, _train_single()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)  # same maths, other sum order


METHOD_CASES = {
    "slf": {"losses": "ce,mse,mae", "k": 3},
    "uniloss": {"metric": "accuracy"},
    "mils": {"aux": "multi_margin", "participation": 0.5, "observation_size": 32},
    "mils-center": {"aux": "center", "participation": 0.5, "observation_size": 32},
}


def _method_worker(rank: int, world: int, port: int, out: str, name: str) -> None:
    from losskit.train import METHODS

    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world
    )
    try:
        torch.manual_seed(0)
        method = METHODS.get(name.split("-")[0], **METHOD_CASES[name])
        result = fit(TrainConfig(**CONFIG), data=make_blobs(), model=PlainNet(), method=method)
        params = [p.detach() for p in result.model.parameters()]
        params += [p.detach() for p in result.method.parameters()]
        torch.save({"params": params, "history": result.history}, f"{out}.{rank}")
    finally:
        dist.destroy_process_group()


def _scalars(history: list[dict]) -> list[dict]:
    """Per-epoch global figures (all-reduced train/test metrics, MILS decisions); wall-clock
    fields and per-rank method diagnostics (SLF's local selection probabilities) excluded."""
    keep = ("train_loss", "train_acc", "test_", "mils_attempts", "mils_successes")
    return [{k: v for k, v in rec.items() if k.startswith(keep)} for rec in history]


@pytest.mark.parametrize("name", sorted(METHOD_CASES))
def test_every_method_keeps_ranks_identical(tmp_path, name):
    """SLF decision net, center-loss centres and MILS accept/reject decisions agree on both
    ranks: parameters (model's and method's) are bitwise equal after training."""
    out = str(tmp_path / "state")
    mp.start_processes(
        _method_worker, args=(2, free_port(), out, name), nprocs=2, start_method="spawn"
    )
    rank0, rank1 = torch.load(f"{out}.0"), torch.load(f"{out}.1")
    assert len(rank0["params"]) == len(rank1["params"])
    for a, b in zip(rank0["params"], rank1["params"]):
        assert torch.equal(a, b)
    assert _scalars(rank0["history"]) == _scalars(rank1["history"])
