"""StochasticLoss: H = Σ_i p̂_i · l_i (SLF paper Eq. 11) and its variants."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from losskit import losses
from losskit.slf import DecisionNet, StochasticLoss, TauSchedule, sample_gumbel

NAMES = ["ce", "prob_mse", "prob_mae", "hinge", "cosine"]
BATCH = {"granularity": "batch"}  # our variant: one p per mini-batch


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def batch(n: int = 16, c: int = 5, dtype=torch.float64, seed: int = 0):
    g = gen(seed)
    out = (2 * torch.randn(n, c, generator=g)).to(dtype)
    y = torch.randint(0, c, (n,), generator=g)
    return out, y


def randomise(slf: StochasticLoss, seed: int = 1) -> StochasticLoss:
    """Give the decision net a random (non-zero) last layer so p is not uniform."""
    g = gen(seed)
    with torch.no_grad():
        for p in slf.decision_net.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype))
    return slf


def zoo_values(out, y, names=NAMES, reduction="mean"):
    return torch.stack([losses.get(n, reduction=reduction)(out, y) for n in names], -1)


def batch_probs(slf, out):
    return torch.softmax(slf.decision_net(out.detach()), -1).mean(0)


# ------------------------------------------------------------------ modes
def test_softmax_mode_equals_sum_of_p_times_losses():
    slf = randomise(StochasticLoss(NAMES, num_outputs=5, mode="softmax", **BATCH).double())
    out, y = batch()
    h = slf(out, y)
    p = batch_probs(slf, out)
    expected = (p * zoo_values(out, y)).sum()
    torch.testing.assert_close(h, expected, rtol=1e-13, atol=0)
    torch.testing.assert_close(slf.last_probs, p, rtol=1e-13, atol=0)
    assert torch.equal(slf.last_weights, slf.last_probs)
    assert not torch.allclose(p, torch.full_like(p, 0.2))  # p is really not uniform here


def test_default_decision_net_starts_uniform():
    slf = StochasticLoss(NAMES, num_outputs=5, mode="softmax")
    out, y = batch(dtype=torch.float32)
    slf(out, y)
    torch.testing.assert_close(slf.last_probs, torch.full((5,), 0.2), rtol=1e-6, atol=0)


def test_fixed_mode_default_is_the_mean_and_weights_are_used_as_given():
    out, y = batch()
    vals = zoo_values(out, y)
    eq = StochasticLoss(NAMES, num_outputs=5, mode="fixed").double()
    torch.testing.assert_close(eq(out, y), vals.mean(), rtol=1e-14, atol=0)
    w = [0.5, 0.0, 2.0, 1.0, 0.25]
    fx = StochasticLoss(NAMES, num_outputs=5, mode="fixed", weights=w).double()
    torch.testing.assert_close(fx(out, y), (torch.tensor(w).double() * vals).sum(), rtol=1e-14,
                               atol=0)
    assert list(fx.parameters()) == []  # no decision network
    assert torch.equal(fx.last_weights, torch.tensor(w, dtype=torch.float64))
    torch.testing.assert_close(fx.last_probs.sum(), torch.tensor(1.0, dtype=torch.float64))
    # comma-separated weights (CLI) are the same
    fs = StochasticLoss(NAMES, num_outputs=5, mode="fixed", weights="0.5,0,2,1,0.25").double()
    assert torch.equal(fs(out, y), fx(out, y))


def _replicate_gumbel(slf, out, y, seed, K, tau):
    """Recompute H by hand from the same noise: forward with one-hot p̂, backward relaxed."""
    p = batch_probs(slf, out)
    g = sample_gumbel((K, 5), generator=gen(seed), dtype=out.dtype)
    scores = p.log() + g
    one_hot = nn.functional.one_hot(scores.argmax(-1), 5).to(out.dtype).mean(0)
    soft = torch.softmax(scores / tau, -1).mean(0)
    vals = zoo_values(out, y)
    return one_hot, (one_hot * vals).sum(), (soft * vals.detach()).sum()


def test_gumbel_mode_value_and_decision_gradient_match_the_hand_computation():
    K, tau = 3, 0.7
    slf = randomise(StochasticLoss(NAMES, num_outputs=5, K=K, tau=tau, generator=gen(5),
                                   **BATCH).double())
    out, y = batch()
    h = slf(out, y)
    h.backward()
    got = [p.grad.clone() for p in slf.decision_net.parameters()]
    slf.zero_grad()
    one_hot, h_ref, h_soft = _replicate_gumbel(slf, out, y, 5, K, tau)
    assert torch.equal(slf.last_weights, one_hot)
    torch.testing.assert_close(h.detach(), h_ref, rtol=1e-13, atol=0)
    # straight-through: ∂H/∂v is the gradient of Σ_i l_i · mean_k softmax((log p + G_k)/τ)_i
    h_soft.backward()
    for a, p in zip(got, slf.decision_net.parameters(), strict=True):
        torch.testing.assert_close(a, p.grad, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("K", [1, 3, 7])
def test_weights_are_multiples_of_one_over_k_and_k1_is_one_hot(K):
    slf = StochasticLoss(NAMES, num_outputs=5, K=K, generator=0, **BATCH)
    for seed in range(10):
        slf(*batch(dtype=torch.float32, seed=seed))
        w = slf.last_weights
        torch.testing.assert_close(w.sum(), torch.tensor(1.0))
        torch.testing.assert_close(w * K, (w * K).round(), rtol=0, atol=1e-6)
        if K == 1:
            assert sorted(w.tolist()) == [0.0, 0.0, 0.0, 0.0, 1.0]


def test_gradients_reach_model_output_and_every_decision_parameter():
    torch.manual_seed(0)
    model = nn.Linear(6, 5)
    slf = StochasticLoss(NAMES, num_outputs=5, K=3, generator=0)
    opt = torch.optim.SGD([*model.parameters(), *slf.parameters()], lr=0.5)
    x, y = torch.randn(32, 6), torch.randint(0, 5, (32,))
    for step in range(2):
        opt.zero_grad()
        out = model(x)
        out.retain_grad()
        slf(out, y).backward()
        assert out.grad.abs().sum() > 0
        assert model.weight.grad.abs().sum() > 0
        last = slf.decision_net.net[-1]
        assert last.weight.grad.abs().sum() > 0 and last.bias.grad.abs().sum() > 0
        if step == 1:  # once the zero-initialised last layer moved, the first layer learns too
            first = slf.decision_net.net[0]
            assert first.weight.grad.abs().sum() > 0
        opt.step()


def test_detach_input_true_model_gradient_is_weighted_loss_gradient_only():
    out, y = batch()
    slf = randomise(StochasticLoss(NAMES, num_outputs=5, mode="softmax", detach_input=True,
                                   **BATCH).double())
    a = out.clone().requires_grad_(True)
    slf(a, y).backward()
    p = batch_probs(slf, out).detach()
    b = out.clone().requires_grad_(True)
    (p * zoo_values(b, y)).sum().backward()
    torch.testing.assert_close(a.grad, b.grad, rtol=1e-12, atol=1e-15)
    # detach_input=False: the model also gets gradient through h(f(x; w); v)
    slf.detach_input = False
    c = out.clone().requires_grad_(True)
    slf(c, y).backward()
    assert (c.grad - b.grad).abs().max() > 1e-4


def test_detach_input_false_gradcheck_float64():
    slf = randomise(StochasticLoss(["ce", "prob_mse", "cosine"], num_outputs=4, mode="softmax",
                                   detach_input=False).double())
    out, y = batch(n=6, c=4)
    out.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda o: slf(o, y), (out,))


def test_float64_end_to_end_in_gumbel_mode():
    slf = StochasticLoss(NAMES, num_outputs=5, generator=0).double()
    out, y = batch()
    out.requires_grad_(True)
    h = slf(out, y)
    assert h.dtype == torch.float64 and slf.last_weights.dtype == torch.float64
    h.backward()
    assert out.grad.dtype == torch.float64


def test_float32_decision_net_accepts_float64_output():
    slf = StochasticLoss(NAMES, num_outputs=5, generator=0)  # float32 parameters
    h = slf(*batch(dtype=torch.float64))
    assert h.dtype == torch.float64


def test_seeded_runs_are_deterministic_and_the_seed_matters():
    def trace(seed):
        torch.manual_seed(0)
        slf = StochasticLoss(NAMES, num_outputs=5, K=2, generator=gen(seed))
        ws = []
        for s in range(8):
            slf(*batch(dtype=torch.float32, seed=s))
            ws.append(slf.last_weights)
        return torch.stack(ws)

    assert torch.equal(trace(3), trace(3))
    assert not torch.equal(trace(3), trace(4))


def test_int_seed_creates_generator_on_first_call_and_matches_explicit_generator():
    torch.manual_seed(0)
    a = StochasticLoss(NAMES, num_outputs=5, generator=11)
    torch.manual_seed(0)
    b = StochasticLoss(NAMES, num_outputs=5, generator=gen(11))
    assert a.generator is None
    for s in range(4):
        ha, hb = a(*batch(dtype=torch.float32, seed=s)), b(*batch(dtype=torch.float32, seed=s))
        assert torch.equal(ha, hb) and torch.equal(a.last_weights, b.last_weights)
    assert a.generator is not None


def test_state_dict_restores_generator_step_and_running_mean():
    kw = dict(num_outputs=5, K=2, tau=TauSchedule(2.0, 0.5, 10), normalize="running_mean")
    torch.manual_seed(0)
    a = StochasticLoss(NAMES, generator=7, **kw)
    for s in range(3):
        a(*batch(dtype=torch.float32, seed=s))
    state = a.state_dict()
    torch.manual_seed(1)
    b = StochasticLoss(NAMES, generator=123, **kw)
    b.load_state_dict(state)
    assert b.step_count == 3 and b.tau == a.tau
    assert torch.equal(b.running_mean, a.running_mean)
    for s in range(3, 6):
        ha, hb = a(*batch(dtype=torch.float32, seed=s)), b(*batch(dtype=torch.float32, seed=s))
        assert torch.equal(ha, hb) and torch.equal(a.last_weights, b.last_weights)


# ------------------------------------------------------------------ tau
def test_tau_schedule_values_and_step_counting():
    s = TauSchedule(2.0, 0.5, 4)
    assert [s(t) for t in (0, 2, 4, 9)] == pytest.approx([2.0, 1.0, 0.5, 0.5])
    lin = TauSchedule(2.0, 1.0, 4, kind="linear")
    assert [lin(t) for t in (0, 1, 4)] == pytest.approx([2.0, 1.75, 1.0])
    cos = TauSchedule(2.0, 1.0, 4, kind="cosine")
    assert [cos(t) for t in (0, 2, 4)] == pytest.approx([2.0, 1.5, 1.0])
    slf = StochasticLoss(NAMES, num_outputs=5, tau=s, generator=0)
    slf(*batch(dtype=torch.float32))
    slf(*batch(dtype=torch.float32))
    assert slf.step_count == 2 and slf.tau == pytest.approx(1.0)
    slf.eval()
    slf(*batch(dtype=torch.float32))
    assert slf.step_count == 2  # evaluation calls do not advance the schedule
    dict_tau = StochasticLoss(NAMES, num_outputs=5, tau={"start": 3.0, "end": 1.0, "steps": 2})
    assert dict_tau.tau == 3.0
    fn_tau = StochasticLoss(NAMES, num_outputs=5, tau=lambda t: 1.0 / (t + 1))
    assert fn_tau.tau == 1.0


def test_tau_changes_decision_gradient_but_not_forward_value():
    out, y = batch()
    res = {}
    for tau in (0.3, 3.0):
        slf = randomise(StochasticLoss(NAMES, num_outputs=5, tau=tau, generator=gen(2)).double())
        h = slf(out, y)
        h.backward()
        res[tau] = (h.detach(), slf.decision_net.net[-1].bias.grad.clone())
    assert torch.equal(res[0.3][0], res[3.0][0])
    assert not torch.allclose(res[0.3][1], res[3.0][1])


# ------------------------------------------------------------------ granularity
def test_sample_granularity_draws_one_p_hat_per_sample():
    K, seed = 3, 4
    slf = randomise(StochasticLoss(NAMES, num_outputs=5, K=K, granularity="sample",
                                   generator=gen(seed)).double())
    out, y = batch(n=12)
    h = slf(out, y)
    log_p = torch.log_softmax(slf.decision_net(out), -1)  # (N, n): one p per sample
    g = sample_gumbel((K, 12, 5), generator=gen(seed), dtype=torch.float64)
    w = nn.functional.one_hot((log_p + g).argmax(-1), 5).double().mean(0)  # (N, n)
    per_sample = zoo_values(out, y, reduction="none")  # (N, n)
    torch.testing.assert_close(h.detach(), (w * per_sample).sum(-1).mean(), rtol=1e-13, atol=0)
    torch.testing.assert_close(slf.last_weights, w.mean(0), rtol=1e-13, atol=0)
    torch.testing.assert_close(slf.last_probs, log_p.exp().mean(0).detach(), rtol=1e-13, atol=0)
    assert len({tuple(r.tolist()) for r in w}) > 1  # samples really choose differently


def test_sample_and_batch_granularity_agree_for_fixed_weights():
    out, y = batch()
    w = [0.1, 0.2, 0.3, 0.15, 0.25]
    a = StochasticLoss(NAMES, num_outputs=5, mode="fixed", weights=w).double()
    b = StochasticLoss(NAMES, num_outputs=5, mode="fixed", weights=w, granularity="sample")
    torch.testing.assert_close(a(out, y), b.double()(out, y), rtol=1e-13, atol=0)


def test_sample_granularity_rejects_reducing_modules():
    with pytest.raises(ValueError, match="reduction='none'"):
        StochasticLoss([losses.get("ce"), losses.get("prob_mse")], num_outputs=5,
                       granularity="sample")
    slf = StochasticLoss([lambda o, t: o.sum(), lambda o, t: o.mean()], num_outputs=5,
                         granularity="sample")
    with pytest.raises(ValueError, match="per-sample"):
        slf(*batch())


# ------------------------------------------------------------------ normalisation
def _constant_parts(values):
    """Parts whose batch loss is output.sum() * 0 + the scheduled constant (known by hand)."""
    it = iter(values)
    current = {}

    def make(i):
        def part(o, t):
            return o.sum() * 0 + current["v"][i]
        return part

    def advance():
        current["v"] = next(it)

    return {"a": make(0), "b": make(1)}, advance


def test_running_mean_normalisation_math():
    seq = [(2.0, 0.1), (4.0, 0.3), (1.0, 0.2)]
    parts, advance = _constant_parts(seq)
    beta = 0.9
    slf = StochasticLoss.from_parts(parts, num_outputs=5, mode="fixed", weights=[0.25, 0.75],
                                    normalize="running_mean", momentum=beta, **BATCH).double()
    m = None
    out, y = batch()
    for a, b in seq:
        advance()
        h = slf(out, y)
        v = torch.tensor([a, b], dtype=torch.float64)
        m = v.clone() if m is None else beta * m + (1 - beta) * v
        torch.testing.assert_close(slf.running_mean, m, rtol=1e-14, atol=0)
        torch.testing.assert_close(h, (torch.tensor([0.25, 0.75]).double() * v / m).sum(),
                                   rtol=1e-14, atol=0)
        assert torch.equal(slf.last_losses, v)  # logged losses are the raw ones
    # evaluation mode uses but does not update the running mean
    slf.eval()
    advance_vals = torch.tensor([10.0, 10.0], dtype=torch.float64)
    parts2 = {"a": lambda o, t: o.sum() * 0 + 10.0, "b": lambda o, t: o.sum() * 0 + 10.0}
    ev = StochasticLoss.from_parts(parts2, num_outputs=5, mode="fixed", weights=[0.25, 0.75],
                                   normalize="running_mean", **BATCH).double()
    ev.load_state_dict(slf.state_dict())
    ev.eval()
    h = ev(out, y)
    torch.testing.assert_close(ev.running_mean, m, rtol=0, atol=0)
    torch.testing.assert_close(h, (torch.tensor([0.25, 0.75]).double() * advance_vals / m).sum())


def test_running_mean_puts_every_loss_near_one():
    slf = StochasticLoss(NAMES, num_outputs=5, mode="softmax", normalize="running_mean")
    out, y = batch(dtype=torch.float32)
    slf(out, y)  # first call: l_i / m_i = 1 for every loss, so H = Σ p_i = 1
    torch.testing.assert_close(slf(out, y), torch.tensor(1.0))


# ------------------------------------------------------------------ parts, features, modules
def test_from_parts_names_values_and_parameters():
    scale = nn.Linear(1, 1, bias=False)

    def coord(o, t):
        return ((o[:, :2] - t[:, :2]) ** 2).mean()

    def obj(o, t):
        return (o[:, 2:] - t[:, 2:]).abs().mean()

    class Learnt(nn.Module):
        def __init__(self):
            super().__init__()
            self.s = scale

        def forward(self, o, t):
            return (self.s.weight * o).pow(2).mean()

    slf = StochasticLoss.from_parts({"coord": coord, "obj": obj, "reg": Learnt()},
                                    num_outputs=4, mode="softmax", **BATCH)
    assert slf.loss_names == ["coord", "obj", "reg"]
    assert any(p is scale.weight for p in slf.parameters())
    o, t = torch.randn(8, 4), torch.randn(8, 4)
    h = slf(o, t)
    torch.testing.assert_close(h, (torch.full((3,), 1 / 3) * torch.stack(
        [coord(o, t), obj(o, t), Learnt()(o, t)])).sum())
    with pytest.raises(ValueError, match="parts"):
        StochasticLoss.from_parts({}, num_outputs=4)


def test_feature_losses_get_features_and_complain_without():
    center = losses.build("center", {"num_classes": 5, "feature_dim": 3})
    slf = StochasticLoss([losses.get("ce"), center], num_outputs=5, mode="softmax", **BATCH)
    assert slf.needs_features
    out, y = batch(dtype=torch.float32)
    feats = torch.randn(16, 3)
    h = slf(out, y, features=feats)
    torch.testing.assert_close(h, 0.5 * losses.get("ce")(out, y) + 0.5 * center(out, y, feats))
    assert any(p is center.centers for p in slf.parameters())
    with pytest.raises(ValueError, match="features"):
        slf(out, y)


def test_custom_decision_net_is_used():
    net = DecisionNet(5, 2, hidden=0)
    slf = StochasticLoss("ce,prob_mse", num_outputs=5, decision_net=net, mode="softmax")
    assert slf.decision_net is net
    bad = StochasticLoss("ce,prob_mse", num_outputs=5, decision_net=nn.Linear(5, 3))
    with pytest.raises(ValueError, match="decision_net"):
        bad(*batch(dtype=torch.float32))


# ------------------------------------------------------------------ validation
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"k": 0}, "k must be"),
        ({"k": 2.5}, "k must be"),
        ({"k": True}, "k must be"),
        ({"tau": 0.0}, "tau must be"),
        ({"tau": -1.0}, "tau must be"),
        ({"tau": math.nan}, "tau must be"),
        ({"losses": "ce"}, "at least 2"),
        ({"losses": ["ce"]}, "at least 2"),
        ({"losses": "ce,,mse"}, "comma-separated"),
        ({"losses": "ce,nope"}, "unknown loss 'nope'"),
        ({"losses": 3}, "losses must be"),
        ({"mode": "argmax"}, "mode must be"),
        ({"granularity": "pixel"}, "granularity must be"),
        ({"normalize": "zscore"}, "normalize must be"),
        ({"num_outputs": 0}, "num_outputs must be"),
        ({"weights": [1, 1, 1, 1, 1]}, "weights is only used"),
        ({"mode": "fixed", "weights": [1, 2]}, "one entry per loss"),
        ({"mode": "fixed", "weights": [1, -1, 1, 1, 1]}, "weights must be"),
        ({"mode": "fixed", "weights": [0, 0, 0, 0, 0]}, "weights must be"),
        ({"hidden": -1}, "hidden must be"),
        ({"generator": "seed"}, "generator must be"),
        ({"momentum": 1.0}, "momentum must be"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs, match):
    args = {"losses": NAMES, "num_outputs": 5, **kwargs}
    with pytest.raises(ValueError, match=match):
        StochasticLoss(**args)


def test_bad_call_arguments_raise_value_error():
    slf = StochasticLoss(NAMES, num_outputs=5)
    with pytest.raises(ValueError, match="num_outputs"):
        slf(torch.randn(4, 6), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="output"):
        slf(torch.full((4, 5), math.nan), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="end must be"):
        TauSchedule(1.0, 0.0, 10)
    with pytest.raises(ValueError, match="steps"):
        TauSchedule(1.0, 0.5, 0)


def test_fused_candidate_losses_match_unfused_modules():
    """The shared-softmax fast path (zoo modules) gives the loss of calling each loss."""
    import functools

    from losskit.losses import functional as LF

    g = torch.Generator().manual_seed(3)
    x = torch.randn(32, 6, generator=g, dtype=torch.float64)
    y = torch.randint(0, 6, (32,), generator=g)
    fns = [LF.cross_entropy, LF.prob_mse, LF.prob_mae, LF.hinge, LF.cosine, LF.prob_bce]
    for granularity in ("batch", "sample"):
        fused = StochasticLoss("ce,prob_mse,prob_mae,hinge,cosine,prob_bce", 6,
                               granularity=granularity)
        plain = StochasticLoss(
            [functools.partial(f, reduction="none") for f in fns], 6,
            granularity=granularity,
        )
        assert len(fused._fused) == 6 and not plain._fused
        torch.testing.assert_close(fused.loss_values(x, y), plain.loss_values(x, y))
    mixed = StochasticLoss(["ce", lambda o, t: LF.focal(o, t), "prob_mae"], 6, **BATCH)
    expected = torch.stack([LF.cross_entropy(x, y), LF.focal(x, y), LF.prob_mae(x, y)])
    torch.testing.assert_close(mixed.loss_values(x, y), expected)


def test_old_K_keyword_is_checked_like_k():
    with pytest.warns(DeprecationWarning, match="K= is deprecated"), \
            pytest.raises(ValueError, match="k must be"):
        StochasticLoss(["ce", "mse"], num_classes=3, K=0)
