"""MILS.step against a slow, obviously-correct reference (deepcopy / load_state_dict)."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from losskit import losses
from losskit.core.step import compute_loss
from losskit.mils import MILS, observation_counts, statistics
from tests.conftest import TinyNet, make_blobs
from tests.mils.util import DropNet, assert_same, full_state, neg_ce


def _data(seed: int = 0):
    x, y = make_blobs(n=400, seed=seed).train.tensors
    return x, y


def _batches(x, y, n_steps: int, bs: int = 32, seed: int = 3):
    g = torch.Generator().manual_seed(seed)
    for _ in range(n_steps):
        idx = torch.randint(0, len(x), (bs,), generator=g)
        yield x[idx], y[idx]


def _pair(opt_name: str = "sgd", net=DropNet, center: bool = False, lr: float = 0.1):
    """Two identical (model, optimizer, extra loss modules) setups."""
    out = []
    for _ in range(2):
        torch.manual_seed(0)
        model = net()
        mods = []
        if center:
            mods.append(losses.build("center", {"num_classes": 3, "feature_dim": 16}))
        params = list(model.parameters()) + [p for m in mods for p in m.parameters()]
        if opt_name == "sgd":
            opt = torch.optim.SGD(params, lr=lr, momentum=0.9)
        else:
            opt = torch.optim.Adam(params, lr=lr / 10)
        out.append((model, opt, mods))
    return out


def _plain_step(model, opt, loss_fn, x, y, estimate: bool = False) -> None:
    """Hand-written update: the same operations as ``losskit.core.step.loss_step``
    (``estimate``: first, the loss's class means become the batch's feature class means)."""
    model.train()
    opt.zero_grad(set_to_none=True)
    logits, feats = model(x, return_features=True)
    if estimate:
        statistics.estimate_class_means(loss_fn, feats, y)
    compute_loss(loss_fn, logits, y, feats).backward()
    opt.step()


def _acc(model, x, y) -> int:
    model.eval()
    with torch.no_grad():
        c = int((model(x).argmax(1) == y).sum())
    model.train()
    return c


def _rollback_keeping(model, opt, mods, saved, kept) -> None:
    """Reference rollback: reload everything from ``saved`` except the tensors in ``kept``
    (class statistics), which keep their values and optimizer state."""
    values = [t.detach().clone() for t in kept]
    states = [copy.deepcopy(opt.state[t]) if t in opt.state else None for t in kept]
    model.load_state_dict(saved["model"])
    opt.load_state_dict(saved["optimizer"])
    for m, s in zip(mods, saved["modules"], strict=True):
        m.load_state_dict(s)
    with torch.no_grad():
        for t, v, st in zip(kept, values, states, strict=True):
            t.copy_(v)
            if st is not None:
                opt.state[t] = st
    torch.set_rng_state(saved["rng"])


@pytest.mark.parametrize(
    ("opt_name", "aux", "net", "ties"),
    [
        ("sgd", "multi_margin", DropNet, False),
        ("adam", "multi_margin,focal", DropNet, False),
        ("sgd", "center", TinyNet, False),
        ("adam", "neg", TinyNet, True),
    ],
)
def test_matches_reference_algorithm(opt_name: str, aux: str, net, ties: bool) -> None:
    """Every step (primary, kept aux, rolled-back aux) equals the reference bitwise, incl. the
    BatchNorm stats, optimizer state, centre parameters (estimated from the batch at every
    attempt and never rolled back) and the global RNG stream."""
    (m1, o1, mods1), (m2, o2, mods2) = _pair(opt_name, net, center=aux == "center")
    x, y = _data()
    obs = (x[:64], y[:64])
    if aux == "center":
        aux_spec, ref_aux = {"center": mods1[0]}, {"center": mods2[0]}
    elif aux == "neg":
        aux_spec, ref_aux = {"neg": neg_ce}, {"neg": neg_ce}
    else:
        aux_spec, ref_aux = aux, {a: losses.get(a) for a in aux.split(",")}
    mils = MILS(m1, o1, "ce", aux_spec, participation=0.5, observation=obs, accept_ties=ties)
    ce = losses.get("ce")
    kept = [m.centers for m in mods2]
    ref_ties = 0
    outcomes = set()
    for xb, yb in _batches(x, y, 30):
        torch.manual_seed(123)
        r = mils.step(xb, yb)
        rng_after = torch.get_rng_state()
        torch.manual_seed(123)
        if r.attempted_aux is None:
            _plain_step(m2, o2, ce, xb, yb)
            assert r.trained == "primary" and r.accepted is None
        else:
            saved = full_state(m2, o2, mods2)
            before = _acc(m2, *obs)
            name = r.attempted_aux
            _plain_step(m2, o2, ref_aux[name], xb, yb, estimate=True)
            after = _acc(m2, *obs)
            assert r.obs_acc_before == before / 64 and r.obs_acc_after == after / 64
            assert r.accepted == (after >= before if ties else after > before)
            ref_ties += after == before
            if not r.accepted:
                _rollback_keeping(m2, o2, mods2, saved, kept)
                _plain_step(m2, o2, ce, xb, yb)
            assert r.trained == (r.attempted_aux if r.accepted else "primary")
        outcomes.add(r.accepted)
        assert torch.equal(rng_after, torch.get_rng_state())
        assert_same(full_state(m1, o1, mods1), full_state(m2, o2, mods2))
    assert outcomes == {None, True, False}  # primary steps, kept and rolled-back updates
    assert mils.stats.ties == ref_ties and mils.stats.nonfinite == 0


@pytest.mark.parametrize("rule", ["rollback", "learn"])
def test_forced_rejection_restores_snapshot_bitwise(monkeypatch, rule: str) -> None:
    """Right after a rollback, parameters, BN buffers, optimizer state, scheduler and scaler
    state equal the pre-step state bitwise; the centres (and their optimizer state) too under
    ``statistics="rollback"``, while under ``"learn"`` they keep the auxiliary update."""
    torch.manual_seed(0)
    model = DropNet()
    center = losses.build("center", {"num_classes": 3, "feature_dim": 16})
    opt = torch.optim.SGD(
        list(model.parameters()) + list(center.parameters()), lr=0.1, momentum=0.9
    )
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    scaler = torch.amp.GradScaler("cpu", init_scale=4.0, growth_interval=1)
    x, y = _data()
    mils = MILS(
        model, opt, "ce", {"center": center}, 1.0, (x[:32], y[:32]), sched, scaler,
        statistics=rule,
    )
    for xb, yb in _batches(x, y, 2):  # build momentum state (centres get none under CE)
        mils._update(xb, yb, mils.primary)
        sched.step()
    calls = iter([(5, 0), (4, 0)])  # before, after: accuracy "drops" -> forced rejection
    monkeypatch.setattr(mils, "_observation_counts", lambda: torch.tensor(next(calls)))
    before = full_state(model, opt, [center], sched, scaler)
    seen = {}
    restore = mils._snapshot.restore

    def spy(keep: bool = False) -> None:
        seen["after_aux"] = full_state(model, opt, [center], sched, scaler)
        restore(keep=keep)
        seen["restored"] = full_state(model, opt, [center], sched, scaler)

    monkeypatch.setattr(mils._snapshot, "restore", spy)
    xb, yb = x[100:132], y[100:132]
    r = mils.step(xb, yb)
    assert r.accepted is False and r.trained == "primary" and r.attempted_aux == "center"
    assert seen["after_aux"]["scaler"]["scale"] == 2 * before["scaler"]["scale"]  # it did change
    assert len(seen["after_aux"]["optimizer"]["state"]) > len(before["optimizer"]["state"])
    restored = seen["restored"]
    if rule == "learn":  # the centres' value and momentum are the auxiliary update's
        n = len(list(model.parameters()))  # the centres are the optimizer's last parameter
        assert_same(seen["after_aux"]["modules"], restored["modules"])
        assert_same(seen["after_aux"]["optimizer"]["state"][n], restored["optimizer"]["state"][n])
        with pytest.raises(AssertionError):
            assert_same(before["modules"], restored["modules"])
        for key in ("modules",):
            restored[key] = before[key]
        del restored["optimizer"]["state"][n]
    assert_same(before, restored)
    assert mils.stats.rollbacks == 1 and mils.stats.successes == 0 and mils.stats.ties == 0


def test_accepted_update_equals_plain_aux_step(monkeypatch) -> None:
    (m1, o1, _), (m2, o2, _) = _pair("adam", TinyNet)
    x, y = _data()
    mils = MILS(m1, o1, "ce", "multi_margin", 1.0, (x[:16], y[:16]))
    # tie -> accepted (accept_ties=True)
    monkeypatch.setattr(mils, "_observation_counts", lambda: torch.tensor([7, 0]))
    mm = losses.get("multi_margin")
    for xb, yb in _batches(x, y, 5):
        r = mils.step(xb, yb)
        _plain_step(m2, o2, mm, xb, yb)
        assert r.accepted is True and r.trained == "multi_margin"
        assert torch.equal(r.loss, mm(r.logits, yb))
    assert_same(full_state(m1, o1), full_state(m2, o2))
    assert mils.stats.ties == mils.stats.successes == 5


def test_ties_rejected_when_accept_ties_false(monkeypatch) -> None:
    (m1, o1, _), (m2, o2, _) = _pair("sgd", TinyNet)
    x, y = _data()
    mils = MILS(m1, o1, "ce", "multi_margin", 1.0, (x[:16], y[:16]), accept_ties=False)
    monkeypatch.setattr(mils, "_observation_counts", lambda: torch.tensor([7, 0]))
    ce = losses.get("ce")
    for xb, yb in _batches(x, y, 4):
        assert mils.step(xb, yb).accepted is False
        _plain_step(m2, o2, ce, xb, yb)
    assert_same(full_state(m1, o1), full_state(m2, o2))
    assert mils.stats.ties == mils.stats.rollbacks == 4


def test_participation_zero_equals_primary_only_bitwise() -> None:
    (m1, o1, _), (m2, o2, _) = _pair("sgd", DropNet)
    x, y = _data()
    mils = MILS(m1, o1, "ce", "multi_margin", 0.0, (x[:16], y[:16]))
    ce = losses.get("ce")
    torch.manual_seed(7)
    for xb, yb in _batches(x, y, 20):
        assert mils.step(xb, yb).trained == "primary"
    rng1 = torch.get_rng_state()
    torch.manual_seed(7)
    for xb, yb in _batches(x, y, 20):
        _plain_step(m2, o2, ce, xb, yb)
    assert torch.equal(rng1, torch.get_rng_state())
    assert_same(full_state(m1, o1), full_state(m2, o2))
    assert mils.stats.attempts == 0 and mils._snapshot._saved is None  # never snapshotted


def test_always_hurting_aux_is_always_rolled_back() -> None:
    """Participation 1 with sign-flipped CE: every update rolled back, and training is bitwise
    primary-only training (BatchNorm, dropout, momentum)."""
    (m1, o1, _), (m2, o2, _) = _pair("sgd", DropNet, lr=0.5)
    x, y = _data()
    mils = MILS(m1, o1, "ce", {"neg_ce": neg_ce}, 1.0, (x[:128], y[:128]))
    ce = losses.get("ce")
    torch.manual_seed(7)
    results = [mils.step(xb, yb) for xb, yb in _batches(x, y, 25)]
    torch.manual_seed(7)
    for xb, yb in _batches(x, y, 25):
        _plain_step(m2, o2, ce, xb, yb)
    assert all(r.accepted is False and r.trained == "primary" for r in results)
    assert all(r.obs_acc_after < r.obs_acc_before for r in results)
    assert results[-1].obs_acc_before > 0.8  # and primary-only training did progress
    assert mils.stats.attempts == mils.stats.rollbacks == 25
    assert_same(full_state(m1, o1), full_state(m2, o2))


def test_no_schedule_accepts_every_update() -> None:
    (m1, o1, _), (m2, o2, _) = _pair("sgd", TinyNet)
    x, y = _data()
    mils = MILS(m1, o1, "ce", {"neg_ce": neg_ce}, 1.0, None, no_schedule=True)
    batches = list(_batches(x, y, 8))
    for xb, yb in batches[:7]:
        r = mils.step(xb, yb)
        assert r.accepted is True and r.trained == "neg_ce" and r.obs_acc_before is None
        _plain_step(m2, o2, neg_ce, xb, yb)
    assert_same(full_state(m1, o1), full_state(m2, o2))
    s = mils.stats
    assert s.attempts == s.successes == 7 and s.rollbacks == 0 and s.extra_forwards == 0
    # the 7th kept update overflowed the weights (finite loss): the next step says so
    with pytest.raises(ValueError, match="no_schedule"):
        mils.step(*batches[7])


def test_stats_are_consistent() -> None:
    torch.manual_seed(0)
    model = TinyNet()
    opt = torch.optim.SGD(model.parameters(), lr=0.3, momentum=0.9)
    x, y = _data()
    mils = MILS(
        model, opt, "ce", "multi_margin,focal", 0.4, (x[:50], y[:50]), observation_batch_size=20
    )
    results = [mils.step(xb, yb) for xb, yb in _batches(x, y, 80)]
    s = mils.stats
    attempted = [r for r in results if r.attempted_aux is not None]
    assert s.attempts == len(attempted) > 0
    assert s.successes == sum(r.accepted for r in attempted)
    assert s.rollbacks == sum(not r.accepted for r in attempted) > 0
    assert s.attempts == s.successes + s.rollbacks
    assert s.extra_forwards == 2 * 3 * s.attempts + s.rollbacks  # 3 chunks of ≤ 20 per eval
    assert s.extra_time_s > 0
    for name in ("multi_margin", "focal"):
        assert s.aux_attempts[name] == sum(r.attempted_aux == name for r in attempted)
        assert s.aux_successes[name] == sum(
            bool(r.accepted) for r in attempted if r.attempted_aux == name
        )
    assert s.success_ratio == s.successes / s.attempts
    old = mils.reset_stats()
    assert old is s and mils.stats.attempts == 0 and mils.stats.success_ratio is None


def test_participation_draws_are_seeded_and_private() -> None:
    """Decisions come from MILS's own generator: same seed → same schedule; the global RNG is
    not consumed by the draws; the number of attempts follows Bernoulli(p)."""

    def schedule(seed: int) -> list:
        torch.manual_seed(0)
        model = TinyNet()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        x, y = _data()
        g = torch.Generator().manual_seed(seed)
        mils = MILS(model, opt, "ce", "multi_margin", 0.25, (x[:8], y[:8]), generator=g)
        return [mils.selector.draw() for _ in range(2000)]

    torch.manual_seed(5)
    state = torch.get_rng_state()
    a, b, c = schedule(1), schedule(1), schedule(2)
    torch.manual_seed(5)
    assert a == b and a != c
    assert torch.equal(state, torch.get_rng_state())
    k = sum(d is not None for d in a)
    assert abs(k - 500) < 5 * math.sqrt(2000 * 0.25 * 0.75)


def test_adaptive_selection_follows_success_ratio() -> None:
    torch.manual_seed(0)
    model = TinyNet()
    x, y = _data()
    mils = MILS(
        model,
        torch.optim.SGD(model.parameters(), lr=0.1),
        "ce",
        "multi_margin,focal",
        1.0,
        (x[:8], y[:8]),
        aux_selection="adaptive",
    )
    sel = mils.selector
    assert sel.probabilities() == [0.5, 0.5]
    for _ in range(8):
        sel.update(0, True)
        sel.update(1, False)
    w0, w1 = 9 / 10, 1 / 10  # (s + 1) / (a + 2)
    assert sel.probabilities() == pytest.approx([w0 / (w0 + w1), w1 / (w0 + w1)])
    draws = [sel.draw() for _ in range(3000)]
    frac = draws.count(0) / 3000
    assert abs(frac - 0.9) < 5 * math.sqrt(0.09 / 3000)


def test_observation_eval_leaves_bn_and_rng_untouched() -> None:
    torch.manual_seed(0)
    model = DropNet()
    model.train()
    x, y = _data()
    model(x[:64])  # non-trivial running stats
    bn = model.body[1]
    stats = (bn.running_mean.clone(), bn.running_var.clone(), bn.num_batches_tracked.clone())
    rng = torch.get_rng_state()
    c1 = observation_counts(model, x[:100], y[:100])[0]
    c2 = observation_counts(model, x[:100], y[:100], batch_size=7)[0]
    assert model.training and int(c1) == int(c2)
    assert torch.equal(rng, torch.get_rng_state())
    assert torch.equal(bn.running_mean, stats[0]) and torch.equal(bn.running_var, stats[1])
    assert torch.equal(bn.num_batches_tracked, stats[2])
    model.eval()
    assert int(c1) == int((model(x[:100]).argmax(1) == y[:100]).sum())


def test_no_deepcopy_per_step(monkeypatch) -> None:
    torch.manual_seed(0)
    model = TinyNet()
    opt = torch.optim.Adam(model.parameters())
    x, y = _data()
    mils = MILS(model, opt, "ce", "multi_margin", 1.0, (x[:16], y[:16]))

    def boom(*a, **k):
        raise AssertionError("deepcopy called during a step")

    monkeypatch.setattr(copy, "deepcopy", boom)
    for xb, yb in _batches(x, y, 6):
        mils.step(xb, yb)
    assert mils.stats.attempts == 6


def test_state_dict_round_trip_continues_identically() -> None:
    (m1, o1, _), (m2, o2, _) = _pair("sgd", TinyNet)
    x, y = _data()
    a = MILS(m1, o1, "ce", "multi_margin,focal", 0.5, (x[:16], y[:16]), aux_selection="adaptive")
    for xb, yb in _batches(x, y, 10):
        a.step(xb, yb)
    m2.load_state_dict(m1.state_dict())
    o2.load_state_dict(copy.deepcopy(o1.state_dict()))  # no aliased momentum buffers
    b = MILS(m2, o2, "ce", "multi_margin,focal", 0.5, (x[:16], y[:16]), aux_selection="adaptive")
    b.load_state_dict(copy.deepcopy(a.state_dict()))
    ra = [a.step(xb, yb) for xb, yb in _batches(x, y, 10, seed=9)]
    rb = [b.step(xb, yb) for xb, yb in _batches(x, y, 10, seed=9)]
    assert [(r.trained, r.accepted) for r in ra] == [(r.trained, r.accepted) for r in rb]
    assert_same(full_state(m1, o1), full_state(m2, o2))
    assert a.stats.attempts == b.stats.attempts and a.selector.attempts == b.selector.attempts


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), "x", None])
def test_bad_participation(bad) -> None:
    model = TinyNet()
    x, y = _data()
    with pytest.raises(ValueError, match="participation"):
        MILS(model, torch.optim.SGD(model.parameters(), lr=0.1), "ce", "focal", bad, (x, y))


def test_bad_arguments() -> None:
    model = TinyNet()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = _data()
    obs = (x[:8], y[:8])
    with pytest.raises(ValueError, match="observation.*empty"):
        MILS(model, opt, "ce", "focal", 0.1, (x[:0], y[:0]))
    with pytest.raises(ValueError, match="observation"):
        MILS(model, opt, "ce", "focal", 0.1, None)
    with pytest.raises(ValueError, match="observation"):
        MILS(model, opt, "ce", "focal", 0.1, (x[:8], y[:7]))
    with pytest.raises(ValueError, match="aux.*unknown loss 'nope'"):
        MILS(model, opt, "ce", "focal,nope", 0.1, obs)
    with pytest.raises(ValueError, match="primary.*unknown loss"):
        MILS(model, opt, "nope", "focal", 0.1, obs)
    with pytest.raises(ValueError, match="aux"):
        MILS(model, opt, "ce", " , ", 0.1, obs)
    with pytest.raises(ValueError, match="aux_selection"):
        MILS(model, opt, "ce", "focal", 0.1, obs, aux_selection="greedy")
    center = losses.build("center", {"num_classes": 3, "feature_dim": 16})
    with pytest.raises(ValueError, match="aux.*not in the optimizer"):
        MILS(model, opt, "ce", {"center": center}, 0.1, obs)
    # no observation needed when nothing is ever evaluated
    MILS(model, opt, "ce", "focal", 0.0, None)
    MILS(model, opt, "ce", "focal", 0.5, None, no_schedule=True)


def test_autocast_rollbacks_match_primary_only() -> None:
    (m1, o1, _), (m2, o2, _) = _pair("sgd", TinyNet, lr=0.5)
    x, y = _data()
    mils = MILS(
        m1, o1, "ce", {"neg_ce": neg_ce}, 1.0, (x[:64], y[:64]), autocast_dtype=torch.bfloat16
    )
    ce = losses.get("ce")
    for xb, yb in _batches(x, y, 6):
        r = mils.step(xb, yb)
        assert r.accepted is False and r.logits.dtype == torch.bfloat16
        m2.train()
        o2.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits, feats = m2(xb, return_features=True)
        compute_loss(ce, logits, yb, feats).backward()
        o2.step()
    assert_same(full_state(m1, o1), full_state(m2, o2))
