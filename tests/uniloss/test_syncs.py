"""With value checks off, a UniLoss forward + backward reads nothing back to the host."""

from __future__ import annotations

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

import losskit
from losskit.bench.counts import SyncCounter
from losskit.uniloss import UniLoss
from tests.uniloss.test_loss import CASES

RANKING = {"ap", "auc", "precision_at_k"}
"""Metrics that read one value, the number of positives ``P`` (``int`` of a sum): how many
random bits the bad anchors take from the generator depends on ``P·Q``, so drawing the anchors
that the recorded runs drew needs ``P`` on the host (a generator's state lives there). No
boolean-mask selection (it used to cost two data-dependent sizes). Under ``torch.compile`` the
read happens inside the opaque anchor op and the graph has static shapes."""

class ScalarReads(TorchDispatchMode):
    """Counts every device → host scalar read below Python (``aten._local_scalar_dense``),
    including those hidden inside ops such as indexing with a 0-d tensor."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.aten._local_scalar_dense.default:
            self.count += 1
        return func(*args, **(kwargs or {}))


def _count(loss_fn, x, y) -> tuple[list[str], int]:
    """Host syncs as :mod:`losskit.bench.counts` counts them (value reads, data-dependent
    shapes) and scalar reads below Python (e.g. indexing with a 0-d tensor)."""
    x = x.clone().requires_grad_(True)
    with SyncCounter() as syncs, ScalarReads() as scalars:
        loss_fn(x, y).backward()
    return syncs.names, scalars.count


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("large", [False, True])
def test_no_host_reads_with_value_checks_off(name, large, monkeypatch):
    """Every metric, both evaluations of the anchors (bits and structure)."""
    import losskit.uniloss.loss as loss_module

    monkeypatch.setattr(loss_module, "DENSE_LIMIT", 0 if large else 1 << 40)
    make, kw = CASES[name]
    x, y = make()
    expected = (["__int__"], 1) if name in RANKING else ([], 0)
    assert _count(UniLoss(name, seed=0, validate_args=False, **kw), x, y) == expected
    with losskit.validate_args(False):
        assert _count(UniLoss(name, seed=0, **kw), x, y) == expected
        assert _count(UniLoss(name, **kw), x, y) == expected  # global RNG


@pytest.mark.parametrize(
    "kwargs",
    [{"subsample": 0.5}, {"subsample": 3}, {"relaxation": "authors"}, {"nearby": "toward_truth"},
     {"flip_bits": 3, "power": 2.0}, {"on_degenerate": "zero"}],
)
def test_no_host_reads_with_options(kwargs):
    make, _ = CASES["accuracy"]
    x, y = make()
    assert _count(UniLoss("accuracy", seed=0, validate_args=False, **kwargs), x, y) == ([], 0)


def test_value_checks_on_do_read_the_host():
    """The counters see the checks (so the zero counts above are not vacuous)."""
    make, _ = CASES["accuracy"]
    x, y = make()
    names, scalars = _count(UniLoss("accuracy", seed=0), x, y)
    assert "__bool__" in names and scalars >= 1
