"""Run settings and method parameters are declared once (issue #25).

Every :class:`~losskit.train.config.TrainConfig` field has one default, one help line and one
check, and what derives from it agrees: the ``losskit train`` flags, ``LossKitModule``'s
keyword arguments, the experiment specs' checks. Every method option's flag is derived from
its name (older spellings are listed deprecated aliases that warn), and the spec key
(``method_kwargs``) is the Python name.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import warnings

import pytest

from losskit.cli import build_parser, config_from_args
from losskit.cli.errors import _warnings_as_lines
from losskit.core.errors import ConfigError
from losskit.core.options import default_of, specs
from losskit.core.options import method_flag as option_flag
from losskit.train import METHODS, TrainConfig
from losskit.train.config import LATER_FIELD_DEFAULTS, setting_flag

FIELDS = [f.name for f in dataclasses.fields(TrainConfig)]


def _train_parser() -> argparse.ArgumentParser:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["train"]


def _actions(parser: argparse.ArgumentParser) -> dict[str, list[argparse.Action]]:
    out: dict[str, list[argparse.Action]] = {}
    for action in parser._actions:
        out.setdefault(action.dest, []).append(action)
    return out


# ------------------------------------------------------------------------ TrainConfig fields
@pytest.mark.parametrize("name", FIELDS)
def test_each_field_declares_one_default_help_and_check(name):
    f = TrainConfig.__dataclass_fields__[name]
    spec = f.metadata["option"]
    assert spec.help and "\n" not in spec.help, name
    assert callable(spec.check), name
    assert default_of(f) is not dataclasses.MISSING
    assert getattr(TrainConfig(), name) == default_of(f)
    spec.check(default_of(f), name)  # the default passes its own check
    with pytest.raises(ConfigError, match=name) as info:  # nothing else passes
        TrainConfig(**{name: object()}).check()
    assert info.value.field == name


def test_run_settings_are_checked_only_through_the_declaration():
    """``validate_config`` (what the Trainer runs) holds no rule of its own."""
    from losskit.train import setup

    source = inspect.getsource(setup.validate_config)
    assert "config.check()" in source
    assert not any(f"config.{name}" in source for name in FIELDS)
    with pytest.raises(ConfigError, match="lr must be a finite number > 0"):
        setup.validate_config(TrainConfig(lr=-1.0))
    with pytest.raises(ConfigError, match="persistent_workers=True needs num_workers > 0"):
        setup.validate_config(TrainConfig(persistent_workers=True))
    setup.validate_config(TrainConfig(optimizer="adamw"))  # the stale comment's omission


def test_later_field_defaults_are_the_declared_defaults():
    assert LATER_FIELD_DEFAULTS == {
        "num_workers": 0, "pin_memory": False, "persistent_workers": False,
        "input_key": "input", "target_key": "target", "augment": None, "task": None,
        "num_classes": None}  # run keys of recorded results depend on these values
    assert set(TrainConfig().to_dict()) == set(FIELDS) - set(LATER_FIELD_DEFAULTS)


@pytest.mark.parametrize("name", FIELDS)
def test_the_train_flag_is_derived_from_the_field(name):
    f = TrainConfig.__dataclass_fields__[name]
    spec = f.metadata["option"]
    (action,) = _actions(_train_parser())[name]  # dest = the field's name, one flag
    assert action.option_strings[0] == setting_flag(name)
    assert setting_flag(name) == (spec.flag or "--" + name.replace("_", "-"))
    assert action.help == spec.help.replace("%", "%%")
    default = default_of(f)
    assert action.default == (None if isinstance(default, dict) else default)


def test_flags_without_a_value_become_the_default_config():
    args = _train_parser().parse_args([])
    assert config_from_args(args) == TrainConfig()


def test_each_flag_reaches_its_field():
    args = build_parser().parse_args([
        "train", "--lr", "0.2", "--step-size", "3", "--gamma", "0.5", "--eval-batch-size",
        "64", "--num-classes", "7", "--task", "binary", "--no-resume", "--pin-memory",
        "--augment", "--out", "somewhere", "--data-arg", "a=1,b=x", "--model-arg", "c=[1]"])
    config = config_from_args(args)
    assert (config.lr, config.step_size, config.gamma, config.eval_batch_size) == (
        0.2, 3, 0.5, 64)
    assert (config.num_classes, config.task, config.resume, config.pin_memory) == (
        7, "binary", False, True)
    assert config.augment == "crop-flip" and config.out_dir == "somewhere"
    assert config.data_kwargs == {"a": 1, "b": "x"} and config.model_kwargs == {"c": [1]}


def test_lightning_keyword_arguments_are_the_declared_run_settings():
    pytest.importorskip("lightning")
    from losskit.integrations.lightning import LossKitModule
    from tests.conftest import TinyNet, make_blobs

    params = inspect.signature(LossKitModule).parameters
    # same name, another thing: the model / method objects, Lightning's evaluation task;
    # method_kwargs=None is the no-mutable-default spelling of {}
    shared = [n for n in params if n in TrainConfig.__dataclass_fields__
              and n not in ("model", "method", "task", "method_kwargs")]
    assert set(shared) == {"optimizer", "lr", "momentum", "weight_decay", "seed", "input_key",
                           "target_key", "num_classes"}
    for name in shared:
        assert params[name].default == default_of(TrainConfig.__dataclass_fields__[name])
    with pytest.raises(ConfigError, match="momentum must be in") as info:
        LossKitModule(TinyNet(), "loss", make_blobs().train, momentum=1.5)
    assert info.value.field == "momentum"


@pytest.mark.parametrize("name", [n for n in FIELDS if n != "seed"])  # seeds: `seeds=`
def test_experiment_specs_refuse_what_the_declaration_refuses(name):
    from losskit.experiments.spec import Experiment, Variant

    def spec(value):
        return Experiment(name="one-declaration", title="t", base={name: value},
                          variants=[Variant("a")], seeds=[0], baseline="a")

    spec(default_of(TrainConfig.__dataclass_fields__[name]))  # the default is accepted
    with pytest.raises(ValueError, match=f"variant 'a': {name}"):
        spec(object())


# ------------------------------------------------------------------------ method options
def _method_options():
    return [(method, f, spec) for method, factory in METHODS.items()
            for f, spec in specs(factory.Options)]


def test_method_flags_are_derived_from_the_option_names():
    parser = _train_parser()
    known = parser._option_string_actions
    seen = 0
    for method, f, spec in _method_options():
        if not spec.help:
            continue  # no flag (e.g. seed): a keyword of the method and --method-arg only
        derived = f"--{f.name if f.name == method else f'{method}-{f.name}'}".replace("_", "-")
        assert option_flag(method, f) == derived, (method, f.name)
        assert spec.flag in (None, derived), (method, f.name)  # no special spelling
        assert known[derived].help.startswith(f"[{method}] ")
        for alias in spec.aliases:  # listed deprecated spellings: same destination, hidden
            assert known[alias].dest == known[derived].dest
            assert known[alias].help == argparse.SUPPRESS
        seen += 1
    assert seen > 20


def test_spec_keys_are_the_python_names():
    """Every ``method_kwargs`` key of a registered experiment is an option name of its method
    (``k``, ``aux``, ``num_anchors``, …), and the flag sets the same key."""
    from losskit.experiments import EXPERIMENTS

    names = {method: {f.name for f, _ in specs(factory.Options)}
             for method, factory in METHODS.items()}
    keys = set()
    for experiment in EXPERIMENTS.names():
        e = EXPERIMENTS.get(experiment)
        for v in e.variants:
            config = e.config(v.name, e.seeds[0])
            if config.method in ("slf", "uniloss", "mils"):
                assert set(config.method_kwargs) <= names[config.method], (experiment, v.name)
                keys |= {(config.method, k) for k in config.method_kwargs}
    assert {("slf", "k"), ("mils", "aux")} <= keys
    args = build_parser().parse_args(["train", "--method", "slf", "--slf-k", "4"])
    assert config_from_args(args).method_kwargs == {"k": 4}


OLD_AND_NEW = [
    (["--method", "mils", "--aux", "focal"], ["--method", "mils", "--mils-aux", "focal"]),
    (["--method", "mils", "--primary", "ce"], ["--method", "mils", "--mils-primary", "ce"]),
    (["--method", "mils", "--participation", "0.3"],
     ["--method", "mils", "--mils-participation", "0.3"]),
    (["--method", "mils", "--observation-size", "9"],
     ["--method", "mils", "--mils-observation-size", "9"]),
    (["--method", "mils", "--no-schedule"], ["--method", "mils", "--mils-no-schedule"]),
    (["--method", "mils", "--no-accept-ties"], ["--method", "mils", "--no-mils-accept-ties"]),
    (["--method", "mils", "--accept-ties"], ["--method", "mils", "--mils-accept-ties"]),
    (["--method", "uniloss", "--uniloss-anchors", "4"],
     ["--method", "uniloss", "--uniloss-num-anchors", "4"]),
]


@pytest.mark.parametrize("old,new", OLD_AND_NEW)
def test_old_flag_spellings_still_work_and_warn_once(old, new, capsys):
    with _warnings_as_lines():
        was = config_from_args(build_parser().parse_args(["train", *old]))
    err = capsys.readouterr().err.strip().splitlines()
    replacement = new[-1] if new[-1].startswith("--") else new[-2]
    assert err == [f"losskit: warning: {old[2]} is deprecated; use {replacement}"]
    with _warnings_as_lines():
        now = config_from_args(build_parser().parse_args(["train", *new]))
    assert capsys.readouterr().err == ""  # the derived spelling does not warn
    assert was == now and was.method_kwargs


def test_stochastic_loss_takes_k_and_the_old_K_with_a_deprecation_warning():
    from losskit.slf import StochasticLoss

    assert "k" in inspect.signature(StochasticLoss).parameters
    assert "K" not in inspect.signature(StochasticLoss).parameters
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        new = StochasticLoss("ce,prob_mae", num_outputs=3, k=2, generator=0)
    with pytest.warns(DeprecationWarning, match="K= is deprecated; use k="):
        old = StochasticLoss("ce,prob_mae", num_outputs=3, K=2, generator=0)
    assert old.K == new.K == 2
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        StochasticLoss("ce,prob_mae", num_outputs=3, k=0)
    with pytest.raises(TypeError, match="give k="):
        StochasticLoss("ce,prob_mae", num_outputs=3, k=2, K=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        StochasticLoss.paper(3, generator=0)  # the paper's settings use the one spelling


@pytest.mark.parametrize("kwargs,name", [
    ({"distance": "nope"}, "distance"), ({"num_anchors": -3}, "num_anchors"),
    ({"distance": "nope", "num_anchors": -3}, "num_anchors|distance"),
])
def test_uniloss_options_are_checked_by_their_declaration(kwargs, name):
    from losskit.uniloss.method import UniLossOptions

    with pytest.raises(ValueError, match=name):
        UniLossOptions(**kwargs)


def test_the_cli_builds_the_method_once(monkeypatch, tmp_path):
    from losskit.cli import main
    from losskit.train import trainer

    built = []
    real = trainer.build_method

    def counting(config):
        built.append(config.method)
        return real(config)

    monkeypatch.setattr(trainer, "build_method", counting)
    assert main(["train", "--data", "digits", "--model", "mlp", "--threads", "1",
                 "--method", "slf", "--slf-k", "2", "--train-size", "64", "--test-size", "32",
                 "--no-progress"]) == 0
    assert built == ["slf"]
