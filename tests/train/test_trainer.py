from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from losskit.train import LossMethod, TrainConfig, Trainer, batches, fit, seeded_generator
from tests.conftest import TinyNet, make_blobs


def _config(**kw) -> TrainConfig:
    base = dict(data="blobs", model="tiny", epochs=2, batch_size=32, lr=0.1, seed=3)
    base.update(kw)
    return TrainConfig(**base)


def _fit(config: TrainConfig, data=None):
    torch.manual_seed(config.seed)
    model = TinyNet()
    return fit(config, data=data or make_blobs(), model=model, method=LossMethod("ce"))


def _params(model) -> list[torch.Tensor]:
    return [t.detach().clone() for t in model.state_dict().values()]


def test_trainer_equals_hand_written_sgd_loop():
    config = _config(epochs=2)
    data = make_blobs()
    result = _fit(config, data)

    torch.manual_seed(config.seed)
    model = TinyNet()
    torch.manual_seed(config.seed)  # the Trainer seeds the global RNG once more after building
    opt = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum)
    g = seeded_generator(config.seed)
    for _ in range(config.epochs):
        model.train()
        for x, y in batches(data.train, config.batch_size, g):
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
    for a, b in zip(_params(result.model), _params(model)):
        assert torch.equal(a, b)


def test_fit_is_deterministic_and_learns():
    r1 = _fit(_config(epochs=3))
    r2 = _fit(_config(epochs=3))
    for a, b in zip(_params(r1.model), _params(r2.model)):
        assert torch.equal(a, b)

    def untimed(rec):
        return {k: v for k, v in rec.items() if "time" not in k}

    assert [untimed(r) for r in r1.history] == [untimed(r) for r in r2.history]
    assert r1.final["test_acc"] > 0.8  # blobs are easy; chance is 1/3
    assert r1.history[-1]["train_loss"] < r1.history[0]["train_loss"]


def test_resume_continues_exactly(tmp_path):
    full = _fit(_config(epochs=3, out_dir=str(tmp_path / "a")))
    _fit(_config(epochs=1, out_dir=str(tmp_path / "b")))
    resumed = _fit(_config(epochs=3, out_dir=str(tmp_path / "b")))
    for a, b in zip(_params(full.model), _params(resumed.model)):
        assert torch.equal(a, b)
    lines = (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3]
    assert (tmp_path / "b" / "metrics.csv").read_text().startswith("epoch,")
    assert json.loads((tmp_path / "b" / "config.json").read_text())["epochs"] == 3


def test_resume_refuses_a_different_run(tmp_path):
    _fit(_config(epochs=1, out_dir=str(tmp_path)))
    with pytest.raises(ValueError, match="different run"):
        _fit(_config(epochs=2, lr=0.5, out_dir=str(tmp_path)))


@pytest.mark.parametrize(
    "field,value",
    [
        ("epochs", 0),
        ("lr", -1.0),
        ("batch_size", 0),
        ("optimizer", "rmsprop"),
        ("schedule", "poly"),
    ],
)
def test_bad_config_names_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        Trainer(
            _config(**{field: value}), data=make_blobs(), model=TinyNet(), method=LossMethod("ce")
        )


@pytest.mark.parametrize("optimizer,schedule", [("adam", "cosine"), ("sgd", "step")])
def test_optimizers_and_schedules(optimizer, schedule):
    result = _fit(_config(epochs=2, optimizer=optimizer, schedule=schedule, lr=0.01, step_size=1))
    assert result.final["test_acc"] > 0.6
    if schedule == "step":
        assert result.history[1]["lr"] == pytest.approx(0.001)


def test_train_size_subset_is_seeded():
    t1 = Trainer(
        _config(train_size=50), data=make_blobs(), model=TinyNet(), method=LossMethod("ce")
    )
    t2 = Trainer(
        _config(train_size=50), data=make_blobs(), model=TinyNet(), method=LossMethod("ce")
    )
    assert len(t1.train_set) == 50
    assert torch.equal(t1.train_set.tensors[0], t2.train_set.tensors[0])
    with pytest.raises(ValueError, match="train_size"):
        Trainer(
            _config(train_size=10**6), data=make_blobs(), model=TinyNet(), method=LossMethod("ce")
        )


def test_progress_bar_is_kept_per_epoch_with_an_eta(capsys):
    """progress=True: one tqdm bar per epoch on stderr, left on screen (ends with a newline)
    and showing elapsed<remaining."""
    _fit(_config(epochs=2, progress=True))
    lines = capsys.readouterr().err.split("\n")
    finals = [line.rsplit("\r", 1)[-1] for line in lines if line.strip()]
    assert [f.split(":")[0] for f in finals] == ["epoch 1/2", "epoch 2/2"]
    assert all("100%" in f and "<00:00" in f for f in finals)


def test_callbacks_see_every_step_and_epoch():
    from losskit.train.callbacks import Callback

    seen: list[tuple[str, int]] = []

    class Spy(Callback):
        def on_fit_start(self, trainer):
            seen.append(("start", len(trainer.history)))

        def on_step_end(self, trainer, result):
            seen.append(("step", trainer.ctx.global_step))

        def on_epoch_end(self, trainer, record):
            seen.append(("epoch", record["epoch"]))

        def on_fit_end(self, trainer, result):
            seen.append(("end", len(result.history)))

    records: list[dict] = []
    config = _config(epochs=2, batch_size=64)
    torch.manual_seed(0)
    fit(config, data=make_blobs(), model=TinyNet(), method=LossMethod("ce"),
        callbacks=[Spy(), records.append])
    steps = [("step", s) for s in range(1, 4)], [("step", s) for s in range(4, 7)]
    assert seen == [("start", 0), *steps[0], ("epoch", 1), *steps[1], ("epoch", 2), ("end", 2)]
    assert [r["epoch"] for r in records] == [1, 2]


def test_overflowing_logits_are_a_divergence_not_an_input_error():
    """A loss that checks its scores (LDAM) meets NaN logits mid-epoch when the rate is far too
    large; the run must end as a divergence (FloatingPointError, which the experiment runner
    records as ``status: diverged``), exactly like CE's non-finite epoch loss — not as a
    ValueError that fails the run."""
    config = _config(lr=1e6, epochs=2, momentum=0.9)
    torch.manual_seed(config.seed)
    with pytest.raises(FloatingPointError, match="lower --lr"):
        fit(config, data=make_blobs(), model=TinyNet(), method=LossMethod("ldam"))


def test_nan_scores_from_a_user_are_still_a_value_error():
    from losskit.core.errors import NonFiniteError
    from losskit.losses.imbalance import ldam

    with pytest.raises(NonFiniteError, match="input contains NaN or Inf"):
        ldam(torch.tensor([[float("nan"), 0.0]]), torch.tensor([0]), torch.tensor([3, 1]))
    assert issubclass(NonFiniteError, ValueError)
