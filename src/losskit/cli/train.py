"""``losskit train``: one run from its flags (:mod:`losskit.cli.flags`), checked before
anything is built or launched; the method is built once and handed to the Trainer."""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from losskit.cli.errors import EXIT_INTERRUPTED, _os_error_text, user_input
from losskit.cli.flags import (
    TRAIN_DESTS,
    add_method_flags,
    add_run_flags,
    config_from_args,
    method_flags,
    setting_flag,
)
from losskit.core.errors import ConfigError, OutputError, UserError


def add_train_args(p: argparse.ArgumentParser) -> None:
    """``losskit train``'s flags: the run settings and method options (derived from their
    declarations) and the command's own (``--config``, ``--log-format``, ``--tensorboard``,
    ``--nproc``)."""
    g = p.add_argument_group("run")
    g.add_argument("--config", default=None, metavar="FILE",
                   help="a run's config.json: train it again (flags given here override it)")
    add_run_flags(g)
    g.add_argument("--log-format", default="text", choices=["text", "json"],
                   help="the line printed per finished epoch: readable text or the JSON record")
    g.add_argument("--tensorboard", nargs="?", const="", default=None, metavar="DIR",
                   help="write TensorBoard logs to DIR (bare flag: --out/tensorboard); needs "
                   "pip install 'losskit[tensorboard]'")
    g.add_argument("--nproc", type=int, default=1,
                   help="spawn N processes on this machine (DDP; or launch with torchrun)")
    add_method_flags(p.add_argument_group("method options"))
    TRAIN_DESTS.update(a.dest for a in p._actions)


def _check_kwargs(config: Any) -> None:
    """Unknown --data-arg / --model-arg / --method-arg keys, before anything is built."""
    from losskit import data, models
    from losskit.train import METHODS

    for key in ("input_shape", "num_classes"):
        if key in config.model_kwargs:
            raise ConfigError(f"--model-arg {key} is set from the dataset; leave it out")
    for kwargs, registry, name, field in (
        (config.data_kwargs, data.DATASETS, config.data, "data_kwargs"),
        (config.model_kwargs, models.MODELS, config.model, "model_kwargs"),
        (config.method_kwargs, METHODS, config.method, "method_kwargs"),
    ):
        try:
            registry.check_kwargs(name, kwargs)
        except ConfigError as exc:
            raise ConfigError(f"{setting_flag(field)}: {exc}") from exc


def _build_method(config: Any) -> Any:
    """The method, built (its options parsed and checked) before anything else is built or
    launched; an error names the option's flag."""
    from losskit.train.trainer import build_method

    try:
        with user_input():
            return build_method(config)
    except ConfigError as exc:
        text = str(exc)
        for flag, method, f in method_flags():
            names = {f.name, f.metadata.get("core", f.name)}
            if method == config.method and any(text.startswith(n + " ") for n in names):
                name = next(n for n in names if text.startswith(n + " "))
                raise ConfigError(flag + text[len(name):]) from exc
        raise ConfigError(f"--method {config.method}: {text}") from exc


def _check_names(config: Any) -> None:
    from losskit import data, models

    for kind, registry, name in (("data", data, config.data), ("model", models, config.model)):
        if name not in registry.names():
            raise ConfigError(
                f"unknown --{kind} {name!r}; expected one of: {', '.join(registry.names())}"
            )


def cmd_train(args: argparse.Namespace) -> int:
    from losskit import launch

    config = config_from_args(args)
    _check_names(config)
    _check_kwargs(config)
    method = _build_method(config)  # built once: this process trains with it
    tensorboard = args.tensorboard
    if tensorboard == "":
        if config.out_dir is None:
            raise ConfigError("--tensorboard without DIR writes to --out DIR/tensorboard; give "
                             "--tensorboard DIR or --out DIR")
        tensorboard = str(Path(config.out_dir) / "tensorboard")
    if args.nproc < 1:
        raise ConfigError(f"--nproc must be an integer ≥ 1, got {args.nproc}")
    if args.nproc > 1:
        if launch.launched_by_torchrun():
            raise ConfigError("--nproc spawns processes itself; under torchrun leave it out")
        return launch.launch(config, args.nproc, train_and_report, log_format=args.log_format,
                             tensorboard=tensorboard)
    if launch.launched_by_torchrun():
        return launch.run_from_env(config, functools.partial(train_and_report, method=method),
                                   log_format=args.log_format,
                                   tensorboard=tensorboard)
    return train_and_report(config, args.log_format, tensorboard, method=method)


def train_and_report(config: Any, log_format: str = "text", tensorboard: str | None = None,
                     method: Any = None) -> int:
    """Train ``config`` as ``losskit train`` does (also in each ``--nproc`` / torchrun
    process): epoch lines, resume / finished / interrupted messages, the final line.
    ``method``: the run's method when already built from ``config`` (else the Trainer builds
    it)."""
    from losskit.train import Trainer
    from losskit.train.callbacks import ConsoleLogger

    trainer = None
    try:
        with user_input():
            callbacks: list[Any] = [ConsoleLogger(log_format)]
            if tensorboard is not None:
                from losskit.integrations.tensorboard import TensorBoardLogger

                callbacks.append(TensorBoardLogger(tensorboard))
            trainer = Trainer(config, method=method, callbacks=callbacks)
            trainer.prepare()
        done, total = len(trainer.history), config.epochs
        if trainer.is_main and done:
            where = config.out_dir
            print(f"losskit: {where} holds the finished run ({done}/{total} epochs); nothing to "
                  "train (--no-resume trains it again, a new --out trains another)"
                  if done >= total else f"losskit: resuming {where} from epoch {done}/{total}",
                  file=sys.stderr, flush=True)
        with _keeping(config, lambda: trainer):
            result = trainer.fit()
    except KeyboardInterrupt:
        print(f"losskit: interrupted; {_saved_state(config, trainer)}", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        if trainer is not None:
            trainer.close()
    if trainer.is_main:
        _print_final(result, log_format)
    return 0


@contextlib.contextmanager
def _keeping(config: Any, trainer: Any) -> Iterator[None]:
    """A user-caused ``OSError`` (e.g. the run directory became unwritable) becomes an
    :class:`~losskit.core.errors.OutputError` that also says what the run directory still holds.
    ``trainer``: a callable returning the Trainer (or ``None`` before it exists)."""
    try:
        yield
    except OSError as exc:
        text = None if isinstance(exc, UserError) else _os_error_text(exc)
        if text is None:
            raise
        raise OutputError(f"{text}; {_saved_state(config, trainer())}", exc) from exc


def _saved_state(config: Any, trainer: Any) -> str:
    if config.out_dir is None:
        return "nothing was saved (no --out; give --out DIR to make a run resumable)"
    saved = trainer.saved_epochs if trainer is not None else 0
    if not saved:
        return f"no epoch finished, so {config.out_dir} holds no checkpoint yet"
    path = Path(config.out_dir) / "checkpoint.pt"
    return (f"{path} holds epoch {saved}/{config.epochs}; run the same command again to "
            "resume")


def _print_final(result: Any, log_format: str) -> None:
    if log_format == "json":
        print(json.dumps({"final": result.final}), flush=True)
        return
    metrics = ", ".join(f"{k}={v:.4f}" for k, v in result.final.items() if k.startswith("test_"))
    trained = len(result.history) - result.resumed_from
    if not trained:
        how = f"finished earlier, {len(result.history)} epochs"
    elif result.resumed_from:
        how = f"{result.final['wall_time_s']:.1f} s, resumed after epoch {result.resumed_from}"
    else:
        how = f"{result.final['wall_time_s']:.1f} s"
    print(f"final: {metrics} ({how})", flush=True)

