"""Fast, picklable stand-ins for ``losskit.train.fit`` and a tiny example experiment."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from losskit.experiments.spec import Experiment, Variant, sweep_variants
from losskit.train.config import TrainConfig


def fake_acc(config: TrainConfig, epoch: int) -> float:
    """Deterministic 'accuracy': grows with epoch, depends on the seed, a ``bonus`` kwarg and a
    seed-dependent ``noise`` kwarg (large spread, small mean effect)."""
    bonus = float(config.method_kwargs.get("bonus", 0.0))
    noise = float(config.method_kwargs.get("noise", 0.0)) * ((config.seed * 3) % 4 - 1.5)
    return 0.5 + 0.03 * epoch + 0.01 * ((config.seed * 7) % 5) + bonus + noise


def fake_fit(config: TrainConfig) -> Any:
    """Module-level (picklable) fake Trainer: history with method logs, final metrics."""
    if config.method_kwargs.get("fail"):
        raise RuntimeError(f"boom (seed {config.seed})")
    history = []
    for e in range(1, config.epochs + 1):
        acc = fake_acc(config, e)
        history.append({
            "epoch": e,
            "train_loss": 1.0 / e,
            "train_acc": acc,
            "lr": config.lr,
            "test_acc": acc,
            "test_loss": 1.0 - acc,
            "slf_probs": {"ce": 0.5 + 0.01 * e, "mse": 0.5 - 0.01 * e},
            "mils_success_ratio": 0.1 * e,
        })
    final = {"test_acc": history[-1]["test_acc"], "test_loss": history[-1]["test_loss"],
             "epochs": config.epochs}
    return SimpleNamespace(history=history, final=final, model=None)


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
