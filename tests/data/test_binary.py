from __future__ import annotations

import pytest
import torch

from losskit.data.binary import one_vs_rest
from losskit.data.splits import generator


def _data(per_class: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    y = torch.cat([torch.full((n,), c) for c, n in enumerate(per_class)])
    y = y[torch.randperm(y.numel(), generator=torch.Generator().manual_seed(5))]
    return torch.arange(y.numel()), y


def test_exact_one_to_nine_ratio_and_all_positives_kept():
    x, y = _data([100, 200, 300, 400, 500])  # 200 positives, 1300 candidate negatives
    xs, ys = one_vs_rest(x, y, positive_class=1, neg_per_pos=9, generator=generator(0))
    assert ys.dtype == torch.int64 and set(ys.unique().tolist()) == {0, 1}
    assert int((ys == 1).sum()) == 200 and int((ys == 0).sum()) == 1300  # capped: only 1300
    xs, ys = one_vs_rest(x, y, positive_class=0, neg_per_pos=9, generator=generator(0))
    assert int((ys == 1).sum()) == 100 and int((ys == 0).sum()) == 900  # exactly 1:9
    # Positives are exactly the original class-0 rows; negatives come from other classes.
    assert torch.equal(xs[ys == 1], x[y == 0])
    assert torch.all(y[xs[ys == 0]] != 0)
    assert torch.all(xs[1:] > xs[:-1])  # original order


def test_negatives_are_seeded_random():
    x, y = _data([50, 500, 500])
    a = one_vs_rest(x, y, 0, 9, generator(1))[0]
    assert torch.equal(a, one_vs_rest(x, y, 0, 9, generator(1))[0])
    assert not torch.equal(a, one_vs_rest(x, y, 0, 9, generator(2))[0])
    # Both remaining classes contribute (random, not "first N negatives").
    negs = y[a][y[a] != 0]
    assert set(negs.tolist()) == {1, 2}


def test_fractional_ratio_rounds():
    x, y = _data([10, 100])
    ys = one_vs_rest(x, y, 0, 2.5, generator(0))[1]
    assert int((ys == 0).sum()) == 25


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"positive_class": 7}, "positive_class"),
        ({"positive_class": "0"}, "positive_class"),
        ({"neg_per_pos": 0}, "neg_per_pos"),
        ({"neg_per_pos": float("inf")}, "neg_per_pos"),
    ],
)
def test_bad_arguments(kwargs, name):
    x, y = _data([10, 10])
    args = {"positive_class": 0, "neg_per_pos": 9, **kwargs}
    with pytest.raises(ValueError, match=name):
        one_vs_rest(x, y, generator=generator(0), **args)
