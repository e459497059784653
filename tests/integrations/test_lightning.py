"""LossKitModule inside a real Lightning Trainer (CPU, a couple of steps)."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from tests.conftest import TinyNet, make_blobs

L = pytest.importorskip("lightning")
from losskit.integrations.lightning import LossKitModule  # noqa: E402


def _trainer(steps: int = 2):
    return L.Trainer(
        max_steps=steps, accelerator="cpu", logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
    )


def _loader(data):
    return DataLoader(data.train, batch_size=32, shuffle=False)


def test_plain_loss_equals_hand_written_sgd_steps():
    data = make_blobs()
    torch.manual_seed(0)
    model = TinyNet()
    reference = copy.deepcopy(model)
    module = LossKitModule(model, "loss", data.train, method_kwargs={"loss": "ce"}, lr=0.1)
    _trainer(3).fit(module, _loader(data))

    opt = torch.optim.SGD(reference.parameters(), lr=0.1, momentum=0.9)
    for step, (x, y) in enumerate(_loader(data)):
        if step == 3:
            break
        opt.zero_grad()
        F.cross_entropy(reference(x), y).backward()
        opt.step()
    for a, b in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize(
    "method, kwargs",
    [
        ("slf", {"losses": "ce,prob_mse,prob_mae", "k": 3}),
        ("uniloss", {"metric": "accuracy"}),
        ("mils", {"aux": "multi_margin", "participation": 1.0, "observation_size": 32}),
    ],
)
def test_every_method_trains_under_lightning(method, kwargs):
    data = make_blobs()
    torch.manual_seed(0)
    model = TinyNet()
    before = [p.detach().clone() for p in model.parameters()]
    module = LossKitModule(model, method, data.train, method_kwargs=kwargs, lr=0.05)
    trainer = _trainer(2)
    trainer.fit(module, _loader(data))
    assert trainer.global_step == 2  # max_steps stops the run: one step per batch
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert all(torch.isfinite(p).all() for p in model.parameters())
    if method == "mils":  # manual optimisation let MILS attempt (and judge) every step
        stats = {k: float(v) for k, v in trainer.callback_metrics.items()}
        assert stats["mils_attempts"] == 2
        assert stats["mils_successes"] + stats["mils_rollbacks"] == 2


def test_fast_dev_run_runs_two_steps_per_method():
    for method, kwargs in [("slf", {"losses": "ce,prob_mae"}), ("mils", {"participation": 1.0,
                                                                    "observation_size": 16})]:
        data = make_blobs()
        module = LossKitModule(TinyNet(), method, data.train, method_kwargs=kwargs, lr=0.05)
        trainer = L.Trainer(fast_dev_run=2, accelerator="cpu", enable_progress_bar=False,
                            enable_model_summary=False)
        trainer.fit(module, _loader(data))
        assert trainer.global_step == 2


# ---------------------------------------------------------------------------- issue 15
def _fit(module, epochs, tmp_path=None, ckpt_path=None, **kw):
    trainer = L.Trainer(
        max_epochs=epochs, accelerator="cpu", logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
        default_root_dir=tmp_path, **kw,
    )
    trainer.fit(module, _loader(make_blobs()), ckpt_path=ckpt_path)
    return trainer


RESUME_CASES = [
    ("mils", {"aux": "multi_margin,center", "participation": 0.5, "observation_size": 32}),
    ("slf", {"losses": "ce,prob_mse,prob_mae", "k": 2}),
    ("uniloss", {"metric": "accuracy"}),
]


@pytest.mark.parametrize("method, kwargs", RESUME_CASES)
def test_checkpoint_resume_is_exact(tmp_path, method, kwargs):
    """1 epoch, save, resume to 2 epochs == 2 epochs uninterrupted: model, method parameters
    and the method's state (MILS selector and statistics, SLF / UniLoss generators)."""

    def module():
        torch.manual_seed(0)
        return LossKitModule(TinyNet(), method, make_blobs().train, method_kwargs=kwargs,
                             lr=0.05, seed=3)

    straight = module()
    t_straight = _fit(straight, 2)
    first = module()
    _fit(first, 1).save_checkpoint(tmp_path / "one.ckpt")
    assert "losskit" in torch.load(tmp_path / "one.ckpt", weights_only=False)
    resumed = module()
    t_resumed = _fit(resumed, 2, ckpt_path=tmp_path / "one.ckpt")
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
    assert t_resumed.global_step == t_straight.global_step == 12
    assert straight.ctx.global_step == resumed.ctx.global_step == 12
    def untimed(trainer):
        return {k: float(v) for k, v in trainer.callback_metrics.items() if "time" not in k}

    metrics = untimed(t_straight)
    assert untimed(t_resumed) == metrics
    if method == "mils":
        assert metrics["mils_attempts"] > 0  # the second epoch did schedule auxiliaries


def test_user_optimizer_and_scheduler_equal_a_hand_written_loop():
    from functools import partial

    data = make_blobs()
    torch.manual_seed(0)
    model = TinyNet()
    reference = copy.deepcopy(model)
    module = LossKitModule(
        model, "loss", data.train, method_kwargs={"loss": "ce"},
        optimizer=partial(torch.optim.Adam, lr=0.01),
        scheduler=lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5),
    )
    _fit(module, 2)
    opt = torch.optim.Adam(reference.parameters(), lr=0.01)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    for _ in range(2):
        for x, y in _loader(data):
            opt.zero_grad()
            F.cross_entropy(reference(x), y).backward()
            opt.step()
        sched.step()
    for a, b in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(a, b)
    assert module.ctx.optimizer.param_groups[0]["lr"] == pytest.approx(0.0025)


def test_16_mixed_scales_the_methods_updates_with_lightnings_scaler():
    from lightning.pytorch.plugins.precision import MixedPrecision

    plugin = MixedPrecision("16-mixed", "cpu")
    torch.manual_seed(0)
    module = LossKitModule(TinyNet(), "mils", make_blobs().train, lr=0.05,
                           method_kwargs={"participation": 1.0, "observation_size": 16})
    before = [p.detach().clone() for p in module.parameters()]
    trainer = _fit(module, 1, plugins=[plugin])
    assert trainer.precision == "16-mixed"
    assert module.ctx.scaler is plugin.scaler and module.ctx.autocast_dtype == torch.float16
    assert plugin.scaler._scale is not None  # the method's backward went through the scaler
    assert all(torch.isfinite(p).all() for p in module.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, module.parameters()))
    assert float(trainer.callback_metrics["mils_attempts"]) == 6


@pytest.mark.parametrize("method, kwargs", [("loss", {"loss": "ce"}),
                                            ("slf", {"losses": "ce,prob_mse"}),
                                            ("uniloss", {"metric": "accuracy"})])
def test_a_plain_sequential_trains(method, kwargs):
    from torch import nn

    seq = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    before = [p.detach().clone() for p in seq.parameters()]
    module = LossKitModule(seq, method, make_blobs().train, method_kwargs=kwargs)
    assert module.ctx.num_classes == 3  # inferred from one forward
    _fit(module, 1)
    assert all(not torch.equal(a, b) for a, b in zip(before, seq.parameters()))


def test_feature_losses_take_a_layer_of_a_plain_module():
    from torch import nn

    data = make_blobs()
    centre = LossKitModule(nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3)), "loss",
                           data.train, method_kwargs={"loss": "center"}, features="1")
    assert centre.ctx.feature_dim == 16
    _fit(centre, 1)
    assert any(p.requires_grad for p in centre.method_params)


# ---------------------------------------------------------------- any data, every stage
from functools import partial  # noqa: E402

import torch.nn.functional as F  # noqa: E402,F811
from torch import nn  # noqa: E402
from torch.utils.data import Dataset, TensorDataset  # noqa: E402

from losskit.core.errors import ConfigError  # noqa: E402

METHODS = [
    ("loss", {"loss": "ce"}),
    ("slf", {"losses": "ce,prob_mse,prob_mae", "k": 3}),
    ("uniloss", {"metric": "accuracy"}),
    ("mils", {"aux": "multi_margin", "participation": 1.0, "observation_size": 32}),
]


class DictSet(Dataset):
    """A map-style dataset (not a TensorDataset) of ``{"input", "target"}`` samples."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> dict:
        return {"input": self.x[i], "target": self.y[i]}


class Blobs(L.LightningDataModule):
    """Blobs as dict batches: 180 train / 60 val (= test) samples; predict gives ``(x,)``."""

    def __init__(self, batch_size: int = 32, shuffle: bool = True) -> None:
        super().__init__()
        self.batch_size, self.shuffle = batch_size, shuffle
        data = make_blobs(n=240)
        self.train_xy = data.train.tensors
        self.test_xy = data.test.tensors

    def train_dataloader(self):
        return DataLoader(DictSet(*self.train_xy), batch_size=self.batch_size, shuffle=self.shuffle,
                          generator=torch.Generator().manual_seed(0))

    def val_dataloader(self):
        return DataLoader(DictSet(*self.test_xy), batch_size=16)

    test_dataloader = val_dataloader

    def predict_dataloader(self):
        return DataLoader(TensorDataset(self.test_xy[0]), batch_size=16)


def _quiet(**kw):
    kw = {"accelerator": "cpu", "logger": False, "enable_checkpointing": False,
          "enable_progress_bar": False, "enable_model_summary": False, **kw}
    return L.Trainer(**kw)


@torch.no_grad()
def _outputs(module, x):
    was = module.training
    module.eval()
    try:
        return module.model(x)
    finally:
        module.train(was)


@pytest.mark.parametrize("method, kwargs", METHODS)
def test_a_datamodule_runs_fit_validate_test_predict(method, kwargs):
    """No train_set: the method's training sample comes from the datamodule's (dict) dataset;
    val_loss / val_acc / test_acc are whole-epoch values; predict returns logits."""
    dm = Blobs()
    torch.manual_seed(0)
    module = LossKitModule(TinyNet(), method, method_kwargs=kwargs, lr=0.05)
    assert module.ctx is None  # set up when fit starts
    stop = L.pytorch.callbacks.EarlyStopping(monitor="val_loss", patience=5)
    trainer = _quiet(max_epochs=2, callbacks=[stop])
    trainer.fit(module, datamodule=dm)
    assert trainer.current_epoch == 2 and trainer.global_step == 12  # 6 batches per epoch
    x_train, y_train = dm.train_xy
    assert torch.equal(module.ctx.train_set.tensors[0], x_train)  # the whole (small) dataset
    assert torch.isfinite(stop.best_score)
    if method == "mils":
        assert float(trainer.callback_metrics["mils_attempts"]) == 6

    x, y = dm.test_xy
    logits = _outputs(module, x)
    val = trainer.validate(module, datamodule=dm, verbose=False)[0]
    assert val["val_loss"] == pytest.approx(float(F.cross_entropy(logits, y)), rel=1e-5)
    assert val["val_acc"] == pytest.approx(float((logits.argmax(1) == y).float().mean()))
    test = trainer.test(module, datamodule=dm, verbose=False)[0]
    assert test["test_acc"] == val["val_acc"] and test["test_loss"] == val["val_loss"]
    predicted = torch.cat(trainer.predict(module, datamodule=dm))
    torch.testing.assert_close(predicted, logits)
    if method == "mils":  # the observation set: rows of the training data
        obs_x, obs_y = module.method._observation
        rows = (obs_x.unsqueeze(1) == x_train.unsqueeze(0)).all(2)
        assert len(obs_y) == 32 and bool(rows.any(1).all())


def test_early_stopping_on_val_loss_stops_a_run_that_does_not_improve():
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    module = LossKitModule(model, "loss", optimizer=partial(torch.optim.SGD, lr=0.0))
    stop = L.pytorch.callbacks.EarlyStopping(monitor="val_loss", patience=1)
    trainer = _quiet(max_epochs=10, callbacks=[stop])
    trainer.fit(module, datamodule=Blobs())
    assert trainer.current_epoch == 2  # epoch 0 sets the best, epoch 1 does not beat it


def test_the_training_sample_of_a_large_dataset_is_a_seeded_subset():
    class Augmented(DictSet):  # random augmentation: must not move the global RNG
        def __getitem__(self, i):
            item = super().__getitem__(i)
            return {**item, "input": item["input"] + 0.01 * torch.rand(())}

    x, y = make_blobs(n=400).train.tensors
    loader = DataLoader(Augmented(x, y), batch_size=32)
    from losskit.integrations.lightning import training_sample

    state = torch.get_rng_state()
    first = training_sample(loader, 64, seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    again = training_sample(loader, 64, seed=3)
    assert len(first) == 64 and torch.equal(first.tensors[1], again.tensors[1])
    near = (first.tensors[0].unsqueeze(1) - x.unsqueeze(0)).abs().amax(2) < 0.011
    assert bool(near.any(1).all())  # each sample is a (slightly augmented) training row
    other = training_sample(loader, 64, seed=4)
    assert not torch.equal(other.tensors[0], first.tensors[0])
    # a plain iterable of batches: its first batches
    batches = [(x[i:i + 10], y[i:i + 10]) for i in range(0, 50, 10)]
    head = training_sample(batches, 25, seed=0)
    assert torch.equal(head.tensors[0], x[:25])
    # an explicit train_set of any kind works as before
    module = LossKitModule(TinyNet(), "mils", DictSet(x, y), train_sample_size=100,
                           method_kwargs={"observation_size": 16})
    assert len(module.ctx.train_set) == 100
    module = LossKitModule(TinyNet(), "loss", (x, y))
    assert module.ctx.train_set.tensors[0] is x


@pytest.mark.parametrize("form", ["tensor", "(x,)", "(x, y)", "dict"])
def test_predict_takes_every_batch_form(form):
    x, y = make_blobs().test.tensors
    module = LossKitModule(TinyNet(), "loss", input_key="image", target_key="label")
    batch = {"tensor": x, "(x,)": (x,), "(x, y)": (x, y), "dict": {"image": x}}[form]
    module.eval()
    torch.testing.assert_close(module.predict_step(batch, 0), module.model(x))
    with pytest.raises(ConfigError, match="input_key"):
        module.predict_step({"input": x}, 0)


def test_resume_without_train_set_is_exact(tmp_path):
    """The training sample is drawn again from the datamodule on resume: MILS's observation
    indices (saved) point at the same samples."""
    kwargs = {"aux": "multi_margin,focal", "participation": 0.5, "observation_size": 32}

    def run(epochs, ckpt_path=None):
        torch.manual_seed(0)
        module = LossKitModule(TinyNet(), "mils", method_kwargs=kwargs, seed=3,
                               train_sample_size=64)
        trainer = _quiet(max_epochs=epochs)
        trainer.fit(module, datamodule=Blobs(shuffle=False), ckpt_path=ckpt_path)
        return module, trainer

    straight, _ = run(2)
    _, first = run(1)
    first.save_checkpoint(tmp_path / "one.ckpt")
    resumed, _ = run(2, tmp_path / "one.ckpt")
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
    assert len(resumed.ctx.train_set) == 64
    assert torch.equal(straight.method._observation[0], resumed.method._observation[0])


def test_evaluation_before_fit_loads_the_models_weights_from_a_checkpoint(tmp_path):
    dm = Blobs()
    torch.manual_seed(0)
    trained = LossKitModule(TinyNet(), "slf", method_kwargs={"losses": "ce,prob_mae"})
    trainer = _quiet(max_epochs=1)
    trainer.fit(trained, datamodule=dm)
    trainer.save_checkpoint(tmp_path / "slf.ckpt")
    fresh = LossKitModule(TinyNet(), "slf", method_kwargs={"losses": "ce,prob_mae"})
    got = _quiet().test(fresh, datamodule=dm, ckpt_path=tmp_path / "slf.ckpt", verbose=False)
    x, y = dm.test_xy
    expected = (_outputs(trained, x).argmax(1) == y).float().mean()
    assert got[0]["test_acc"] == pytest.approx(float(expected))


# ------------------------------------------------------------------- binary, one logit
def _binary_blobs(n: int = 320):
    g = torch.Generator().manual_seed(5)
    y = (torch.rand(n, generator=g) < 0.25).long()  # 1:3
    x = torch.randn(n, 8, generator=g) + y.unsqueeze(1) * torch.linspace(0.2, 1.0, 8)
    return (x[:240], y[:240]), (x[240:], y[240:])


@pytest.mark.parametrize("method, kwargs, dtype", [("uniloss", {"metric": "ap"}, torch.long),
                                                   ("uniloss", {"metric": "ap"}, torch.float32),
                                                   ("loss", {"loss": "bce"}, torch.long),
                                                   ("loss", {"loss": "bce"}, torch.float32)])
def test_a_one_logit_binary_model_logs_whole_epoch_ap(method, kwargs, dtype):
    """UniLoss AP and BCE on an (N, 1) model: val_ap / val_auc / val_acc / val_loss are the
    sklearn / torch values on the whole validation set (16-sample batches)."""
    metrics = pytest.importorskip("sklearn.metrics")
    (x, y), (vx, vy) = _binary_blobs()
    y = y.to(dtype)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))
    module = LossKitModule(model, method, method_kwargs=kwargs, lr=0.05)
    trainer = _quiet(max_epochs=2)
    val_loader = DataLoader(TensorDataset(vx, vy), batch_size=16)
    trainer.fit(module, DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True),
                val_loader)
    logged = {k: float(v) for k, v in trainer.callback_metrics.items()}
    scores = torch.cat(trainer.predict(module, val_loader)).squeeze(1)
    assert logged["val_ap"] == pytest.approx(metrics.average_precision_score(vy, scores),
                                             abs=1e-6)
    assert logged["val_auc"] == pytest.approx(metrics.roc_auc_score(vy, scores), abs=1e-6)
    assert logged["val_acc"] == pytest.approx(float(((scores > 0).long() == vy).float().mean()))
    assert logged["val_loss"] == pytest.approx(
        float(F.binary_cross_entropy_with_logits(scores, vy.float())), rel=1e-5)
    assert logged["val_ap"] > 0.5  # learned something (the positive share is ~0.25)


@pytest.mark.parametrize("width", [0, 1, 2])
@pytest.mark.parametrize("dtype", [torch.long, torch.float32])
def test_validate_reads_every_binary_output_shape(width, dtype):
    metrics = pytest.importorskip("sklearn.metrics")
    _, (vx, vy) = _binary_blobs()
    head = nn.Linear(8, max(width, 1))
    model = head if width else nn.Sequential(head, nn.Flatten(0))
    module = LossKitModule(model, "loss")
    got = _quiet().validate(module, DataLoader(TensorDataset(vx, vy.to(dtype)), batch_size=16),
                            verbose=False)[0]
    with torch.no_grad():
        out = model(vx)
    scores = out[:, 1] - out[:, 0] if width == 2 else out.reshape(-1)
    assert got["val_ap"] == pytest.approx(metrics.average_precision_score(vy, scores), abs=1e-6)
    assert got["val_acc"] == pytest.approx(float(((scores > 0).long() == vy).float().mean()))


@pytest.mark.slow
def test_two_processes_log_the_whole_validation_sets_metrics():
    """DDP (2 CPU processes, gloo): each process sees half the batches; the logged AP / loss
    are those of the whole set."""
    metrics = pytest.importorskip("sklearn.metrics")
    _, (vx, vy) = _binary_blobs()  # 80 samples: 40 per process
    torch.manual_seed(0)
    binary = LossKitModule(nn.Linear(8, 1), "loss")
    trainer = _quiet(devices=2, strategy="ddp_spawn")
    got = trainer.validate(binary, DataLoader(TensorDataset(vx, vy), batch_size=8),
                           verbose=False)[0]
    with torch.no_grad():
        scores = binary.model(vx).squeeze(1)
    assert got["val_ap"] == pytest.approx(metrics.average_precision_score(vy, scores), abs=1e-6)
    assert got["val_loss"] == pytest.approx(
        float(F.binary_cross_entropy_with_logits(scores, vy.float())), rel=1e-5)


def test_readme_lightning_datamodule_block_runs(tmp_path, monkeypatch):
    """The README's "### With Lightning" example (a LightningDataModule of dict samples)."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    if "### With Lightning" not in text:
        pytest.skip("README has no '### With Lightning' subsection yet")
    section = text[text.index("### With Lightning") + 3:]
    end = re.search(r"^#{2,3} ", section, flags=re.M)
    blocks = re.findall(r"```python\n(.*?)```", section[: end.start() if end else None],
                        flags=re.S)
    assert blocks, "the '### With Lightning' subsection has no python block"
    monkeypatch.chdir(tmp_path)  # Lightning's default checkpoint directory
    namespace: dict = {"__name__": "readme"}
    exec(compile(blocks[0], "README.md", "exec"), namespace)  # noqa: S102
    assert namespace["test"]["test_acc"] > 0.8  # digits with an MLP: easy
    assert namespace["logits"].shape == (359, 10)
