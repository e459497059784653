"""The shared base moved into ``losskit.core``; every old import path still works and is the
very same module (so ``monkeypatch.setattr`` on either reaches both)."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

#: old path under ``losskit.`` → module in ``losskit.core`` (the one list; test_imports uses it)
MOVED = {m: m for m in ("registry", "step", "options", "method", "_validation", "_random",
                        "locking", "_io", "errors", "environment", "distributed", "composites")}
MOVED["metrics"] = "ranking"
CORE = Path(__file__).resolve().parents[2] / "src" / "losskit" / "core"


@pytest.mark.parametrize("old", sorted(MOVED))
def test_old_path_is_the_core_module(old):
    new = importlib.import_module(f"losskit.core.{MOVED[old]}")
    assert importlib.import_module(f"losskit.{old}") is new
    assert getattr(importlib.import_module("losskit"), old) is new  # `from losskit import x`


def test_every_core_module_is_listed():
    on_disk = {p.stem for p in CORE.glob("*.py")} - {"__init__", "labels"}  # labels: new
    assert on_disk == set(MOVED.values())


def test_renamed_twin_keeps_its_old_path():
    from losskit.mils import counters, stats

    assert stats is counters and counters.MILSStats.__module__ == "losskit.mils.counters"


def test_old_paths_work_in_a_fresh_interpreter_before_the_new_ones():
    """An alias imported first (no ``losskit.core`` import yet) still gives the core module,
    and pickled errors keep their class."""
    code = ("import pickle, losskit.errors as e, losskit.core.errors as c; assert e is c; "
            "err = pickle.loads(pickle.dumps(e.ConfigError('x must be > 0', 'x'))); "
            "assert type(err) is c.ConfigError and err.field == 'x'; "
            "from losskit.step import train_step; from losskit.core.step import train_step as t; "
            "assert train_step is t")
    subprocess.run([sys.executable, "-c", code], check=True)
