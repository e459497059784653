"""Fast, picklable stand-ins for ``losskit.train.fit`` and a tiny example experiment."""

from __future__ import annotations

import math
import os
import time
from types import SimpleNamespace
from typing import Any

from losskit.experiments.runner import RunDiverged
from losskit.experiments.spec import Experiment, Tuning, Variant, sweep_variants
from losskit.train.config import TrainConfig


def fake_acc(config: TrainConfig, epoch: int) -> float:
    """Deterministic 'accuracy': grows with epoch, depends on the seed, a ``bonus`` kwarg and a
    seed-dependent ``noise`` kwarg (large spread, small mean effect)."""
    bonus = float(config.method_kwargs.get("bonus", 0.0))
    noise = float(config.method_kwargs.get("noise", 0.0)) * ((config.seed * 3) % 4 - 1.5)
    return 0.5 + 0.03 * epoch + 0.01 * ((config.seed * 7) % 5) + bonus + noise


def fake_curve(config: TrainConfig, epoch: int) -> tuple[float, float]:
    """(test, validation) 'accuracy' at ``epoch``: :func:`fake_acc`, bent down after
    ``peak_epoch`` (a method kwarg), 0.3 lower for the seeds in ``stall``, and, for validation,
    lowered by ``0.05·|log10(lr/lr_peak)|`` (so tuning on validation prefers ``lr_peak``) or
    constant with ``flat_val``."""
    kw = config.method_kwargs
    acc = fake_acc(config, epoch)
    if kw.get("peak_epoch"):
        acc -= 0.06 * max(0, epoch - int(kw["peak_epoch"]))
    if config.seed in (kw.get("stall") or ()):  # a run that stalls (the bimodal SLF runs)
        acc -= 0.3
    val = 0.5 if kw.get("flat_val") else acc - 0.005  # flat: every epoch ties on validation
    if kw.get("lr_peak"):
        val -= 0.05 * abs(math.log10(config.lr / float(kw["lr_peak"])))
    return acc, val


def fake_fit(config: TrainConfig) -> Any:
    """Module-level (picklable) fake Trainer: history with method logs, final metrics.

    Method kwargs: ``fail`` raises; ``diverge_at=E`` stops in epoch E like the Trainer on a
    non-finite loss (epochs before it kept); the seeds in ``dead`` never predict one test class
    (``test_unpredicted = 1``; only in epoch ``dead_epoch`` when given); see :func:`fake_curve`
    for the rest.
    """
    kw = config.method_kwargs
    dead = config.seed in (kw.get("dead") or ())
    if config.method_kwargs.get("fail"):
        raise RuntimeError(f"boom (seed {config.seed})")
    if config.method_kwargs.get("fail_lr") == config.lr:
        raise RuntimeError(f"boom at lr {config.lr}")
    history = []
    for e in range(1, config.epochs + 1):
        if config.method_kwargs.get("diverge_at") == e:
            raise RunDiverged(f"training loss became nan in epoch {e}", history)
        acc, val = fake_curve(config, e)
        history.append({
            "epoch": e,
            "train_loss": 1.0 / e,
            "train_acc": acc,
            "lr": config.lr,
            "val_acc": val,
            "test_acc": acc,
            "test_loss": 1.0 - acc,
            "test_unpredicted": int(dead and kw.get("dead_epoch", e) == e),
            "slf_probs": {"ce": 0.5 + 0.01 * e, "mse": 0.5 - 0.01 * e},
            "slf_select_freq": [0.5 + 0.1 * e, 0.5 - 0.1 * e],
            "slf_losses": ["ce", "mse"],
            "mils_success_ratio": 0.1 * e,
        })
    final = {"test_acc": history[-1]["test_acc"], "test_loss": history[-1]["test_loss"],
             "val_acc": history[-1]["val_acc"], "epochs": config.epochs}
    return SimpleNamespace(history=history, final=final, model=None)


def sleepy_fit(config: TrainConfig) -> Any:
    """Writes its pid to ``$LOSSKIT_TEST_PIDS/<pid>`` and sleeps (for kill tests)."""
    folder = os.environ["LOSSKIT_TEST_PIDS"]
    with open(os.path.join(folder, str(os.getpid())), "w") as f:
        f.write("x")
    time.sleep(300)
    return fake_fit(config)


class CountingFit:
    """``fake_fit`` that raises ``KeyboardInterrupt`` on call ``kill_at`` (simulated kill)."""

    def __init__(self, kill_at: int | None = None) -> None:
        self.kill_at = kill_at
        self.calls: list[tuple[int, Any]] = []

    def __call__(self, config: TrainConfig) -> Any:
        self.calls.append((config.seed, dict(config.method_kwargs)))
        if self.kill_at is not None and len(self.calls) == self.kill_at:
            raise KeyboardInterrupt
        return fake_fit(config)


def toy_experiment(name: str = "toy", seeds: tuple[int, ...] = (0, 1, 2), **kw: Any) -> Experiment:
    """3 variants × seeds: a baseline, a clearly better arm and a sweep over ``bonus``."""
    variants = [
        Variant("base", {}, paper=90.0),
        Variant("better", {"method_kwargs.bonus": 0.05}, paper="92.1"),
        *sweep_variants("b=", "method_kwargs.bonus", [0.01, 0.02], group="sweep"),
    ]
    kw.setdefault("claim_name", "Toy paper: a bonus helps")
    kw.setdefault("paper", "Toy")
    kw.setdefault("evidence", "proxy")
    return Experiment(
        name=name,
        title="Toy experiment",
        base={"data": "blobs", "model": "mlp", "method": "loss",
              "method_kwargs": {"loss": "ce"}, "epochs": 3},
        variants=variants,
        seeds=list(seeds),
        baseline="base",
        claim="A bonus helps.",
        sweep_param="bonus",
        **kw,
    )


def real_fit_blobs(config: TrainConfig) -> Any:
    """The real Trainer on in-memory blobs with a tiny net and plain cross-entropy."""
    import torch

    from losskit.train import LossMethod, fit
    from tests.conftest import TinyNet, make_blobs

    torch.manual_seed(config.seed)
    return fit(config, data=make_blobs(), model=TinyNet(),
               method=LossMethod(torch.nn.CrossEntropyLoss()))


def tuned_experiment(name: str = "tuned", seeds: tuple[int, ...] = (0, 1, 2),
                     **kw: Any) -> Experiment:
    """Protocol toy: every variant tuned on validation over lr ∈ {0.01, 0.0316, 0.1} at tuning
    seeds 9 and 10 (validation prefers ``lr_peak``: 0.0316 for ``base``, interior; 0.1 for
    ``better``, at the upper end: one extension to 0.316), one variant reusing another's choice,
    best-val epoch."""
    return Experiment(
        name=name,
        title="Tuned toy",
        base={"data": "blobs", "data_kwargs": {"val_fraction": 0.2}, "model": "mlp",
              "method": "loss", "method_kwargs": {"loss": "ce", "lr_peak": 0.0316,
                                                  "peak_epoch": 2}, "epochs": 4},
        variants=[
            Variant("base", paper=80.0),
            Variant("better", {"method_kwargs.bonus": 0.05, "method_kwargs.lr_peak": 0.1}),
            Variant("follower", {"method_kwargs.bonus": 0.01}, tune_from="better"),
        ],
        seeds=list(seeds),
        baseline="base",
        tuning=Tuning((0.01, 0.0316, 0.1), seeds=(9, 10)),
        select="best_val",
        fidelity="direct",
        paper_setting="Toy paper, Table 9",
        claim_name="Toy paper Table 9: a bonus helps",
        paper="Toy",
        **kw,
    )
