"""TrainingStateSnapshot: bitwise rollback of model / loss / optimizer / scheduler / scaler."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from losskit import losses
from losskit.mils import TrainingStateSnapshot
from tests.conftest import TinyNet
from tests.mils.util import DropNet, assert_same, full_state


def _setup(opt_name: str, scaler: bool = False):
    torch.manual_seed(0)
    model = DropNet()
    center = losses.build("center", {"num_classes": 3, "feature_dim": 16})
    params = list(model.parameters()) + list(center.parameters())
    if opt_name == "sgd":
        opt = torch.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=1e-3)
    else:
        opt = torch.optim.Adam(params, lr=0.01)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    gs = torch.amp.GradScaler("cpu", init_scale=8.0, growth_interval=1) if scaler else None
    return model, center, opt, sched, gs


def _train(model, center, opt, sched, gs, steps: int, use_center: bool, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(steps):
        x = torch.randn(32, 8, generator=g)
        y = torch.randint(0, 3, (32,), generator=g)
        opt.zero_grad(set_to_none=True)
        logits, feats = model(x, return_features=True)
        loss = center(logits, y, features=feats) if use_center else F.cross_entropy(logits, y)
        if gs is not None:
            gs.scale(loss).backward()
            gs.step(opt)
            gs.update()
        else:
            loss.backward()
            opt.step()
        sched.step()


@pytest.mark.parametrize("opt_name", ["sgd", "adam"])
@pytest.mark.parametrize("use_scaler", [False, True])
def test_restore_is_bitwise(opt_name: str, use_scaler: bool) -> None:
    model, center, opt, sched, gs = _setup(opt_name, use_scaler)
    _train(model, center, opt, sched, gs, 3, use_center=False)  # CE only: no centre state yet
    snap = TrainingStateSnapshot([model, center], opt, sched, gs)
    reference = full_state(model, opt, [center], sched, gs)
    snap.capture()
    # the update changes everything: params, BN stats, momentum / moments, step counts,
    # lazily creates the centres' optimizer state, steps the LR schedule and grows the scale
    _train(model, center, opt, sched, gs, 2, use_center=True, seed=2)
    changed = full_state(model, opt, [center], sched, gs)
    with pytest.raises(AssertionError):
        assert_same(reference["model"], changed["model"])
    assert len(changed["optimizer"]["state"]) > len(reference["optimizer"]["state"])
    assert changed["scheduler"]["last_epoch"] != reference["scheduler"]["last_epoch"]
    if gs is not None:
        assert changed["scaler"]["scale"] != reference["scaler"]["scale"]
    snap.restore()
    assert_same(reference, full_state(model, opt, [center], sched, gs))


def test_restore_then_training_matches_untouched_copy() -> None:
    """After a rollback, continuing to train is bitwise identical to never having diverged."""
    a = _setup("adam")
    b = _setup("adam")
    torch.manual_seed(10)  # dropout masks: the same global stream for both runs
    _train(*a, 2, use_center=True)
    snap = TrainingStateSnapshot([a[0], a[1]], a[2], a[3], a[4])
    snap.capture()
    _train(*a, 3, use_center=False, seed=5)
    snap.restore()  # also rewinds the global RNG to where it was at capture
    _train(*a, 2, use_center=True, seed=7)
    torch.manual_seed(10)
    _train(*b, 2, use_center=True)
    _train(*b, 2, use_center=True, seed=7)
    assert_same(full_state(a[0], a[2], [a[1]], a[3]), full_state(b[0], b[2], [b[1]], b[3]))


def test_buffers_preallocated_and_reused() -> None:
    model, center, opt, sched, _ = _setup("sgd")
    snap = TrainingStateSnapshot([model, center], opt, sched)
    assert snap._saved is None  # nothing allocated before the first capture
    _train(model, center, opt, sched, None, 1, use_center=True)
    snap.capture()
    ptrs = [t.data_ptr() for t in snap._saved] + [t.data_ptr() for t in snap._opt_saved]
    _train(model, center, opt, sched, None, 1, use_center=True)
    snap.capture()
    again = [t.data_ptr() for t in snap._saved] + [t.data_ptr() for t in snap._opt_saved]
    assert ptrs == again


def test_restore_puts_back_replaced_state_tensors() -> None:
    net = TinyNet()
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    _train(
        net,
        lambda *a, **k: None,
        opt,
        torch.optim.lr_scheduler.StepLR(opt, 1),
        None,
        1,
        use_center=False,
    )
    snap = TrainingStateSnapshot([net], opt)
    ref = full_state(net, opt)
    snap.capture()
    p = next(iter(opt.state))
    opt.state[p]["momentum_buffer"] = torch.zeros(3)  # replaced by a different-shaped tensor
    opt.state[p]["extra"] = 1.0  # key that did not exist
    snap.restore()
    assert_same(ref, full_state(net, opt))


def test_restore_before_capture_raises() -> None:
    net = TinyNet()
    snap = TrainingStateSnapshot([net], torch.optim.SGD(net.parameters(), lr=0.1))
    with pytest.raises(RuntimeError):
        snap.restore()
