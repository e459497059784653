"""losskit.core._random: the one key registry behind SLF's and UniLoss's traceable draws."""

import gc

import pytest
import torch

from losskit.core import _random


def test_a_generator_keeps_one_key_and_draws_its_own_stream():
    g = torch.Generator().manual_seed(7)
    key = _random.generator_key(g)
    assert _random.generator_key(g) == key and _random.generator_key(None) == 0
    assert _random.generator_for(key) is g and _random.generator_for(0) is None
    like = torch.zeros(1, dtype=torch.float64)
    got = torch.cat([_random.uniform(key, (3, 2), like).flatten(),
                     _random.rand(key, (4,), torch.device("cpu"), torch.float64),
                     _random.randint(key, 10, (5,), torch.device("cpu")).double()])
    ref = torch.Generator().manual_seed(7)
    want = torch.cat([torch.rand(3, 2, generator=ref, dtype=torch.float64).flatten(),
                      torch.rand(4, generator=ref, dtype=torch.float64),
                      torch.randint(10, (5,), generator=ref).double()])
    assert torch.equal(got, want)
    assert _random.uniform(key, (2,), like, torch.float32).dtype == torch.float32


def test_keys_do_not_keep_generators_or_modules_alive():
    g = torch.Generator()
    key = _random.generator_key(g)
    del g
    gc.collect()
    with pytest.raises(RuntimeError, match=f"random generator {key} no longer exists"):
        _random.generator_for(key)

    class Owner:
        def __init__(self):
            self.gen = torch.Generator().manual_seed(1)

        def provide(self, device):
            return self.gen

    owner = Owner()
    key = _random.register_generator(owner.provide)
    assert _random.generator_for(key, torch.device("cpu")) is owner.gen
    del owner
    gc.collect()
    assert key not in _random._PROVIDERS


def test_the_default_generator_is_key_zero():
    torch.manual_seed(3)
    a = _random.rand(0, (4,), torch.device("cpu"))
    torch.manual_seed(3)
    assert torch.equal(a, torch.rand(4))
