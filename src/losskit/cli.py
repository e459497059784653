"""``losskit`` command line: ``list | train | reproduce | report | bench | plot``.

A failure the user caused gives one line ``losskit: error: …`` on stderr and exit code 2, mapped
in one place (:func:`main`, :func:`user_error_line`): a :class:`~losskit.errors.UserError` — a bad
name, value or file (:class:`~losskit.errors.ConfigError`, raised where input becomes objects:
:func:`user_input`; it names the flag and the valid choices), a place that cannot be written
(:class:`~losskit.errors.OutputError`), a missing optional extra
(:class:`~losskit.errors.MissingDependencyError`) —, a bad flag (argparse's own errors), or an
``OSError`` about a file or folder the user chose (no permission, disk full, read-only, a file
where a folder should be). Any other exception is a bug: traceback, exit code 1.
:class:`~losskit.errors.LossKitWarning` s are printed once each as ``losskit: warning: …``.

``losskit train`` prints one flushed line per finished epoch (``--log-format text|json``) and,
on a terminal, a tqdm bar per epoch. Under ``torchrun`` (``RANK`` / ``WORLD_SIZE`` set) it joins
the process group and trains with DDP; ``--nproc N`` spawns N such processes itself.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import re
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from losskit.errors import ConfigError, LossKitWarning, OutputError, UserError

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

UsageError = ConfigError  # a user error: printed as one line, exit code 2

# TrainConfig fields whose flag is named differently (the rest: --field-name)
_FIELD_FLAGS = {"out_dir": "--out", "data_kwargs": "--data-arg", "model_kwargs": "--model-arg",
                "method_kwargs": "--method-arg", "resume": "--no-resume"}


def flag_of(field: str) -> str:
    """The command-line flag of a TrainConfig field (``out_dir`` → ``--out``)."""
    return _FIELD_FLAGS.get(field, "--" + field.replace("_", "-"))


def _message(exc: ConfigError) -> str:
    text = str(exc)
    if exc.field and text.startswith(exc.field):
        return flag_of(exc.field) + text[len(exc.field):]
    return text


#: ``OSError`` numbers that mean "the file system refused what the user asked for"
_USER_ERRNOS = frozenset(getattr(errno, name) for name in (
    "EACCES", "EPERM", "EROFS", "ENOSPC", "EDQUOT", "EFBIG", "ENOTDIR", "EISDIR", "EEXIST",
    "ENOENT", "ENAMETOOLONG", "ELOOP") if hasattr(errno, name))
#: of those, the ones that are never a bug even without a path (a write to a full disk)
_ENVIRONMENT_ERRNOS = frozenset(getattr(errno, name) for name in (
    "EROFS", "ENOSPC", "EDQUOT", "EFBIG") if hasattr(errno, name))
_PACKAGE_DIR = Path(__file__).resolve().parent


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _os_error_text(exc: OSError) -> str | None:
    """``PATH: reason`` for an ``OSError`` about a path outside losskit's own files with an
    errno of :data:`_USER_ERRNOS` (``cannot write: reason`` for one of
    :data:`_ENVIRONMENT_ERRNOS` without a path); ``None`` otherwise (a bug: keep the
    traceback)."""
    if exc.errno not in _USER_ERRNOS:
        return None
    if exc.filename is None:
        return f"cannot write: {exc.strerror or exc}" if exc.errno in _ENVIRONMENT_ERRNOS else None
    with contextlib.suppress(OSError, TypeError, ValueError):
        if Path(exc.filename).resolve().is_relative_to(_PACKAGE_DIR):
            return None  # losskit's own file: not the user's doing
    where = str(exc.filename) + (f" → {exc.filename2}" if exc.filename2 else "")
    return f"{where}: {exc.strerror or exc}"


def user_error_line(exc: BaseException) -> str | None:
    """The one line ``losskit`` prints for a user-caused failure (without the ``losskit:
    error:`` prefix), or ``None`` when ``exc`` is a bug. The one place that decides."""
    if isinstance(exc, ConfigError):
        return _one_line(_message(exc))
    if isinstance(exc, UserError):
        return _one_line(str(exc))
    if isinstance(exc, OSError):
        text = _os_error_text(exc)
        return None if text is None else _one_line(text)
    return None


@contextlib.contextmanager
def _warnings_as_lines() -> Iterator[None]:
    """Print each :class:`~losskit.errors.LossKitWarning` once, as ``losskit: warning: …`` on
    stderr (other warnings as Python shows them)."""
    seen: set[str] = set()
    with warnings.catch_warnings():
        warnings.simplefilter("always", LossKitWarning)
        show = warnings.showwarning

        def one_line(message: Warning | str, category: type[Warning], *args: Any,
                     **kwargs: Any) -> None:
            if not issubclass(category, LossKitWarning):
                show(message, category, *args, **kwargs)
                return
            text = _one_line(str(message))
            if text not in seen:
                seen.add(text)
                print(f"losskit: warning: {text}", file=sys.stderr, flush=True)

        warnings.showwarning = one_line
        yield


@contextlib.contextmanager
def user_input() -> Iterator[None]:
    """The boundary where the user's input becomes objects: a ``ValueError`` (or a missing
    file) raised in this block is the user's, and becomes a :class:`ConfigError` (exit 2).
    Outside such a block only a ``ConfigError`` is a user error."""
    try:
        yield
    except ConfigError:
        raise
    except (ValueError, FileNotFoundError, NotADirectoryError) as exc:
        raise ConfigError(str(exc)) from exc


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


_NEXT_PAIR = re.compile(r",(?=[A-Za-z_][\w-]*=)")


def _parse_pairs(pairs: list[str] | None, flag: str, joined: bool = False) -> dict[str, Any]:
    """``KEY=VALUE`` items (VALUE parsed as JSON when it can be); ``joined``: one item may hold
    several, ``KEY=VALUE,KEY=VALUE`` (a comma starts a new pair only before ``KEY=``)."""
    out: dict[str, Any] = {}
    items = [part for pair in pairs or [] for part in (
        _NEXT_PAIR.split(pair) if joined else [pair])]
    for pair in items:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"{flag} expects KEY=VALUE, got {pair!r}")
        out[key.replace("-", "_")] = _parse_value(value)
    return out


def method_flags() -> list[tuple[str, str, Any]]:
    """``(flag, method, option field)`` of every registered method's options that have help
    (:mod:`losskit.options`): derived from the declarations, in registration order."""
    from losskit.options import flag_of, specs
    from losskit.train import METHODS

    return [(flag_of(method, f), method, f) for method, factory in METHODS.items()
            for f, spec in specs(factory.Options) if spec.help]


def _dest(flag: str) -> str:
    return flag[2:].replace("-", "_")


def _add_method_flags(group: argparse._ArgumentGroup) -> None:
    """One flag per declared option, ``[method] help (default: …)``; ``None`` (not given)
    leaves the method's default."""
    from losskit.options import parser_of, spec_of

    for flag, method, f in method_flags():
        default = f.default
        shown = "" if default in (None, False, "") else (
            f" (default: {'yes' if default is True else default})")
        text = f"[{method}] {spec_of(f).help}{shown}".replace("%", "%%")
        if isinstance(default, bool):
            if default:
                group.add_argument(flag, action=argparse.BooleanOptionalAction, default=None,
                                   help=text)
            else:
                group.add_argument(flag, action="store_const", const=True, default=None,
                                   help=text)
            continue
        parse = parser_of(f)  # numbers are checked here; other text is parsed by the method
        group.add_argument(flag, default=None, help=text,
                           type=parse if parse in (int, float) else None)


def _add_train_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("run")
    g.add_argument("--config", default=None, metavar="FILE",
                   help="a run's config.json: train it again (flags given here override it)")
    g.add_argument("--data", default="fashion-mnist",
                   help="dataset name (see `losskit list`); your files: folder (--data-arg "
                   "root=DIR: DIR/train/<class>/*.png) or csv (--data-arg path=FILE,target=COL)")
    g.add_argument("--model", default="lenet", help="model name (see `losskit list`)")
    g.add_argument("--method", default="loss", help="loss | slf | uniloss | mils")
    g.add_argument("--epochs", type=int, default=1, help="training epochs")
    g.add_argument("--batch-size", type=int, default=128, help="training mini-batch size")
    g.add_argument("--optimizer", default="sgd", help="sgd | adam | adamw")
    g.add_argument("--lr", type=float, default=0.05, help="learning rate")
    g.add_argument("--momentum", type=float, default=0.9, help="SGD momentum")
    g.add_argument("--weight-decay", type=float, default=0.0, help="L2 weight decay")
    g.add_argument("--schedule", default="none", help="LR schedule per epoch: none | step | cosine")
    g.add_argument("--seed", type=int, default=0, help="seeds data order, model and methods")
    g.add_argument("--threads", type=int, default=None,
                   help="torch.set_num_threads (default: torch's choice)")
    g.add_argument("--train-size", type=int, default=None,
                   help="seeded training subset size (default: the whole training split)")
    g.add_argument("--test-size", type=int, default=None,
                   help="seeded test subset size (default: the whole test split)")
    g.add_argument("--amp", default=None, help="bf16 | fp16 autocast (default: off, float32)")
    g.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N | mps")
    g.add_argument("--out", default=None, metavar="DIR",
                   help="run directory: config.json, metrics.jsonl/.csv, checkpoint.pt; an "
                   "interrupted run resumes from it (default: nothing saved)")
    g.add_argument("--no-resume", action="store_true",
                   help="start over even if --out holds a checkpoint")
    g.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="tqdm bar per epoch on stderr (default: only on a terminal)")
    g.add_argument("--log-format", default="text", choices=["text", "json"],
                   help="the line printed per finished epoch: readable text or the JSON record")
    g.add_argument("--tensorboard", nargs="?", const="", default=None, metavar="DIR",
                   help="write TensorBoard logs to DIR (bare flag: --out/tensorboard); needs "
                   "pip install 'losskit[tensorboard]'")
    g.add_argument("--data-arg", action="append", metavar="KEY=VALUE",
                   help="dataset keyword argument (repeatable, or KEY=VALUE,KEY=VALUE; VALUE "
                   "parsed as JSON if it can be)")
    g.add_argument("--augment", nargs="?", const="crop-flip", default=None, metavar="RECIPE",
                   help="augment training images: crop-flip (bare flag; the CIFAR recipe: pad "
                   "4, random crop, horizontal flip)")
    g.add_argument("--num-workers", type=int, default=0,
                   help="DataLoader worker processes for data that is not in memory (folder, "
                   "csv, transforms)")
    g.add_argument("--pin-memory", action="store_true", default=False,
                   help="DataLoader pin_memory (faster copies to a GPU)")
    g.add_argument("--persistent-workers", action="store_true", default=False,
                   help="keep DataLoader workers alive between epochs (needs --num-workers)")
    g.add_argument("--model-arg", action="append", metavar="KEY=VALUE",
                   help="model keyword argument (repeatable)")
    g.add_argument("--method-arg", action="append", metavar="KEY=VALUE",
                   help="method keyword argument (repeatable)")
    g.add_argument("--nproc", type=int, default=1,
                   help="spawn N processes on this machine (DDP; or launch with torchrun)")
    _add_method_flags(p.add_argument_group("method options"))


def config_from_args(args: argparse.Namespace) -> Any:
    from losskit.train import METHODS, TrainConfig

    if args.method not in METHODS:
        raise UsageError(
            f"unknown method {args.method!r}; expected one of: {', '.join(METHODS.names())}"
        )
    base = getattr(args, "config_base", None) or {}  # from --config: fields without a flag
    method_kwargs = dict(base.get("method_kwargs", {})) if base.get("method") == args.method else {}
    method_kwargs.update(_parse_pairs(args.method_arg, "--method-arg"))
    for flag, method, f in method_flags():
        value = getattr(args, _dest(flag), None)
        if value is None:
            continue
        if method != args.method:
            raise UsageError(f"{flag} applies to --method {method}, not {args.method!r}")
        method_kwargs[f.name] = value
    extra = {k: base[k] for k in ("step_size", "gamma", "eval_batch_size", "input_key",
                                  "target_key", "task", "num_classes") if k in base}
    return TrainConfig(
        data=args.data,
        model=args.model,
        method=args.method,
        data_kwargs={**(base.get("data_kwargs", {}) if base.get("data") == args.data else {}),
                     **_parse_pairs(args.data_arg, "--data-arg", joined=True)},
        model_kwargs={**(base.get("model_kwargs", {}) if base.get("model") == args.model else {}),
                      **_parse_pairs(args.model_arg, "--model-arg")},
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
        augment=args.augment,
        num_workers=args.num_workers,
        pin_memory=args.pin_memory,
        persistent_workers=args.persistent_workers,
        **extra,
    )


def defaults_from_config_file(path: str) -> dict[str, Any]:
    """``losskit train`` defaults that re-create the run recorded in ``path`` (a run
    directory's ``config.json``): flag dests → values, plus ``config_base`` (the whole config,
    for the fields without a flag and the keyword dicts)."""
    from losskit.train import TrainConfig

    try:
        raw = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"--config {path!r} cannot be read as JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise UsageError(f"--config {path!r} must hold a JSON object (a run's config.json)")
    for key in ("versions", "world_size", "per_process_batch_size"):  # how it ran, not config
        raw.pop(key, None)
    try:
        fields = TrainConfig.from_dict(raw).all_fields()
    except (TypeError, ValueError) as exc:
        raise UsageError(f"--config {path!r}: {exc}") from exc
    defaults: dict[str, Any] = {"config_base": fields}
    for field, value in fields.items():  # resume comes from this command's --no-resume
        dest = flag_of(field)[2:].replace("-", "_")
        if dest not in ("no_resume", "data_arg", "model_arg", "method_arg"):
            defaults[dest] = value
    return {k: v for k, v in defaults.items() if k in _TRAIN_DESTS or k == "config_base"}


_TRAIN_DESTS: set[str] = set()


def _check_kwargs(config: Any) -> None:
    """Unknown --data-arg / --model-arg / --method-arg keys, before anything is built."""
    from losskit import data, models
    from losskit.train import METHODS

    for key in ("input_shape", "num_classes"):
        if key in config.model_kwargs:
            raise UsageError(f"--model-arg {key} is set from the dataset; leave it out")
    for kwargs, registry, name, field in (
        (config.data_kwargs, data.DATASETS, config.data, "data_kwargs"),
        (config.model_kwargs, models.MODELS, config.model, "model_kwargs"),
        (config.method_kwargs, METHODS, config.method, "method_kwargs"),
    ):
        try:
            registry.check_kwargs(name, kwargs)
        except ConfigError as exc:
            raise UsageError(f"{flag_of(field)}: {exc}") from exc


def _check_method(config: Any) -> None:
    """The method's options, parsed and checked before anything is built or launched; the
    error names the option's flag."""
    from losskit.train.trainer import build_method

    try:
        with user_input():
            build_method(config)
    except ConfigError as exc:
        text = str(exc)
        for flag, method, f in method_flags():
            names = {f.name, f.metadata.get("core", f.name)}
            if method == config.method and any(text.startswith(n + " ") for n in names):
                name = next(n for n in names if text.startswith(n + " "))
                raise UsageError(flag + text[len(name):]) from exc
        raise UsageError(f"--method {config.method}: {text}") from exc


def _check_names(config: Any) -> None:
    from losskit import data, models

    for kind, registry, name in (("data", data, config.data), ("model", models, config.model)):
        if name not in registry.names():
            raise UsageError(
                f"unknown --{kind} {name!r}; expected one of: {', '.join(registry.names())}"
            )


def cmd_train(args: argparse.Namespace) -> int:
    from losskit import launch

    config = config_from_args(args)
    _check_names(config)
    _check_kwargs(config)
    _check_method(config)
    tensorboard = args.tensorboard
    if tensorboard == "":
        if config.out_dir is None:
            raise UsageError("--tensorboard without DIR writes to --out DIR/tensorboard; give "
                             "--tensorboard DIR or --out DIR")
        tensorboard = str(Path(config.out_dir) / "tensorboard")
    if args.nproc < 1:
        raise UsageError(f"--nproc must be an integer ≥ 1, got {args.nproc}")
    if args.nproc > 1:
        if launch.launched_by_torchrun():
            raise UsageError("--nproc spawns processes itself; under torchrun leave it out")
        return launch.launch(config, args.nproc, train_and_report, log_format=args.log_format,
                             tensorboard=tensorboard)
    if launch.launched_by_torchrun():
        return launch.run_from_env(config, train_and_report, log_format=args.log_format,
                                   tensorboard=tensorboard)
    return train_and_report(config, args.log_format, tensorboard)


def train_and_report(config: Any, log_format: str = "text", tensorboard: str | None = None
                     ) -> int:
    """Train ``config`` as ``losskit train`` does (also in each ``--nproc`` / torchrun
    process): epoch lines, resume / finished / interrupted messages, the final line."""
    from losskit.train import Trainer
    from losskit.train.callbacks import ConsoleLogger

    trainer = None
    try:
        with user_input():
            callbacks: list[Any] = [ConsoleLogger(log_format)]
            if tensorboard is not None:
                from losskit.integrations.tensorboard import TensorBoardLogger

                callbacks.append(TensorBoardLogger(tensorboard))
            trainer = Trainer(config, callbacks=callbacks)
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
    :class:`~losskit.errors.OutputError` that also says what the run directory still holds.
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


def cmd_list(args: argparse.Namespace) -> int:
    from losskit import data, losses, models
    from losskit.experiments import EXPERIMENTS
    from losskit.train import METHODS
    from losskit.uniloss import METRICS

    sections: list[tuple[str, Any]] = [
        ("losses", losses.LOSSES),
        ("models", models.MODELS),
        ("datasets", data.DATASETS),
        ("methods", METHODS),
        ("uniloss metrics", METRICS),
        ("experiments", EXPERIMENTS),
    ]
    for title, registry in sections:
        print(f"{title}:")
        for name, help_text in registry.describe().items():
            status = data.availability(name) if registry is data.DATASETS else ""
            print(f"  {name:<22} {help_text}" + (f" [{status}]" if status else ""))
    return 0


def _missing_datasets(experiments: Sequence[Any]) -> list[str]:
    """'NAME (HOW TO INSTALL)' for each dataset the experiments use that is not installed."""
    from losskit import data

    names = sorted({e.config(v.name, e.seeds[0]).data for e in experiments for v in e.variants})
    return [f"{n} ({data.availability(n)})" for n in names
            if data.availability(n).startswith("not installed")]


def cmd_reproduce(args: argparse.Namespace) -> int:
    from losskit.experiments import reproduce
    from losskit.experiments.backends import check_backend
    from losskit.experiments.catalog import smoke_experiments

    check_backend(args.backend)  # before planning: a missing Ray is one line, exit 2
    if args.address and args.backend != "ray":
        raise UsageError("--address is for --backend ray (the address of a Ray cluster)")
    suite = smoke_experiments() if args.suite == "smoke" else args.suite
    with user_input():
        from losskit.experiments.spec import check_methods, resolve

        exps = resolve(suite)
        check_methods(exps)
    missing = [] if args.dry_run and args.no_estimate else _missing_datasets(exps)
    if missing:
        raise UsageError(f"the suite needs {', '.join(missing)}")
    return reproduce(suite, results=args.results, jobs=args.jobs, report_dir=args.report,
                     dry_run=args.dry_run, calibrate=not args.no_estimate,
                     budget_hours=args.budget_hours, backend=args.backend,
                     address=args.address, mixed_versions=args.mixed_versions)


def cmd_report(args: argparse.Namespace) -> int:
    from losskit.experiments.report import build_report

    if not Path(args.results).is_file():
        raise UsageError(f"results file {args.results!r} does not exist (run `losskit "
                         "reproduce` first)")
    experiments = None
    if args.suite:
        with user_input():
            from losskit.experiments import resolve

            experiments = resolve(args.suite)
    path = build_report(args.results, args.out, experiments=experiments,
                        mixed_versions=args.mixed_versions)
    print(f"report written to {path}")
    if args.readme:
        from losskit.experiments.report import readme_table, update_readme

        table = readme_table(args.results, experiments, mixed_versions=args.mixed_versions)
        suite = f" --suite {args.suite}" if args.suite else ""
        mixed = " --mixed-versions" if args.mixed_versions else ""
        header = (
            f"Generated by `losskit report {args.results} --out {args.out}{suite}{mixed} "
            f"--readme {args.readme}` (full report: `{Path(args.out) / 'report.md'}`). Means "
            "over seeds ± half-width of the 95% t interval (clipped to the metric's range: ‡); "
            "Δ is the paired difference to the row in \"vs\" over the same seeds.\n\n"
        )
        changed = update_readme(args.readme, header + table)
        print(f"{args.readme} results section {'updated' if changed else 'unchanged'}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from losskit import models
    from losskit._validation import split_list
    from losskit.bench import SUITES, run_bench

    if args.what not in SUITES:
        raise UsageError(f"unknown benchmark {args.what!r}; expected one of: {', '.join(SUITES)}")
    with user_input():
        names = tuple(split_list(args.models, "--models"))
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
    history = []
    for i, line in enumerate(metrics.read_text(errors="replace").splitlines(), 1):
        try:
            history += [json.loads(line)] if line.strip() else []
        except json.JSONDecodeError as exc:
            raise UsageError(f"{metrics}: line {i} is not JSON ({exc.msg}); it holds one record "
                             "per epoch (train again with --out to rewrite it)") from exc
    out = Path(args.out) if args.out else run_dir / f"{args.kind}.png"
    if args.kind == "slf":
        from losskit.slf.plot import plot_selection_trace as plot_fn
    else:
        from losskit.mils.plot import plot_success as plot_fn
    with user_input():  # a run of another method: no trace to plot
        plot_fn(history, out)
    print(f"plot written to {out}")
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse's errors as one line (no usage block) through :func:`main`: exit code 2."""

    def error(self, message: str) -> Any:  # type: ignore[override]
        raise UsageError(f"{message} (see `{self.prog} --help`)")


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Shows each option's default (a method option's: in its help, from its declaration)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "%(default)" in text or not action.option_strings:
            return text
        default = action.default
        if default in (None, False, argparse.SUPPRESS) or "(default:" in text:
            return text
        return f"{text} (default: {str(default).replace('%', '%%')})"


class _VersionAction(argparse.Action):
    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS,
                 default: Any = argparse.SUPPRESS, help: str | None = None) -> None:
        super().__init__(option_strings, dest, default=default, nargs=0, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> None:
        from losskit.environment import versions

        v = versions()
        git = f", git {v['git_commit']}" if v["git_commit"] else ""
        print(f"losskit {v['losskit']} (torch {v['torch']}, python {v['python']}{git})")
        parser.exit()


def build_parser(train_defaults: dict[str, Any] | None = None) -> argparse.ArgumentParser:
    """The ``losskit`` parser; ``train_defaults`` replace ``train``'s defaults (``--config``)."""
    parser = _Parser(
        prog="losskit", description="Train neural networks with more than one loss.",
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("--version", action=_VersionAction,
                        help="print losskit, torch and python versions (and the git commit)")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, description=help, formatter_class=_HelpFormatter)

    p = add("list", "registered losses, models, datasets, methods, experiments")
    p.set_defaults(fn=cmd_list)
    p = add("train", "train one model")
    _add_train_args(p)
    _TRAIN_DESTS.update(a.dest for a in p._actions)
    p.set_defaults(fn=cmd_train, **(train_defaults or {}))
    p = add("reproduce", "plan a suite (run count, estimated time), run what is missing into "
                         "the results JSONL (resumable, one writer at a time), write the report")
    p.add_argument("suite", help="suite or experiment name(s), comma-separated: paper (MNIST, "
                                 "the papers' protocols), quick (Fashion-MNIST proxies), smoke, "
                                 "paper-full, all (= quick + paper-full), p1-slf-mlp, …")
    p.add_argument("--results", default="results/results.jsonl",
                   help="append-only JSONL of finished runs")
    p.add_argument("--report", default="results/report", help="report directory")
    p.add_argument("--jobs", type=int, default=2,
                   help="runs in parallel (processes or Ray tasks, each with cores/jobs "
                        "threads)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the plan and the estimated time, run nothing")
    p.add_argument("--no-estimate", action="store_true",
                   help="skip timing a few steps of each not yet measured configuration")
    p.add_argument("--budget-hours", type=float, default=None,
                   help="with --dry-run: exit 3 when the estimated wall time exceeds this")
    p.add_argument("--backend", default="local", choices=["local", "ray"],
                   help="where runs execute: local processes, or Ray tasks (pip install "
                        "'losskit[ray]'); this process alone writes the results file")
    p.add_argument("--address", default=None,
                   help="with --backend ray: an existing Ray cluster's address (default: a "
                        "local cluster started for this command)")
    p.add_argument("--mixed-versions", action="store_true",
                   help="let the report pair runs of different code versions (marked)")
    p.set_defaults(fn=cmd_reproduce)
    p = add("report", "Markdown + PNG report from a results JSONL")
    p.add_argument("results", help="results JSONL written by `losskit reproduce`")
    p.add_argument("--out", default="results/report", help="report directory")
    p.add_argument("--suite", default=None,
                   help="report these experiments/suites, in this order (default: every "
                        "experiment found in the file)")
    p.add_argument("--readme", default=None,
                   help="also rewrite this README's results section (between its markers)")
    p.add_argument("--mixed-versions", action="store_true",
                   help="pair runs of different code versions (default: refused; marked in "
                        "the tables)")
    p.set_defaults(fn=cmd_report)
    p = add("bench", "overhead benchmarks (ratios to a plain CE step)")
    p.add_argument("what", help="trainer | slf | uniloss | mils | scaling | all")
    p.add_argument("--steps", type=int, default=30, help="timed steps per case (≥ 20)")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    p.add_argument("--out", default=None,
                   help="directory for the Markdown table and PNG (default: print only)")
    p.add_argument("--models", default="mlp,lenet",
                   help="comma-separated models for the method suites (e.g. mlp,lenet,resnet8)")
    p.set_defaults(fn=cmd_bench)
    p = add("plot", "plot a run's method trace")
    p.add_argument("kind", choices=["slf", "mils"], help="which method's trace")
    p.add_argument("run_dir", help="a run directory (losskit train --out)")
    p.add_argument("--out", default=None, help="PNG path (default: RUN_DIR/KIND.png)")
    p.set_defaults(fn=cmd_plot)
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse ``argv``; with ``train --config FILE`` the file's values become the defaults."""
    args = build_parser().parse_args(argv)
    if getattr(args, "command", None) == "train" and args.config:
        args = build_parser(defaults_from_config_file(args.config)).parse_args(argv)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``losskit ARGV``; a user-caused failure is one line on stderr and exit code 2
    (:func:`user_error_line`), anything else propagates with its traceback."""
    with _warnings_as_lines():
        try:
            args = parse_args(argv)
            return int(args.fn(args) or 0)
        except (UserError, OSError) as exc:
            line = user_error_line(exc)
            if line is None:
                raise
            print(f"losskit: error: {line}", file=sys.stderr, flush=True)
            return EXIT_USAGE
        except KeyboardInterrupt:
            print("losskit: interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
