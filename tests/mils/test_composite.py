"""SLF and UniLoss modules as MILS auxiliaries: built from "slf:…" / "uniloss:…", their
parameters trained by the optimizer and rolled back — with their private state — bitwise."""

from __future__ import annotations

import pytest
import torch

from losskit.mils import MILS, MILSMethod, resolve_auxiliaries
from losskit.slf import StochasticLoss
from losskit.train import TrainConfig, fit
from losskit.uniloss import UniLoss
from tests.conftest import TinyNet, make_blobs
from tests.mils.test_scheduling import _batches, _data
from tests.mils.util import DropNet, assert_same, full_state


def test_composite_names_build_slf_and_uniloss() -> None:
    ctx = {"num_classes": 3, "feature_dim": 16}
    (n1, uni), (n2, slf) = resolve_auxiliaries("uniloss:accuracy, slf:ce+prob_mae+hinge", ctx)
    assert (n1, n2) == ("uniloss:accuracy", "slf:ce+prob_mae+hinge")
    assert isinstance(uni, UniLoss) and uni.metric_name == "accuracy"
    assert isinstance(slf, StochasticLoss) and slf.loss_names == ["ce", "prob_mae", "hinge"]
    with pytest.raises(ValueError, match="aux: unknown loss 'nope:x'"):
        resolve_auxiliaries("nope:x", ctx)
    with pytest.raises(ValueError, match="aux.*num_classes"):
        resolve_auxiliaries("slf:ce+prob_mae", {})


def _forced(monkeypatch, mils: MILS, outcomes: list[tuple[int, int]]) -> None:
    calls = iter([torch.tensor(c) for pair in outcomes for c in ((pair[0], 0), (pair[1], 0))])
    monkeypatch.setattr(mils, "_observation_counts", lambda: next(calls))


def test_slf_auxiliary_is_trained_when_kept_and_rolled_back_bitwise(monkeypatch) -> None:
    torch.manual_seed(0)
    model = DropNet()
    slf = StochasticLoss("ce,prob_mae,hinge", num_outputs=3, generator=5)
    opt = torch.optim.SGD([*model.parameters(), *slf.parameters()], lr=0.1, momentum=0.9)
    x, y = _data()
    mils = MILS(model, opt, "ce", {"slf": slf}, 1.0, (x[:16], y[:16]))
    _forced(monkeypatch, mils, [(5, 5), (5, 4)])  # kept (tie), then rolled back
    batches = list(_batches(x, y, 2))
    decision = [p.detach().clone() for p in slf.decision_net.parameters()]
    assert mils.step(*batches[0]).accepted is True  # the decision net learned from it
    assert any(not torch.equal(a, b) for a, b in
               zip(decision, slf.decision_net.parameters(), strict=True))
    before = full_state(model, opt, [slf])
    steps = slf.step_count
    restore = mils._snapshot.restore
    seen = {}

    def spy(keep: bool = False) -> None:
        seen["changed"] = slf.step_count != steps
        restore(keep=keep)
        seen["restored"] = full_state(model, opt, [slf])

    monkeypatch.setattr(mils._snapshot, "restore", spy)
    assert mils.step(*batches[1]).accepted is False
    assert seen["changed"]  # the attempt advanced SLF's step count and Gumbel generator …
    assert_same(before, seen["restored"])  # … and the rollback rewound them with the rest


def test_uniloss_auxiliary_generator_is_rolled_back(monkeypatch) -> None:
    torch.manual_seed(0)
    model = TinyNet()
    uni = UniLoss("accuracy", seed=3)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = _data()
    mils = MILS(model, opt, "ce", {"uni": uni}, 1.0, (x[:16], y[:16]))
    _forced(monkeypatch, mils, [(5, 4)])
    state = uni.generator.get_state()
    model_before = full_state(model, opt)
    r = mils.step(*next(_batches(x, y, 1)))
    assert r.accepted is False and torch.equal(uni.generator.get_state(), state)
    # the primary step that replaced it is the only change
    with pytest.raises(AssertionError):
        assert_same(model_before["model"], full_state(model, opt)["model"])


def test_cli_spellings_train_through_the_method() -> None:
    torch.manual_seed(0)
    method = MILSMethod(aux="slf:ce+prob_mae,uniloss:accuracy", participation=0.5,
                        observation_size=16)
    cfg = TrainConfig(method="mils", epochs=1, batch_size=16, lr=0.05, progress=False)
    res = fit(cfg, data=make_blobs(), model=TinyNet(), method=method)
    slf = dict(method.auxiliaries)["slf:ce+prob_mae"]
    in_opt = {id(p) for g in method.mils.optimizer.param_groups for p in g["params"]}
    assert {id(p) for p in slf.parameters()} <= in_opt
    assert set(res.history[0]["mils_aux_attempts"]) == {"slf:ce+prob_mae", "uniloss:accuracy"}
