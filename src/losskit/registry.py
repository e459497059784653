"""A tiny name → factory registry, so configs and the CLI can name things by string."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


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

    def register(
        self, name: str, help: str | None = None
    ) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator registering ``factory`` under ``name`` (lower-case, unique)."""

        def decorator(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._factories:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._factories[name] = factory
            doc = help or (factory.__doc__ or "").strip().splitlines()
            self._help[name] = doc if isinstance(doc, str) else (doc[0] if doc else "")
            return factory

        return decorator

    def _load_plugins(self) -> None:
        """Import every losskit subpackage, so names registered elsewhere become known."""
        from losskit.plugins import load_all

        load_all()

    def factory(self, name: str) -> Callable[..., T]:
        """The factory registered as ``name``; ``ValueError`` listing valid names otherwise.

        An unknown name first triggers :func:`losskit.plugins.load_all` (a method such as
        ``"slf"`` registers itself when ``losskit.slf`` is imported).
        """
        if not isinstance(name, str) or name not in self:
            raise ValueError(
                f"unknown {self.kind} {name!r}; expected one of: {', '.join(self.names())}"
            )
        return self._factories[name]

    def get(self, name: str, **kwargs: Any) -> T:
        """Build the object registered as ``name`` with ``kwargs``."""
        return self.factory(name)(**kwargs)

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
        return factory(**kwargs)

    def names(self) -> list[str]:
        self._load_plugins()
        return sorted(self._factories)

    def describe(self) -> dict[str, str]:
        """name → one-line description (for ``losskit list``)."""
        return {n: self._help[n] for n in self.names()}

    def __contains__(self, name: object) -> bool:
        if isinstance(name, str) and name not in self._factories:
            self._load_plugins()
        return name in self._factories

    def __len__(self) -> int:
        return len(self._factories)
