"""Registry: unknown names and unknown keyword arguments are ConfigErrors listing the valid."""

from __future__ import annotations

import pytest

from losskit.core.errors import ConfigError
from losskit.core.registry import Registry


def _registry() -> Registry:
    r: Registry = Registry("widget")

    @r.register("plain")
    def plain(size: int = 1, colour: str = "red") -> tuple:
        return size, colour

    @r.register("forwarding")
    def forwarding(name: str = "x", **kwargs):
        return plain(**kwargs)

    return r


def test_unknown_name_and_keyword_are_config_errors():
    r = _registry()
    assert r.get("plain", size=2) == (2, "red")
    with pytest.raises(ConfigError, match="unknown widget 'nope'; expected one of: forwarding"):
        r.get("nope")
    with pytest.raises(ConfigError, match="widget 'plain' has no argument 'colur'; expected one "
                                          "of: size, colour"):
        r.get("plain", colur="blue")
    assert r.parameters("plain") == ["size", "colour"] and r.parameters("forwarding") is None
    r.check_kwargs("forwarding", {"anything": 1})  # not knowable before the call
    with pytest.raises(ConfigError, match="widget 'forwarding' has no argument 'colur'"):
        r.get("forwarding", colur="blue")  # refused where it was forwarded to


def test_a_type_error_inside_a_factory_is_not_disguised():
    r: Registry = Registry("widget")

    @r.register("buggy")
    def buggy(size: int = 1):
        return len(size)  # a bug: TypeError that names no keyword of ours

    with pytest.raises(TypeError):
        r.get("buggy", size=3)
