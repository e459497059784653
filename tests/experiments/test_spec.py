"""Experiment specs: expansion into runs, overrides, stable keys, validation, registry/suites."""

from __future__ import annotations

import pytest

from losskit.core.registry import Registry
from losskit.experiments import spec as spec_mod
from losskit.experiments.spec import Experiment, Tuning, Variant, resolve, run_key
from tests.experiments.fakes import toy_experiment


def test_runs_cover_every_variant_and_seed_with_overrides_applied():
    exp = toy_experiment(seeds=(3, 5))
    runs = exp.runs()
    assert [(r.variant, r.seed) for r in runs] == [
        (v, s) for v in ["base", "better", "b=0.01", "b=0.02"] for s in (3, 5)
    ]
    better = next(r for r in runs if r.variant == "better")
    # dotted override adds one kwarg and keeps the base's others
    assert better.config.method_kwargs == {"loss": "ce", "bonus": 0.05}
    assert better.config.seed == 3 and better.config.epochs == 3
    assert better.config.progress is False
    base = next(r for r in runs if r.variant == "base")
    assert base.config.method_kwargs == {"loss": "ce"}  # base dict not mutated by the override
    assert len({r.key for r in runs}) == len(runs)


def test_plain_override_replaces_a_dict_field():
    to_ce = Variant("b", {"method": "loss", "method_kwargs": {"loss": "ce"}})
    exp = Experiment("x", "t", {"method": "slf", "method_kwargs": {"k": 3, "losses": ["ce"]}},
                     [Variant("a"), to_ce], seeds=[0], baseline="a")
    assert exp.config("b", 0).method_kwargs == {"loss": "ce"}
    assert exp.config("a", 0).method_kwargs == {"k": 3, "losses": ["ce"]}


def test_key_is_the_config_alone_stable_and_sensitive_to_what_matters():
    a = toy_experiment().runs()
    b = toy_experiment().runs()
    assert [r.key for r in a] == [r.key for r in b]
    cfg = a[0].config.to_dict()
    k = run_key(cfg)
    assert k == run_key(dict(reversed(list(cfg.items()))))  # order-free
    assert k != run_key({**cfg, "lr": cfg["lr"] * 2})
    assert k != run_key({**cfg, "seed": cfg["seed"] + 1})
    assert k != run_key({**cfg, "method_kwargs": {**cfg["method_kwargs"], "x": 1}})
    # thread count / progress / out_dir do not change what a run computes
    assert k == run_key({**cfg, "threads": 7, "progress": True, "out_dir": "/tmp/x"})
    # the same config in another experiment (a shared baseline) is the same run
    other = toy_experiment("other").runs()
    assert [r.key for r in other] == [r.key for r in a]
    assert {r.experiment for r in other} == {"other"}


def test_cost_class_ignores_what_does_not_change_an_epochs_cost():
    cfg = toy_experiment().runs()[0].config.to_dict()
    c = spec_mod.cost_class(cfg)
    same = {**cfg, "seed": 9, "lr": 1.0, "epochs": 50, "schedule": "cosine", "threads": 3}
    assert spec_mod.cost_class(same) == c
    assert spec_mod.cost_class({**cfg, "batch_size": 16}) != c
    assert spec_mod.cost_class({**cfg, "model": "lenet"}) != c
    # the data seed of a per-run validation split does not change the cost either
    split = {**cfg, "data_kwargs": {**cfg.get("data_kwargs", {}), "val_fraction": 0.1}}
    assert spec_mod.cost_class({**split, "data_kwargs": {**split["data_kwargs"], "seed": 3}}) \
        == spec_mod.cost_class(split)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(baseline="nope"), "baseline"),
        (dict(variants=[Variant("a"), Variant("a")], baseline="a"), "duplicate"),
        (dict(seeds=[]), "seeds"),
        (dict(seeds=[1, 1]), "seeds"),
        (dict(base={"seed": 3}), "seeds"),
        (dict(base={"not_a_field": 1}), "not_a_field"),
        (dict(variants=[Variant("a", {"bogus.x": 1})], baseline="a"), "bogus"),
        (dict(variants=[Variant("a", {"lr.x": 1})], baseline="a"), "not a dict"),
        (dict(headline=["zzz"]), "headline"),
        (dict(select="best"), "select"),
        (dict(fidelity="exact"), "fidelity"),
        (dict(select="best_val"), "val_fraction"),
        (dict(tuning=Tuning((0.1, 0.3))), "val_fraction"),
        (dict(tuning=Tuning((0.1, 0.3), seeds=(0, 5)),
              base={"data_kwargs": {"val_fraction": 0.1}}), "tuning seeds"),
        (dict(variants=[Variant("a", tune_from="a")], baseline="a"), "tune_from"),
        (dict(variants=[Variant("a", tune_from="zz")], baseline="a"), "tune_from"),
        (dict(split_seed="each"), "split_seed"),
        (dict(split_seed="run", base={"data_kwargs": {"seed": 3}}), "data_kwargs.seed"),
        (dict(metric_range=(1.0, 0.0)), "metric_range"),
        (dict(variants=[Variant("a"), Variant("b", versus="b")], baseline="a"), "versus"),
        (dict(variants=[Variant("a"), Variant("b", versus="zz")], baseline="a"), "versus"),
        (dict(variants=[Variant("a"), Variant("b", evidence="strong")], baseline="a"),
         "evidence"),
        (dict(variants=[Variant("a"), Variant("b", evidence="direct")], baseline="a"), "claim"),
    ],
)
def test_invalid_specs_raise_naming_the_problem(kwargs, match):
    args = dict(name="e", title="t", base={}, variants=[Variant("a")], seeds=[0], baseline="a")
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        Experiment(**args)


def test_registry_suites_and_resolve():
    reg: Registry[Experiment] = Registry("experiment")
    e1, e2 = toy_experiment("e1"), toy_experiment("e2")
    spec_mod.register(e1, registry=reg)
    spec_mod.register(e2, registry=reg)
    suites = {"smoke": ["e2"]}
    assert [e.name for e in resolve("all", registry=reg, suites=suites)] == ["e1", "e2"]
    assert [e.name for e in resolve("smoke", registry=reg, suites=suites)] == ["e2"]
    assert [e.name for e in resolve("e2,e1,e2", registry=reg, suites=suites)] == ["e2", "e1"]
    assert resolve([e1], registry=reg) == [e1]
    assert reg.describe() == {"e1": "Toy experiment", "e2": "Toy experiment"}
    with pytest.raises(ValueError, match="smoke"):
        resolve("nope", registry=reg, suites=suites)
    with pytest.raises(ValueError, match="implicit"):
        spec_mod.register_suite("all", ["e1"])


@pytest.mark.parametrize("kwargs, match", [
    (dict(grid=()), "grid"),
    (dict(grid=(0.1, 0.1)), "grid"),
    (dict(grid=(0.1, -1.0)), "positive"),
    (dict(grid=(0.1,), seeds=(1.5,)), "seeds"),
    (dict(grid=(0.1,), seeds=(1, 1)), "seeds"),
    (dict(grid=(0.1,), extensions=-1), "extensions"),
    (dict(grid=(0.1,), bounds=(0.2, 1.0)), "bounds"),
    (dict(grid=(0.1,), per_decade=0), "per_decade"),
    (dict(grid=(0.1,), param="method_kwargs"), "param"),
    (dict(grid=(0.1,), param="seed"), "param"),
])
def test_invalid_tuning_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Tuning(**kwargs)


def test_tuned_runs_need_their_values_and_tuning_runs_use_the_tuning_seed():
    exp = Experiment(
        "t", "t", {"data_kwargs": {"val_fraction": 0.1}, "lr": 0.5},
        [Variant("a"), Variant("b", {"momentum": 0.5}, tune_from="a")],
        seeds=[0, 1], baseline="a", tuning=Tuning((0.01, 0.1), seeds=(7, 8)),
    )
    tune = exp.tuning_runs("a")
    assert [(r.role, r.seed, r.config.lr) for r in tune] == [
        ("tune", 7, 0.01), ("tune", 8, 0.01), ("tune", 7, 0.1), ("tune", 8, 0.1)]
    assert exp.source("a") == ("t", "a") and exp.source("b") == ("t", "a")
    with pytest.raises(ValueError, match="tuned"):
        exp.runs()
    runs = exp.runs({"a": {"lr": 0.1}, "b": {"lr": 0.01}})
    assert [(r.variant, r.seed, r.config.lr, r.role) for r in runs] == [
        ("a", 0, 0.1, "eval"), ("a", 1, 0.1, "eval"), ("b", 0, 0.01, "eval"),
        ("b", 1, 0.01, "eval")]
    assert exp.val_metric == "val_acc"
    meta = exp.meta()
    assert meta["tuning"] == {"grid": [0.01, 0.1], "seeds": [7, 8], "param": "lr",
                              "extensions": 2, "bounds": [1e-4, 1.0], "per_decade": 2}
    assert meta["variants"][1]["tune_from"] == "a" and meta["seeds"] == [0, 1]


# ----------------------------------------------------------------------------- grids
def test_log_grid_and_steps_stay_on_the_sqrt10_lattice():
    assert spec_mod.log_grid(0.01, 0.1) == (0.01, 0.0316, 0.1)
    assert spec_mod.log_grid(1e-4, 1.0) == (1e-4, 0.000316, 0.001, 0.00316, 0.01, 0.0316, 0.1,
                                            0.316, 1.0)
    t = Tuning((0.01, 0.0316, 0.1))
    assert (t.step(0.1, 1), t.step(0.316, 1), t.step(0.01, -1)) == (0.316, 1.0, 0.00316)
    assert t.step(1.0, 1) is None and Tuning((0.001,), bounds=(1e-3, 1)).step(0.001, -1) is None
    assert Tuning((0.2, 0.05)).grid == (0.05, 0.2)  # sorted
    assert Tuning((0.1,), seeds=100).seeds == (100,)


# ----------------------------------------------------------------------------- claims
def _claims_experiment(**kw):
    return Experiment(
        "c", "c", {"data_kwargs": {"val_fraction": 0.1}},
        [Variant("ce"), Variant("pp", tune_from="ce", evidence="paper-protocol"),
         Variant("t", evidence="tuned", versus="pp", claim="own claim"), Variant("x")],
        seeds=[0, 1], baseline="ce", tuning=Tuning((0.01, 0.1)), claim_name="X > CE",
        paper="P", **kw)


def test_claims_evidence_and_families_are_declared_once():
    exp = _claims_experiment()
    assert [exp.versus_of(v) for v in ("ce", "pp", "t", "x")] == [None, "ce", "pp", "ce"]
    assert [exp.evidence_of(v) for v in ("pp", "t", "x")] == ["paper-protocol", "tuned",
                                                              "exploratory"]
    assert [exp.claim_of(v) for v in ("pp", "t")] == ["X > CE", "own claim"]
    assert [exp.family_of(v) for v in ("pp", "t", "x")] == ["primary", "secondary · P", None]
    direct = _claims_experiment(fidelity="direct")
    assert direct.evidence_of("x") == "direct" and direct.family_of("x") == "primary"
    meta = exp.meta()["variants"]
    assert meta[2] == {**meta[2], "versus": "pp", "claim": "own claim", "evidence": "tuned"}
    assert exp.tuning_of("pp") is None and exp.tuning_of("t") == exp.tuning


def test_split_seed_run_draws_each_runs_own_validation_split():
    exp = _claims_experiment(split_seed="run")
    assert [exp.config("ce", s).data_kwargs for s in (0, 3)] == [
        {"val_fraction": 0.1, "seed": 0}, {"val_fraction": 0.1, "seed": 3}]
    assert [r.config.data_kwargs["seed"] for r in exp.tuning_runs("ce")] == [100, 101] * 2
    fixed = _claims_experiment()
    assert "seed" not in fixed.config("ce", 3).data_kwargs


def test_run_key_holds_the_code_version_config_key_does_not():
    exp = _claims_experiment()
    a, b = exp.run("x", 0, {"lr": 0.1}, code="aaa"), exp.run("x", 0, {"lr": 0.1}, code="bbb")
    legacy = exp.run("x", 0, {"lr": 0.1})
    assert a.config_key == b.config_key == legacy.config_key == legacy.key
    assert len({a.key, b.key, legacy.key}) == 3
    assert spec_mod.run_key(a.config.to_dict(), "aaa") == a.key
