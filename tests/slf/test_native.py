"""StochasticLoss without host syncs (value checks off), as one autograd node in the paper's
setting, and under ``torch.compile(fullgraph=True)`` in every mode (no recompiles per step)."""

from __future__ import annotations

import copy

import pytest
import torch

import losskit
from losskit.bench.counts import count_syncs
from losskit.slf import StochasticLoss, TauSchedule

N, C = 16, 5
CONFIGS = {
    "paper": {},
    "batch": {"granularity": "batch", "detach_input": True},
    "softmax": {"mode": "softmax"},
    "fixed": {"mode": "fixed"},
    "running_mean": {"normalize": "running_mean", "tau": TauSchedule(2.0, 0.5, 3)},
    "mixed": {"losses": ["prob_mse", "hinge", "focal"]},  # a non-fused candidate
    # tau from the step tensor, read again by the backward after the step advanced
    "paper_schedule": {"tau": TauSchedule(2.0, 0.5, 3)},
}


def _make(config: str, **extra) -> StochasticLoss:
    torch.manual_seed(0)  # the decision network's initialisation
    kwargs = {"losses": ["prob_mse", "prob_mae", "hinge", "cosine", "prob_bce"],
              "generator": 3, **CONFIGS[config], **extra}
    slf = StochasticLoss(kwargs.pop("losses"), C, **kwargs)
    if slf.decision_net is not None:  # a non-zero last layer, so p is not uniform
        torch.nn.init.normal_(list(slf.decision_net.parameters())[-2], std=0.5)
    return slf


def _batch(seed: int):
    g = torch.Generator().manual_seed(seed)
    return 2 * torch.randn(N, C, generator=g), torch.randint(0, C, (N,), generator=g)


def _run(slf, z, y):
    z = z.clone().requires_grad_(True)
    value = slf(z, y)
    value.backward()
    return value.detach(), [z.grad] + [p.grad.clone() for p in slf.parameters()]


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_no_host_sync_with_value_checks_off(config):
    slf = _make(config)
    z, y = _batch(0)
    z.requires_grad_(True)
    with losskit.validate_args(False):
        assert count_syncs(lambda: slf(z, y).backward(), steps=3) == 0
    assert count_syncs(lambda: slf(z, y).backward()) >= 1  # the checks, when on


def test_one_node_objective_equals_the_generic_path():
    """The paper setting's H (one autograd node) = (p̂ · l).sum(-1).mean() of forward_parts:
    values bitwise, gradients up to float rounding, the same bookkeeping and RNG stream."""
    fast = _make("paper")
    assert fast._one_node
    slow = copy.deepcopy(fast)
    for seed in (0, 1):
        z, y = _batch(seed)
        a, b = z.clone().requires_grad_(True), z.clone().requires_grad_(True)
        h_fast = fast(a, y)
        w, v = slow.forward_parts(b, y)
        h_slow = (w * v).sum(-1).mean()
        assert torch.equal(h_fast, h_slow)
        h_fast.backward()
        h_slow.backward()
        torch.testing.assert_close(a.grad, b.grad)
        for p, q in zip(fast.parameters(), slow.parameters(), strict=True):
            torch.testing.assert_close(p.grad, q.grad)
        for name in ("last_losses", "last_weights", "last_probs"):
            assert torch.equal(getattr(fast, name), getattr(slow, name)), name
    assert fast.step_count == slow.step_count == 2


def test_counters_survive_state_dict_and_copies():
    slf = _make("running_mean")
    for seed in range(3):
        slf(*_batch(seed)).backward()
    state = slf.state_dict()
    other = _make("running_mean")
    other.load_state_dict(state)
    assert other.step_count == 3 and other.tau == pytest.approx(slf.tau)
    assert int(other.norm_counter) == 3
    twin = copy.deepcopy(slf)  # draws from its own generator, in the same state
    z, y = _batch(5)
    assert torch.equal(twin(z, y), slf(z, y))


def _assert_compiled_matches_eager(config: str) -> None:
    torch._dynamo.reset()
    eager = _make(config)
    compiled_module = copy.deepcopy(eager)
    compiled = torch.compile(compiled_module, fullgraph=True)
    for seed in range(3):  # the step counter and the generator advance: no recompile
        z, y = _batch(seed)
        for m in (eager, compiled_module):
            m.zero_grad(set_to_none=True)
        with torch._dynamo.config.patch(error_on_recompile=seed > 0):
            got, got_grads = _run(compiled, z, y)
        want, want_grads = _run(eager, z, y)
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
        for a, b in zip(got_grads, want_grads, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    assert compiled_module.step_count == eager.step_count == 3


def test_paper_setting_compiles_fullgraph():
    _assert_compiled_matches_eager("paper")


@pytest.mark.slow
@pytest.mark.parametrize("config", sorted(set(CONFIGS) - {"paper"}))
def test_every_mode_compiles_fullgraph(config):
    _assert_compiled_matches_eager(config)


@pytest.mark.parametrize("input_grad", [True, False])
def test_decision_net_node_is_bitwise_the_sequential_graph(input_grad):
    from losskit.slf import DecisionNet

    torch.manual_seed(1)
    net = DecisionNet(C, 4, hidden=8)
    torch.nn.init.normal_(net.net[2].weight)
    x = torch.randn(N, C, requires_grad=input_grad)
    x_ref = x.detach().clone().requires_grad_(input_grad)
    out, ref = net(x), net.net(x_ref)
    assert torch.equal(out, ref)
    upstream = torch.randn_like(out)
    inputs = [*([x] if input_grad else []), *net.parameters()]
    ref_inputs = [*([x_ref] if input_grad else []), *net.parameters()]
    for a, b in zip(torch.autograd.grad(out, inputs, upstream),
                    torch.autograd.grad(ref, ref_inputs, upstream), strict=True):
        assert torch.equal(a, b)
