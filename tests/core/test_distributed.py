"""Trainer under DistributedDataParallel: 2 gloo processes on this machine, spawned here."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from losskit.core.distributed import exit_worker, file_init_method
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


@contextlib.contextmanager
def _process_group(rank: int, world: int, init: str) -> Iterator[None]:
    """A gloo process group on this machine for the body of a spawned worker."""
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    try:
        yield
        dist.barrier()
    finally:
        dist.destroy_process_group()
    exit_worker()


def _spawn(worker, tmp_path, *args) -> None:
    """Run ``worker(rank, 2, init, *args)`` in 2 spawned processes (file rendezvous)."""
    mp.start_processes(worker, args=(2, file_init_method(tmp_path), *args), nprocs=2,
                       start_method="spawn")


CONFIG = dict(epochs=2, batch_size=32, lr=0.1, seed=5, progress=False)


def _train_single() -> list[torch.Tensor]:
    torch.manual_seed(0)
    result = fit(
        TrainConfig(**CONFIG), data=make_blobs(), model=PlainNet(), method=LossMethod("ce")
    )
    return [p.detach() for p in result.model.parameters()]


def _worker(rank: int, world: int, init: str, out: str) -> None:
    with _process_group(rank, world, init):
        torch.manual_seed(0)
        result = fit(
            TrainConfig(**CONFIG), data=make_blobs(), model=PlainNet(), method=LossMethod("ce")
        )
        torch.save([p.detach() for p in result.model.parameters()], f"{out}.{rank}")


def test_two_gloo_processes_match_one_process_and_each_other(tmp_path):
    out = str(tmp_path / "params")
    _spawn(_worker, tmp_path, out)
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
    "mils-gradient": {"aux": "multi_margin,center", "participation": 0.5, "accept": "project"},
}


def _method_worker(rank: int, world: int, init: str, out: str, name: str) -> None:
    from losskit.train import METHODS

    with _process_group(rank, world, init):
        torch.manual_seed(0)
        method = METHODS.get(name.split("-")[0], **METHOD_CASES[name])
        result = fit(TrainConfig(**CONFIG), data=make_blobs(), model=PlainNet(), method=method)
        params = [p.detach() for p in result.model.parameters()]
        params += [p.detach() for p in result.method.parameters()]
        torch.save({"params": params, "history": result.history}, f"{out}.{rank}")


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
    _spawn(_method_worker, tmp_path, out, name)
    rank0, rank1 = torch.load(f"{out}.0"), torch.load(f"{out}.1")
    assert len(rank0["params"]) == len(rank1["params"])
    for a, b in zip(rank0["params"], rank1["params"]):
        assert torch.equal(a, b)
    assert _scalars(rank0["history"]) == _scalars(rank1["history"])


def _mils_shard_worker(rank: int, world: int, init: str, out: str) -> None:
    """MILS on a DDP model where each rank observes a *different* observation shard."""
    from torch.nn.parallel import DistributedDataParallel

    from losskit.mils import MILS

    with _process_group(rank, world, init):
        torch.manual_seed(0)
        model = DistributedDataParallel(PlainNet())
        optimizer = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
        x, y = make_blobs(n=400, seed=3).train.tensors
        observation = (x[rank::world][:24], y[rank::world][:24])
        mils = MILS(
            model, optimizer, "ce", "mae,multi_margin", participation=1.0,
            observation=observation, generator=torch.Generator().manual_seed(0),
        )
        decisions = []
        for start in range(0, 240, 16):
            xb, yb = x[start : start + 16], y[start : start + 16]
            decisions.append(mils.step(xb[rank::world], yb[rank::world]).accepted)
        params = [p.detach() for p in model.parameters()]
        torch.save({"params": params, "decisions": decisions}, f"{out}.{rank}")


def test_mils_decides_on_global_observation_counts(tmp_path):
    """Observation counts are all-reduced: both ranks accept/reject the same steps, and after
    every rollback they hold bitwise-identical parameters, although their shards differ."""
    out = str(tmp_path / "mils")
    _spawn(_mils_shard_worker, tmp_path, out)
    rank0, rank1 = torch.load(f"{out}.0"), torch.load(f"{out}.1")
    assert rank0["decisions"] == rank1["decisions"]
    assert True in rank0["decisions"] and False in rank0["decisions"]  # both outcomes occur
    for a, b in zip(rank0["params"], rank1["params"]):
        assert torch.equal(a, b)


def _uniloss_scope_worker(rank: int, world: int, init: str, out: str) -> None:
    from losskit.uniloss import UniLoss

    with _process_group(rank, world, init):
        scores, target = _ap_batch()
        sizes = (7, 13)  # uneven shards: rank 0 holds the first 7 samples, rank 1 the rest
        lo = sum(sizes[:rank])
        results = {}
        for scope in ("local", "global"):
            local = scores[lo : lo + sizes[rank]].clone().requires_grad_(True)
            loss = UniLoss("ap", scope=scope, seed=0)(local, target[lo : lo + sizes[rank]])
            loss.backward()
            results[scope] = (loss.detach(), local.grad)
        torch.save(results, f"{out}.{rank}")


def _ap_batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(4)
    target = (torch.arange(20) % 3 == 0).long()  # both shards hold positives and negatives
    return torch.randn(20, generator=g, dtype=torch.float64) + target, target


def test_uniloss_global_scope_equals_single_process_global_batch(tmp_path):
    """``scope="global"``: both ranks compute the AP surrogate of the whole (all-gathered)
    batch — equal to one process on the full batch — and each rank's input gradient is
    ``world · ∂L/∂x_rank`` (so DDP's averaging gives ∂L/∂θ). ``scope="local"`` is the
    surrogate of the rank's own shard."""
    from losskit.uniloss import UniLoss

    out = str(tmp_path / "uniloss")
    _spawn(_uniloss_scope_worker, tmp_path, out)
    ranks = [torch.load(f"{out}.{r}") for r in range(2)]
    scores, target = _ap_batch()
    full = scores.clone().requires_grad_(True)
    reference = UniLoss("ap", seed=0)(full, target)
    reference.backward()
    for r, (lo, hi) in enumerate([(0, 7), (7, 20)]):
        loss, grad = ranks[r]["global"]
        torch.testing.assert_close(loss, reference.detach())
        torch.testing.assert_close(grad, 2 * full.grad[lo:hi])
        local_loss, _ = ranks[r]["local"]
        expected = UniLoss("ap", seed=0)(scores[lo:hi], target[lo:hi])
        torch.testing.assert_close(local_loss, expected)
    assert not torch.allclose(ranks[0]["local"][0], reference.detach())


def test_cli_nproc_trains_with_two_processes(tmp_path, capsys):
    from losskit.cli import main

    out = tmp_path / "run"
    argv = ["train", "--nproc", "2", "--data", "digits", "--model", "mlp", "--epochs", "1",
            "--method", "mils", "--participation", "0.5", "--observation-size", "32",
            "--threads", "1", "--out", str(out)]
    assert main(argv) == 0
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["test_acc"] > 0.5


@pytest.mark.slow  # two fresh interpreters under torchrun: ≈ 20 s on 2 loaded cores
def test_torchrun_two_cpu_processes_equal_nproc_two(tmp_path):
    """``torchrun --nproc_per_node=2 -m losskit train …`` (environment rendezvous, gloo on CPU)
    trains the same run, bitwise, as ``--nproc 2`` (which runs the same code per process)."""
    import os
    import subprocess
    import sys

    from losskit.cli import main

    args = ["train", "--data", "digits", "--model", "mlp", "--epochs", "2", "--method", "mils",
            "--participation", "0.5", "--observation-size", "32", "--threads", "1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         "-m", "losskit", *args, "--out", str(tmp_path / "torchrun")],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()  # rank 0 alone prints
    assert [line.split()[1] for line in lines[:2]] == ["1/2", "2/2"]
    assert lines[2].startswith("final: test_acc=") and len(lines) == 3
    assert main([*args, "--nproc", "2", "--out", str(tmp_path / "nproc")]) == 0

    def untimed(run):
        text = (tmp_path / run / "metrics.jsonl").read_text()
        return [{k: v for k, v in json.loads(line).items() if "time" not in k}
                for line in text.splitlines()]

    assert untimed("torchrun") == untimed("nproc")
