"""Temperature schedules evaluated on a step-counter tensor equal the host formula."""

from __future__ import annotations

import pytest
import torch

from losskit.slf import TauSchedule


@pytest.mark.parametrize("kind", ["exponential", "linear", "cosine"])
def test_schedule_at_a_step_tensor_equals_the_host_value(kind):
    s = TauSchedule(2.0, 0.5, 7, kind=kind)
    for step in (0, 1, 3, 7, 8, 100):
        value = s.at(torch.tensor(step))
        assert value.dtype == torch.float64 and value.shape == ()
        assert float(value) == pytest.approx(s(step), rel=1e-15)
