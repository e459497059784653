"""A MILS step without an attempt (the primary update) performs no host-device sync with value
checks off: the participation draw comes from a CPU generator, read as a host value."""

from __future__ import annotations

import torch

import losskit
from losskit.bench.counts import SyncCounter
from losskit.mils import MILS
from tests.conftest import TinyNet


def test_primary_steps_are_sync_free_with_value_checks_off():
    torch.manual_seed(0)
    model = TinyNet()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = torch.randn(64, 8), torch.randint(0, 3, (64,))
    mils = MILS(model, opt, "ce", "multi_margin,focal", participation=0.0,
                observation=(x[:32], y[:32]))
    mils.step(x[:16], y[:16])  # warm-up (lazy state)
    with losskit.validate_args(False), SyncCounter() as counter:
        for i in range(3):
            assert mils.step(x[16 * i : 16 * i + 16], y[16 * i : 16 * i + 16]).trained == "primary"
    assert counter.names == []
    with SyncCounter() as counter:  # the value checks, when on, are the only reads
        mils.step(x[:16], y[:16])
    assert counter.count == 1
