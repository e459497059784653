"""data.loading: the loader path draws exactly what the in-memory path draws."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler, Subset, TensorDataset

from losskit.core.errors import ConfigError
from losskit.data.batches import BatchKeys
from losskit.data.loading import (
    EpochBatchSampler,
    PairDataset,
    as_tensor_dataset,
    draw_subset,
    first_batch,
    iter_xy,
    make_loader,
    sample_targets,
    take,
)
from losskit.mils.observation import observation_set_from
from losskit.train import batches

X = torch.randn(53, 4)
Y = torch.arange(53) % 5


class Rows(Dataset):
    def __len__(self):
        return len(X)

    def __getitem__(self, i):
        return {"x": X[i], "y": Y[i]}


KEYS = BatchKeys("x", "y")


@pytest.mark.parametrize("num_workers", [0, 2])
def test_loader_batches_equal_the_in_memory_batches(num_workers):
    g_memory, g_loader = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    loader = make_loader(Rows(), 8, shuffle=True, generator=g_loader, num_workers=num_workers)
    for _ in range(3):  # every epoch: one randperm of the shared stream
        memory = list(batches(TensorDataset(X, Y), 8, g_memory))
        streamed = list(iter_xy(loader, KEYS))
        assert len(memory) == len(streamed) == len(loader) == 7
        for (xm, ym), (xs, ys) in zip(memory, streamed, strict=True):
            assert torch.equal(xm, xs) and torch.equal(ym, ys)
    assert torch.equal(g_memory.get_state(), g_loader.get_state())  # nothing else drawn


def test_rank_slices_are_the_shards_of_the_global_batch():
    order = list(EpochBatchSampler(53, 8, torch.Generator().manual_seed(1)))
    for rank in range(3):
        mine = list(EpochBatchSampler(53, 8, torch.Generator().manual_seed(1), rank, 3))
        assert mine == [b[rank::3] for b in order]


def test_take_draw_subset_and_targets():
    ds = TensorDataset(X, Y)
    x, y = take(Rows(), [3, 1], KEYS)
    assert torch.equal(x, X[[3, 1]]) and torch.equal(y, Y[[3, 1]])
    g1, g2 = torch.Generator().manual_seed(4), torch.Generator().manual_seed(4)
    xs, ys, idx = draw_subset(PairDataset(Rows(), KEYS), 10, g1)
    xo, yo, io = observation_set_from(ds, 10, g2)  # MILS's observation draws
    assert torch.equal(idx, io) and torch.equal(xs, xo) and torch.equal(ys, yo)
    with pytest.raises(ValueError, match="size must be an integer in"):
        draw_subset(ds, 54, g1)
    assert sample_targets(ds) is Y
    assert torch.equal(sample_targets(Rows(), KEYS), Y[:2])
    sub = as_tensor_dataset(Subset(Subset(ds, list(range(10, 30))), [0, 5]))
    assert torch.equal(sub.tensors[1], Y[[10, 15]])
    assert as_tensor_dataset(Rows()) is None


def test_first_batch_of_a_loader_draws_nothing_from_its_sampler():
    g = torch.Generator().manual_seed(0)
    loader = DataLoader(TensorDataset(X, Y), batch_size=8,
                        sampler=RandomSampler(TensorDataset(X, Y), generator=g),
                        collate_fn=lambda items: {"x": torch.stack([i[0] for i in items]),
                                                  "y": torch.stack([i[1] for i in items])})
    before = g.get_state()
    x, y = first_batch(loader, KEYS)
    assert torch.equal(g.get_state(), before)  # its shuffling stream is untouched
    assert torch.equal(x, X[:2]) and torch.equal(y, Y[:2])  # through its collate_fn


def test_make_loader_errors():
    assert make_loader(loader := DataLoader(Rows()), 4) is loader
    with pytest.raises(ConfigError, match="persistent_workers"):
        make_loader(Rows(), 4, persistent_workers=True)
    with pytest.raises(ConfigError, match="Dataset"):
        make_loader(object(), 4)
    with pytest.raises(ValueError, match="generator"):
        make_loader(Rows(), 4, shuffle=True)
    with pytest.raises(ConfigError, match="empty"):
        EpochBatchSampler(0, 4)
