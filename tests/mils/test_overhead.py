"""The overhead measurement runs and reports consistent numbers (tiny settings)."""

from __future__ import annotations

import pytest

from losskit.mils.overhead import measure_overhead


def test_measure_overhead_smoke() -> None:
    res = measure_overhead(
        "mlp",
        batch_size=16,
        observation_size=16,
        participation=0.5,
        blocks=2,
        steps_per_block=3,
        reps=3,
    )
    assert res["ratio"] == pytest.approx(res["mils_step_ms"] / res["ce_step_ms"])
    assert 0 <= res["rollbacks"] <= res["aux_attempts"] <= 12
    for key in ("forward_ms", "observation_ms", "snapshot_ms", "restore_ms"):
        assert res[key] > 0
    expected = (res["snapshot_ms"] + res["restore_ms"]) / res["forward_ms"]
    assert res["snapshot_restore_per_forward"] == pytest.approx(expected)
