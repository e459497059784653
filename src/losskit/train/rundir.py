"""The run directory's files: checkpoints (atomic, checked on load) and flattened metric rows."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from losskit.core.errors import ConfigError


def flatten_record(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, dict):
            flat.update(flatten_record(value, f"{prefix}{key}."))
        elif isinstance(value, (list, tuple)):
            flat[f"{prefix}{key}"] = json.dumps(value)
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def atomic_torch_save(obj: Any, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def unreadable_checkpoint(path: Path, why: str | Exception) -> ConfigError:
    if isinstance(why, Exception):  # torch's whole message, on one line (never cut mid-word)
        why = " ".join([f"{type(why).__name__}:", *str(why).split()]).rstrip(":")
    return ConfigError(
        f"checkpoint {str(path)!r} cannot be resumed ({why}); delete it or pass --no-resume "
        "(resume=False) to start the run over", "resume",
    )


def load_checkpoint(path: Path, device: torch.device) -> dict[str, Any]:
    """The state saved in ``path``; a truncated, empty or foreign file is a
    :class:`~losskit.core.errors.ConfigError` naming it (never a raw unpickling traceback)."""
    try:
        state = torch.load(path, map_location=device, weights_only=False)
    except Exception as exc:  # truncated zip, garbage bytes, empty file, …
        raise unreadable_checkpoint(path, exc) from exc
    missing = [k for k in CHECKPOINT_KEYS if not isinstance(state, dict) or k not in state]
    if missing:
        raise unreadable_checkpoint(path, f"not a losskit checkpoint: missing {', '.join(missing)}")
    return state


CHECKPOINT_KEYS = ("config", "history", "model", "optimizer", "method", "generator",
                    "torch_rng", "global_step")
