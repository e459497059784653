"""Import every subpackage so that its registrations (losses, models, datasets, methods,
metrics, experiments) run. Call :func:`load_all` before looking names up by string."""

from __future__ import annotations

import importlib

_SUBPACKAGES = (
    "losskit.losses",
    "losskit.models",
    "losskit.data",
    "losskit.train",
    "losskit.slf",
    "losskit.uniloss",
    "losskit.mils",
    "losskit.experiments",
)
_loaded = False


def load_all() -> None:
    """Import all subpackages once (idempotent)."""
    global _loaded
    if _loaded:
        return
    _loaded = True  # set first: a registry lookup during these imports must not recurse
    try:
        for name in _SUBPACKAGES:
            importlib.import_module(name)
    except BaseException:
        _loaded = False
        raise
