"""A tiny name → factory registry, so configs and the CLI can name things by string."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from losskit.core.errors import ConfigError

T = TypeVar("T")
_UNEXPECTED_KWARG = re.compile(r"unexpected keyword argument '(\w+)'")


class Registry(Generic[T]):
    """Maps names to factories (classes or functions).

    >>> r = Registry("loss")
    >>> @r.register("ce")
    ... class CE: ...
    >>> r.names()
    ['ce']
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._factories: dict[str, Callable[..., T]] = {}
        self._help: dict[str, str] = {}

    def register(self, name: str, factory: Callable[..., T] | None = None, *,
                 help: str | None = None) -> Any:
        """Register ``factory`` under ``name`` (lower-case, unique): ``r.register(name, fn)``,
        or as a decorator ``@r.register(name)``. ``help``: the one-line description (default:
        the first line of the factory's docstring)."""

        def decorator(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._factories:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._factories[name] = factory
            doc = help or (factory.__doc__ or "").strip().splitlines()
            self._help[name] = doc if isinstance(doc, str) else (doc[0] if doc else "")
            return factory

        return decorator if factory is None else decorator(factory)

    def factory(self, name: str) -> Callable[..., T]:
        """The factory registered as ``name``; ``ValueError`` listing valid names otherwise."""
        if not isinstance(name, str) or name not in self:
            raise ConfigError(
                f"unknown {self.kind} {name!r}; expected one of: {', '.join(self.names())}"
            )
        return self._factories[name]

    def parameters(self, name: str) -> list[str] | None:
        """Keyword arguments the factory of ``name`` accepts; ``None`` when it also takes
        ``**kwargs`` (and forwards them, so the accepted set is not known in advance)."""
        params = inspect.signature(self.factory(name)).parameters.values()
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
            return None
        kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        return [p.name for p in params if p.kind in kinds]

    def check_kwargs(self, name: str, kwargs: dict[str, Any]) -> None:
        """:class:`~losskit.core.errors.ConfigError` naming the first keyword that ``name``'s
        factory does not accept, with the accepted ones."""
        if not kwargs:
            return
        accepted = self.parameters(name)
        unknown = [] if accepted is None else [k for k in kwargs if k not in accepted]
        if unknown:
            raise ConfigError(
                f"{self.kind} {name!r} has no argument {unknown[0]!r}; expected one of: "
                f"{', '.join(accepted or [])}"
            )

    def _call(self, name: str, kwargs: dict[str, Any]) -> T:
        self.check_kwargs(name, kwargs)
        try:
            return self._factories[name](**kwargs)
        except TypeError as exc:  # a keyword forwarded through **kwargs and refused there
            match = _UNEXPECTED_KWARG.search(str(exc))
            if match is None or match.group(1) not in kwargs:
                raise
            raise ConfigError(f"{self.kind} {name!r} has no argument {match.group(1)!r} ({exc})"
                              ) from exc

    def get(self, name: str, **kwargs: Any) -> T:
        """Build the object registered as ``name`` with ``kwargs`` (an unknown keyword is a
        :class:`~losskit.core.errors.ConfigError` listing the accepted ones)."""
        self.factory(name)
        return self._call(name, kwargs)

    def build(self, name: str, context: dict[str, Any] | None = None, **kwargs: Any) -> T:
        """Build ``name`` with ``kwargs`` plus those ``context`` entries its factory accepts.

        The Trainer passes context such as ``num_classes`` and ``feature_dim``; a loss that
        needs them (center, L-GM) takes them, one that does not is not bothered.
        """
        factory = self.factory(name)
        if context:
            params = inspect.signature(factory).parameters
            takes_all = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
            for key, value in context.items():
                if key not in kwargs and (takes_all or key in params):
                    kwargs[key] = value
        return self._call(name, kwargs)

    def names(self) -> list[str]:
        return sorted(self._factories)

    def items(self) -> list[tuple[str, Callable[..., T]]]:
        """``(name, factory)`` in registration order."""
        return list(self._factories.items())

    def describe(self) -> dict[str, str]:
        """name → one-line description (for ``losskit list``)."""
        return {n: self._help[n] for n in self.names()}

    def __contains__(self, name: object) -> bool:
        return name in self._factories

    def __len__(self) -> int:
        return len(self._factories)
