"""Each method declares its parameters once (losskit.core.options): a new method is its class plus
one registration line, and the CLI, ``--method-arg``, experiment specs, the registry and
Lightning all take it from there."""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F

from losskit.cli import main
from losskit.core._validation import number
from losskit.core.method import Method
from losskit.core.options import Options, core_kwargs, core_options, option
from losskit.core.step import loss_step
from losskit.mils import MILS, MILSMethod
from losskit.slf import SLFMethod, StochasticLoss
from losskit.train import METHODS

DIGITS = ["train", "--data", "digits", "--model", "mlp", "--epochs", "1", "--seed", "0",
          "--no-progress"]


# ------------------------------------------------------------------ a toy method, in this file
@dataclass(frozen=True, kw_only=True)
class ToyOptions(Options):
    scale: float = option(1.0, "multiplies the cross-entropy",
                          check=number(low=0.0, low_open=True))


class ToyMethod(Method):
    """Cross-entropy times ``scale``."""

    Options = ToyOptions

    def step(self, ctx, inputs, targets):
        return loss_step(ctx, inputs, targets,
                         lambda z, y: self.options.scale * F.cross_entropy(z, y))


@pytest.fixture
def toy(monkeypatch):
    """The registry as it is, plus the toy method (restored afterwards)."""
    monkeypatch.setattr(METHODS, "_factories", dict(METHODS._factories))
    monkeypatch.setattr(METHODS, "_help", dict(METHODS._help))
    METHODS.register("toy", ToyMethod)  # the one registration line


def _weights(run_dir) -> dict[str, torch.Tensor]:
    return torch.load(run_dir / "checkpoint.pt", weights_only=False)["model"]


def test_a_new_method_is_its_class_and_one_registration_line(toy, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--toy-scale TOY_SCALE [toy] multiplies the cross-entropy (default: 1.0)" in help_text

    # SGD with momentum on 0.5·CE is SGD on CE with half the learning rate
    assert main([*DIGITS, "--method", "toy", "--toy-scale", "0.5", "--out",
                 str(tmp_path / "toy")]) == 0
    assert main([*DIGITS, "--method", "loss", "--lr", "0.025", "--out",
                 str(tmp_path / "ce")]) == 0
    toy_w, ce_w = _weights(tmp_path / "toy"), _weights(tmp_path / "ce")
    for name in ce_w:
        torch.testing.assert_close(toy_w[name], ce_w[name], rtol=1e-4, atol=1e-5)
    config = json.loads((tmp_path / "toy" / "config.json").read_text())
    assert config["method"] == "toy" and config["method_kwargs"] == {"scale": 0.5}

    # --method-arg and the flag are the same declaration
    assert main([*DIGITS, "--method", "toy", "--method-arg", "scale=0.5", "--out",
                 str(tmp_path / "arg")]) == 0
    for name, value in _weights(tmp_path / "arg").items():
        assert torch.equal(value, toy_w[name])
    capsys.readouterr()


@pytest.mark.parametrize("argv, needle", [
    (["--method", "toy", "--toy-scale", "0"], "--toy-scale must be > 0.0, got 0.0"),
    (["--method", "toy", "--toy-scale", "x"], "argument --toy-scale: invalid float value: 'x'"),
    (["--method", "loss", "--toy-scale", "2"], "--toy-scale applies to --method toy"),
    (["--method", "toy", "--method-arg", "scal=2"],
     "--method-arg: method 'toy' has no argument 'scal'; expected one of: scale"),
])
def test_bad_toy_arguments_are_one_line_errors(toy, argv, needle, capsys):
    assert main([*DIGITS, *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err


def test_experiment_specs_and_the_registry_take_the_declaration(toy):
    from losskit.experiments.spec import Experiment, Variant, check_methods

    assert list(inspect.signature(ToyMethod).parameters) == ["scale"]
    assert METHODS.get("toy", scale="2.5").options.scale == 2.5  # text parsed at the boundary
    base = {"data": "digits", "model": "mlp", "method": "toy"}
    good = Experiment("toy-exp", "toy", base, [Variant("a", {"method_kwargs.scale": 2.0})],
                      seeds=[0], baseline="a")
    check_methods([good])
    bad = Experiment("toy-bad", "toy", base, [Variant("b", {"method_kwargs.scale": -1.0})],
                     seeds=[0], baseline="b")
    with pytest.raises(ValueError, match="experiment 'toy-bad', variant 'b': scale must be > 0"):
        check_methods([bad])


def test_lightning_hyperparameters_are_the_declared_options(toy):
    pytest.importorskip("lightning")
    from losskit.integrations.lightning import LossKitModule
    from tests.conftest import TinyNet, make_blobs

    module = LossKitModule(TinyNet(), "toy", make_blobs().train, method_kwargs={"scale": 3.0})
    assert module.hparams["method"] == "toy" and module.hparams["scale"] == 3.0
    slf = LossKitModule(TinyNet(), "slf", make_blobs().train, method_kwargs={"k": 4})
    assert slf.hparams["k"] == 4 and slf.hparams["mode"] == "gumbel"


# ------------------------------------------------------------------ the declaration itself
def test_core_options_take_the_cores_defaults_and_checks():
    defaults = inspect.signature(StochasticLoss).parameters
    options = SLFMethod.Options()
    assert options.k == defaults["k"].default and options.tau == defaults["tau"].default
    assert core_kwargs(options)["k"] == options.k  # handed to the core by its own names
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        SLFMethod(k=0)  # StochasticLoss's declared check, before any core is built
    mils = inspect.signature(MILS).parameters
    assert MILSMethod.Options().participation == mils["participation"].default
    with pytest.raises(ValueError, match="participation must be <= 1.0"):
        MILSMethod(participation=1.5)


def test_strings_are_parsed_at_the_boundary_and_checked():
    o = MILSMethod.Options(aux="multi_margin, focal", participation="0.25", accept_ties="no")
    assert o.aux == ["multi_margin", "focal"] and o.participation == 0.25
    assert o.accept_ties is False
    with pytest.raises(ValueError, match="accept_ties: expected a boolean"):
        MILSMethod.Options(accept_ties="maybe")


def test_core_options_refuse_an_unknown_or_undefaulted_parameter():
    def core(x, a: int = 1):
        return x

    with pytest.raises(TypeError, match="no default"):
        core_options(core, "C")
    with pytest.raises(TypeError, match=r"has no parameter \['b'\]"):
        core_options(core, "C", skip=("x",), help={"b": "?"})
    made = core_options(core, "C", skip=("x",), rename={"a": "alpha"}, help={"alpha": "a"})
    assert made().alpha == 1 and core_kwargs(made(alpha="3")) == {"a": 3}


def test_the_method_flags_keep_their_spellings():
    """Every method flag of losskit 0.1 (README, scripts) still exists: derived, or a
    deprecated alias of the derived spelling (tests/test_one_declaration.py)."""
    from losskit.cli import build_parser

    train = next(a for a in build_parser()._actions if a.dest == "command").choices["train"]
    known = set(train._option_string_actions)
    for flag in ("--loss", "--slf-losses", "--slf-k", "--slf-tau", "--slf-mode",
                 "--slf-granularity", "--slf-normalize", "--slf-update", "--slf-val-loss",
                 "--slf-preset", "--uniloss-metric", "--uniloss-anchors",
                 "--uniloss-temperature", "--uniloss-scope", "--primary", "--aux",
                 "--participation", "--observation-size", "--no-schedule", "--mils-accept",
                 "--accept-ties", "--no-accept-ties"):
        assert flag in known, flag
