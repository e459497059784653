"""Overhead benchmarks, each a ratio to a plain cross-entropy step measured in the same run.

* ``methods``: one full training step (forward, loss, backward, SGD step) of SLF / UniLoss /
  MILS vs CE, for MLP and LeNet on Fashion-MNIST-shaped batches (N×1×28×28).
* ``trainer``: one Trainer epoch vs a minimal hand-written loop on the same data and model.
* ``scaling``: loss-only forward+backward time vs batch size and class count.

Method and loss-only rows also carry machine-independent counts (:mod:`losskit.bench.counts`):
aten ops per step (goal for the methods: at most :data:`OPS_GOAL` × CE's count) and host-device
syncs per step with value checks on (the default) / off (:func:`losskit.set_validate_args`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from losskit.bench.counts import count_aten_ops, count_syncs
from losskit.bench.timing import interleaved_timings
from losskit.core._validation import validate_args
from losskit.core.method import Method, TrainContext, build_run
from losskit.train.methods import METHODS

# (row label, method name, method kwargs, goal ratio)
# issue 14: a fixed cost small against the model's (per model: a dict of goals)
STEP_GOALS = {"mlp": 1.08, "lenet": 1.04}
METHOD_CASES: list[tuple[str, str, dict[str, Any], float | dict[str, float] | None]] = [
    ("CE", "loss", {"loss": "ce"}, None),
    ("SLF K=3 (paper preset)", "slf", {"preset": "paper", "k": 3}, STEP_GOALS),
    ("UniLoss accuracy", "uniloss", {"metric": "accuracy"}, STEP_GOALS),
    ("UniLoss AP", "uniloss", {"metric": "ap"}, STEP_GOALS),
    (
        "MILS p=0.1, obs=128",
        "mils",
        {"aux": "multi_margin", "participation": 0.1, "observation_size": 128},
        1.10,
    ),
    (
        "MILS p=0.1, gradient test",
        "mils",
        {"aux": "multi_margin", "participation": 0.1, "accept": "gradient"},
        1.10,
    ),
]


OPS_GOAL = 2.0  # aten ops per step of a method, as a multiple of a CE step's
# loss alone (forward + backward) at batch 128, 10 classes, in ms (issue 14)
LOSS_ONLY_MS_GOALS = {"SLF K=3": 0.25, "UniLoss accuracy": 0.25}
# loss alone at other sizes, in ms (issue 13: UniLoss cost flat in classes and batch), by
# (row label, N, C); AP rows have C = 2 (10 % positives)
SCALING_MS_GOALS = {
    ("UniLoss AP", 128, 2): 0.3,
    ("UniLoss accuracy", 1024, 100): 5.0,
    ("UniLoss AP", 1024, 2): 5.0,
}


@dataclass
class Counts:
    """Machine-independent counts per step: aten ops (and their ratio to CE's, with a goal)
    and host syncs with value checks on / off."""

    ops: float
    syncs_on: float
    syncs_off: float
    ops_ratio: float | None = None
    ops_goal: float | None = None

    def cells(self) -> list[str]:
        ops = f"{self.ops:.0f}"
        if self.ops_ratio is not None:
            ok = "" if self.ops_goal is None else (
                " ✓" if self.ops_ratio <= self.ops_goal else " ✗")
            ops += f" ({self.ops_ratio:.2f}×{ok})"
        return [ops, f"{self.syncs_on:g} / {self.syncs_off:g}"]


def measure_counts(step: Callable[[], object], steps: int = 10) -> Counts:
    """:class:`Counts` of ``step`` averaged over ``steps`` calls (MILS varies per step)."""
    with validate_args(True):
        ops = count_aten_ops(step, steps)
        on = count_syncs(step, steps)
    with validate_args(False):
        off = count_syncs(step, steps)
    return Counts(ops, on, off)


@dataclass
class Row:
    case: str
    model: str
    ms: float
    ratio: float
    goal: float | None
    counts: Counts | None = None
    ms_goal: float | None = None  # an absolute goal (loss alone), instead of a ratio goal

    def cells(self) -> list[str]:
        goal = f"≤ {self.goal:.2f}" if self.goal else "—"
        ok = "" if self.goal is None else (" ✓" if self.ratio <= self.goal else " ✗")
        ms = f"{self.ms:.2f}"
        if self.ms_goal is not None:
            goal = f"≤ {self.ms_goal:g} ms"
            ms += " ✓" if self.ms <= self.ms_goal else " ✗"
        counts = self.counts.cells() if self.counts is not None else ["—", "—"]
        return [self.case, self.model, ms, f"{self.ratio:.3f}{ok}", goal, *counts]


def fashion_like(n: int, num_classes: int = 10, seed: int = 0) -> TensorDataset:
    """Random Fashion-MNIST-shaped data (benchmarks time shapes, not learning)."""
    g = torch.Generator().manual_seed(seed)
    return TensorDataset(
        torch.randn(n, 1, 28, 28, generator=g), torch.randint(0, num_classes, (n,), generator=g)
    )


def _binary_targets(y: torch.Tensor) -> torch.Tensor:
    """Class-0-vs-rest labels (1:9 like the AP experiment) for the AP benchmark."""
    return (y == 0).long()


def _method_stepper(
    model_name: str, method_name: str, kwargs: dict[str, Any], batch_size: int, seed: int = 0
):
    from losskit import models

    num_classes = 2 if kwargs.get("metric") == "ap" else 10
    data = fashion_like(max(batch_size * 8, 1024), seed=seed)
    if num_classes == 2:
        data = TensorDataset(data.tensors[0], _binary_targets(data.tensors[1]))
    torch.manual_seed(seed)
    model = models.build(model_name, (1, 28, 28), num_classes)
    method: Method = METHODS.get(method_name, **kwargs)
    ctx = TrainContext(
        model=model,
        num_classes=num_classes,
        feature_dim=model.feature_dim,
        train_set=data,
        generator=torch.Generator().manual_seed(seed),
        batch_size=batch_size,
    )
    build_run(method, ctx, lambda params: torch.optim.SGD(params, lr=0.01, momentum=0.9))
    x_all, y_all = data.tensors
    # positives are guaranteed in every AP batch: take a fixed batch with both classes present
    x, y = x_all[:batch_size], y_all[:batch_size]
    if num_classes == 2 and int(y.sum()) == 0:
        y = y.clone()
        y[0] = 1

    def step() -> None:
        method.step(ctx, x, y)

    return step


def bench_methods(
    model_names: tuple[str, ...] = ("mlp", "lenet"),
    batch_size: int = 128,
    blocks: int = 20,
    steps_per_block: int = 10,
    cases: list[tuple[str, str, dict[str, Any], float | dict[str, float] | None]] | None = None,
) -> list[Row]:
    rows: list[Row] = []
    for model_name in model_names:
        chosen = cases or METHOD_CASES
        steppers = {
            label: _method_stepper(model_name, m, kw, batch_size) for label, m, kw, _ in chosen
        }
        timings = interleaved_timings(steppers, blocks=blocks, steps_per_block=steps_per_block)
        counts = {label: measure_counts(step) for label, step in steppers.items()}
        ce, ce_ops = timings["CE"].median_s, counts["CE"].ops
        for label, _, _, goal in chosen:
            t, c = timings[label], counts[label]
            c.ops_ratio = c.ops / ce_ops
            c.ops_goal = OPS_GOAL if label != "CE" else None
            if isinstance(goal, dict):
                goal = goal.get(model_name)
            rows.append(Row(label, model_name, t.median_ms, t.median_s / ce, goal, c))
    return rows


def bench_mils_components(model_names: tuple[str, ...] = ("mlp", "lenet")) -> list[Row]:
    """MILS's pieces as ratios to one eval forward of a training batch (the paper's cost unit):
    observation evaluation, snapshot, restore, and snapshot + restore together."""
    from losskit.bench.mils import component_costs

    rows: list[Row] = []
    for model_name in model_names:
        c = component_costs(model_name)
        fwd = c["forward"]
        rows.append(Row("eval forward, 1 batch (unit)", model_name, fwd, 1.0, None))
        for key, label in (("observation", "MILS observation eval (128)"),
                           ("snapshot", "MILS snapshot"), ("restore", "MILS restore")):
            rows.append(Row(label, model_name, c[key], c[key] / fwd, None))
        both = c["snapshot"] + c["restore"]
        rows.append(Row("MILS snapshot + restore", model_name, both, both / fwd, None))
    return rows


def bench_trainer(
    model_name: str = "lenet", n: int = 8192, batch_size: int = 128, repeats: int = 3
) -> list[Row]:
    """Trainer epoch vs a minimal hand-written loop (same data, model, batches, optimizer)."""
    from losskit import models
    from losskit.data.base import DataSplits
    from losskit.train import LossMethod, TrainConfig, Trainer, batches

    data = fashion_like(n)
    splits = DataSplits("bench", data, None, fashion_like(256, seed=1), 10, (1, 28, 28))
    config = TrainConfig(epochs=1, batch_size=batch_size, lr=0.01, progress=False)

    def trainer_epoch() -> float:
        torch.manual_seed(0)
        trainer = Trainer(
            config,
            data=splits,
            model=models.build(model_name, (1, 28, 28), 10),
            method=LossMethod("ce"),
        )
        t0 = time.perf_counter()
        trainer.train_epoch(0)
        return time.perf_counter() - t0

    def hand_epoch() -> float:
        torch.manual_seed(0)
        model = models.build(model_name, (1, 28, 28), 10)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        g = torch.Generator().manual_seed(0)
        t0 = time.perf_counter()
        model.train()
        for x, y in batches(data, batch_size, g):
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()
            opt.step()
        return time.perf_counter() - t0

    hand_epoch()  # warm-up
    hand, trainer = [], []
    for _ in range(repeats):
        hand.append(hand_epoch())
        trainer.append(trainer_epoch())
    h, t = sorted(hand)[len(hand) // 2], sorted(trainer)[len(trainer) // 2]
    return [
        Row("hand-written loop epoch", model_name, 1000 * h, 1.0, None),
        Row("Trainer epoch", model_name, 1000 * t, t / h, 1.10),
    ]


def bench_scaling(
    batch_sizes: tuple[int, ...] = (32, 128, 512, 1024),
    class_counts: tuple[int, ...] = (10, 100),
    blocks: int = 20,
) -> list[Row]:
    """Loss-only forward+backward time vs batch size and class count (ratio to CE there)."""
    from losskit.slf import StochasticLoss
    from losskit.uniloss import UniLoss

    rows: list[Row] = []
    for c in class_counts:
        for n in batch_sizes:
            g = torch.Generator().manual_seed(0)
            logits = torch.randn(n, c, generator=g, requires_grad=True)
            y = torch.randint(0, c, (n,), generator=g)
            y_bin = (torch.arange(n) % 10 == 0).long()
            logits2 = torch.randn(n, 2, generator=g, requires_grad=True)
            slf = StochasticLoss.paper(c, K=3)
            acc = UniLoss("accuracy")
            ap = UniLoss("ap")
            fns = _loss_only_fns(logits, y, logits2, y_bin, slf, acc, ap)
            if c != class_counts[0]:  # AP does not depend on C: its rows once
                del fns["UniLoss AP"]
            timings = interleaved_timings(fns, blocks=blocks, steps_per_block=5)
            ce = timings["CE"].median_s
            counts = {label: measure_counts(fn, steps=1) for label, fn in fns.items()}
            for label, t in timings.items():
                counts[label].ops_ratio = counts[label].ops / counts["CE"].ops
                shape_c = c if label != "UniLoss AP" else 2
                goal = (LOSS_ONLY_MS_GOALS.get(label) if (n, c) == (128, 10) else None) or (
                    SCALING_MS_GOALS.get((label, n, shape_c)))
                rows.append(
                    Row(
                        f"{label} (loss only)",
                        f"N={n}, C={shape_c}",
                        t.median_ms,
                        t.median_s / ce,
                        None,
                        counts[label],
                        goal,
                    )
                )
    return rows


def markdown_table(rows: list[Row]) -> str:
    ratio = "ratio (to CE; MILS pieces: to a forward)"
    ops = f"aten ops/step (×CE, goal ≤ {OPS_GOAL:g})"
    header = ["case", "model / shape", "ms per step", ratio, "goal", ops,
              "syncs/step (checks on / off)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r.cells()) + " |" for r in rows]
    return "\n".join(lines)


def _loss_only_fns(logits, y, logits2, y_bin, slf, acc, ap) -> dict:
    """Closures timing one loss forward+backward each (bound to this configuration)."""
    return {
        "CE": lambda: F.cross_entropy(logits, y).backward(),
        "SLF K=3": lambda: slf(logits, y).backward(),
        "UniLoss accuracy": lambda: acc(logits, y).backward(),
        "UniLoss AP": lambda: ap(logits2, y_bin).backward(),
    }
