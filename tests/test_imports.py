"""The import graph of ``src/losskit``: no cycles, and the paper cores stand alone.

Every ``import`` counts — at module level or inside a function (a lazy import is still a
dependency; hiding a cycle in a function does not remove it) — except under
``if TYPE_CHECKING:``, which never runs. Importing ``losskit.a.b`` from outside package
``losskit.a`` also runs ``losskit/a/__init__.py``, so such an import is an edge to both.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.core.test_aliases import MOVED

SRC = Path(__file__).resolve().parents[1] / "src"
ROOT = SRC / "losskit"

#: Packages and modules that train, orchestrate or present: nothing below them imports them.
UPPER = ("losskit.train", "losskit.experiments", "losskit.bench", "losskit.cli", "losskit.launch",
         "losskit.integrations", "losskit.__main__")
#: The zoo, the papers and the data/model libraries: usable without the Trainer.
CORES = ("losskit.losses", "losskit.slf", "losskit.uniloss", "losskit.mils", "losskit.models",
         "losskit.data")
#: Modules every layer may use; they import no other losskit module except each other.
FOUNDATION = ("losskit.core", *(f"losskit.{m}" for m in MOVED))  # + the old paths: aliases
#: Paper cores that stand alone from each other (importer → packages it must not import):
#: MILS takes SLF / UniLoss auxiliaries by composite name (losskit.core.composites), never by
#: import.
INDEPENDENT = {"losskit.mils": ("losskit.slf", "losskit.uniloss"),
               "losskit.uniloss": ("losskit.slf",)}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def _resolve(name: str) -> str | None:
    """The losskit module ``name`` refers to (an attribute's module: its longest prefix)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(name: str) -> set[str]:
    """The losskit modules ``name`` imports (package ``__init__`` files included)."""
    path = MODULES[name]
    return imports_in_source(name, path.read_text(), str(path))


def imports_in_source(name: str, source: str, filename: str = "<source>") -> set[str]:
    """The losskit modules that ``source``, as the text of module ``name``, imports."""
    tree = ast.parse(source, filename)
    skip = _type_checking_lines(tree)
    package = name if _is_package(name) else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{a.name}" for a in node.names] + [base]
        for target in targets:
            module = _resolve(target) if target.startswith("losskit") else None
            if module is None or (name + ".").startswith(module + "."):
                continue  # not losskit's, or an enclosing package: already running
            found.add(module)
            # running losskit.a.b from outside package losskit.a also runs losskit/a/__init__
            parent = module.rpartition(".")[0]
            while parent not in ("", "losskit") and not (name + ".").startswith(parent + "."):
                found.add(parent)
                parent = parent.rpartition(".")[0]
    found.discard(name)
    return found


GRAPH = {name: imports_of(name) for name in MODULES}


def _inside(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _cycles() -> list[list[str]]:
    """Every strongly connected component with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(GRAPH[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    return out


def test_the_walker_sees_lazy_and_package_imports():
    """The graph is built right: a function-level import and the package ``__init__`` of a
    cross-package import are edges (else the tests below could not fail)."""
    assert "losskit.experiments.report" in GRAPH["losskit.cli.commands"]  # inside a function
    assert "losskit.experiments" in GRAPH["losskit.cli.commands"]  # its package __init__ too
    assert {"losskit.losses.fused", "losskit.losses"} <= GRAPH["losskit.slf.loss"]
    assert "losskit.slf" not in GRAPH["losskit.slf.loss"]  # its own package: already running


def test_no_import_cycles():
    cycles = _cycles()
    assert not cycles, "import cycles:\n" + "\n".join(" ↔ ".join(c) for c in cycles)


@pytest.mark.parametrize("name", sorted(n for n in MODULES if not _inside(n, UPPER)))
def test_lower_layers_do_not_import_the_trainer_or_above(name):
    """Cores (losses, slf, uniloss, mils, models, data), the method interface and the
    foundation import nothing from train/, experiments/, bench/, integrations/ or the CLI."""
    upward = sorted(m for m in GRAPH[name] if _inside(m, UPPER))
    assert not upward, f"{name} imports {upward}"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if _inside(n, FOUNDATION)))
def test_foundation_modules_import_only_the_foundation(name):
    outside = sorted(m for m in GRAPH[name] if not _inside(m, FOUNDATION))
    assert not outside, f"{name} imports {outside}"


@pytest.mark.parametrize(
    "name", sorted(n for n in MODULES if _inside(n, CORES) and not n.endswith(".method"))
)
def test_paper_cores_do_not_import_the_method_interface(name):
    """Only a package's adapter (``<pkg>/method.py``) plugs the core into the Trainer's
    method interface; the core itself is a plain library."""
    found = GRAPH[name] & {"losskit.core.method", "losskit.method"}
    assert not found, f"{name} imports {sorted(found)}"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if _inside(n, tuple(INDEPENDENT))))
def test_paper_cores_do_not_import_each_other(name):
    """Every module of ``losskit.mils`` (its method adapter too) imports neither
    ``losskit.slf`` nor ``losskit.uniloss``, and ``losskit.uniloss`` does not import
    ``losskit.slf`` — lazily inside a function neither (the walker reads the source)."""
    forbidden = tuple(p for core, deps in INDEPENDENT.items() if _inside(name, (core,))
                      for p in deps)
    found = sorted(m for m in GRAPH[name] if _inside(m, forbidden))
    assert not found, f"{name} imports {found}"


def test_the_independence_check_would_see_the_old_mils_to_slf_dependency():
    """The check can fail: MILS used to build ``"slf:…"`` / ``"uniloss:…"`` auxiliaries with
    an import inside a function; such source is an edge to the package."""
    source = ("def build(kind):\n    if kind == 'uniloss':\n"
              "        from losskit.uniloss import UniLoss\n"
              "    from losskit.slf import StochasticLoss\n")
    found = imports_in_source("losskit.mils.scheduling", source)
    assert {"losskit.slf", "losskit.uniloss"} <= found


def test_importing_mils_loads_neither_slf_nor_uniloss():
    """At run time too: a fresh interpreter that imports ``losskit.mils`` has not loaded
    ``losskit.slf`` or ``losskit.uniloss``."""
    import subprocess
    import sys

    code = ("import sys, losskit.mils; "
            "print(sorted(m for m in sys.modules if m.startswith(('losskit.slf', "
            "'losskit.uniloss'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**__import__("os").environ,
                                          "PYTHONPATH": str(SRC)})
    assert out.stdout.strip() == "[]", out.stdout
