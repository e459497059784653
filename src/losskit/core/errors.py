"""The exceptions (and the warning) for failures the user causes and can fix.

Every :class:`UserError` is a *user* error, found where input or the environment meets the
code: a bad name, value or file (:class:`ConfigError`), a place that cannot be written
(:class:`OutputError`), an optional extra that is not installed
(:class:`MissingDependencyError`). The CLI prints each as one line ``losskit: error: …`` and
exits 2; every other exception is a bug and keeps its traceback (exit 1). Each also subclasses
the built-in type code already catches for it (``ValueError``, ``OSError``, ``ImportError``).

:class:`LossKitWarning`: something the user should know that does not stop the command (e.g. a
torn last line dropped from a results file); the CLI prints it once as ``losskit: warning: …``.
"""

from __future__ import annotations

import importlib
from types import ModuleType


class UserError(Exception):
    """Base of the user errors: one line and exit code 2 on the command line."""


class ConfigError(UserError, ValueError):
    """Invalid user input. ``field``: the argument / config field at fault (or ``None``); the
    message starts with it, so the CLI can show the field as its flag (``out_dir`` → ``--out``).
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field

    def __reduce__(self) -> tuple:  # keep ``field`` across processes (pickling)
        return type(self), (str(self), self.field)


class OutputError(UserError, OSError):
    """A file or folder the user pointed at cannot be written (no permission, disk full, a
    file where a folder should be). The message says what was kept; ``errno`` and
    ``filename`` are those of the underlying :class:`OSError`."""

    def __init__(self, message: str, cause: OSError | None = None) -> None:
        super().__init__(getattr(cause, "errno", None), message, getattr(cause, "filename", None))
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple:
        cause = OSError(self.errno, self.strerror, self.filename) if self.errno else None
        return type(self), (self.message, cause)


class MissingDependencyError(UserError, ImportError):
    """An optional dependency is missing; ``extra``: the ``losskit[extra]`` that installs it."""

    def __init__(self, message: str, extra: str, name: str | None = None) -> None:
        super().__init__(message, name=name)
        self.extra = extra

    def __reduce__(self) -> tuple:
        return type(self), (self.msg, self.extra, self.name)


class NonFiniteError(ValueError):
    """A loss or metric was given NaN or Inf *scores* (logits, predictions) with value checks
    on. In training this means the run diverged (the model's outputs overflowed), and the
    Trainer reports it as such (:class:`FloatingPointError`, the same as a non-finite epoch
    loss) instead of an input error."""


class LossKitWarning(UserWarning):
    """A problem the user should see that does not stop the command."""


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """Import the optional ``module`` (``"matplotlib"``) or raise
    :class:`MissingDependencyError`: one sentence naming ``purpose`` and
    ``pip install 'losskit[extra]'``."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.partition(".")[0]
        if isinstance(exc, ModuleNotFoundError) and (exc.name or top).partition(".")[0] == top:
            why = f"{top} is not installed"
        else:  # installed but broken (e.g. a missing shared library): say what failed
            why = f"{top} cannot be imported ({' '.join(str(exc).split())})"
        raise MissingDependencyError(
            f"{purpose} needs {top}, but {why}; install it with: pip install 'losskit[{extra}]'",
            extra, name=top,
        ) from exc
