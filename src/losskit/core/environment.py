"""What a run was made with: Python, torch and losskit versions, and losskit's git commit when
it runs from a git checkout (recorded in every run directory's ``config.json``)."""

from __future__ import annotations

import functools
import platform
import subprocess
from pathlib import Path


def git_commit() -> str | None:
    """The commit of the git checkout losskit is imported from (``+dirty`` when tracked files
    have changes), or ``None`` when it is not a tracked file of a git repository (an installed
    wheel) or git is unavailable."""
    here = Path(__file__).resolve().parent

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(here), *args], capture_output=True, text=True, timeout=5,
            check=True,
        ).stdout.strip()

    try:
        git("ls-files", "--error-unmatch", "__init__.py")  # our file, not an enclosing repo's
        commit = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "") if commit else None


@functools.lru_cache(maxsize=1)
def versions() -> dict[str, str | None]:
    """``python``, ``torch``, ``numpy``, ``losskit``, ``platform`` and ``git_commit`` (or
    ``None``): stored in every run directory's ``config.json`` and every experiment record."""
    import numpy
    import torch

    import losskit

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "losskit": losskit.__version__,
        "platform": platform.platform(),
        "git_commit": git_commit(),
    }
