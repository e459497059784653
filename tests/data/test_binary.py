from __future__ import annotations

import math

import pytest
import torch

from losskit.data.binary import binary_splits, binary_val_counts, one_vs_rest, ratio_sizes
from losskit.data.splits import generator


def _data(per_class: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    y = torch.cat([torch.full((n,), c) for c, n in enumerate(per_class)])
    y = y[torch.randperm(y.numel(), generator=torch.Generator().manual_seed(5))]
    return torch.arange(y.numel()), y


def test_exact_one_to_nine_ratio_and_all_positives_kept():
    x, y = _data([100, 200, 300, 400, 500])  # 200 positives, 1300 candidate negatives
    xs, ys = one_vs_rest(x, y, positive_class=1, neg_per_pos=9, generator=generator(0))
    assert ys.dtype == torch.int64 and set(ys.unique().tolist()) == {0, 1}
    # 9 * 200 > 1300 negatives: positives are thinned to floor(1300 / 9) = 144, 1296 negatives
    assert int((ys == 1).sum()) == 144 and int((ys == 0).sum()) == 1296
    assert torch.all(y[xs[ys == 1]] == 1) and torch.all(y[xs[ys == 0]] != 1)
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


def test_achievable_ratio_draws_the_negatives_it_always_drew():
    # Reference: every positive, then the first round(r * P) of one permutation of the
    # negatives -- the draw that recorded runs (e.g. e2-uniloss-ap at 1:9) were made with.
    x, y = _data([40, 300, 200])
    xs, ys = one_vs_rest(x, y, 0, 9, generator(4))
    neg = torch.nonzero(y != 0).flatten()
    ref = neg[torch.randperm(neg.numel(), generator=generator(4))[:360]]
    keep = (y == 0).clone()
    keep[ref] = True
    assert torch.equal(xs, x[keep])


def test_thinned_positives_are_a_seeded_random_subset():
    x, y = _data([300, 100, 100])  # 300 positives, 200 negatives: 1:4 keeps 50 positives
    a, ya = one_vs_rest(x, y, 0, 4, generator(1))
    assert int((ya == 1).sum()) == 50 and int((ya == 0).sum()) == 200
    assert torch.equal(a, one_vs_rest(x, y, 0, 4, generator(1))[0])
    b, yb = one_vs_rest(x, y, 0, 4, generator(2))
    assert not torch.equal(a[ya == 1], b[yb == 1])
    pos_rows = a[ya == 1]
    assert pos_rows.min() < 100 and pos_rows.max() >= 200  # spread, not the first 50 positives


@pytest.mark.parametrize(
    "n_pos, n_neg, r, expected",
    [(6000, 54000, 9, (6000, 54000)),  # Fashion-MNIST 1:9: achievable, nothing thinned
     (6000, 54000, 19, (2842, 53998)),  # 1:19 -> floor(54000 / 19) positives
     (1000, 9000, 19, (473, 8987)),
     (11, 20, 2.5, (8, 20)),  # round(2.5 * 8) = 20 <= 20 < round(2.5 * 9) = 23
     (10, 3, 0.3, (10, 3))],
)
def test_ratio_sizes(n_pos, n_neg, r, expected):
    p, n = ratio_sizes(n_pos, n_neg, r)
    assert (p, n) == expected
    assert n <= n_neg and p <= n_pos
    if p < n_pos:  # the most positives that can be matched: one more would not fit
        assert math.floor(r * (p + 1) + 0.5) > n_neg


def test_impossible_ratio_names_neg_per_pos():
    x, y = _data([5, 10])
    with pytest.raises(ValueError, match=r"neg_per_pos=19 is impossible in the train split"):
        one_vs_rest(x, y, 0, 19, generator(0), "the train split")


def _pseudo_folder_data(per_class_train, per_class_test):
    x_tr, y_tr = _data(per_class_train)
    x_te, y_te = _data(per_class_test)
    return x_tr.float()[:, None], y_tr, x_te.float()[:, None], y_te


def test_binary_splits_keep_the_ratio_in_every_part_and_record_it():
    data = _pseudo_folder_data([500, 300, 300, 300], [80, 100, 100, 100])
    d = binary_splits("toy", data, positive_class=0, neg_per_pos=4, seed=3, val_fraction=0.15)
    counts = {part: torch.bincount(getattr(d, part).tensors[1], minlength=2).tolist()
              for part in ("train", "val", "test")}
    # train pool: 900 negatives -> 225 positives; val: round(0.15 * 225) = 34 and 136
    assert counts == {"train": [764, 191], "val": [136, 34], "test": [300, 75]}
    for part, (n, p) in counts.items():
        assert d.meta["counts"][part] == {"positives": p, "negatives": n, "ratio": n / p}
        assert n == 4 * p
    assert d.meta["neg_per_pos"] == 4 and d.meta["task"] == "binary"
    tr, va = d.train.tensors[0].flatten().tolist(), d.val.tensors[0].flatten().tolist()
    assert set(tr).isdisjoint(va)
    again = binary_splits("toy", data, positive_class=0, neg_per_pos=4, seed=3, val_fraction=0.15)
    assert torch.equal(again.val.tensors[0], d.val.tensors[0])


def test_binary_val_counts_match_the_proportional_quota_when_it_is_exact():
    # 600:5400 at 10 % is what stratified_split gives too (recorded runs are unchanged)
    y = torch.cat([torch.zeros(54000), torch.ones(6000)]).long()
    assert binary_val_counts(y, 0.1, 9) == [5400, 600]
