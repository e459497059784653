"""The training step is written once: ``.backward(`` and an optimizer's ``.step(`` appear in
the library only in ``src/losskit/core/step.py`` (:func:`losskit.core.step.train_step`), apart
from the exceptions listed below with their reasons.

The source is read with ``ast`` (calls, not comments or docstrings): ``X.backward(…)`` for any
``X``, ``torch.autograd.backward(…)``, and ``X.step(…)`` where ``X`` names an optimizer or a
gradient scaler (its text contains ``opt`` or ``scaler``; LR schedulers, MILS and methods have
``step`` methods of their own and are not optimizers).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "src" / "losskit"

#: (file, enclosing function) → why it may step or backpropagate by itself
EXCEPTIONS = {
    ("bench/suites.py", "hand_epoch"): "the benchmark's hand-written reference loop, plain "
                                       "torch on purpose (what the Trainer is compared with)",
    ("bench/suites.py", "_loss_only_fns"): "times one loss forward + backward alone (no step)",
    ("integrations/gradients.py", "step"): "AccumulatingOptimizer *is* an optimizer: its step "
                                           "forwards to the wrapped one",
}


def _enclosing_functions(tree: ast.AST) -> dict[ast.AST, str]:
    owner: dict[ast.AST, str] = {}

    def visit(node: ast.AST, name: str) -> None:
        for child in ast.iter_child_nodes(node):
            inner = child.name if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) \
                else name
            owner[child] = inner
            visit(child, inner)

    visit(tree, "<module>")
    return owner


def step_calls(source: str) -> list[tuple[str, int, str]]:
    """``(enclosing function, line, call text)`` of every backward / optimizer step call."""
    tree = ast.parse(source)
    owner = _enclosing_functions(tree)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        attr, receiver = node.func.attr, ast.unparse(node.func.value)
        if (attr == "backward"
                or (attr == "step" and any(k in receiver.lower() for k in ("opt", "scaler")))):
            found.append((owner[node], node.lineno, ast.unparse(node)))
    return found


def _all_calls() -> dict[tuple[str, str], list[str]]:
    out: dict[tuple[str, str], list[str]] = {}
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        for function, line, text in step_calls(path.read_text()):
            out.setdefault((rel, function), []).append(f"{rel}:{line}: {text}")
    return out


def test_backward_and_optimizer_steps_live_in_step_py_only() -> None:
    calls = _all_calls()
    stray = [c for key, cs in calls.items() if key[0] != "core/step.py" and key not in EXCEPTIONS
             for c in cs]
    assert not stray, "write these through losskit.core.step.train_step:\n" + "\n".join(stray)


def test_the_exceptions_are_still_there_and_step_py_does_both() -> None:
    """Each listed exception still exists (else the list would silently allow new ones), and
    the scan finds step.py's own backward and optimizer step (else it could never fail)."""
    calls = _all_calls()
    assert set(EXCEPTIONS) <= set(calls), set(EXCEPTIONS) - set(calls)
    in_step = [c for key, cs in calls.items() if key[0] == "core/step.py" for c in cs]
    assert any(".backward()" in c for c in in_step)
    assert any("optimizer.step()" in c for c in in_step)
    assert any("scaler.step(" in c for c in in_step)


def test_the_scan_sees_a_hand_written_loop_but_not_schedulers_or_docstrings() -> None:
    source = '''
def train(model, opt, sched, x, y):
    """opt.step() in a docstring is not a call"""
    opt.zero_grad()
    model(x).sum().backward()
    opt.step()
    sched.step()
    mils.step(x, y)
'''
    found = [text for _, _, text in step_calls(source)]
    assert found == ["model(x).sum().backward()", "opt.step()"]
