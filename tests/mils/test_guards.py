"""MILS with any model: label width inferred from the logits, foreign optimizers refused, an
all-ties epoch warned about; the observation set from any map-style dataset."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn
from torch.utils.data import Dataset, IterableDataset, TensorDataset

from losskit import losses
from losskit.mils import MILS, MILSStats, observation_set_from, sample_observation
from losskit.mils.observation import materialise


def _plain(out: int = 3) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, out))


def _data(n: int = 64, classes: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, 8, generator=g), torch.randint(0, classes, (n,), generator=g)


# ------------------------------------------------------------------ label width
def test_plain_module_out_of_range_labels_raise_one_error_naming_labels_and_width():
    model = _plain(3)
    x, y = _data()
    y_bad = y.clone()
    y_bad[5] = 7  # a label the 3-wide logits can never predict
    mils = MILS(model, torch.optim.SGD(model.parameters(), lr=0.1), "ce", "focal", 1.0,
                (x[:16], y_bad[:16].clamp(max=2)))
    mils.step(x[:8], y[:8])  # in range: checked on this first evaluation, fine
    before = [p.detach().clone() for p in model.parameters()]
    mils.set_observation(x[:16], y_bad[:16])
    with pytest.raises(ValueError, match=r"observation labels .*\[0, 3\).*width.*up to 7"):
        mils.step(x[:8], y[:8])
    # raised before the auxiliary update: the model is untouched
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_plain_module_checked_from_construction_on():
    model = _plain(3)
    x, y = _data()
    mils = MILS(model, torch.optim.SGD(model.parameters(), lr=0.1), "ce", "focal", 1.0,
                (x[:16], y[:16] + 3))  # every label out of range
    with pytest.raises(ValueError) as err:
        mils.step(x[:8], y[:8])
    assert "observation labels" in str(err.value) and "width" in str(err.value)
    assert mils.stats.attempts == 0  # nothing was recorded as a (tied) attempt


def test_in_range_labels_on_a_plain_module_train_normally():
    model = _plain(3)
    x, y = _data()
    mils = MILS(model, torch.optim.SGD(model.parameters(), lr=0.5), "ce", "focal", 1.0,
                (x[:32], y[:32]))
    results = [mils.step(xb, yb) for xb, yb in zip(x.split(8), y.split(8))]
    assert all(r.attempted_aux == "focal" for r in results)
    assert mils.stats.attempts == 8


# ------------------------------------------------------------------ optimizer ownership
def test_foreign_optimizer_is_refused():
    model, other = _plain(3), _plain(3)
    x, y = _data()
    with pytest.raises(ValueError, match=r"optimizer holds 4 of 4 parameter tensors"):
        MILS(model, torch.optim.SGD(other.parameters(), lr=0.1), "ce", "focal", 0.5,
             (x[:8], y[:8]))
    mixed = torch.optim.SGD([*model.parameters(), *other[2].parameters()], lr=0.1)
    with pytest.raises(ValueError, match=r"optimizer holds 2 of 6"):
        MILS(model, mixed, "ce", "focal", 0.5, (x[:8], y[:8]))


def test_model_subsets_and_loss_parameters_are_accepted():
    model = _plain(3)
    x, y = _data()
    frozen_head = torch.optim.SGD(model[0].parameters(), lr=0.1)  # fine-tuning one layer
    MILS(model, frozen_head, "ce", "focal", 0.5, (x[:8], y[:8]))
    center = losses.build("center", {"num_classes": 3, "feature_dim": 16})
    opt = torch.optim.SGD([*model.parameters(), *center.parameters()], lr=0.1)
    MILS(model, opt, "ce", {"center": center}, 0.5, (x[:8], y[:8]))


# ------------------------------------------------------------------ all-ties warning
def test_an_epoch_of_ties_warns_once():
    model = _plain(3)
    x, y = _data()
    # lr = 0: no update can change any prediction, so every attempt is a tie
    mils = MILS(model, torch.optim.SGD(model.parameters(), lr=0.0), "ce", "focal", 1.0,
                (x[:16], y[:16]))
    for xb, yb in zip(x.split(16), y.split(16)):
        mils.step(xb, yb)
    assert mils.stats.ties == mils.stats.attempts == 4
    with pytest.warns(UserWarning, match=r"all 4 auxiliary attempts .* ties.*kept.*Likely"):
        mils.reset_stats()
    for xb, yb in zip(x.split(16), y.split(16)):
        mils.step(xb, yb)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mils.reset_stats()  # once per MILS object


@pytest.mark.parametrize("ties, warns", [(3, True), (2, False)])
def test_warning_needs_every_attempt_tied(ties, warns):
    model = _plain(3)
    x, y = _data()
    mils = MILS(model, torch.optim.SGD(model.parameters(), lr=0.1), "ce", "focal", 1.0,
                (x[:16], y[:16]))
    mils.stats = MILSStats(attempts=3, successes=3, ties=ties)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mils.reset_stats()
    assert len(caught) == int(warns)
    mils.stats = MILSStats()  # no attempt at all: nothing to warn about
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mils.reset_stats()


# ------------------------------------------------------------------ observation_set_from
class _Items(Dataset):
    """A map-style dataset of ``(x, int)`` tuples or ``{"input", "target"}`` dicts."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, as_dict: bool = False) -> None:
        self.x, self.y, self.as_dict = x, y, as_dict

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        if self.as_dict:
            return {"input": self.x[i], "target": int(self.y[i])}
        return self.x[i], int(self.y[i])


@pytest.mark.parametrize("as_dict", [False, True])
def test_observation_set_from_any_dataset_matches_the_tensor_draw(as_dict):
    x, y = _data(50)
    ref_idx = torch.randperm(50, generator=torch.Generator().manual_seed(3))[:12].sort().values
    xt, yt, it = observation_set_from(TensorDataset(x, y), 12, torch.Generator().manual_seed(3))
    assert torch.equal(it, ref_idx) and torch.equal(xt, x[ref_idx]) and torch.equal(yt, y[ref_idx])
    xs, ys, idx = observation_set_from(_Items(x, y, as_dict), 12,
                                       torch.Generator().manual_seed(3))
    assert torch.equal(idx, ref_idx) and torch.equal(xs, xt) and torch.equal(ys, yt)
    assert ys.dtype == torch.int64
    # the old name gives the same draw
    assert torch.equal(sample_observation(TensorDataset(x, y), 12,
                                          torch.Generator().manual_seed(3))[2], ref_idx)


def test_observation_set_is_a_copy():
    x, y = _data(20)
    xs, _, idx = observation_set_from(TensorDataset(x, y), 5, torch.Generator().manual_seed(0))
    x.zero_()
    assert not torch.equal(xs, x[idx])
    assert torch.equal(materialise(TensorDataset(x, y), idx)[0], x[idx])


def test_observation_set_from_bad_input():
    x, y = _data(10)

    class Stream(IterableDataset):
        def __iter__(self):
            return iter(zip(x, y))

    with pytest.raises(ValueError, match="dataset must be a map-style"):
        observation_set_from(Stream(), 4, torch.Generator())
    for size in (0, 11, 2.0, True):
        with pytest.raises(ValueError, match="observation_size"):
            observation_set_from(TensorDataset(x, y), size, torch.Generator())


def test_mils_method_draws_from_a_plain_dataset():
    """The Trainer's MILS draws its observation set through observation_set_from: a plain
    map-style train set gives the same set as the equivalent TensorDataset."""
    from losskit.core.method import TrainContext
    from losskit.mils import MILSMethod

    x, y = _data(40)
    sets = []
    for train_set in (TensorDataset(x, y), _Items(x, y)):
        method = MILSMethod(aux="focal", observation_size=10, seed=4)
        method.setup(TrainContext(model=_plain(3), num_classes=3, feature_dim=16,
                                  train_set=train_set))
        sets.append(method._observation)
    assert torch.equal(sets[0][0], sets[1][0]) and torch.equal(sets[0][1], sets[1][1])
