"""The component-cost measurement runs and reports consistent numbers (tiny settings)."""

from __future__ import annotations

import pytest

from losskit.bench.mils import component_costs


def test_component_costs_are_positive_and_consistent() -> None:
    res = component_costs("mlp", batch_size=16, observation_size=16, reps=3)
    for key in ("forward", "observation", "snapshot", "restore"):
        assert res[key] > 0
    expected = (res["snapshot"] + res["restore"]) / res["forward"]
    assert res["snapshot_restore_per_forward"] == pytest.approx(expected)
