"""Retrain one recorded run of ``results/results.jsonl`` and print its per-class test recall.

Used for the README's SLF finding: the runs of joint SLF (paper preset) that stall near 88 %
never predict one or more classes at all. The record holds the whole config, so this is the
same run (same seed, data, learning rate, epochs), trained again with today's code (a run recorded
by older code can differ in the last digits; see its ``timestamp`` and ``versions``)::

    python examples/per_class_recall.py p1-slf-mlp "SLF K=3" 1     # ~2–3 min

Arguments: experiment, variant, seed [, results file]. Needs the run's dataset (``make data``
for MNIST).
"""

from __future__ import annotations

import sys

from losskit.experiments.results import read_results
from losskit.train import TrainConfig, fit
from losskit.train.evaluation import predict_logits


def find_record(path: str, experiment: str, variant: str, seed: int) -> dict:
    for record in read_results(path):
        if (record["experiment"], record["variant"], record["seed"]) == (
                experiment, variant, seed) and record.get("role") != "tune":
            return record
    raise SystemExit(f"no run {experiment!r} / {variant!r} / seed {seed} in {path}")


def main(argv: list[str]) -> None:
    if len(argv) not in (3, 4):
        raise SystemExit(__doc__)
    experiment, variant, seed = argv[0], argv[1], int(argv[2])
    record = find_record(argv[3] if len(argv) == 4 else "results/results.jsonl",
                         experiment, variant, seed)
    config = {k: v for k, v in record["config"].items() if k != "out_dir"}
    config["threads"] = 1  # `reproduce --jobs 2` on 2 cores: 1 thread per run (same sums)
    run = fit(TrainConfig.from_dict(config))
    x, y = run.data.test.tensors
    predicted = predict_logits(run.model, x).argmax(1)
    print(f"{experiment} / {variant} / seed {seed}: final-epoch test_acc "
          f"{run.history[-1]['test_acc']:.4f} (recorded: {record['history'][-1]['test_acc']:.4f})")
    num_classes = int(y.max()) + 1
    print("class  recall  predicted")
    for c in range(num_classes):
        recall = (predicted[y == c] == c).float().mean()
        print(f"{c:5d}  {float(recall):6.3f}  {int((predicted == c).sum()):9d}")
    print("classes never predicted:",
          [c for c in range(num_classes) if not bool((predicted == c).any())])


if __name__ == "__main__":
    main(sys.argv[1:])
