"""SLF's silent failures made loud (losskit.slf.guard): a collapse onto one candidate is logged
and warned about; an optimizer that leaves out the decision network is refused."""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
from torch import nn

from losskit.core.method import TrainContext, bind_method, setup_method
from losskit.slf import COLLAPSE_SHARE, SLFCollapseWarning, SLFMethod, StochasticLoss
from losskit.slf.guard import collapse_message, collapsed_to
from losskit.train import TrainConfig, fit
from tests.conftest import TinyNet, make_blobs

# the README tour's joint SLF: on digits it collapses onto prob_mse in epoch 3
TOUR = {"losses": "ce,prob_mse,prob_mae", "k": 3}


def test_joint_slf_collapses_on_digits_and_says_so_once():
    config = TrainConfig(data="digits", model="mlp", method="slf", epochs=4, seed=0,
                         method_kwargs=TOUR)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = fit(config)
    collapse = [w for w in caught if issubclass(w.category, SLFCollapseWarning)]
    assert len(collapse) == 1  # once per run, though epochs 3 and 4 both collapsed
    text = str(collapse[0].message)
    assert "'prob_mse'" in text and "update='bilevel'" in text
    assert "normalize='running_mean'" in text
    recorded = [h["slf_collapsed_to"] for h in run.history]
    for h in run.history:  # the record agrees with its own weights
        top = max(range(3), key=lambda i: h["slf_weights"][i])
        over = h["slf_weights"][top] > COLLAPSE_SHARE * sum(h["slf_weights"])
        assert h["slf_collapsed_to"] == (h["slf_losses"][top] if over else None)
    assert recorded[0] is None and recorded[-1] == "prob_mse"
    assert run.final["test_acc"] < 0.8  # what the collapse costs (CE: > 0.9 here)


def test_no_collapse_no_warning():
    method = SLFMethod(losses="ce,prob_mse,prob_mae,hinge,cosine", k=3)
    config = TrainConfig(epochs=1, batch_size=32, lr=0.05, seed=0, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SLFCollapseWarning)
        run = fit(config, data=make_blobs(), model=TinyNet(), method=method)
    assert run.history[0]["slf_collapsed_to"] is None


def test_fixed_weights_are_not_a_collapse():
    method = SLFMethod(losses="ce,prob_mse", mode="fixed", weights="0.99,0.01")
    config = TrainConfig(epochs=1, batch_size=32, lr=0.05, seed=0, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SLFCollapseWarning)
        run = fit(config, data=make_blobs(), model=TinyNet(), method=method)
    assert run.history[0]["slf_collapsed_to"] is None


@pytest.mark.parametrize("weights, expected", [
    ([0.96, 0.03, 0.01], "a"), ([0.95, 0.05, 0.0], None), ([0.2, 0.0, 0.8], None),
    ([0.0, 0.0, 1.0], "c"), ([0.0, 0.0, 0.0], None),
])
def test_collapsed_to_is_strictly_over_the_share(weights, expected):
    assert collapsed_to(weights, ["a", "b", "c"]) == expected


def test_collapse_message_points_only_to_options_not_in_use():
    joint = collapse_message("hinge", 0.99, 3, "joint", "none")
    assert "update='bilevel'" in joint and "normalize='running_mean'" in joint
    bilevel = collapse_message("hinge", 0.99, 3, "bilevel", "none")
    assert "try normalize='running_mean'" in bilevel and "try update" not in bilevel
    both = collapse_message("hinge", 0.99, 3, "bilevel", "running_mean")
    assert "'hinge'" in both and "99.0%" in both and "epoch 3" in both


# ---------------------------------------------------------------- optimizer without v
def _batch(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(32, 8, generator=g), torch.randint(0, 4, (32,), generator=g)


def _train(slf: StochasticLoss, net: nn.Module, optimizers, steps: int = 3) -> None:
    x, y = _batch()
    for _ in range(steps):
        for opt in optimizers:
            opt.zero_grad()
        slf(net(x), y).backward()
        for opt in optimizers:
            opt.step()


@pytest.mark.parametrize("config", [{}, {"granularity": "batch"}, {"mode": "softmax"},
                                    {"normalize": "running_mean"}])
def test_a_loop_whose_optimizer_leaves_out_the_decision_net_is_refused(config):
    net = nn.Linear(8, 4)
    slf = StochasticLoss("ce,prob_mse,hinge", num_outputs=4, generator=0, **config)
    v_before = [p.detach().clone() for p in slf.parameters()]
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    x, y = _batch()
    slf(net(x), y).backward()
    opt.step()  # the first step: v is in no param group
    with pytest.raises(ValueError, match=r"decision network.*slf\.parameters_with\(model\)"):
        slf(net(x), y)
    assert all(torch.equal(a, b) for a, b in zip(v_before, slf.parameters()))


def test_parameters_with_is_what_the_optimizer_needs():
    net = nn.Linear(8, 4)
    slf = StochasticLoss("ce,prob_mse,hinge", num_outputs=4, generator=0)
    params = slf.parameters_with(net)
    assert [id(p) for p in params] == [id(p) for p in [*net.parameters(), *slf.parameters()]]
    v_before = [p.detach().clone() for p in slf.decision_net.parameters()]
    _train(slf, net, [torch.optim.SGD(params, lr=0.1)])
    assert slf._optimizer_check.done and slf._optimizer_check._handle is None  # hook removed
    assert not any(torch.equal(a, b) for a, b in zip(v_before, slf.decision_net.parameters()))


def test_separate_optimizers_for_w_and_v_are_accepted():
    net = nn.Linear(8, 4)
    slf = StochasticLoss("ce,prob_mse,hinge", num_outputs=4, generator=0)
    opts = [torch.optim.SGD(net.parameters(), lr=0.1), torch.optim.Adam(slf.parameters())]
    _train(slf, net, opts)  # the model's optimizer steps first: no false alarm
    assert slf._optimizer_check.done


def test_frozen_decision_net_eval_and_no_grad_calls_are_not_checked():
    net = nn.Linear(8, 4)
    frozen = StochasticLoss("ce,prob_mse", num_outputs=4, generator=0)
    frozen.decision_net.requires_grad_(False)
    _train(frozen, net, [torch.optim.SGD(net.parameters(), lr=0.1)])
    watched = StochasticLoss("ce,prob_mse", num_outputs=4, generator=0)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    x, y = _batch()
    watched.eval()
    for _ in range(2):
        watched(net(x), y).backward()
        opt.step()
    watched.train()
    with torch.no_grad():
        watched(net(x), y)
    assert watched._optimizer_check._handle is None  # never armed


def test_check_optimizer_at_bind_time():
    net = nn.Linear(8, 4)
    slf = StochasticLoss("ce,prob_mse", num_outputs=4, generator=0)
    with pytest.raises(ValueError, match=r"4 of its 4 trainable parameters"):
        slf.check_optimizer(torch.optim.SGD(net.parameters(), lr=0.1))
    some = torch.optim.SGD([*net.parameters(), *slf.decision_net.net[0].parameters()], lr=0.1)
    with pytest.raises(ValueError, match=r"2 of its 4"):
        slf.check_optimizer(some)
    slf.check_optimizer(torch.optim.SGD(slf.parameters_with(net), lr=0.1))
    assert slf._optimizer_check.done
    StochasticLoss("ce,mae", num_outputs=4, mode="fixed").check_optimizer(some)  # no v: fine


def test_slf_method_refuses_an_optimizer_without_v_at_bind():
    data = make_blobs()
    model = TinyNet()
    method = SLFMethod(losses="ce,prob_mse")
    ctx = TrainContext(model=model, num_classes=3, feature_dim=16, train_set=data.train)
    setup_method(method, ctx)
    with pytest.raises(ValueError, match="parameters_with"):
        bind_method(method, ctx, torch.optim.SGD(model.parameters(), lr=0.1))


def test_a_copy_is_checked_on_its_own():
    net = nn.Linear(8, 4)
    slf = StochasticLoss("ce,prob_mse", num_outputs=4, generator=0)
    x, y = _batch()
    slf(net(x), y)  # armed
    clone = copy.deepcopy(slf)
    assert clone._optimizer_check._handle is None and not clone._optimizer_check.done
    _train(clone, net, [torch.optim.SGD(clone.parameters_with(net), lr=0.1)])
    assert clone._optimizer_check.done and not slf._optimizer_check.done


# ---------------------------------------------------------------- what last_weights is
def test_last_weights_granularity():
    """Sample: the batch mean of per-sample p̂_j (K one-hots each): a multiple of 1/(K·N).
    Batch: the batch's p̂ (K one-hots): a multiple of 1/K."""
    g = torch.Generator().manual_seed(3)
    logits, y = torch.randn(24, 5, generator=g), torch.randint(0, 5, (24,), generator=g)
    for granularity, unit in (("sample", 3 * 24), ("batch", 3)):
        slf = StochasticLoss("ce,prob_mse,hinge", num_outputs=5, k=3, generator=0,
                             granularity=granularity)
        slf.decision_net.net[-1].bias.data = torch.tensor([0.3, -0.2, 0.1])
        for _ in range(5):
            slf(logits, y)
            w = slf.last_weights * unit
            assert torch.allclose(w, w.round(), atol=1e-4)
            assert float(slf.last_weights.sum()) == pytest.approx(1.0)
