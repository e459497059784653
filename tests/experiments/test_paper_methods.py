"""Every variant of the paper suites builds its method, and a tiny version of it trains."""

from __future__ import annotations

from dataclasses import replace

import pytest

from losskit import data
from losskit.experiments import resolve
from losskit.train.trainer import build_method, fit

CONFIGS = {f"{e.name}/{v.name}": e.config(v.name, 0, {"lr": 0.01} if e.tuned(v.name) else None)
           for e in resolve("paper-full") for v in e.variants}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_every_paper_variant_builds_its_method(name):
    cfg = CONFIGS[name]
    method = build_method(cfg)
    assert getattr(method, "seed", 0) == cfg.seed


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_every_paper_variant_trains_one_tiny_epoch(name):
    cfg = CONFIGS[name]
    if data.availability(cfg.data).startswith("not installed"):
        pytest.skip(f"{cfg.data} not installed")
    tiny = replace(cfg, epochs=1, train_size=512, test_size=512, threads=1, progress=False,
                   batch_size=min(cfg.batch_size, 64))
    result = fit(tiny)
    metric = "test_ap" if cfg.data == "mnist-binary" else "test_acc"
    assert 0.0 <= result.final[metric] <= 1.0 and "val_" + metric[5:] in result.final
