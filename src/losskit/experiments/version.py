"""Which code a run was made with: the commit, a dirty flag and a content hash of ``src/losskit``.

Every results record carries a :class:`CodeVersion` read when the run starts (not cached per
process: a runner that lives for hours while the checkout moves stamps each run with what was
on disk when it started). The **source hash** — SHA-256 over the path and bytes of every
``.py`` file of the imported ``losskit`` package, tracked or not — is part of the run key
(:func:`losskit.experiments.spec.run_key`), so a code change never resumes into rows computed
by other code, and the report pairs only runs of one version (``--mixed-versions`` to override).
Hashing the package takes a few milliseconds. Records written before versions existed have
none: their version is ``"unknown"``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

UNKNOWN = "unknown"


def package_root() -> Path:
    """The directory of the imported ``losskit`` package."""
    import losskit

    return Path(losskit.__file__).resolve().parent


def src_hash(root: str | Path | None = None) -> str:
    """12-hex-digit SHA-256 of every ``*.py`` under ``root`` (default: the ``losskit``
    package), by relative path and content; ``__pycache__`` is skipped."""
    base = Path(root) if root is not None else package_root()
    h = hashlib.sha256()
    for path in sorted(base.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        h.update(path.relative_to(base).as_posix().encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()[:12]


@dataclass(frozen=True)
class CodeVersion:
    """``commit`` (``None`` outside a git checkout), ``dirty`` (tracked files changed; ``None``
    when unknown) and ``src_hash`` (``None``: a record from before versions were recorded)."""

    commit: str | None = None
    dirty: bool | None = None
    src_hash: str | None = None

    @property
    def id(self) -> str:
        """What identifies the code: the source hash, or ``"unknown"``."""
        return self.src_hash or UNKNOWN

    @property
    def label(self) -> str:
        """``src 1a2b3c4d5e6f (commit 0123456+dirty)`` for tables."""
        if self.src_hash is None:
            return UNKNOWN
        commit = f"{self.commit[:7]}{'+dirty' if self.dirty else ''}" if self.commit else "no git"
        return f"src {self.src_hash} ({commit})"

    def to_dict(self) -> dict[str, Any]:
        return {"commit": self.commit, "dirty": self.dirty, "src_hash": self.src_hash}

    @classmethod
    def of(cls, record: dict[str, Any]) -> CodeVersion:
        """The version stored in a results record (``"code"``); unknown when absent."""
        code = record.get("code")
        if not isinstance(code, dict):
            return cls()
        return cls(code.get("commit"), code.get("dirty"), code.get("src_hash"))


def code_version() -> CodeVersion:
    """The code on disk now: commit and dirty flag (read afresh from git) and the source hash."""
    from losskit.core.environment import git_commit

    label = git_commit()  # "SHA" or "SHA+dirty" or None; not cached
    commit = label.removesuffix("+dirty") if label else None
    dirty = label.endswith("+dirty") if label else None
    return CodeVersion(commit, dirty, src_hash())
