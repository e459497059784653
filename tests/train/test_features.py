"""Any nn.Module trains (issue 15): logits-only losses need nothing else; feature losses
(center, L-GM) take their features from a named layer's forward hook or a callable."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from losskit.core.errors import ConfigError
from losskit.train import METHODS, TrainConfig, fit
from losskit.train.features import FeatureModel, infer_dims, with_features
from tests.conftest import TinyNet, make_blobs

CONFIG = dict(epochs=2, batch_size=32, lr=0.05, seed=1, progress=False)


def _sequential_twin(net: TinyNet) -> nn.Sequential:
    """An nn.Sequential computing exactly ``net`` (same weights and buffers)."""
    seq = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))
    state = {k.replace("body.", "").replace("head.", "3."): v for k, v in net.state_dict().items()}
    seq.load_state_dict(state)
    return seq


def _state(model: nn.Module) -> list[torch.Tensor]:
    return [t.detach().clone() for t in model.state_dict().values()]


@pytest.mark.parametrize(
    "method,kwargs",
    [
        ("loss", {"loss": "ce"}),
        ("slf", {"losses": "ce,prob_mse,prob_mae", "k": 3}),
        ("uniloss", {"metric": "accuracy"}),
        ("mils", {"aux": "multi_margin", "participation": 0.5, "observation_size": 32}),
    ],
)
def test_a_plain_sequential_trains_with_every_logits_method(method, kwargs):
    """Bitwise the same training as the equivalent losskit Classifier: the Trainer asks a plain
    module for logits only."""
    torch.manual_seed(0)
    net = TinyNet()
    seq = _sequential_twin(net)
    data = make_blobs()
    ref = fit(TrainConfig(**CONFIG), data=data, model=net, method=METHODS.get(method, **kwargs))
    run = fit(TrainConfig(**CONFIG), data=data, model=seq, method=METHODS.get(method, **kwargs))
    for a, b in zip(_state(ref.model), _state(run.model)):
        assert torch.equal(a, b)
    assert run.final["test_acc"] == ref.final["test_acc"] > 0.4  # chance: 1/3


def _center_via(model: nn.Module, features) -> list[torch.Tensor]:
    method = METHODS.get("mils", aux="center", participation=1.0, observation_size=32)
    result = fit(TrainConfig(**CONFIG), data=make_blobs(), model=model, method=method,
                 features=features)
    assert result.history[-1]["mils_attempts"] > 0
    return _state(result.model) + [p.detach().clone() for p in result.method.parameters()]


def test_feature_losses_take_features_from_a_named_layer_or_a_callable():
    """MILS with center loss: a Sequential whose features come from a forward hook on its
    ReLU (layer "2"), or from a callable, trains bitwise like the Classifier giving them."""
    torch.manual_seed(0)
    net = TinyNet()
    seq_hook, seq_fn = _sequential_twin(net), _sequential_twin(net)

    def split(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats = model[:3](x)
        return model[3](feats), feats

    reference = _center_via(net, None)
    for got in (_center_via(seq_hook, "2"), _center_via(seq_fn, split)):
        assert len(got) == len(reference)
        for a, b in zip(reference, got):
            assert torch.equal(a, b)


def test_a_feature_loss_without_features_says_how_to_give_them():
    seq = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    method = METHODS.get("mils", aux="center", participation=1.0, observation_size=32)
    with pytest.raises(ConfigError, match="needs the model's penultimate features.*features="):
        fit(TrainConfig(**CONFIG), data=make_blobs(), model=seq, method=method)


def test_bad_feature_specs_are_config_errors():
    seq = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    with pytest.raises(ConfigError, match="'body' names no layer of the model; expected one of: "
                                          "0, 1, 2"):
        FeatureModel(seq, "body")
    with pytest.raises(ConfigError, match="features must be a layer name"):
        FeatureModel(seq, 3)  # type: ignore[arg-type]


def test_with_features_keeps_a_classifier_and_infers_dims_without_changing_state():
    net = TinyNet()
    assert with_features(net) is net
    seq = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))
    wrapped = with_features(seq, "1")
    before = _state(seq)
    assert infer_dims(wrapped, torch.randn(5, 8)) == (3, 16)
    assert all(torch.equal(a, b) for a, b in zip(before, _state(seq)))  # BN stats untouched
    assert seq.training
    logits, feats = wrapped(torch.randn(4, 8), return_features=True)
    assert logits.shape == (4, 3) and feats.shape == (4, 16)
