"""The module forms are written-out classes next to their functional forms: each registered
loss has a documented class whose constructor mirrors its function's keyword parameters; the
registry and the ``functional`` / ``modules`` namespaces keep their names."""

from __future__ import annotations

import importlib
import inspect
import re

import pytest
import torch

from losskit import losses
from losskit.losses import functional as LF
from losskit.losses import modules as LM
from losskit.losses.base import Loss
from losskit.losses.mirror import FunctionalLoss, loss_module

#: registry name → (family module, class): the registry's names and factories
REGISTERED = {
    "ce": ("cross_entropy", "CrossEntropyLoss"),
    "label_smoothing": ("cross_entropy", "LabelSmoothingLoss"),
    "poly1": ("cross_entropy", "Poly1Loss"),
    "focal": ("cross_entropy", "FocalLoss"),
    "bce": ("binary", "BinaryCrossEntropyLoss"),
    "binary_focal": ("binary", "BinaryFocalLoss"),
    "prob_mse": ("probability", "ProbMSELoss"),
    "prob_mae": ("probability", "ProbMAELoss"),
    "prob_bce": ("probability", "ProbBCELoss"),
    "cosine": ("probability", "CosineLoss"),
    "hinge": ("margin", "HingeLoss"),
    "multi_margin": ("margin", "MultiMarginLoss"),
    "mse": ("regression", "MSELoss"),
    "mae": ("regression", "MAELoss"),
    "huber": ("regression", "HuberLoss"),
    "smooth_l1": ("regression", "SmoothL1Loss"),
    "log_cosh": ("regression", "LogCoshLoss"),
    "ce_center": ("feature", "CenterLoss"),
    "center": ("feature", "center_term"),  # a factory of CenterLoss (ce_weight = 0)
    "lgm": ("feature", "LGMLoss"),
    "heatmap_mse": ("heatmap", "HeatmapMSELoss"),
    "gce": ("robust", "GCELoss"),
    "rce": ("robust", "RCELoss"),
    "sce": ("robust", "SCELoss"),
    "nce": ("robust", "NCELoss"),
    "nce+rce": ("robust", "NCERCELoss"),
    "logit_adjusted_ce": ("imbalance", "LogitAdjustedLoss"),
    "ldam": ("imbalance", "LDAMLoss"),
}
#: the functional form of the module forms that do not name one (``function``)
FUNCTIONAL_FORM = {"bce": LF.binary_cross_entropy_with_logits, "ce_center": LF.center,
                   "center": LF.center, "lgm": LF.lgm}
#: arguments of a functional form that are the call's data, or parameters the module owns
NOT_CONSTRUCTOR = {"input", "target", "features", "centers", "means", "log_covs"}
#: documented departures: ``center`` is the centre term alone (``ce_weight`` fixed to 0)
EXEMPT = {("center", "ce_weight")}
CONTEXT = {"num_classes": 4, "feature_dim": 3, "class_counts": torch.tensor([9.0, 4.0, 2.0, 1.0])}


def _module_class(name: str) -> type:
    factory = losses.LOSSES.factory(name)
    return factory if inspect.isclass(factory) else type(losses.build(name, CONTEXT))


def _functional_form(name: str):  # noqa: ANN202
    return FUNCTIONAL_FORM.get(name) or _module_class(name).function


def test_the_registry_lists_the_same_names_with_the_same_factories() -> None:
    assert sorted(REGISTERED) == losses.names()
    for name, (module, attr) in REGISTERED.items():
        family = importlib.import_module(f"losskit.losses.{module}")
        assert losses.LOSSES.factory(name) is getattr(family, attr), name


@pytest.mark.parametrize("name", sorted(REGISTERED))
def test_every_registered_loss_has_a_documented_class_written_in_its_family(name: str) -> None:
    cls = _module_class(name)
    assert issubclass(cls, Loss)
    assert cls.__doc__ and len(cls.__doc__.strip()) > 20, f"{cls.__name__} has no docstring"
    assert cls.__module__ == f"losskit.losses.{REGISTERED[name][0]}"
    assert "<locals>" not in cls.__qualname__
    # a class statement in its module's source (not built by type() or a factory call)
    source = inspect.getsource(cls)
    assert re.search(rf"^class {cls.__name__}\(", source, re.MULTILINE), cls.__name__
    if not inspect.isclass(losses.LOSSES.factory(name)):
        assert losses.LOSSES.factory(name).__doc__


@pytest.mark.parametrize("name", sorted(REGISTERED))
def test_constructor_mirrors_the_functional_keyword_parameters(name: str) -> None:
    """Every argument of the functional form (besides the data and the parameters a module
    owns) is a constructor argument: hyper-parameters and ``reduction`` by position in the
    function's order with its defaults, keyword-only arguments with their defaults."""
    fn = _functional_form(name)
    ctor = inspect.signature(losses.LOSSES.factory(name)).parameters
    fparams = [p for p in inspect.signature(fn).parameters.values()
               if p.name not in NOT_CONSTRUCTOR and (name, p.name) not in EXEMPT]
    assert fparams, name
    for p in fparams:
        assert p.name in ctor, f"{name}: constructor lacks {p.name!r} of {fn.__name__}"
        if p.default is inspect.Parameter.empty:
            continue  # data the module derives (priors, class_counts): given as keywords
        assert ctor[p.name].default == p.default, f"{name}: default of {p.name!r}"
        assert ctor[p.name].kind is p.kind, f"{name}: kind of {p.name!r}"
    positional = [p.name for p in fparams if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
                  and p.default is not inspect.Parameter.empty]
    order = [n for n in ctor if n in positional]
    assert order == positional, f"{name}: positional order {order} != {positional}"
    cls = _module_class(name)
    if issubclass(cls, FunctionalLoss):  # what forward passes to the function, in its order
        assert cls.hyperparameters == tuple(n for n in positional if n != "reduction")


def test_functional_namespace_reexports_every_family_function() -> None:
    assert LF.__all__ == [
        "cross_entropy", "binary_cross_entropy_with_logits", "prob_mse", "prob_mae",
        "prob_bce", "log1m_softmax", "mse", "mae", "huber", "smooth_l1", "log_cosh", "hinge",
        "cosine", "focal", "binary_focal", "multi_margin", "label_smoothing", "poly1",
        "center", "lgm", "lgm_logits", "heatmap_mse", "gaussian_heatmap", "HINGE_VARIANTS",
    ]
    families = ("cross_entropy", "binary", "probability", "margin", "regression", "feature",
                "heatmap")
    defined = {}
    for family in families:
        module = importlib.import_module(f"losskit.losses.{family}")
        defined.update({n: getattr(module, n) for n in module.__all__})
    for name in LF.__all__:
        assert getattr(LF, name) is defined[name], name
    assert LF._ce_args is importlib.import_module("losskit.losses.family").ce_args


def test_modules_namespace_reexports_every_class() -> None:
    for name in LM.__all__:
        obj = getattr(LM, name)
        assert getattr(losses, name, obj) is obj
    assert {"FocalLoss", "CenterLoss", "center_term", "loss_module"} <= set(LM.__all__)


def test_a_changed_default_is_refused_when_the_class_is_written() -> None:
    with pytest.raises(TypeError, match="default of 'delta'"):

        class BadHuber(FunctionalLoss):  # noqa: F841
            function = staticmethod(LF.huber)

            def __init__(self, delta: float = 2.0, reduction: str = "mean") -> None:
                super().__init__(reduction)


def test_loss_module_builds_a_working_class_for_a_users_function() -> None:
    cls = loss_module(LF.huber, "MyHuber", task="regression")
    loss = cls(0.5, reduction="sum")
    assert cls.__name__ == "MyHuber" and cls.task == "regression"
    assert list(inspect.signature(cls).parameters) == ["delta", "reduction", "validate_args"]
    assert repr(loss) == "MyHuber(delta=0.5, reduction='sum')"
    x, t = torch.randn(5, 2), torch.randn(5, 2)
    assert torch.equal(loss(x, t), losses.HuberLoss(0.5, reduction="sum")(x, t))
    with pytest.raises(ValueError, match="delta"):
        cls(-1.0)
    with pytest.raises(TypeError, match="MyHuber"):
        cls(0.5, "mean", 3)
