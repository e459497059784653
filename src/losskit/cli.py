"""``losskit`` command line: ``list | train | reproduce | report | bench | plot``.

Bad names or values give one line ``losskit: error: …`` (listing valid choices) and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

EXIT_USAGE = 2


class UsageError(Exception):
    """A user error: printed as one line, exit code 2."""


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _parse_pairs(pairs: list[str] | None, flag: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"{flag} expects KEY=VALUE, got {pair!r}")
        out[key.replace("-", "_")] = _parse_value(value)
    return out


# Method-specific flags → method kwargs: (flag dest, method, kwarg name)
_METHOD_FLAGS: list[tuple[str, str, str]] = [
    ("loss", "loss", "loss"),
    ("slf_losses", "slf", "losses"),
    ("slf_k", "slf", "k"),
    ("slf_tau", "slf", "tau"),
    ("slf_mode", "slf", "mode"),
    ("slf_granularity", "slf", "granularity"),
    ("slf_normalize", "slf", "normalize"),
    ("slf_update", "slf", "update"),
    ("uniloss_metric", "uniloss", "metric"),
    ("uniloss_anchors", "uniloss", "num_anchors"),
    ("uniloss_temperature", "uniloss", "temperature"),
    ("uniloss_scope", "uniloss", "scope"),
    ("primary", "mils", "primary"),
    ("aux", "mils", "aux"),
    ("participation", "mils", "participation"),
    ("observation_size", "mils", "observation_size"),
    ("no_schedule", "mils", "no_schedule"),
]


def _add_train_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("run")
    g.add_argument("--data", default="fashion-mnist", help="dataset name (see `losskit list`)")
    g.add_argument("--model", default="lenet", help="model name")
    g.add_argument("--method", default="loss", help="loss | slf | uniloss | mils")
    g.add_argument("--epochs", type=int, default=1)
    g.add_argument("--batch-size", type=int, default=128)
    g.add_argument("--optimizer", default="sgd", help="sgd | adam | adamw")
    g.add_argument("--lr", type=float, default=0.05)
    g.add_argument("--momentum", type=float, default=0.9)
    g.add_argument("--weight-decay", type=float, default=0.0)
    g.add_argument("--schedule", default="none", help="none | step | cosine")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    g.add_argument("--train-size", type=int, default=None, help="seeded training subset size")
    g.add_argument("--test-size", type=int, default=None, help="seeded test subset size")
    g.add_argument("--amp", default=None, help="bf16 | fp16 autocast")
    g.add_argument("--device", default="cpu")
    g.add_argument("--out", default=None, help="run directory (metrics.jsonl, checkpoint.pt)")
    g.add_argument("--no-resume", action="store_true", help="ignore a checkpoint in --out")
    g.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None)
    g.add_argument("--data-arg", action="append", metavar="KEY=VALUE", help="dataset kwarg")
    g.add_argument("--model-arg", action="append", metavar="KEY=VALUE", help="model kwarg")
    g.add_argument("--method-arg", action="append", metavar="KEY=VALUE", help="method kwarg")
    g.add_argument("--nproc", type=int, default=1, help="processes for distributed training")
    m = p.add_argument_group("method shortcuts")
    m.add_argument("--loss", default=None, help="[loss] loss name, default ce")
    m.add_argument("--slf-losses", default=None, help="[slf] comma-separated candidate losses")
    m.add_argument("--slf-k", type=int, default=None, help="[slf] Gumbel samples K")
    m.add_argument("--slf-tau", type=float, default=None, help="[slf] temperature")
    m.add_argument("--slf-mode", default=None, help="[slf] gumbel | softmax | fixed")
    m.add_argument("--slf-granularity", default=None, help="[slf] batch | sample")
    m.add_argument("--slf-normalize", default=None, help="[slf] none | running_mean")
    m.add_argument("--slf-update", default=None,
                   help="[slf] joint (paper) | bilevel (decision net follows validation)")
    m.add_argument("--uniloss-metric", default=None, help="[uniloss] accuracy | ap | pck | …")
    m.add_argument("--uniloss-anchors", type=int, default=None, help="[uniloss] per type")
    m.add_argument("--uniloss-temperature", type=float, default=None)
    m.add_argument("--uniloss-scope", default=None,
                   help="[uniloss] local | global (all-gather the batch across ranks)")
    m.add_argument("--primary", default=None, help="[mils] primary loss")
    m.add_argument("--aux", default=None, help="[mils] comma-separated auxiliary losses")
    m.add_argument("--participation", type=float, default=None, help="[mils] rate in [0, 1]")
    m.add_argument("--observation-size", type=int, default=None, help="[mils] samples")
    m.add_argument("--no-schedule", action="store_const", const=True, default=None,
                   help="[mils] accept every auxiliary update (paper's ablation)")


def config_from_args(args: argparse.Namespace) -> Any:
    from losskit.plugins import load_all
    from losskit.train import METHODS, TrainConfig

    load_all()
    if args.method not in METHODS:
        raise UsageError(
            f"unknown method {args.method!r}; expected one of: {', '.join(METHODS.names())}"
        )
    method_kwargs = _parse_pairs(args.method_arg, "--method-arg")
    for dest, method, kwarg in _METHOD_FLAGS:
        value = getattr(args, dest)
        if value is None:
            continue
        if method != args.method:
            flag = "--" + dest.replace("_", "-")
            raise UsageError(f"{flag} applies to --method {method}, not {args.method!r}")
        method_kwargs[kwarg] = value
    return TrainConfig(
        data=args.data,
        model=args.model,
        method=args.method,
        data_kwargs=_parse_pairs(args.data_arg, "--data-arg"),
        model_kwargs=_parse_pairs(args.model_arg, "--model-arg"),
        method_kwargs=method_kwargs,
        optimizer=args.optimizer,
        lr=args.lr,
        momentum=args.momentum,
        weight_decay=args.weight_decay,
        schedule=args.schedule,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        threads=args.threads,
        train_size=args.train_size,
        test_size=args.test_size,
        device=args.device,
        amp=args.amp,
        progress=args.progress,
        out_dir=args.out,
        resume=not args.no_resume,
    )


def _check_names(config: Any) -> None:
    from losskit import data, models

    for kind, registry, name in (("data", data, config.data), ("model", models, config.model)):
        if name not in registry.names():
            raise UsageError(
                f"unknown --{kind} {name!r}; expected one of: {', '.join(registry.names())}"
            )


def cmd_train(args: argparse.Namespace) -> int:
    from losskit.train import fit

    config = config_from_args(args)
    _check_names(config)
    if args.nproc > 1:
        from losskit.distributed import launch

        return launch(config, args.nproc)
    result = fit(config)
    for rec in result.history:
        shown = {k: round(v, 4) if isinstance(v, float) else v
                 for k, v in rec.items() if not isinstance(v, (dict, list))}
        print(json.dumps(shown))
    metrics = ", ".join(f"{k}={v:.4f}" for k, v in result.final.items() if k.startswith("test_"))
    print(f"final: {metrics} ({result.final['wall_time_s']:.1f} s)")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from losskit import data, losses, models
    from losskit.plugins import load_all
    from losskit.train import METHODS

    load_all()
    sections: list[tuple[str, Any]] = [
        ("losses", losses.LOSSES),
        ("models", models.MODELS),
        ("datasets", data.DATASETS),
        ("methods", METHODS),
    ]
    try:
        from losskit.uniloss import METRICS

        sections.append(("uniloss metrics", METRICS))
    except ImportError:  # pragma: no cover
        pass
    try:
        from losskit.experiments import EXPERIMENTS

        sections.append(("experiments", EXPERIMENTS))
    except ImportError:  # pragma: no cover
        pass
    for title, registry in sections:
        print(f"{title}:")
        for name, help_text in registry.describe().items():
            print(f"  {name:<22} {help_text}")
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    from losskit.experiments import reproduce
    from losskit.experiments.catalog import smoke_experiments

    suite = smoke_experiments() if args.suite == "smoke" else args.suite
    return reproduce(suite, results=args.results, jobs=args.jobs, report_dir=args.report)


def cmd_report(args: argparse.Namespace) -> int:
    from losskit.experiments.report import build_report

    path = build_report(args.results, args.out)
    print(f"report written to {path}")
    if args.readme:
        from losskit.experiments.report import readme_table, update_readme

        table = readme_table(args.results)
        header = (
            f"Generated by `losskit report {args.results} --out {args.out} --readme "
            f"{args.readme}` (full report: `{Path(args.out) / 'report.md'}`). Means over seeds "
            "± half-width of the 95% t interval; Δ is the paired difference to the baseline "
            "over the same seeds.\n\n"
        )
        changed = update_readme(args.readme, header + table)
        print(f"{args.readme} results section {'updated' if changed else 'unchanged'}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from losskit import models
    from losskit.bench import run_bench

    names = tuple(m.strip() for m in args.models.split(",") if m.strip())
    unknown = [m for m in names if m not in models.MODELS]
    if not names or unknown:
        raise UsageError(
            f"--models must name registered models, got {args.models!r}; "
            f"expected some of: {', '.join(models.MODELS.names())}"
        )
    return run_bench(args.what, steps=args.steps, threads=args.threads, out=args.out,
                     models=names)


def cmd_plot(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir)
    metrics = run_dir / "metrics.jsonl"
    if not metrics.exists():
        raise UsageError(f"RUN_DIR {str(run_dir)!r} has no metrics.jsonl (train with --out first)")
    history = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    out = Path(args.out) if args.out else run_dir / f"{args.kind}.png"
    if args.kind == "slf":
        from losskit.slf.plot import plot_selection_trace as plot_fn
    else:
        from losskit.mils.plot import plot_success as plot_fn
    plot_fn(history, out)
    print(f"plot written to {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="losskit", description="Train neural networks with more than one loss."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("list", help="registered losses, models, datasets, methods, experiments")
    p.set_defaults(fn=cmd_list)
    p = sub.add_parser("train", help="train one model")
    _add_train_args(p)
    p.set_defaults(fn=cmd_train)
    p = sub.add_parser("reproduce", help="run an experiment suite (resumable)")
    p.add_argument("suite", help="experiment or suite name: all, smoke, e1-slf, …")
    p.add_argument("--results", default="results/results.jsonl")
    p.add_argument("--report", default="results/report", help="report directory")
    p.add_argument("--jobs", type=int, default=2)
    p.set_defaults(fn=cmd_reproduce)
    p = sub.add_parser("report", help="Markdown + PNG report from a results JSONL")
    p.add_argument("results")
    p.add_argument("--out", default="results/report")
    p.add_argument("--readme", default=None,
                   help="also rewrite this README's results section (between its markers)")
    p.set_defaults(fn=cmd_report)
    p = sub.add_parser("bench", help="overhead benchmarks (ratios to a plain CE step)")
    p.add_argument("what", help="trainer | slf | uniloss | mils | scaling | all")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=None, help="directory for the Markdown table and PNG")
    p.add_argument("--models", default="mlp,lenet",
                   help="comma-separated models for the method suites (e.g. mlp,lenet,resnet8)")
    p.set_defaults(fn=cmd_bench)
    p = sub.add_parser("plot", help="plot a run's method trace")
    p.add_argument("kind", choices=["slf", "mils"])
    p.add_argument("run_dir")
    p.add_argument("--out", default=None)
    p.set_defaults(fn=cmd_plot)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.fn(args) or 0)
    except (UsageError, ValueError, FileNotFoundError) as exc:
        print(f"losskit: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("losskit: interrupted (resume by running the same command again)", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
