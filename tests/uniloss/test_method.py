"""The Trainer plug-in ``--method uniloss``."""

from __future__ import annotations

import inspect

import pytest
import torch
from torch.utils.data import TensorDataset

from losskit.core.ranking import average_precision, binary_scores
from losskit.data.base import DataSplits
from losskit.train import METHODS, TrainConfig, fit
from losskit.uniloss import UniLoss, UniLossMethod
from losskit.uniloss.method import UniLossOptions
from tests.conftest import TinyNet, make_blobs


def _config(**kw) -> TrainConfig:
    base = dict(
        data="blobs",
        model="tiny",
        method="uniloss",
        epochs=3,
        batch_size=32,
        lr=0.1,
        seed=3,
        progress=False,
    )
    base.update(kw)
    return TrainConfig(**base)


def _fit(config: TrainConfig, data=None, num_classes=3):
    torch.manual_seed(config.seed)
    return fit(config, data=data or make_blobs(), model=TinyNet(num_classes=num_classes))


def _params(model) -> list[torch.Tensor]:
    return [t.detach().clone() for t in model.state_dict().values()]


def test_registered_and_built_from_strings():
    method = METHODS.get("uniloss", metric="topk", num_anchors="8", k=2, subsample="0.5")
    assert isinstance(method, UniLossMethod)
    assert isinstance(method.loss, UniLoss)
    assert method.loss.num_good == method.loss.num_bad == 8 and method.loss.subsample == 0.5


def test_trains_on_blobs_and_logs_the_surrogate():
    result = _fit(_config(method_kwargs={"metric": "accuracy"}))
    assert result.final["test_acc"] > 0.8  # chance is 1/3
    for record in result.history:
        assert 0.0 <= record["uniloss_surrogate"] <= 1.0
        assert 0.0 <= record["uniloss_metric"] <= 1.0
    assert result.history[-1]["uniloss_metric"] > result.history[0]["uniloss_metric"] - 0.05


def test_deterministic_and_resume_continues_exactly(tmp_path):
    kw = {"method_kwargs": {"metric": "accuracy", "seed": 5}}
    full = _fit(_config(epochs=3, out_dir=str(tmp_path / "a"), **kw))
    again = _fit(_config(epochs=3, **kw))
    _fit(_config(epochs=1, out_dir=str(tmp_path / "b"), **kw))
    resumed = _fit(_config(epochs=3, out_dir=str(tmp_path / "b"), **kw))
    for a, b, c in zip(_params(full.model), _params(again.model), _params(resumed.model)):
        assert torch.equal(a, b) and torch.equal(a, c)
    keys = ("uniloss_surrogate", "uniloss_metric", "test_acc")
    assert [[r[k] for k in keys] for r in full.history] == [
        [r[k] for k in keys] for r in resumed.history
    ]


def test_seed_changes_the_anchors():
    a = _fit(_config(epochs=1, method_kwargs={"seed": 0}))
    b = _fit(_config(epochs=1, method_kwargs={"seed": 1}))
    assert any(not torch.equal(x, y) for x, y in zip(_params(a.model), _params(b.model)))


def test_ap_with_two_logit_model_on_imbalanced_binary_blobs():
    g = torch.Generator().manual_seed(0)
    n = 400
    y = (torch.rand(n, generator=g) < 0.1).long()
    x = torch.randn(n, 8, generator=g) + 1.5 * y[:, None].float()
    data = DataSplits(
        "bin", TensorDataset(x[:300], y[:300]), None, TensorDataset(x[300:], y[300:]), 2, (8,),
        meta={"task": "binary"},
    )
    # every training batch of 100 holds positives (AP is undefined without one)
    result = _fit(
        _config(epochs=8, batch_size=100, method_kwargs={"metric": "ap"}), data, num_classes=2
    )
    with torch.no_grad():
        result.model.eval()
        ap = average_precision(binary_scores(result.model(x[300:])), y[300:])
    assert result.final["test_ap"] == ap
    assert ap > 0.6  # chance ≈ 0.1


def test_batches_without_positives_are_skipped_and_counted():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(70, 8, generator=g)
    y = torch.zeros(70, dtype=torch.long)
    y[:2] = 1  # 2 positives, 3 batches per epoch: at least one batch has none
    x[y == 1] += 2.0
    splits = DataSplits("tiny", TensorDataset(x, y), None, TensorDataset(x, y), 2, (8,))
    result = fit(TrainConfig(epochs=2, batch_size=32, lr=0.05, seed=0, progress=False),
                 data=splits, model=TinyNet(num_classes=2), method=UniLossMethod(metric="ap"))
    skipped = [h["uniloss_skipped"] for h in result.history]
    assert all(1 <= s <= 3 for s in skipped)
    assert all(torch.isfinite(p).all() for p in result.model.parameters())


# ------------------------------------------------------------- options: the declared checks
BAD_OPTIONS = [
    ({"distance": "nope"}, "distance"),
    ({"num_anchors": -3}, "num_anchors"),
    ({"num_good": -1}, "num_good"),
    ({"relaxation": "sigmoid"}, "relaxation"),
    ({"temperature": 0.0}, "temperature"),
    ({"power": -1.0}, "power"),
    ({"subsample": 1.5}, "subsample"),
    ({"k": 0}, "k"),
    ({"radius": -1.0}, "radius"),
    ({"flip_bits": 0}, "flip_bits"),
    ({"nearby": "far"}, "nearby"),
    ({"nearby_unit": "pixel"}, "nearby_unit"),
    ({"squash": 1}, "squash"),
    ({"include_truth": 3}, "include_truth"),
    ({"scope": "world"}, "scope"),
    ({"on_degenerate": "skip"}, "on_degenerate"),
    ({"validate_args": 1}, "validate_args"),
    ({"metric": "nope"}, "unknown uniloss metric 'nope'"),
    ({"layout": 3}, "layout"),
]


@pytest.mark.parametrize("kwargs, match", BAD_OPTIONS)
def test_options_are_checked_as_declared(kwargs, match):
    """The method's options and the module run the same declared check (``@checks`` on
    ``UniLoss.__init__``, inherited by ``UniLossOptions``): one ``ValueError`` naming the
    argument, when the options are built (before any model or data)."""
    with pytest.raises(ValueError, match=match):
        UniLossOptions(**kwargs)
    with pytest.raises(ValueError, match=match):
        UniLoss(**kwargs)


def test_issue_example_is_refused():
    with pytest.raises(ValueError, match="distance|num_anchors"):
        UniLossOptions(distance="nope", num_anchors=-3)


def test_every_argument_has_a_declared_check():
    assert set(UniLoss.__init__.checks) == set(inspect.signature(UniLoss).parameters)


def test_checked_values_are_normalised():
    loss = UniLoss(temperature=2, power=2, seed=3)
    assert loss.temperature == 2.0 and isinstance(loss.temperature, float)
    assert loss.power == 2.0 and isinstance(loss.power, float)
    assert UniLossOptions(temperature="0.5").temperature == 0.5  # a CLI string, parsed
