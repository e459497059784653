"""No host-device syncs in the hot path: with value checks off (globally or per instance),
forward + backward of every registered loss performs 0 syncs (counted by a
``TorchFunctionMode``); non-finite inputs then follow torch instead of raising."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import losskit
from losskit import losses
from losskit.bench.counts import SyncCounter, count_syncs

N, C, D = 8, 4, 3  # C = 4 is square: heatmap_mse takes (N, 2·2) scores
# the Trainer's context (class_counts: for the class-imbalance losses, losskit.losses.priors)
CONTEXT = {"num_classes": C, "feature_dim": D, "class_counts": list(range(1, C + 1))}


def _example(name: str):
    """``(input, target, features)`` for loss ``name``: classification inputs, or real-valued
    targets for a regression loss."""
    g = torch.Generator().manual_seed(0)
    z = torch.randn(N, C, generator=g, requires_grad=True)
    y = torch.randint(0, C, (N,), generator=g)
    f = torch.randn(N, D, generator=g, requires_grad=True)
    if losses.build(name, CONTEXT).task == "regression":
        y = torch.randn(N, C, generator=g)
    return z, y, f


def _forward_backward(loss, z, y, f):
    kwargs = {"features": f} if loss.needs_features else {}
    loss(z, y, **kwargs).backward()


@pytest.mark.parametrize("name", losses.names())
def test_every_loss_is_sync_free_with_value_checks_off(name):
    z, y, f = _example(name)
    loss = losses.build(name, CONTEXT)
    with losskit.validate_args(False):
        assert count_syncs(lambda: _forward_backward(loss, z, y, f)) == 0
    # per instance: the global switch stays on, the instance turns its checks off
    quiet = losses.build(name, CONTEXT, validate_args=False)
    with SyncCounter() as counter:
        _forward_backward(quiet, z, y, f)
    assert counter.names == []
    # the counter sees the checks when they are on (so the zero above is not vacuous)
    assert count_syncs(lambda: _forward_backward(loss, z, y, f)) >= 1


@pytest.mark.parametrize("name", losses.names())
def test_non_finite_inputs_follow_torch_with_value_checks_off(name):
    z, y, f = _example(name)
    bad = z.detach().clone()
    bad[0, 0] = float("inf")
    loss = losses.build(name, CONTEXT)
    kwargs = {"features": f} if loss.needs_features else {}
    with pytest.raises(ValueError, match="NaN or Inf"):
        loss(bad, y, **kwargs)
    with losskit.validate_args(False):
        out = loss(bad, y, **kwargs)  # no error: the caller (e.g. a GradScaler) decides
    assert out.shape == () and out.dtype == bad.dtype


def test_non_finite_cross_entropy_equals_torch():
    z, y, _ = _example("ce")
    bad = z.detach().clone()
    bad[1, 2] = float("inf")
    quiet = losses.CrossEntropyLoss(reduction="none", validate_args=False)
    torch.testing.assert_close(quiet(bad, y), F.cross_entropy(bad, y, reduction="none"),
                               equal_nan=True)


def test_validate_args_argument_is_checked_and_shown():
    with pytest.raises(ValueError, match="validate_args"):
        losses.get("ce", validate_args="no")
    assert "validate_args=False" in repr(losses.get("focal", validate_args=False))
    assert "validate_args" not in repr(losses.get("focal"))
