"""Keys of runs: the config key (what a run computes) and the run key (config + code version),
and the cost class (what sets the cost of an epoch, for the estimator).

``NON_SEMANTIC_FIELDS`` (one home: :mod:`losskit.train.config`) are left out, so that, e.g., a
different thread count or progress setting on restart does not re-run finished work.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from losskit.train.config import NON_SEMANTIC_FIELDS


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


#: Bumped when what a key means changes (3: config key + source hash; 2: the config alone;
#: 1 hashed the names too). A config key is a version-2 key.
KEY_VERSION = 3


def config_key(config: dict[str, Any]) -> str:
    """Stable 16-hex-digit hash of the semantic fields of ``config`` (its seed included)."""
    semantic = {k: v for k, v in config.items() if k not in NON_SEMANTIC_FIELDS}
    payload = _canonical({"key_version": 2, "config": semantic})
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def run_key(config: dict[str, Any], src_hash: str | None = None) -> str:
    """The results key of ``config`` run by code of source hash ``src_hash``
    (:func:`losskit.experiments.version.src_hash`); with ``None`` (records from before code
    versions were recorded) it is the :func:`config_key`."""
    ck = config_key(config)
    if src_hash is None:
        return ck
    payload = _canonical({"key_version": KEY_VERSION, "config_key": ck, "src": src_hash})
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def cost_class(config: dict[str, Any]) -> str:
    """Hash of the fields that set the cost of one epoch (not seed — nor the data seed of a
    per-run split —, lr, schedule, epochs): runs of one class are timed once by the
    estimator."""
    ignore = NON_SEMANTIC_FIELDS | {"seed", "lr", "momentum", "weight_decay", "schedule",
                                    "step_size", "gamma", "epochs"}
    kept = {k: v for k, v in config.items() if k not in ignore}
    if isinstance(kept.get("data_kwargs"), dict):
        kept["data_kwargs"] = {k: v for k, v in kept["data_kwargs"].items() if k != "seed"}
    payload = _canonical(kept)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]
