"""Does a run retrain bit for bit? Same machine, 1 vs 2 threads, other CPU kernels.

Trains a few short configurations with ``losskit train --log-format json`` several times, each
time changing one thing (nothing, the thread count, ``ATEN_CPU_CAPABILITY``), and compares every
per-epoch number (train loss, train/test accuracy, test loss) with the reference run bit for bit.

    python scripts/bit_reproducibility.py --out results/bitrepro.md [--epochs 2]

``ATEN_CPU_CAPABILITY`` picks which of torch's vectorised CPU kernels run (``default`` = no
SIMD, ``avx2``, ``avx512``): the nearest thing to "another machine" on one machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

CONFIGS: dict[str, list[str]] = {
    "MNIST LeNet, CE": ["--data", "mnist", "--model", "lenet", "--loss", "ce", "--lr", "0.03"],
    "MNIST MLP, SLF K=3 (paper)": [
        "--data", "mnist", "--model", "mlp", "--method", "slf", "--slf-preset", "paper",
        "--lr", "0.1",
    ],
    "MNIST MLP, UniLoss accuracy": [
        "--data", "mnist", "--model", "mlp", "--method", "uniloss", "--uniloss-metric",
        "accuracy", "--lr", "0.1",
    ],
}

#: variant → (threads, extra environment)
VARIANTS: dict[str, tuple[int, dict[str, str]]] = {
    "reference (1 thread)": (1, {}),
    "same again": (1, {}),
    "2 threads": (2, {}),
    "ATEN_CPU_CAPABILITY=avx2": (1, {"ATEN_CPU_CAPABILITY": "avx2"}),
    "ATEN_CPU_CAPABILITY=default": (1, {"ATEN_CPU_CAPABILITY": "default"}),
}

COMPARED = ("train_loss", "train_acc", "test_acc", "test_loss")


def train(args: list[str], threads: int, env: dict[str, str], epochs: int) -> list[dict]:
    cmd = [sys.executable, "-m", "losskit", "train", *args, "--epochs", str(epochs),
           "--seed", "0", "--threads", str(threads), "--log-format", "json", "--no-progress"]
    out = subprocess.run(cmd, env={**os.environ, "OMP_NUM_THREADS": str(threads), **env},
                         check=True, capture_output=True, text=True).stdout
    return [r for r in map(json.loads, out.splitlines()) if "epoch" in r]


def drift(ref: list[dict], other: list[dict]) -> str:
    if all(r[k] == o[k] for r, o in zip(ref, other) for k in COMPARED):
        return "bitwise equal"
    loss = max(abs(r["train_loss"] - o["train_loss"]) for r, o in zip(ref, other))
    acc = max(abs(r["test_acc"] - o["test_acc"]) * 100 for r, o in zip(ref, other))
    first = next(i for i, (r, o) in enumerate(zip(ref, other), 1)
                 if any(r[k] != o[k] for k in COMPARED))
    return f"differs from epoch {first}: max Δ train loss {loss:.2e}, max Δ test acc {acc:.2f} pt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("results/bitrepro.md"))
    parser.add_argument("--epochs", type=int, default=2)
    opts = parser.parse_args()
    lines = [
        "# Bit-reproducibility of a run",
        "",
        f"`python scripts/bit_reproducibility.py --epochs {opts.epochs}`; seed 0; "
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()}.",
        "Each cell compares every per-epoch number (train loss, train/test accuracy, test loss) "
        "with the reference run.",
        "",
        "| configuration | " + " | ".join(list(VARIANTS)[1:]) + " |",
        "|---" * len(VARIANTS) + "|",
    ]
    for name, args in CONFIGS.items():
        runs = {v: train(args, t, env, opts.epochs) for v, (t, env) in VARIANTS.items()}
        ref = runs["reference (1 thread)"]
        cells = [drift(ref, runs[v]) for v in list(VARIANTS)[1:]]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    opts.out.write_text("\n".join(lines) + "\n")
    print(f"written to {opts.out}")


if __name__ == "__main__":
    main()
