from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from losskit.data.splits import (
    generator,
    imbalance,
    make_splits,
    random_split,
    retention_probabilities,
    stratified_split,
)


def _labels(per_class: list[int]) -> torch.Tensor:
    y = torch.cat([torch.full((n,), c) for c, n in enumerate(per_class)])
    return y[torch.randperm(y.numel(), generator=torch.Generator().manual_seed(123))]


def test_generator_streams_deterministic_and_distinct():
    a = torch.rand(5, generator=generator(3, "val"))
    assert torch.equal(a, torch.rand(5, generator=generator(3, "val")))
    assert not torch.equal(a, torch.rand(5, generator=generator(3, "test")))
    assert not torch.equal(a, torch.rand(5, generator=generator(4, "val")))


def test_stratified_split_partition_and_per_class_counts():
    per_class = [100, 37, 50, 9]
    y = _labels(per_class)
    kept, held = stratified_split(y, 0.2, generator(0, "s"))
    union = torch.sort(torch.cat([kept, held])).values
    assert torch.equal(union, torch.arange(y.numel()))  # disjoint and covering
    assert torch.equal(kept, torch.sort(kept).values) and torch.equal(held, torch.sort(held).values)
    counts = torch.bincount(y[held], minlength=4).tolist()
    # 39 = round(0.2 * 196) held; quotas 20, 7.4, 10, 1.8 -> largest remainder gets the extra one
    assert counts == [20, 7, 10, 2]


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 40), min_size=1, max_size=6),
    fraction=st.floats(0.0, 0.95),
    seed=st.integers(0, 10_000),
)
def test_stratified_split_total_and_per_class_bounds(sizes, fraction, seed):
    y = _labels(sizes)
    kept, held = stratified_split(y, fraction, generator(seed))
    assert held.numel() == math.floor(fraction * y.numel() + 0.5)
    assert kept.numel() + held.numel() == y.numel()
    counts = torch.bincount(y[held], minlength=len(sizes)).tolist()
    for n, c in zip(sizes, counts):
        assert math.floor(fraction * n) <= c <= math.ceil(fraction * n)


def test_stratified_split_seeded():
    y = _labels([50, 50, 50])
    a = stratified_split(y, 0.3, generator(1, "val"))[1]
    assert torch.equal(a, stratified_split(y, 0.3, generator(1, "val"))[1])
    assert not torch.equal(a, stratified_split(y, 0.3, generator(2, "val"))[1])


def test_random_split_counts_and_partition():
    kept, held = random_split(101, 0.25, generator(0))
    assert held.numel() == 25 and kept.numel() == 76
    assert torch.equal(torch.sort(torch.cat([kept, held])).values, torch.arange(101))


def test_retention_probabilities_match_slf_definition():
    p = retention_probabilities(0.1, 10)
    expected = torch.tensor([0.1 + 0.9 * c / 9 for c in range(10)], dtype=torch.float64)
    torch.testing.assert_close(p, expected)
    assert p[0] == 0.1 and p[-1] == 1.0
    assert torch.equal(retention_probabilities(1.0, 4), torch.ones(4, dtype=torch.float64))


def test_imbalance_kept_fraction_per_class():
    num_classes, per_class, r = 10, 20000, 0.2
    y = _labels([per_class] * num_classes)
    x = torch.arange(y.numel()).float().unsqueeze(1)
    xs, ys = imbalance(x, y, r, num_classes, generator(0, "imbalance"))
    kept = torch.bincount(ys, minlength=num_classes).double() / per_class
    expected = torch.tensor([r + (1 - r) * c / (num_classes - 1) for c in range(num_classes)])
    # Binomial std <= sqrt(0.25 / 20000) = 0.0035; allow ~4 std.
    assert torch.all((kept - expected.double()).abs() < 0.015), kept
    assert kept[-1] == 1.0  # class C-1 is kept entirely
    # Rows stay paired with their labels and in the original order.
    idx = xs.squeeze(1).long()
    assert torch.equal(y[idx], ys)
    assert torch.all(idx[1:] > idx[:-1])


def test_imbalance_deterministic_by_seed():
    y = _labels([500] * 5)
    x = torch.arange(y.numel())
    a = imbalance(x, y, 0.3, 5, generator(7, "imbalance"))[0]
    assert torch.equal(a, imbalance(x, y, 0.3, 5, generator(7, "imbalance"))[0])
    assert not torch.equal(a, imbalance(x, y, 0.3, 5, generator(8, "imbalance"))[0])


@pytest.mark.parametrize("r", [0.0, -0.1, 1.5, "0.5", float("nan")])
def test_imbalance_rejects_bad_retention(r):
    y = torch.tensor([0, 1])
    with pytest.raises(ValueError, match="retention"):
        imbalance(y, y, r, 2, generator(0))


def test_imbalance_rejects_out_of_range_labels():
    y = torch.tensor([0, 3])
    with pytest.raises(ValueError, match="y"):
        imbalance(y, y, 0.5, 3, generator(0))


def test_make_splits_val_is_taken_from_train():
    x = torch.arange(200).float().unsqueeze(1)
    y = torch.arange(200) % 4
    s = make_splits("t", x, y, x[:10], y[:10], 4, seed=0, val_fraction=0.25,
                    meta={"task": "classification"})
    tr, va = s.train.tensors[0].squeeze(1), s.val.tensors[0].squeeze(1)
    assert tr.numel() == 150 and va.numel() == 50
    assert set(tr.tolist()).isdisjoint(va.tolist())
    assert sorted(tr.tolist() + va.tolist()) == list(range(200))
    assert sorted(torch.bincount(s.val.tensors[1]).tolist()) == [12, 12, 13, 13]
    assert s.input_shape == (1,) and s.meta == {"task": "classification"}
    s0 = make_splits("t", x, y, x, y, 4, seed=0, val_fraction=0.0, meta={"task": "classification"})
    assert s0.val is None and len(s0.train) == 200


@pytest.mark.parametrize("bad", [-0.1, 1.0, 2, "0.1", None])
def test_make_splits_rejects_bad_val_fraction(bad):
    x, y = torch.zeros(4, 1), torch.zeros(4, dtype=torch.long)
    with pytest.raises(ValueError, match="val_fraction"):
        make_splits("t", x, y, x, y, 1, seed=0, val_fraction=bad, meta={"task": "classification"})


@pytest.mark.parametrize("bad", [1.5, "3", None, True])
def test_generator_rejects_bad_seed(bad):
    with pytest.raises(ValueError, match="seed"):
        generator(bad)
