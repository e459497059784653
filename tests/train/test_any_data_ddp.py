"""Streamed data under DDP (2 gloo processes): every process reads only its slice of each global
batch, and the run equals the in-memory DDP run bitwise; config.json records the world size and
the per-process batch (``batch_size`` is global)."""

from __future__ import annotations

import json

import pytest
import torch

from losskit.train import LossMethod, TrainConfig, fit
from tests.conftest import make_blobs
from tests.core.test_distributed import PlainNet, _process_group, _spawn
from tests.train.test_any_data import Pairs

CONFIG = dict(epochs=2, batch_size=32, lr=0.1, seed=5, progress=False)


def _worker(rank: int, world: int, init: str, out: str) -> None:
    with _process_group(rank, world, init):
        data = make_blobs()
        runs = {}
        for kind in ("memory", "streamed"):
            torch.manual_seed(0)
            extra = {"out_dir": f"{out}-run"} if kind == "streamed" else {}
            if kind == "memory":
                result = fit(TrainConfig(**CONFIG), data=data, model=PlainNet(),
                             method=LossMethod("ce"))
            else:
                train, test = (Pairs(*ds.tensors) for ds in (data.train, data.test))
                result = fit(TrainConfig(**CONFIG, **extra), model=PlainNet(),
                             method=LossMethod("ce"), train=train, test=test)
            runs[kind] = ([p.detach() for p in result.model.parameters()],
                          [{k: v for k, v in r.items() if "time" not in k}
                           for r in result.history])
        torch.save(runs, f"{out}.{rank}")


@pytest.mark.slow  # two spawned interpreters: ≈ 16 s on 2 loaded cores
def test_streamed_ddp_equals_in_memory_ddp(tmp_path):
    out = str(tmp_path / "runs")
    _spawn(_worker, tmp_path, out)
    for rank in (0, 1):
        runs = torch.load(f"{out}.{rank}")
        (p_mem, h_mem), (p_str, h_str) = runs["memory"], runs["streamed"]
        assert h_mem == h_str
        for a, b in zip(p_mem, p_str, strict=True):
            assert torch.equal(a, b)
    recorded = json.loads((tmp_path / "runs-run" / "config.json").read_text())
    assert recorded["world_size"] == 2 and recorded["batch_size"] == 32
    assert recorded["per_process_batch_size"] == 16
