"""fit on any Dataset / DataLoader: the same numbers as the in-memory path, binary one-logit
models, dict batches, subsets, resume, errors."""

from __future__ import annotations

import json

import pytest
import torch
from sklearn.metrics import average_precision_score, roc_auc_score
from torch import nn
from torch.utils.data import DataLoader, Dataset, IterableDataset, Subset, TensorDataset

from losskit.core.errors import ConfigError
from losskit.data.base import DataSplits
from losskit.data.loading import EpochBatchSampler
from losskit.train import TrainConfig, Trainer, fit

C, DIM = 3, 8


def _blobs(n: int = 300, classes: int = C, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, DIM, generator=g) * 2
    y = torch.randint(0, classes, (n,), generator=g)
    return centres[y] + torch.randn(n, DIM, generator=g), y


X, Y = _blobs()
PARTS = {"train": slice(0, 200), "val": slice(200, 250), "test": slice(250, 300)}


class Pairs(Dataset):
    """A map-style dataset that is not a TensorDataset."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int):
        return self.x[i], self.y[i]


class Dicts(Pairs):
    def __getitem__(self, i: int):
        return {"image": self.x[i], "label": self.y[i], "id": i}


class Stream(IterableDataset):
    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y = x, y

    def __iter__(self):
        return iter(zip(self.x, self.y, strict=True))


def _net(outputs: int = C) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(DIM, 16), nn.ReLU(), nn.Linear(16, outputs))


def _split(cls, part: str):
    return cls(X[PARTS[part]], Y[PARTS[part]])


def _untimed(history):
    return [{k: v for k, v in r.items() if "time" not in k} for r in history]


def _same(a, b) -> None:
    assert _untimed(a.history) == _untimed(b.history)
    for p, q in zip(a.model.state_dict().values(), b.model.state_dict().values(), strict=True):
        assert torch.equal(p, q)


METHODS = [
    ("slf", {"losses": "ce,prob_mse,prob_mae", "update": "bilevel", "val_batch_size": 16}),
    ("uniloss", {"metric": "accuracy"}),
    ("mils", {"aux": "multi_margin", "participation": 0.5, "observation_size": 32}),
]


@pytest.mark.parametrize("method,kwargs", METHODS, ids=[m for m, _ in METHODS])
def test_any_dataset_or_loader_gives_the_in_memory_numbers(method, kwargs):
    """(a) a map-style Dataset, (b) DataLoaders with 2 workers, (c) dict batches: bitwise the
    TensorDataset run (same batches, same MILS observation set, same SLF validation draws)."""
    cfg = dict(method=method, method_kwargs=kwargs, epochs=2, batch_size=32, lr=0.05, seed=3,
               progress=False)
    memory = DataSplits("blobs", *(TensorDataset(X[PARTS[p]], Y[PARTS[p]])
                                   for p in ("train", "val", "test")), C, (DIM,))
    ref = fit(TrainConfig(**cfg), data=memory, model=_net())
    custom = fit(TrainConfig(**cfg), model=_net(), train=_split(Pairs, "train"),
                 val=_split(Pairs, "val"), test=_split(Pairs, "test"))
    _same(custom, ref)
    # a ready DataLoader shuffles as fit does with EpochBatchSampler on a generator seeded
    # like the run; evaluation batches of eval_batch_size give bitwise the same logits
    sampler = EpochBatchSampler(200, 32, torch.Generator().manual_seed(3))
    loaders = fit(TrainConfig(**cfg), model=_net(),
                  train=DataLoader(_split(Pairs, "train"), batch_sampler=sampler, num_workers=2),
                  val=DataLoader(_split(Pairs, "val"), batch_size=1024),
                  test=DataLoader(_split(Pairs, "test"), batch_size=1024))
    _same(loaders, ref)
    dicts = fit(TrainConfig(**cfg, input_key="image", target_key="label"), model=_net(),
                train=_split(Dicts, "train"), val=_split(Dicts, "val"),
                test=_split(Dicts, "test"))
    _same(dicts, ref)
    assert ref.final["test_acc"] > 1 / C  # it learns (UniLoss slowly in 2 epochs)


def test_workers_and_subsets_of_a_dataset_keep_the_numbers():
    cfg = dict(epochs=2, batch_size=16, lr=0.05, seed=1, train_size=120, test_size=40,
               progress=False)
    memory = DataSplits("blobs", TensorDataset(X[:200], Y[:200]), None,
                        TensorDataset(X[200:], Y[200:]), C, (DIM,))
    ref = fit(TrainConfig(**cfg), data=memory, model=_net())
    streamed = fit(TrainConfig(**cfg, num_workers=2, persistent_workers=True), model=_net(),
                   train=Pairs(X[:200], Y[:200]), test=Pairs(X[200:], Y[200:]))
    _same(streamed, ref)
    # a Subset of a TensorDataset is in memory: indexed once, no per-sample reads
    sub = fit(TrainConfig(**cfg), model=_net(),
              train=Subset(TensorDataset(X, Y), list(range(200))),
              test=Subset(TensorDataset(X, Y), list(range(200, 300))))
    _same(sub, ref)


def test_an_iterable_dataset_trains_and_is_evaluated():
    run = fit(TrainConfig(epochs=2, batch_size=32, lr=0.05, progress=False), model=_net(),
              train=Stream(X[:200], Y[:200]), test=Stream(X[200:], Y[200:]))
    assert run.final["test_acc"] > 0.8
    assert run.history[-1]["train_acc"] > 0.8
    with pytest.raises(ValueError, match="map-style"):  # MILS draws its observation set
        fit(TrainConfig(method="mils", method_kwargs={"aux": "multi_margin"}, progress=False),
            model=_net(), train=Stream(X[:200], Y[:200]))


def test_streamed_runs_resume_exactly(tmp_path):
    cfg = dict(epochs=3, batch_size=32, lr=0.05, seed=2, progress=False)
    full = fit(TrainConfig(**cfg), model=_net(), train=Pairs(X[:200], Y[:200]),
               test=Pairs(X[200:], Y[200:]))
    part = dict(cfg, epochs=1, out_dir=str(tmp_path))
    fit(TrainConfig(**part), model=_net(), train=Pairs(X[:200], Y[:200]),
        test=Pairs(X[200:], Y[200:]))
    resumed = fit(TrainConfig(**dict(part, epochs=3, num_workers=2)), model=_net(),
                  train=Pairs(X[:200], Y[:200]), test=Pairs(X[200:], Y[200:]))
    assert resumed.resumed_from == 1
    _same(resumed, full)  # num_workers may change on resume (no augmentation)
    recorded = json.loads((tmp_path / "config.json").read_text())
    assert recorded["world_size"] == 1 and recorded["per_process_batch_size"] == 32
    assert recorded["num_workers"] == 2 and recorded["augment"] is None


def test_num_classes_is_inferred_or_asked_for():
    run = fit(TrainConfig(epochs=1, progress=False), model=_net(), train=Pairs(X, Y))
    assert run.task == "classification" and run.final == {"wall_time_s": run.final[
        "wall_time_s"], "epochs": 1}  # no val / test split: nothing evaluated
    with pytest.raises(ConfigError, match="num_classes"):
        fit(TrainConfig(model="mlp", progress=False), train=Pairs(X, Y))
    built = fit(TrainConfig(model="mlp", num_classes=C, epochs=1, progress=False),
                train=Pairs(X[:200], Y[:200]), test=Pairs(X[200:], Y[200:]))
    assert built.model(X[:2]).shape == (2, C)


def test_bad_data_arguments_are_one_config_error():
    with pytest.raises(ConfigError, match="not both"):
        fit(TrainConfig(), data=DataSplits("b", TensorDataset(X, Y), None, TensorDataset(X, Y),
                                           C, (DIM,)), train=Pairs(X, Y))
    with pytest.raises(ConfigError, match="train= is required"):
        fit(TrainConfig(), model=_net(), test=Pairs(X, Y))
    with pytest.raises(ConfigError, match="DataSplits"):
        fit(TrainConfig(), data=Pairs(X, Y), model=_net())
    with pytest.raises(ConfigError, match="train must be"):
        fit(TrainConfig(), model=_net(), train=object())
    with pytest.raises(ConfigError, match="batch must be"):  # a list is a dataset of samples
        fit(TrainConfig(), model=_net(), train=[1, 2, 3])
    with pytest.raises(ConfigError, match="train_size needs a map-style"):
        fit(TrainConfig(train_size=10), model=_net(), train=DataLoader(Pairs(X, Y)))
    with pytest.raises(ConfigError, match="missing"):
        fit(TrainConfig(progress=False), model=_net(), train=Dicts(X, Y))  # keys not set
    with pytest.raises(ConfigError, match="persistent_workers"):
        fit(TrainConfig(persistent_workers=True), model=_net(), train=Pairs(X, Y))


# ----------------------------------------------------------------------------- binary models
XB, YB = _blobs(400, classes=2, seed=5)


def _binary_net(squeeze: bool) -> nn.Module:
    torch.manual_seed(0)
    layers = [nn.Linear(DIM, 16), nn.ReLU(), nn.Linear(16, 1)]
    return nn.Sequential(*layers, nn.Flatten(0)) if squeeze else nn.Sequential(*layers)


@pytest.mark.parametrize("method,kwargs,float_targets,squeeze", [
    ("loss", {"loss": "bce"}, True, False),
    ("loss", {"loss": "bce"}, False, True),
    ("loss", {"loss": "binary_focal"}, True, True),
    ("uniloss", {"metric": "ap"}, False, False),
    ("uniloss", {"metric": "ap"}, False, True),
    ("uniloss", {"metric": "ap"}, True, False),
    ("uniloss", {"metric": "auc"}, True, True),
])
def test_one_logit_binary_models_train_and_report_sklearn_ap(method, kwargs, float_targets,
                                                             squeeze):
    y = YB.float() if float_targets else YB
    run = fit(TrainConfig(method=method, method_kwargs=kwargs, epochs=2, batch_size=32, lr=0.1,
                          progress=False),
              model=_binary_net(squeeze), train=Pairs(XB[:300], y[:300]),
              test=Pairs(XB[300:], y[300:]))
    assert run.task == "binary"
    with torch.no_grad():
        scores = run.model.eval()(XB[300:]).reshape(-1)
    truth = YB[300:].numpy()
    assert run.final["test_ap"] == pytest.approx(average_precision_score(truth, scores.numpy()),
                                                 abs=1e-12)
    assert run.final["test_auc"] == pytest.approx(roc_auc_score(truth, scores.numpy()),
                                                  abs=1e-12)
    assert run.final["test_acc"] == pytest.approx(float(((scores > 0).long() == YB[300:])
                                                        .float().mean()))
    assert run.final["test_ap"] > 0.9 and 0.0 <= run.history[-1]["train_acc"] <= 1.0
    if method == "loss":  # AP ranks; it does not place the threshold at logit 0
        assert run.final["test_acc"] > 0.75


def test_two_logit_binary_data_keeps_argmax_accuracy():
    data = DataSplits("b", TensorDataset(XB[:300], YB[:300]), None,
                      TensorDataset(XB[300:], YB[300:]), 2, (DIM,), {"task": "binary"})
    run = fit(TrainConfig(epochs=1, progress=False), data=data, model=_net(2))
    with torch.no_grad():
        logits = run.model.eval()(XB[300:])
    assert run.final["test_acc"] == float((logits.argmax(1) == YB[300:]).float().mean())
    assert run.final["test_ap"] == pytest.approx(
        average_precision_score(YB[300:].numpy(), (logits[:, 1] - logits[:, 0]).numpy()))


def test_impossible_binary_combinations_are_one_error():
    with pytest.raises(ConfigError, match="'ce' cannot train a model with one output"):
        fit(TrainConfig(progress=False), model=_binary_net(False), train=Pairs(XB, YB))
    with pytest.raises(ConfigError, match="at least 2 outputs"):
        fit(TrainConfig(task="classification", method_kwargs={"loss": "bce"}, progress=False),
            model=_binary_net(False), train=Pairs(XB, YB))
    with pytest.raises(ConfigError, match="1 or 2 outputs"):
        fit(TrainConfig(task="binary", progress=False), model=_net(3), train=Pairs(X, Y))


@pytest.mark.parametrize("workers,persistent", [(0, False), (2, True)])
def test_a_loader_over_tensors_is_read_a_batch_at_a_time_with_its_own_draws(workers,
                                                                            persistent):
    """DataLoader(TensorDataset, shuffle=True, generator=g): fit reads its rows by index (no
    per-sample calls) yet trains on exactly the batches iterating the loader gives — its
    sampler shares g with the workers' base-seed draw, which is made too."""
    def loader(ds):
        return DataLoader(ds, batch_size=24, shuffle=True, num_workers=workers,
                          persistent_workers=persistent,
                          generator=torch.Generator().manual_seed(9))

    cfg = TrainConfig(epochs=3, lr=0.05, progress=False)
    tensors = loader(TensorDataset(X[:200], Y[:200]))
    fast = fit(cfg, model=_net(), train=tensors, test=Pairs(X[200:], Y[200:]))
    per_sample = loader(Pairs(X[:200], Y[:200]))  # read through the DataLoader itself
    slow = fit(cfg, model=_net(), train=per_sample, test=Pairs(X[200:], Y[200:]))
    _same(fast, slow)
    assert torch.equal(tensors.generator.get_state(), per_sample.generator.get_state())
    assert Trainer(cfg, model=_net(), train=loader(TensorDataset(X, Y))).train.rows is not None
    assert Trainer(cfg, model=_net(), train=loader(Pairs(X, Y))).train.rows is None
