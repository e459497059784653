"""Broken updates are never kept, NaN logits never count as correct, and a bad observation set
is refused up front."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from losskit import models
from losskit.mils import MILS, check_observation, observation_counts
from tests.conftest import TinyNet
from tests.mils.test_scheduling import _batches, _data
from tests.mils.util import assert_same, full_state


def overflowing(input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Finite loss (≈ 2.3e38 < float32 max) whose update overflows the weights."""
    return 1e38 * F.cross_entropy(input, target)


@pytest.mark.parametrize("model_name", ["mlp", "lenet"])
@pytest.mark.parametrize("seed", range(3))
def test_overflowing_aux_is_rejected_and_model_stays_finite(model_name: str, seed: int) -> None:
    """Untrained model, random labels (the old failure: a NaN model "predicts class 0" and
    ties or beats the untrained accuracy): every attempt is rejected as non-finite and the
    state afterwards is exactly that of primary-only training."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(256, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (256,), generator=g)
    torch.manual_seed(seed)
    model = models.build(model_name, (1, 28, 28), 10)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    mils = MILS(model, opt, "ce", {"huge": overflowing}, 1.0, (x[:128], y[:128]),
                generator=torch.Generator().manual_seed(seed))
    batches = [(x[128 + 16 * i : 144 + 16 * i], y[128 + 16 * i : 144 + 16 * i])
               for i in range(6)]
    results = [mils.step(xb, yb) for xb, yb in batches]
    assert all(r.accepted is False and r.nonfinite and r.trained == "primary" for r in results)
    assert mils.stats.nonfinite == mils.stats.rollbacks == 6 and mils.stats.ties == 0
    assert all(bool(torch.isfinite(p).all()) for p in model.parameters())
    torch.manual_seed(seed)
    ref = models.build(model_name, (1, 28, 28), 10)
    ref_opt = torch.optim.SGD(ref.parameters(), lr=0.05, momentum=0.9)
    for xb, yb in batches:
        ref_opt.zero_grad(set_to_none=True)
        F.cross_entropy(ref(xb), yb).backward()
        ref_opt.step()
    assert_same(full_state(model, opt), full_state(ref, ref_opt))


def test_nan_logits_never_count_as_correct() -> None:
    class Fixed(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

    logits = torch.tensor([[float("nan"), 0.0], [1.0, 0.0], [0.0, float("inf")], [0.0, 1.0]])
    y = torch.tensor([0, 0, 1, 0])
    # argmax would call rows 0 and 2 correct; only row 1 is
    assert observation_counts(Fixed(), logits, y).tolist() == [1, 2]
    assert observation_counts(Fixed(), logits, y, batch_size=3).tolist() == [1, 2]


def test_nonfinite_attempt_also_rolls_back_class_statistics() -> None:
    """Under statistics="learn" the centres keep a rejected update — but not a broken one."""
    from losskit import losses

    torch.manual_seed(0)
    model = TinyNet()
    center = losses.build("center", {"num_classes": 3, "feature_dim": 16})

    class Broken(nn.Module):
        needs_features = True
        name = "broken"

        def forward(self, input, target, features=None):
            return center(input, target, features) * float("inf")

    opt = torch.optim.SGD(list(model.parameters()) + list(center.parameters()), lr=0.1)
    x, y = _data()
    broken = Broken()
    mils = MILS(model, opt, "ce", {"center": center, "broken": broken}, 1.0, (x[:64], y[:64]))
    seen = set()
    for xb, yb in _batches(x, y, 20):
        before = full_state(model, opt, [center])
        r = mils.step(xb, yb)
        seen.add(r.attempted_aux)
        if r.attempted_aux == "broken":  # its inf gradient reached the centres: undone too
            assert r.nonfinite and r.accepted is False
            assert_same(before["modules"], [center.state_dict()])
    assert seen == {"center", "broken"}


@pytest.mark.parametrize(
    ("x", "y", "match"),
    [
        (torch.randn(4, 8), torch.tensor([0, 1, 2, 3]), r"labels must be class indices \[0, 3\)"),
        (torch.randn(4, 8), torch.tensor([0, -1, 2, 1]), r"labels must be class indices"),
        (torch.full((4, 8), float("nan")), torch.tensor([0, 1, 2, 1]), "inputs must be finite"),
        (torch.randn(0, 8), torch.zeros(0, dtype=torch.long), "empty"),
        (torch.randn(4, 8), torch.tensor([0, 1, 2]), "shape"),
        (torch.randn(4, 8), torch.tensor([0.0, 1.0, 2.0, 1.0]), "integer"),
    ],
)
def test_bad_observation_set_is_refused_at_construction_and_replacement(x, y, match) -> None:
    model = TinyNet()  # num_classes = 3
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match=f"observation.*{match}"):
        MILS(model, opt, "ce", "focal", 0.5, (x, y))
    good = (torch.randn(4, 8), torch.tensor([0, 1, 2, 1]))
    mils = MILS(model, opt, "ce", "focal", 0.5, good)
    with pytest.raises(ValueError, match=f"observation.*{match}"):
        mils.set_observation(x, y)
    assert mils.observation[1].tolist() == [0, 1, 2, 1]  # the old set is still in use


def test_label_range_only_checked_when_known() -> None:
    x, y = torch.randn(3, 2), torch.tensor([0, 7, 9])
    assert check_observation((x, y))[1] is y
    with pytest.raises(ValueError, match="observation"):
        check_observation((x, y), num_classes=5)
