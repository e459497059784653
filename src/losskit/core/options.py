"""A method's parameters, declared once.

Each training method (:class:`~losskit.core.method.Method`) declares its parameters in one
:class:`Options` dataclass: name, type, default, a one-line help, how a string from the command
line or a config file becomes the typed value (``parse``) and how it is checked (``check``,
from :mod:`losskit.core._validation`). Everything else derives from it:

* the method's constructor (``SLFMethod(k=4)``; ``inspect.signature`` lists the options, so the
  registry refuses an unknown keyword naming the accepted ones);
* the ``losskit train`` flags, with their help and default (``--slf-k``; :func:`method_flag`), and
  the ``--method-arg KEY=VALUE`` / ``TrainConfig.method_kwargs`` / experiment-spec keys;
* the hyper-parameters ``LossKitModule`` saves for Lightning (:meth:`Options.as_dict`).

Parameters a method hands to its paper's core class are read from the core's signature
(:func:`core_options`): their default is the core's, never a copy.

>>> from dataclasses import dataclass
>>> @dataclass(frozen=True, kw_only=True)
... class ToyOptions(Options):
...     scale: float = option(1.0, "multiplies the loss", check=number(low=0.0))
>>> ToyOptions(scale="2.5").scale  # a string (CLI / config file) is parsed at the boundary
2.5
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import re
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

from losskit.core._validation import Check, number

__all__ = ["Options", "OptionSpec", "core_options", "default_of", "method_flag", "number", "option",
           "renamed", "specs"]


@dataclass(frozen=True)
class OptionSpec:
    """What the declaration says beyond name, type and default.

    ``help``: one line for ``--help`` (an option without help has no flag; it is still a
    keyword of the method and of ``--method-arg``). ``flag``: the command-line spelling when it
    is not ``--<method>-<name>``. ``parse``: ``str -> value`` at the CLI / config boundary
    (default: by the default's type: ``int``, ``float``, ``bool``; else the string itself).
    ``check``: ``check(value, name) -> value`` (a ``ValueError`` naming ``name``).
    ``aliases``: older command-line spellings, still accepted with a one-line deprecation
    warning. ``metavar``: the value's name in ``--help``. ``bare``: the value of the flag given
    without one (``--augment`` alone means ``crop-flip``; ``None``: a value is required).
    """

    help: str = ""
    flag: str | None = None
    parse: Callable[[str], Any] | None = None
    check: Check | None = None
    aliases: tuple[str, ...] = ()
    metavar: str | None = None
    bare: Any = None


def option(
    default: Any = MISSING,
    help: str = "",
    *,
    flag: str | None = None,
    parse: Callable[[str], Any] | None = None,
    check: Check | None = None,
    aliases: tuple[str, ...] = (),
    metavar: str | None = None,
    bare: Any = None,
) -> Any:
    """A dataclass field of an :class:`Options` declaration (see :class:`OptionSpec`); a
    ``dict`` default becomes a fresh empty dict per instance."""
    spec = OptionSpec(help, flag, parse, check, tuple(aliases), metavar, bare)
    if isinstance(default, dict):
        if default:
            raise TypeError("option: a dict default must be empty (each instance gets its own)")
        return field(default_factory=dict, metadata={"option": spec})
    return field(default=default, metadata={"option": spec})


def _parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected a boolean (true / false), got {text!r}")


def parser_of(f: dataclasses.Field[Any]) -> Callable[[str], Any] | None:
    """How a string becomes the value of option ``f`` (``None``: it stays a string)."""
    spec = spec_of(f)
    if spec.parse is not None:
        return spec.parse
    default = f.default
    if isinstance(default, bool):
        return _parse_bool
    if isinstance(default, (int, float)):
        return type(default)
    return None


def spec_of(f: dataclasses.Field[Any]) -> OptionSpec:
    return f.metadata.get("option", OptionSpec())


@dataclass(frozen=True, kw_only=True)
class Options:
    """Base of a method's option declaration (a frozen, keyword-only dataclass).

    Construction parses string values (the CLI / config boundary, :func:`parser_of`), runs
    each option's ``check``, then :meth:`validate` (checks across options).
    """

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            parse = parser_of(f)
            if isinstance(value, str) and parse is not None:
                try:
                    value = parse(value)
                except ValueError as exc:
                    raise ValueError(f"{f.name}: {exc}") from None
            check = spec_of(f).check
            if check is not None:  # an error names the core's argument where it is one
                value = check(value, f.metadata.get("core", f.name))
            object.__setattr__(self, f.name, value)
        self.validate()

    def validate(self) -> None:
        """Checks that involve several options (override)."""

    def as_dict(self) -> dict[str, Any]:
        """The option values (e.g. Lightning's hyper-parameters)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def specs(options: type[Options]) -> Iterator[tuple[dataclasses.Field[Any], OptionSpec]]:
    """The options of a declaration with their :class:`OptionSpec`, in declaration order."""
    for f in fields(options):
        yield f, spec_of(f)


def method_flag(method: str, f: dataclasses.Field[Any]) -> str:
    """The command-line flag of option ``f`` of ``method``, derived from the names:
    ``--<method>-<name>`` (``slf``'s ``val_loss`` → ``--slf-val-loss``), ``--<name>`` for the
    option named as its method (``loss``'s ``loss`` → ``--loss``). Older spellings are the
    option's ``aliases``."""
    name = f.name if f.name == method else f"{method}-{f.name}"
    return spec_of(f).flag or f"--{name}".replace("_", "-")


def default_of(f: dataclasses.Field[Any]) -> Any:
    """The declared default of field ``f`` (a fresh one for a ``default_factory``;
    ``MISSING`` when it has none)."""
    if f.default is MISSING and f.default_factory is not MISSING:
        return f.default_factory()
    return f.default


flag_of = method_flag  # its name before 0.2 (one flag rule per place: settings use setting_flag)


def signature_of(options: type[Options]) -> inspect.Signature:
    """The keyword-only constructor signature of a declaration (for ``inspect.signature``)."""
    params = []
    for f in fields(options):
        default = default_of(f)
        params.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY,
                                        default=inspect.Parameter.empty if default is MISSING
                                        else default, annotation=f.type))
    return inspect.Signature(params)


def core_options(
    core: Callable[..., Any],
    name: str,
    *,
    skip: tuple[str, ...] = (),
    rename: Mapping[str, str] | None = None,
    defaults: Mapping[str, Any] | None = None,
    help: Mapping[str, str] | None = None,
    aliases: Mapping[str, tuple[str, ...]] | None = None,
    parse: Mapping[str, Callable[[str], Any]] | None = None,
) -> type[Options]:
    """An :class:`Options` declaration of the parameters of ``core`` (a paper's core class): every
    keyword parameter of its signature except ``skip``, with the core's default (or
    ``defaults[name]`` where the method's differs), ``rename``-d where the method spells it
    otherwise, and ``help`` / ``aliases`` (deprecated flag spellings) / ``parse`` (by the
    method's name) for those shown on the command line (their flag: :func:`method_flag`). Each
    option is checked by the check the core declares for its parameter
    (:func:`~losskit.core._validation.checks` on the core's constructor), so a bad value fails when
    the method is built, not when the core is; a method's own options extend this class."""
    rename, defaults = dict(rename or {}), dict(defaults or {})
    help, aliases, parse = dict(help or {}), dict(aliases or {}), dict(parse or {})
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    declared = getattr(core.__init__ if isinstance(core, type) else core, "checks", {})
    made = []
    for p in inspect.signature(core).parameters.values():
        if p.kind not in kinds or p.name in skip or p.name == "self":
            continue
        if p.default is inspect.Parameter.empty:
            raise TypeError(f"core_options: {p.name!r} of {core.__qualname__} has no default; "
                            "skip it and declare it in the method's options")
        key = rename.get(p.name, p.name)
        spec = OptionSpec(help.pop(key, ""), None, parse.pop(key, None),
                          declared.get(p.name), tuple(aliases.pop(key, ())))
        made.append((key, Any, field(default=defaults.pop(key, p.default),
                                     metadata={"option": spec, "core": p.name})))
    leftover = sorted({*help, *aliases, *parse, *defaults})
    if leftover:
        raise TypeError(f"core_options: {core.__qualname__} has no parameter {leftover}")
    return dataclasses.make_dataclass(name, made, bases=(Options,), frozen=True, kw_only=True)


def core_kwargs(options: Options) -> dict[str, Any]:
    """The values of the options read from the core's signature (:func:`core_options`), by
    the core's parameter names: what the method passes to the core."""
    return {f.metadata["core"]: getattr(options, f.name) for f in fields(options)
            if "core" in f.metadata}



def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


_NEXT_PAIR = re.compile(r",(?=[A-Za-z_][\w-]*=)")


def key_values(text: str) -> dict[str, Any]:
    """``"KEY=VALUE"`` → ``{KEY: VALUE}`` (VALUE parsed as JSON when it can be; ``-`` in KEY
    read as ``_``): one ``--model-arg`` / ``--method-arg``."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ValueError(f"expects KEY=VALUE, got {text!r}")
    return {key.replace("-", "_"): _json_or_text(value)}


def joined_key_values(text: str) -> dict[str, Any]:
    """:func:`key_values` of ``KEY=VALUE,KEY=VALUE`` (a comma starts a new pair only before
    ``KEY=``): one ``--data-arg``."""
    out: dict[str, Any] = {}
    for part in _NEXT_PAIR.split(text):
        out.update(key_values(part))
    return out


def renamed(**old: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Keyword arguments renamed for one spelling across Python, CLI and specs: the decorated
    callable still takes each ``old`` spelling (``K=3`` for ``k=3``) with a
    ``DeprecationWarning``. The signature (``inspect.signature``) and the declared checks
    (``fn.checks``) are those of the new names."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def accepting_old(*args: Any, **kwargs: Any) -> Any:
            for before, now in old.items():
                if before in kwargs:
                    if now in kwargs:
                        raise TypeError(f"{before}= and {now}= name the same argument; give "
                                        f"{now}=")
                    warnings.warn(f"{before}= is deprecated; use {now}=", DeprecationWarning,
                                  stacklevel=2)
                    kwargs[now] = kwargs.pop(before)
            return fn(*args, **kwargs)

        accepting_old.renamed = dict(old)  # type: ignore[attr-defined]
        return accepting_old

    return decorate
