"""The run seed drives each method's own randomness unless method_kwargs sets a seed."""

from __future__ import annotations

import pytest

from losskit.core.method import Method
from losskit.train import METHODS, LossMethod, TrainConfig
from losskit.train.trainer import build_method


class Seeded(Method):
    def __init__(self, seed: int = 0, scale: float = 1.0) -> None:
        self.seed, self.scale = seed, scale


class Unseeded(Method):
    def __init__(self, **kwargs) -> None:  # takes anything, but declares no seed
        self.kwargs = kwargs


@pytest.fixture
def fake_methods(monkeypatch):
    monkeypatch.setitem(METHODS._factories, "seeded-test", Seeded)
    monkeypatch.setitem(METHODS._factories, "unseeded-test", Unseeded)


def test_run_seed_reaches_a_method_that_takes_seed(fake_methods):
    m = build_method(TrainConfig(method="seeded-test", seed=11, method_kwargs={"scale": 2.0}))
    assert (m.seed, m.scale) == (11, 2.0)
    explicit = build_method(TrainConfig(method="seeded-test", seed=11,
                                        method_kwargs={"seed": 3}))
    assert explicit.seed == 3


def test_methods_without_a_seed_parameter_get_none(fake_methods):
    assert build_method(TrainConfig(method="unseeded-test", seed=5)).kwargs == {}
    loss = build_method(TrainConfig(method="loss", seed=5, method_kwargs={"loss": "ce"}))
    assert isinstance(loss, LossMethod) and loss.loss_kwargs == {}


@pytest.mark.parametrize("method, kwargs", [
    ("slf", {"losses": "ce,mse"}),
    ("uniloss", {"metric": "accuracy"}),
    ("mils", {"primary": "ce", "aux": "focal"}),
])
def test_paper_methods_are_seeded_by_the_run(method, kwargs):
    for seed in (0, 4):
        m = build_method(TrainConfig(method=method, seed=seed, method_kwargs=kwargs))
        assert m.options.seed == seed
