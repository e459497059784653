"""How ``losskit`` reports a failure: one line ``losskit: error: …`` and exit code 2 for what
the user caused (:func:`user_error_line`, the one place that decides), a traceback for a bug;
:class:`~losskit.core.errors.LossKitWarning` s as one line ``losskit: warning: …`` each."""

from __future__ import annotations

import contextlib
import errno
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from losskit.core.errors import ConfigError, LossKitWarning, UserError

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130



def _message(exc: ConfigError) -> str:
    from losskit.train.config import setting_flag

    text = str(exc)
    if exc.field and text.startswith(exc.field):
        return setting_flag(exc.field) + text[len(exc.field):]
    return text


#: ``OSError`` numbers that mean "the file system refused what the user asked for"
_USER_ERRNOS = frozenset(getattr(errno, name) for name in (
    "EACCES", "EPERM", "EROFS", "ENOSPC", "EDQUOT", "EFBIG", "ENOTDIR", "EISDIR", "EEXIST",
    "ENOENT", "ENAMETOOLONG", "ELOOP") if hasattr(errno, name))
#: of those, the ones that are never a bug even without a path (a write to a full disk)
_ENVIRONMENT_ERRNOS = frozenset(getattr(errno, name) for name in (
    "EROFS", "ENOSPC", "EDQUOT", "EFBIG") if hasattr(errno, name))
_PACKAGE_DIR = Path(__file__).resolve().parents[1]  # src/losskit


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _os_error_text(exc: OSError) -> str | None:
    """``PATH: reason`` for an ``OSError`` about a path outside losskit's own files with an
    errno of :data:`_USER_ERRNOS` (``cannot write: reason`` for one of
    :data:`_ENVIRONMENT_ERRNOS` without a path); ``None`` otherwise (a bug: keep the
    traceback)."""
    if exc.errno not in _USER_ERRNOS:
        return None
    if exc.filename is None:
        return f"cannot write: {exc.strerror or exc}" if exc.errno in _ENVIRONMENT_ERRNOS else None
    with contextlib.suppress(OSError, TypeError, ValueError):
        if Path(exc.filename).resolve().is_relative_to(_PACKAGE_DIR):
            return None  # losskit's own file: not the user's doing
    where = str(exc.filename) + (f" → {exc.filename2}" if exc.filename2 else "")
    return f"{where}: {exc.strerror or exc}"


def user_error_line(exc: BaseException) -> str | None:
    """The one line ``losskit`` prints for a user-caused failure (without the ``losskit:
    error:`` prefix), or ``None`` when ``exc`` is a bug. The one place that decides."""
    if isinstance(exc, ConfigError):
        return _one_line(_message(exc))
    if isinstance(exc, UserError):
        return _one_line(str(exc))
    if isinstance(exc, OSError):
        text = _os_error_text(exc)
        return None if text is None else _one_line(text)
    return None


@contextlib.contextmanager
def _warnings_as_lines() -> Iterator[None]:
    """Print each :class:`~losskit.core.errors.LossKitWarning` once, as ``losskit: warning: …`` on
    stderr (other warnings as Python shows them)."""
    seen: set[str] = set()
    with warnings.catch_warnings():
        warnings.simplefilter("always", LossKitWarning)
        show = warnings.showwarning

        def one_line(message: Warning | str, category: type[Warning], *args: Any,
                     **kwargs: Any) -> None:
            if not issubclass(category, LossKitWarning):
                show(message, category, *args, **kwargs)
                return
            text = _one_line(str(message))
            if text not in seen:
                seen.add(text)
                print(f"losskit: warning: {text}", file=sys.stderr, flush=True)

        warnings.showwarning = one_line
        yield


@contextlib.contextmanager
def user_input() -> Iterator[None]:
    """The boundary where the user's input becomes objects: a ``ValueError`` (or a missing
    file) raised in this block is the user's, and becomes a :class:`ConfigError` (exit 2).
    Outside such a block only a ``ConfigError`` is a user error."""
    try:
        yield
    except ConfigError:
        raise
    except (ValueError, FileNotFoundError, NotADirectoryError) as exc:
        raise ConfigError(str(exc)) from exc

