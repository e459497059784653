from __future__ import annotations

import time

import pytest

from losskit.bench import Row, interleaved_timings, markdown_table


def test_interleaved_timings_orders_candidates_by_cost():
    calls = {"fast": 0, "slow": 0}

    def fast():
        calls["fast"] += 1

    def slow():
        calls["slow"] += 1
        time.sleep(0.002)

    t = interleaved_timings({"fast": fast, "slow": slow}, blocks=5, steps_per_block=2, warmup=1)
    assert calls == {"fast": 11, "slow": 11}  # warm-up + blocks × steps, each
    assert t["slow"].median_s >= 0.002
    assert t["fast"].median_s < t["slow"].median_s
    assert t["slow"].q1_s <= t["slow"].median_s <= t["slow"].q3_s


def test_interleaved_timings_rejects_bad_counts():
    with pytest.raises(ValueError, match="blocks"):
        interleaved_timings({"a": lambda: None}, blocks=0)


def test_markdown_table_marks_goals():
    rows = [Row("CE", "mlp", 1.0, 1.0, None), Row("SLF", "mlp", 1.02, 1.02, 1.03),
            Row("X", "mlp", 2.0, 2.0, 1.1)]
    table = markdown_table(rows).splitlines()
    assert table[0].startswith("| case |")
    assert "1.020 ✓" in table[3] and "2.000 ✗" in table[4]
