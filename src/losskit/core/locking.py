"""An exclusive lock on a file, so that two losskit processes never write one run directory
(or one results file) at the same time.

``fcntl.flock``: advisory, released by the operating system when the holder exits in any way
(``kill -9`` included), so a crashed run never leaves a stale lock behind. Where ``fcntl`` does
not exist (Windows) the lock is a no-op.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from losskit.core.errors import ConfigError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class FileLock:
    """Hold an exclusive lock on ``path`` (created if missing; it records the holder's pid).

    ``acquire`` raises :class:`~losskit.core.errors.ConfigError` (``field``, message: ``what`` is in
    use by process N; ``hint``) when another process holds it. Re-entrant use from one object
    is a no-op; use as a context manager or call :meth:`release`.
    """

    def __init__(self, path: str | os.PathLike[str], what: str, hint: str = "",
                 field: str | None = None) -> None:
        self.path = Path(path)
        self.what, self.hint, self.field = what, hint, field
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> FileLock:
        if self._fd is not None or fcntl is None:
            return self
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            hint = f"; {self.hint}" if self.hint else ""
            raise ConfigError(
                f"{self.what} is in use by another losskit process (pid {holder}){hint}",
                self.field,
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # closing the descriptor drops the flock

    def __enter__(self) -> FileLock:
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()
