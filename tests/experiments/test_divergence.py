"""Every method the long suites run ends a too-large learning rate as a *divergence*.

The runner records a run that raises ``FloatingPointError`` as ``status: "diverged"`` and the
tuner treats that grid value as lost; any other exception fails the run, blocks the variant's
tuning and leaves its row empty (as a ValueError from bilevel SLF's validation gradient and one
from LDAM's score check once did). So each distinct method configuration of the suites that tune
their rates is trained at an absurd rate and must either finish or diverge — nothing else.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from torch.utils.data import TensorDataset

from losskit.data import DataSplits
from losskit.experiments.runner import execute
from losskit.experiments.spec import resolve
from losskit.train import fit
from tests.conftest import TinyNet

SUITES = "paper-direct,noise,imbalance,weighting"


def _methods() -> dict[str, tuple[str, dict]]:
    """One entry per distinct (method, method_kwargs) of the suites, named after a variant."""
    out: dict[str, tuple[str, dict]] = {}
    for exp in resolve(SUITES):
        for v in exp.variants:
            cfg = exp.config(v.name, 0)
            key = repr((cfg.method, sorted(cfg.method_kwargs.items())))
            out.setdefault(key, (f"{exp.name}/{v.name}", (exp, v.name)))
    return {name: ref for name, ref in out.values()}


METHODS = _methods()


def _blobs(classes: int, n: int = 480, seed: int = 0) -> DataSplits:
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, 8, generator=g) * 2.0
    y = torch.randint(0, classes, (n,), generator=g)
    x = centres[y] + torch.randn(n, 8, generator=g)
    a, b = n // 2, 3 * n // 4
    return DataSplits(name="blobs", train=TensorDataset(x[:a], y[:a]),
                      val=TensorDataset(x[a:b], y[a:b]), test=TensorDataset(x[b:], y[b:]),
                      num_classes=classes, input_shape=(8,))


def test_the_suites_hold_the_methods_we_mean_to_cover():
    methods = {ref[0].config(ref[1], 0).method for ref in METHODS.values()}
    assert {"loss", "slf", "mils", "uniloss", "fixed", "uncertainty", "dwa",
            "gradnorm"} <= methods
    assert len(METHODS) >= 20


def _status(experiment: str, variant: str, lr: float) -> str:
    """Train ``variant`` of ``experiment`` on blobs at rate ``lr``; the runner's status."""
    cfg = resolve(experiment)[0].config(variant, 0, {"lr": lr})
    classes = 2 if cfg.data.endswith("-binary") else 3  # the binary suites: two logits
    cfg = replace(cfg, data="blobs", data_kwargs={}, model="tiny", model_kwargs={}, epochs=2,
                  batch_size=32, eval_batch_size=64, device="cpu")

    def run(config):
        torch.manual_seed(config.seed)
        return fit(config, data=_blobs(classes), model=TinyNet(num_classes=classes))

    out = execute(run, cfg)  # raises anything but FloatingPointError
    if out["status"] == "ok":
        assert all(torch.isfinite(torch.tensor(r["train_loss"])) for r in out["history"])
    return out["status"]


@pytest.mark.parametrize("lr", [1e6, 1e12, 1e30])  # some / most / all of the methods diverge
@pytest.mark.parametrize("name", sorted(METHODS))
def test_a_diverging_rate_is_recorded_as_diverged_not_failed(name, lr):
    exp, variant = METHODS[name]
    assert _status(exp.name, variant, lr) in ("ok", "diverged")


def test_the_top_rate_does_break_training():
    """The check above means something only if the rates break training: at 1e30 even plain CE
    diverges (so every method meets the divergence path, not only the finishing one)."""
    assert _status("p1-slf-lenet", "CE", 1e30) == "diverged"
    assert _status("p1-slf-lenet", "CE", 1e6) == "ok"  # and 1e6 is survivable for CE here
