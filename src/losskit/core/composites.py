"""Composite loss names ``"<prefix>:<argument>"``: a loss built by another package from a
string, e.g. MILS's auxiliaries ``--aux uniloss:accuracy,slf:ce+mae``.

The package that provides a composite loss registers its prefix here (``losskit.slf``
registers ``"slf"``, ``losskit.uniloss`` registers ``"uniloss"``, from their method modules,
so importing the package is enough); a core that accepts loss names (MILS) resolves
``"prefix:arg"`` through :func:`build_composite` without importing the provider. A
foundation module: it imports no paper core.

>>> from losskit.core.composites import COMPOSITE_LOSSES, build_composite
>>> _ = COMPOSITE_LOSSES.register("twice", lambda arg, context, name: (arg, arg),
...                               help="twice:<anything>")
>>> build_composite("twice: ab", {})
('ab', 'ab')
>>> COMPOSITE_LOSSES.unregister("twice")
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: ``factory(argument, context, name) -> loss``: ``argument`` is the text after the colon
#: (stripped), ``context`` the model's ``num_classes`` / ``feature_dim`` (as for
#: ``losses.build``), ``name`` the whole name (for messages)
CompositeFactory = Callable[[str, dict[str, Any], str], Any]


class CompositeRegistry:
    """Prefix → factory of composite losses, each with its syntax (shown in messages)."""

    def __init__(self) -> None:
        self._factories: dict[str, CompositeFactory] = {}
        self._syntax: dict[str, str] = {}

    def register(self, prefix: str, factory: CompositeFactory, *, help: str) -> CompositeFactory:
        """Register ``factory`` for names ``"<prefix>:…"``; ``help``: the syntax, e.g.
        ``"slf:<loss>+<loss>+…"``. ``ValueError`` when the prefix is taken."""
        if not prefix or ":" in prefix or prefix != prefix.strip():
            raise ValueError(f"prefix must be a non-empty name without ':', got {prefix!r}")
        if prefix in self._factories:
            raise ValueError(f"composite loss prefix {prefix!r} is already registered")
        self._factories[prefix] = factory
        self._syntax[prefix] = help
        return factory

    def unregister(self, prefix: str) -> None:
        """Forget ``prefix`` (tests, plug-ins that are unloaded)."""
        self._factories.pop(prefix, None)
        self._syntax.pop(prefix, None)

    def prefixes(self) -> list[str]:
        return sorted(self._factories)

    def __contains__(self, prefix: object) -> bool:
        return prefix in self._factories

    def build(self, name: str, context: dict[str, Any]) -> Any:
        """The loss named ``"<prefix>:<argument>"``; ``ValueError`` naming the registered
        syntaxes for an unknown prefix."""
        prefix, _, arg = name.partition(":")
        prefix, arg = prefix.strip(), arg.strip()
        if prefix not in self._factories:
            known = " or ".join(repr(self._syntax[p]) for p in self.prefixes()) or "none"
            raise ValueError(
                f"unknown loss {name!r}; composite losses are {known} (a package registers "
                "its prefix when it is imported, e.g. losskit.slf, losskit.uniloss)"
            )
        return self._factories[prefix](arg, context, name)


#: the composite losses of this process (filled by the providing packages on import)
COMPOSITE_LOSSES = CompositeRegistry()


def is_composite(name: str) -> bool:
    """Whether ``name`` has the composite form ``"<prefix>:<argument>"``."""
    return ":" in name


def build_composite(name: str, context: dict[str, Any]) -> Any:
    """:meth:`CompositeRegistry.build` of :data:`COMPOSITE_LOSSES`."""
    return COMPOSITE_LOSSES.build(name, context)
