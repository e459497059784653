"""The results file: an append-only, crash-safe JSONL of finished runs (one self-contained
line per run), read by the runner (what is done) and the report (what to show)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from losskit._io import atomic_write


class CorruptResultsError(ValueError):
    """A results file has an unreadable line that is not the (possibly truncated) last one."""


def _parse_line(text: str) -> dict[str, Any] | None:
    try:
        record = json.loads(text)
    except json.JSONDecodeError:
        return None
    return record if isinstance(record, dict) and isinstance(record.get("key"), str) else None


def read_results(path: str | os.PathLike[str], repair: bool = False) -> list[dict[str, Any]]:
    """The records of a results JSONL (``[]`` when it does not exist).

    A last line that does not parse (a run killed mid-write) is dropped — and, with
    ``repair=True``, removed from the file by an atomic rewrite. Any other bad line raises
    :class:`CorruptResultsError` naming its line number. Blank lines are ignored.
    """
    path = Path(path)
    if not path.exists():
        return []
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    # index of the last non-blank line: the only one allowed to be damaged
    last = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
    records: list[dict[str, Any]] = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        record = _parse_line(line.decode("utf-8", errors="replace"))
        if record is not None:
            records.append(record)
            continue
        if i != last:
            raise CorruptResultsError(
                f"{path}: line {i + 1} is not a valid result record (corrupt file); "
                "fix or delete that line and run again"
            )
        if repair:  # keep every complete line, drop the damaged tail
            keep = b"".join(l + b"\n" for l in lines[:i] if l.strip())
            atomic_write(path, keep)
        return records
    if repair and raw and not raw.endswith(b"\n"):
        # the last record parsed but lost its newline: restore it so appends start a new line
        atomic_write(path, raw + b"\n")
    return records


def append_record(path: str | os.PathLike[str], record: dict[str, Any]) -> None:
    """Append ``record`` as one JSON line: a single ``write``, then flush + ``fsync``."""
    data = (json.dumps(jsonable(record), allow_nan=True) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        view = memoryview(data)
        while view:  # a regular file takes it in one write; loop only for safety
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def jsonable(obj: Any) -> Any:
    """``obj`` with tensors/NumPy values turned into plain Python (lists, floats, ints)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (str, bool, int, float)) or obj is None:
        return obj
    if hasattr(obj, "tolist"):  # torch.Tensor, numpy array / scalar
        return jsonable(obj.tolist())
    if hasattr(obj, "item"):
        return obj.item()
    return str(obj)
