"""The machine-independent counters used by ``losskit bench`` and the sync tests."""

from __future__ import annotations

import torch

from losskit import losses
from losskit.bench import Row, markdown_table
from losskit.bench.counts import SyncCounter, count_aten_ops, count_syncs
from losskit.bench.suites import Counts, measure_counts


def test_count_aten_ops_counts_dispatched_operators_forward_and_backward():
    x = torch.randn(4, 3)
    assert count_aten_ops(lambda: x + 1) == 1
    assert count_aten_ops(lambda: (x * 2).sum(), steps=3) == 2  # mean over calls
    w = torch.randn(3, requires_grad=True)
    forward_only = count_aten_ops(lambda: (x * w).sum())
    assert count_aten_ops(lambda: (x * w).sum().backward()) > forward_only


def test_count_syncs_sees_value_reads_and_data_dependent_shapes():
    x = torch.randn(5)
    cases = {
        "__bool__": lambda: bool(x.sum() > 0),
        "item": lambda: x.sum().item(),
        "__int__": lambda: int(x.argmax()),
        "tolist": lambda: x.tolist(),
        "nonzero": lambda: torch.nonzero(x > 0),
        "__getitem__": lambda: x[x > 0],
    }
    for name, fn in cases.items():
        with SyncCounter() as counter:
            fn()
        assert counter.names == [name]
    assert count_syncs(lambda: x[x.argmax()] + torch.where(x > 0, x, 0.0)) == 0


def test_measure_counts_reads_checks_on_and_off():
    z, y = torch.randn(8, 4), torch.randint(0, 4, (8,))
    ce = losses.get("ce")
    counts = measure_counts(lambda: ce(z, y), steps=2)
    assert counts.syncs_on == 1 and counts.syncs_off == 0 and counts.ops > 0


def test_markdown_table_shows_counts_with_the_ops_goal():
    rows = [Row("CE", "mlp", 1.0, 1.0, None, Counts(100, 1, 0, 1.0)),
            Row("SLF", "mlp", 1.2, 1.2, 1.03, Counts(250, 2, 0, 2.5, 2.0)),
            Row("SLF (loss only)", "N=128", 0.2, 3.0, None, Counts(90, 1, 0), ms_goal=0.25),
            Row("pieces", "mlp", 1.0, 1.0, None)]
    table = markdown_table(rows).splitlines()
    assert "aten ops/step" in table[0] and "syncs/step" in table[0]
    assert "| 100 (1.00×) | 1 / 0 |" in table[2]
    assert "| 250 (2.50× ✗) | 2 / 0 |" in table[3]
    assert "| 0.20 ✓ |" in table[4] and "≤ 0.25 ms" in table[4]
    assert table[5].endswith("| — | — |")


def test_saved_table_states_how_it_was_measured(tmp_path):
    from losskit.bench import run_bench

    assert run_bench("slf", steps=20, threads=1, out=str(tmp_path), models=("mlp",)) == 0
    text = (tmp_path / "bench-slf.md").read_text()
    assert text.startswith("`losskit bench slf --threads 1 --steps 20 --models mlp`")
    rows = [line for line in text.splitlines() if line.startswith("| SLF K=3")]
    assert len(rows) == 1 and "mlp" in rows[0]
