"""``losskit`` command line: ``list | train | reproduce | report | bench | plot``.

A failure the user caused gives one line ``losskit: error: …`` on stderr and exit code 2, mapped
in one place (:func:`main`, :func:`user_error_line`): a :class:`~losskit.core.errors.UserError` — a
bad name, value or file (:class:`~losskit.core.errors.ConfigError`, raised where input
becomes objects: :func:`user_input`; it names the flag and the valid choices), a place that
cannot be written
(:class:`~losskit.core.errors.OutputError`), a missing optional extra
(:class:`~losskit.core.errors.MissingDependencyError`) —, a bad flag (argparse's own errors), or an
``OSError`` about a file or folder the user chose (no permission, disk full, read-only, a file
where a folder should be). Any other exception is a bug: traceback, exit code 1.
:class:`~losskit.core.errors.LossKitWarning` s are printed once each as ``losskit: warning: …``.

``losskit train`` prints one flushed line per finished epoch (``--log-format text|json``) and,
on a terminal, a tqdm bar per epoch. Under ``torchrun`` (``RANK`` / ``WORLD_SIZE`` set) it joins
the process group and trains with DDP; ``--nproc N`` spawns N such processes itself.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from losskit.cli.commands import (
    add_commands,
    cmd_bench,
    cmd_list,
    cmd_plot,
    cmd_report,
    cmd_reproduce,
)
from losskit.cli.errors import (
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    ConfigError,
    _warnings_as_lines,
    user_error_line,
    user_input,
)
from losskit.cli.flags import (
    FlagDeprecationWarning,
    _parse_pairs,
    config_from_args,
    defaults_from_config_file,
    method_flags,
    setting_flag,
)
from losskit.cli.train import add_train_args, cmd_train, train_and_report
from losskit.core.errors import UserError

__all__ = ["EXIT_INTERRUPTED", "EXIT_USAGE", "FlagDeprecationWarning", "ConfigError",
           "_parse_pairs", "build_parser", "cmd_bench", "cmd_list", "cmd_plot", "cmd_report",
           "cmd_reproduce", "cmd_train", "config_from_args", "defaults_from_config_file",
           "setting_flag", "main", "method_flags", "parse_args", "train_and_report",
           "user_error_line", "user_input"]


class _Parser(argparse.ArgumentParser):
    """argparse's errors as one line (no usage block) through :func:`main`: exit code 2."""

    def error(self, message: str) -> Any:  # type: ignore[override]
        raise ConfigError(f"{message} (see `{self.prog} --help`)")


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
        from losskit.core.environment import versions

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
    add_train_args(p)
    p.set_defaults(fn=cmd_train, **(train_defaults or {}))
    add_commands(add)
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
