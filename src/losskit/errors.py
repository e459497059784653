"""The one exception type for invalid user input.

:class:`ConfigError` marks a *user* error — a bad name, value, file or run directory — found
where input becomes objects (the CLI's arguments, :class:`~losskit.train.TrainConfig`, a
checkpoint to resume from, a run directory in use). The CLI prints it as one line and exits 2;
every other exception is a bug and keeps its traceback (exit 1).

It subclasses ``ValueError``, so code that catches ``ValueError`` for bad arguments keeps
working.
"""

from __future__ import annotations


class ConfigError(ValueError):
    """Invalid user input. ``field``: the argument / config field at fault (or ``None``); the
    message starts with it, so the CLI can show the field as its flag (``out_dir`` → ``--out``).
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field
