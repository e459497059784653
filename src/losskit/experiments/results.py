"""The results file: an append-only, crash-safe JSONL of finished runs (one self-contained
line per run), read by the runner (what is done) and the report (what to show)."""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from pathlib import Path
from typing import Any

from losskit.core.errors import ConfigError, LossKitWarning, OutputError


class CorruptResultsError(ConfigError):
    """A results file has an unreadable line that is not a torn last write (a user error:
    ``losskit reproduce`` / ``report`` print it as one line naming the file and line number
    and exit 2; the file is left as it is)."""


class TornResultsWarning(LossKitWarning):
    """A results file ends in a torn line (a write cut off: no newline, does not parse); it is
    dropped and its run is re-run by ``losskit reproduce``."""


def _parse_line(text: str) -> tuple[dict[str, Any] | None, str]:
    """The record on one line, or ``None`` and why it is not one."""
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"not JSON: {exc.msg} at column {exc.colno}"
    if not isinstance(record, dict):
        return None, f"a JSON {type(record).__name__}, not an object"
    if not isinstance(record.get("key"), str):
        return None, "a JSON object without a 'key'"
    return record, ""


def read_results(path: str | os.PathLike[str], repair: bool = False) -> list[dict[str, Any]]:
    """The records of a results JSONL (``[]`` when it does not exist); blank lines are ignored.

    Appends write whole lines (:func:`append_record`), so a run killed mid-write leaves at most
    one *torn* line: the last one, without its newline, not parseable. It is dropped with a
    :class:`TornResultsWarning` (never silently) and, with ``repair=True``, cut off the file by
    truncating it where that line starts — the complete lines before it are not rewritten, and
    the next append starts on a fresh line instead of being glued onto the fragment. A complete
    last record that only lost its newline is kept (``repair`` adds the newline). Any other bad
    line — in the middle, or a last line that does end in a newline — is not a torn write:
    :class:`CorruptResultsError` naming the file and line number, and the file is not touched.
    ``repair=True`` writes, so call it only as the file's one writer (the runner holds its lock).
    """
    path = Path(path)
    if not path.exists():
        return []
    raw = path.read_bytes()
    lines = raw.split(b"\n")  # the last item: the bytes after the final newline (b"" if none)
    records: list[dict[str, Any]] = []
    offset = 0
    for i, line in enumerate(lines):
        start, offset = offset, offset + len(line) + 1
        if not line.strip():
            continue
        record, why = _parse_line(line.decode("utf-8", errors="replace"))
        if record is not None:
            records.append(record)
            continue
        if i < len(lines) - 1:  # ends in a newline: written whole, so damaged afterwards
            raise CorruptResultsError(
                f"results file {str(path)!r}: line {i + 1} is not a result record ({why}); "
                "it is not a torn last write, so nothing was changed: fix or delete that line "
                "and run again"
            )
        warnings.warn(TornResultsWarning(
            f"{path}: dropped 1 torn line (line {i + 1}: {len(line)} bytes without a newline, "
            "a write cut off); `losskit reproduce` re-runs its run"), stacklevel=2)
        if repair:
            _truncate(path, start)
        return records
    if repair and raw and not raw.endswith(b"\n"):  # the last record lost only its newline
        _append_bytes(path, b"")  # nothing to add but the newline it starts with
    return records


def _truncate(path: Path, size: int) -> None:
    """Cut ``path`` to its first ``size`` bytes (the bytes before stay where they are)."""
    fd = os.open(path, os.O_WRONLY)
    try:
        os.ftruncate(fd, size)
        os.fsync(fd)
    finally:
        os.close(fd)


def _append_bytes(path: Path, data: bytes) -> None:
    """Append ``data`` with one ``write`` (looped only for safety), then ``fsync``. On failure
    (disk full, no permission) the file is cut back to its old size — so no partial line stays
    behind — and :class:`~losskit.core.errors.OutputError` says so."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as exc:
        raise _append_failed(path, exc) from exc
    size = os.fstat(fd).st_size
    try:
        if size and os.pread(fd, 1, size - 1) != b"\n":  # never glue onto an unfinished line
            data = b"\n" + data
        view = memoryview(data)
        while view:  # a regular file takes it in one write; loop only for safety
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, size)
        raise _append_failed(path, exc) from exc
    finally:
        os.close(fd)


def _append_failed(path: Path, exc: OSError) -> OutputError:
    return OutputError(
        f"cannot append to results file {str(path)!r}: {exc.strerror or exc}; the records "
        "already in it are intact and the run not recorded will be re-run: make it writable "
        "(or free space) and run the same command again", exc,
    )


def append_record(path: str | os.PathLike[str], record: dict[str, Any]) -> None:
    """Append ``record`` as one JSON line: a single ``write``, then flush + ``fsync``; it starts
    on a new line even if the file does not end in one. A failed write leaves the file as it
    was (:class:`~losskit.core.errors.OutputError`)."""
    data = (json.dumps(jsonable(record), allow_nan=True) + "\n").encode()
    _append_bytes(Path(path), data)


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
