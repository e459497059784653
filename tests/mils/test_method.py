"""MILSMethod inside the one Trainer (TinyNet on blobs), CLI plot, and Fig. 6 chart."""

from __future__ import annotations

import json

import pytest
import torch

from losskit.mils import MILSMethod
from losskit.mils.plot import plot_success
from losskit.train import METHODS, TrainConfig, fit
from tests.conftest import TinyNet, make_blobs
from tests.mils.util import assert_same

KEYS = {
    "mils_attempts",
    "mils_successes",
    "mils_rollbacks",
    "mils_success_ratio",
    "mils_extra_forwards",
    "mils_extra_time_s",
    "mils_ties",
    "mils_nonfinite",
    "mils_projected",
}


def _fit(method_kwargs: dict, epochs: int = 3, method: str = "mils", **config):
    torch.manual_seed(0)
    cfg = TrainConfig(
        method=method,
        method_kwargs=method_kwargs,
        epochs=epochs,
        batch_size=16,
        lr=0.05,
        progress=False,
        **config,
    )
    return fit(cfg, data=make_blobs(), model=TinyNet())


def test_registered_and_parses_comma_separated_aux() -> None:
    m = METHODS.get("mils", aux="multi_margin, focal", participation=0.2)
    assert isinstance(m, MILSMethod) and m.options.aux == ["multi_margin", "focal"]
    assert METHODS.get("mils", aux=["focal"]).options.aux == ["focal"]


def test_epoch_logs_count_the_schedule() -> None:
    """Attempts per epoch equal the Bernoulli draws of a generator seeded like the method's."""
    res = _fit({"aux": "multi_margin", "participation": 0.3, "observation_size": 32, "seed": 4})
    steps_per_epoch = 12  # 180 training samples, batch 16
    g = torch.Generator().manual_seed(4)
    expected = []
    for _ in range(3):
        draws = torch.stack([torch.rand((), generator=g, dtype=torch.float64) for _ in range(12)])
        expected.append(int((draws < 0.3).sum()))
    assert [r["mils_attempts"] for r in res.history] == expected
    assert steps_per_epoch * 3 > sum(expected) > 0
    for r in res.history:
        assert KEYS <= set(r)
        assert r["mils_attempts"] == r["mils_successes"] + r["mils_rollbacks"]
        if r["mils_attempts"]:
            assert r["mils_success_ratio"] == r["mils_successes"] / r["mils_attempts"]
            assert r["mils_extra_forwards"] == 2 * r["mils_attempts"] + r["mils_rollbacks"]
        assert r["mils_aux_attempts"].get("multi_margin", 0) == r["mils_attempts"]
    assert res.final["test_acc"] > 0.8


def test_participation_zero_equals_plain_ce_training_bitwise() -> None:
    a = _fit({"aux": "multi_margin", "participation": 0.0}, epochs=2)
    b = _fit({"loss": "ce"}, epochs=2, method="loss")
    assert_same(a.model.state_dict(), b.model.state_dict())
    assert [r["train_loss"] for r in a.history] == [r["train_loss"] for r in b.history]


def test_center_aux_is_optimised_and_rolled_back() -> None:
    res = _fit({"aux": "center", "participation": 0.5, "observation_size": 16}, epochs=2)
    method = res.method
    ((name, center),) = method.auxiliaries
    assert name == "center"
    params = list(method.parameters())
    assert len(params) == 1 and params[0] is center.centers
    opt_params = {id(p) for g in method.mils.optimizer.param_groups for p in g["params"]}
    assert id(center.centers) in opt_params
    assert sum(r["mils_attempts"] for r in res.history) > 0


def test_resume_equals_uninterrupted(tmp_path) -> None:
    kw = {
        "aux": "multi_margin,focal",
        "participation": 0.4,
        "observation_size": 24,
        "observation_refresh": "epoch",
        "aux_selection": "adaptive",
    }
    full = _fit(kw, epochs=3)
    _fit(kw, epochs=1, out_dir=str(tmp_path))
    resumed = _fit(kw, epochs=3, out_dir=str(tmp_path))
    assert_same(full.model.state_dict(), resumed.model.state_dict())
    drop = {"train_time_s", "step_time_ms", "mils_extra_time_s"}
    strip = [{k: v for k, v in r.items() if k not in drop} for r in full.history]
    strip2 = [{k: v for k, v in r.items() if k not in drop} for r in resumed.history]
    assert strip == strip2
    # plot from the run directory through the CLI
    from losskit.cli import main

    assert main(["plot", "mils", str(tmp_path)]) == 0
    assert (tmp_path / "mils.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_observation_refresh_epoch_resamples() -> None:
    res = _fit({"observation_size": 8, "observation_refresh": "epoch"}, epochs=1)
    method = res.method  # after one epoch the set was redrawn once
    first = torch.randperm(180, generator=torch.Generator().manual_seed(1))[:8].sort().values
    assert not torch.equal(method._obs_indices, first)
    fixed = _fit({"observation_size": 8}, epochs=1).method
    assert torch.equal(fixed._obs_indices, first)
    x, y = fixed._train_set.tensors
    assert torch.equal(fixed.mils.observation[0], x[first])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"participation": 2.0}, "participation"),
        ({"observation_size": 0}, "observation_size"),
        ({"observation_refresh": "step"}, "observation_refresh"),
        ({"aux_selection": "x"}, "aux_selection"),
        ({"aux": ""}, "aux"),
        ({"accept": "cos"}, "accept"),
        ({"statistics": "keep"}, "statistics"),
    ],
)
def test_bad_method_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        MILSMethod(**kwargs)


def test_setup_errors_name_the_argument() -> None:
    with pytest.raises(ValueError, match="observation_size"):
        _fit({"observation_size": 1000}, epochs=1)
    with pytest.raises(ValueError, match="aux.*unknown loss"):
        _fit({"aux": "nope"}, epochs=1)


def test_plot_success(tmp_path) -> None:
    history = [
        {"epoch": 1, "mils_attempts": 10, "mils_successes": 7, "test_acc": 0.8},
        {"epoch": 2, "mils_attempts": 12, "mils_successes": 5, "test_acc": 0.85},
    ]
    out = tmp_path / "sub" / "fig.png"
    plot_success(history, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="history"):
        plot_success([], out)
    with pytest.raises(ValueError, match="mils_attempts"):
        plot_success([{"epoch": 1, "test_acc": 0.5}], out)
    json.dumps(history)  # the records are what metrics.jsonl holds


def test_no_observation_drawn_when_never_evaluated() -> None:
    res = _fit({"aux": "focal", "observation_size": 1000, "no_schedule": True}, epochs=1)
    assert res.method._observation is None and res.history[0]["mils_rollbacks"] == 0


@pytest.mark.parametrize("accept", ["gradient", "project"])
def test_gradient_tests_need_no_observation_set(accept: str) -> None:
    res = _fit({"aux": "multi_margin,center", "participation": 0.5, "accept": accept,
                "observation_size": 1000}, epochs=2)  # never drawn, so never too large
    assert res.method._observation is None and res.method.mils.observation is None
    for r in res.history:
        assert r["mils_attempts"] == r["mils_successes"] + r["mils_rollbacks"] > 0
        assert r["mils_extra_forwards"] == 0 and r["mils_nonfinite"] == 0
        assert r["mils_projected"] == (r["mils_rollbacks"] if accept == "project" else 0)
    assert res.final["test_acc"] > 0.8


def test_ties_are_reported_and_accept_ties_false_rejects_them() -> None:
    kw = {"aux": "center", "participation": 0.5, "observation_size": 32}
    with_ties = _fit(kw, epochs=2).history
    without = _fit({**kw, "accept_ties": False}, epochs=2).history
    assert sum(r["mils_ties"] for r in with_ties) > 0
    assert sum(r["mils_successes"] for r in without) < sum(r["mils_successes"] for r in with_ties)


def test_cli_flags_reach_the_method(tmp_path) -> None:
    from losskit.cli import build_parser, config_from_args, main

    argv = ["train", "--method", "mils", "--aux", "uniloss:accuracy,slf:ce+mae",
            "--mils-accept", "gradient", "--no-accept-ties"]
    cfg = config_from_args(build_parser().parse_args(argv))
    assert cfg.method_kwargs == {"aux": "uniloss:accuracy,slf:ce+mae", "accept": "gradient",
                                 "accept_ties": False}
    out = tmp_path / "run"
    assert main(["train", "--data", "digits", "--model", "mlp", "--method", "mils",
                 "--aux", "lgm", "--mils-accept", "gradient", "--participation", "0.3",
                 "--out", str(out), "--no-progress"]) == 0
    record = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert record["mils_attempts"] > 0 and record["mils_extra_forwards"] == 0
    assert 0 <= record["mils_success_ratio"] <= 1
    assert main(["train", "--method", "mils", "--mils-accept", "nope"]) == 2


def test_participation_is_checked_once_per_build(monkeypatch):
    """Declared once, checked once: the options check ``participation``; the core and its
    selector, built from those options, do not check it again."""
    import losskit.core._validation as validation

    calls: list[str] = []
    real = validation.check_number

    def counting(value, name, **kw):
        calls.append(name)
        return real(value, name, **kw)

    monkeypatch.setattr(validation, "check_number", counting)
    import torch
    from torch import nn
    from torch.utils.data import TensorDataset

    from losskit.core.method import TrainContext
    from losskit.mils import MILS

    model = nn.Linear(4, 3)
    data = TensorDataset(torch.randn(40, 4), torch.arange(40) % 3)
    ctx = TrainContext(model=model, num_classes=3, feature_dim=None, train_set=data)
    method = MILSMethod(participation=0.3, observation_size=10)
    method.setup(ctx)
    ctx.optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    method.bind(ctx)
    assert method.mils is not None and method.mils.participation == 0.3
    assert calls.count("participation") == 1
    calls.clear()
    obs = (torch.randn(8, 4), torch.arange(8) % 3)
    MILS(model, ctx.optimizer, participation=0.3, observation=obs)  # by hand: checks it itself
    assert calls.count("participation") == 1


def test_core_auxiliaries_keyword_is_a_deprecated_alias_of_aux():
    import torch
    from torch import nn

    from losskit.mils import MILS

    model = nn.Linear(4, 3)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.warns(DeprecationWarning, match="auxiliaries= is deprecated; use aux="):
        old = MILS(model, opt, auxiliaries="focal", no_schedule=True)
    new = MILS(model, opt, aux="focal", no_schedule=True)
    assert [n for n, _ in old.auxiliaries] == [n for n, _ in new.auxiliaries] == ["focal"]
