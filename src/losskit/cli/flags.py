"""``losskit train``'s flags, derived from the declarations: one per
:class:`~losskit.train.config.TrainConfig` field (:func:`~losskit.train.config.setting`: its
spelling, help, default and parse) and one per method option with help
(:mod:`losskit.core.options`), plus the deprecated spellings each declares (accepted with a
one-line ``losskit: warning: … is deprecated``)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import warnings
from pathlib import Path
from typing import Any

from losskit.cli.errors import ConfigError
from losskit.core.errors import LossKitWarning


class FlagDeprecationWarning(LossKitWarning, DeprecationWarning):
    """A command-line flag was given in an older spelling (it still works)."""


# ------------------------------------------------------------------------------ run settings
def setting_flag(field: str) -> str:
    """The command-line flag of TrainConfig field ``field``
    (:func:`losskit.train.config.setting_flag`; imported when needed: ``losskit --version`` stays
    light)."""
    from losskit.train.config import setting_flag as declared

    return declared(field)


def _shown(default: Any) -> str:
    return "" if default in (None, False, "") else (
        f" (default: {'yes' if default is True else default})")


def add_run_flags(group: argparse._ArgumentGroup) -> None:
    """One flag per TrainConfig field (dest: the field's name): a dict field collects
    ``KEY=VALUE`` items (its ``parse``), a bool is ``--x / --no-x``, a field with ``bare``
    may be given without a value; the rest take one value parsed by the declaration."""
    from losskit.core.options import default_of, parser_of
    from losskit.train.config import settings

    for f, spec in settings():
        flag, default = setting_flag(f.name), default_of(f)
        text = spec.help.replace("%", "%%")
        if isinstance(default, dict):
            group.add_argument(flag, dest=f.name, action="append", default=None,
                               metavar=spec.metavar, help=text)
        elif isinstance(default, bool) or f.type == "bool | None":
            group.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction,
                               default=default, help=text)
        elif spec.bare is not None:
            group.add_argument(flag, dest=f.name, nargs="?", const=spec.bare, default=default,
                               metavar=spec.metavar, help=text)
        else:
            group.add_argument(flag, dest=f.name, type=parser_of(f), default=default,
                               metavar=spec.metavar, help=text)


def _parse_items(field: str, items: list[str] | None) -> dict[str, Any]:
    """A dict field's ``KEY=VALUE`` items through its declared ``parse``."""
    from losskit.core.options import spec_of
    from losskit.train.config import TrainConfig

    parse = spec_of(TrainConfig.__dataclass_fields__[field]).parse
    assert parse is not None
    out: dict[str, Any] = {}
    for item in items or []:
        try:
            out.update(parse(item))
        except ValueError as exc:
            raise ConfigError(f"{setting_flag(field)} {exc}") from None
    return out


def _parse_pairs(pairs: list[str] | None, flag: str, joined: bool = False) -> dict[str, Any]:
    """``KEY=VALUE`` items (VALUE parsed as JSON when it can be); ``joined``: one item may hold
    several (:func:`~losskit.core.options.joined_key_values`)."""
    from losskit.core.options import joined_key_values, key_values

    out: dict[str, Any] = {}
    for item in pairs or []:
        try:
            out.update((joined_key_values if joined else key_values)(item))
        except ValueError as exc:
            raise ConfigError(f"{flag} {exc}") from None
    return out


# --------------------------------------------------------------------------- method options
def method_flags() -> list[tuple[str, str, Any]]:
    """``(flag, method, option field)`` of every registered method's options that have help
    (:mod:`losskit.core.options`): derived from the declarations, in registration order."""
    from losskit.core.options import method_flag as option_flag
    from losskit.core.options import specs
    from losskit.train import METHODS

    return [(option_flag(method, f), method, f) for method, factory in METHODS.items()
            for f, spec in specs(factory.Options) if spec.help]


def _dest(flag: str) -> str:
    return flag[2:].replace("-", "_")


def _deprecated(action: type[argparse.Action], new: str) -> type[argparse.Action]:
    """``action`` that first warns that the spelling used is deprecated in favour of ``new``
    (``--no-x`` of a ``--x / --no-x`` pair: ``--no-`` + ``new``)."""

    class Deprecated(action):  # type: ignore[valid-type, misc]
        def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                     values: Any, option_string: str | None = None) -> None:
            instead = new
            if option_string and option_string.startswith("--no-") and not any(
                    s == option_string for s in self.option_strings[:1]):
                instead = "--no-" + new[2:]
            warnings.warn(f"{option_string} is deprecated; use {instead}",
                          FlagDeprecationWarning, stacklevel=2)
            super().__call__(parser, namespace, values, option_string)

    return Deprecated


def add_method_flags(group: argparse._ArgumentGroup) -> None:
    """One flag per declared option, ``[method] help (default: …)``, and its deprecated
    spellings (hidden; they warn); ``None`` (not given) leaves the method's default."""
    from losskit.core.options import parser_of, spec_of

    for flag, method, f in method_flags():
        spec, default = spec_of(f), f.default
        text = f"[{method}] {spec.help}{_shown(default)}".replace("%", "%%")
        dest = _dest(flag)
        if isinstance(default, bool):
            kind: type[argparse.Action] = (argparse.BooleanOptionalAction if default
                                           else argparse._StoreConstAction)
            extra: dict[str, Any] = {} if default else {"const": True}
        else:
            kind = argparse._StoreAction
            parse = parser_of(f)  # numbers are checked here; other text is parsed by the method
            extra = {"type": parse if parse in (int, float) else None}
        group.add_argument(flag, dest=dest, action=kind, default=None, help=text, **extra)
        for alias in spec.aliases:
            group.add_argument(alias, dest=dest, action=_deprecated(kind, flag), default=None,
                               help=argparse.SUPPRESS, **extra)


# ------------------------------------------------------------------------ flags → TrainConfig
def config_from_args(args: argparse.Namespace) -> Any:
    """The :class:`~losskit.train.config.TrainConfig` of ``losskit train``'s parsed flags:
    every field from its flag (with ``--config``: the file's values are the flags' defaults,
    its keyword dicts the base of ``--data-arg`` / ``--model-arg`` / ``--method-arg`` while
    the name is the same), method options into ``method_kwargs``."""
    from losskit.train import METHODS, TrainConfig
    from losskit.train.config import settings

    if args.method not in METHODS:
        raise ConfigError(
            f"unknown method {args.method!r}; expected one of: {', '.join(METHODS.names())}"
        )
    base = getattr(args, "config_base", None) or {}  # from --config
    values: dict[str, Any] = {}
    for f, _ in settings():
        if f.name.endswith("_kwargs"):
            owner = f.name[:-len("_kwargs")]  # data, model, method: the keywords' owner
            same = base.get(owner) == getattr(args, owner)
            values[f.name] = {**(base.get(f.name, {}) if same else {}),
                              **_parse_items(f.name, getattr(args, f.name))}
        else:
            values[f.name] = getattr(args, f.name)
    for flag, method, f in method_flags():
        value = getattr(args, _dest(flag), None)
        if value is None:
            continue
        if method != args.method:
            raise ConfigError(f"{flag} applies to --method {method}, not {args.method!r}")
        values["method_kwargs"][f.name] = value
    return TrainConfig(**values)


#: the dests of ``losskit train``'s flags (filled when the parser is built)
TRAIN_DESTS: set[str] = set()


def defaults_from_config_file(path: str) -> dict[str, Any]:
    """``losskit train`` defaults that re-create the run recorded in ``path`` (a run
    directory's ``config.json``): each field's value as its flag's default (``resume`` comes
    from this command), plus ``config_base`` (the whole config, whose keyword dicts are the
    base of the ``--*-arg`` flags)."""
    from losskit.train import TrainConfig

    try:
        raw = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--config {path!r} cannot be read as JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"--config {path!r} must hold a JSON object (a run's config.json)")
    for key in ("versions", "world_size", "per_process_batch_size"):  # how it ran, not config
        raw.pop(key, None)
    try:
        fields = TrainConfig.from_dict(raw).all_fields()
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"--config {path!r}: {exc}") from exc
    defaults: dict[str, Any] = {"config_base": fields}
    kwargs = {f.name for f in dataclasses.fields(TrainConfig) if f.name.endswith("_kwargs")}
    for field, value in fields.items():
        if field not in kwargs and field != "resume" and field in TRAIN_DESTS:
            defaults[field] = value
    return defaults
