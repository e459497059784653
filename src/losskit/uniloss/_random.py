"""UniLoss randomness that ``torch.compile`` can trace with ``fullgraph=True``.

Dynamo cannot trace a call that takes a ``torch.Generator`` (a graph break), and Inductor
replaces torch's global-RNG draws by its own (different numbers than eager). So every random
draw of UniLoss goes through an opaque custom op (``losskit::uniloss_*``) while compiling: the
op runs eagerly at run time with the real generator, so compiled and eager code draw the same
numbers from the same stream, the generator's state is never guarded (advancing it causes no
recompile), and data-dependent shapes inside the sampler (e.g. picking among the flippable
bits) stay hidden behind fixed output shapes. In eager mode the same Python functions are
called directly (no dispatch overhead).

A generator is referred to by an integer *key* (:func:`generator_key`); key 0 is torch's
default generator of the device.
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Callable
from typing import Any

import torch

_KEYS = itertools.count(1)
_GENERATORS: weakref.WeakValueDictionary[int, torch.Generator] = weakref.WeakValueDictionary()


def generator_key(generator: torch.Generator | None) -> int:
    """An integer standing for ``generator`` in traced code (0: the default generator).

    Each call registers the generator under a fresh key (held weakly)."""
    if generator is None:
        return 0
    key = next(_KEYS)
    _GENERATORS[key] = generator
    return key


def generator_for(key: int) -> torch.Generator | None:
    """The generator registered under ``key`` (``None`` for 0: torch's default generator)."""
    if key == 0:
        return None
    try:
        return _GENERATORS[key]
    except KeyError:
        raise RuntimeError(f"UniLoss generator {key} no longer exists") from None


def _on(out: torch.Tensor, device: torch.device) -> torch.Tensor:
    return out if out.device == device else out.to(device)


def uniform(
    key: int, size: tuple[int, ...], device: torch.device, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """``torch.rand(size)`` from generator ``key``, drawn on its device, on ``device``."""
    generator = generator_for(key)
    gen_device = generator.device if generator is not None else device
    return _on(torch.rand(size, generator=generator, device=gen_device, dtype=dtype), device)


def randint(
    key: int,
    high: int,
    size: tuple[int, ...],
    device: torch.device,
    dtype: torch.dtype = torch.int64,
) -> torch.Tensor:
    """``torch.randint(high, size)`` from generator ``key``, drawn on its device, on ``device``."""
    generator = generator_for(key)
    gen_device = generator.device if generator is not None else device
    out = torch.randint(high, size, generator=generator, device=gen_device, dtype=dtype)
    return _on(out, device)


# ----------------------------------------------------------------------------- traced path
@torch.library.custom_op(
    "losskit::uniloss_uniform", mutates_args=(), tags=(torch.Tag.nondeterministic_seeded,)
)
def _uniform_op(like: torch.Tensor, key: int, size: list[int]) -> torch.Tensor:
    return uniform(key, tuple(size), like.device)


@_uniform_op.register_fake
def _(like: torch.Tensor, key: int, size: list[int]) -> torch.Tensor:
    return like.new_empty(size, dtype=torch.float32)


def traced_uniform(like: torch.Tensor, key: int, size: tuple[int, ...]) -> torch.Tensor:
    """:func:`uniform` on ``like``'s device; an opaque op while ``torch.compile`` traces."""
    if torch.compiler.is_compiling():
        return _uniform_op(like, key, list(size))
    return uniform(key, size, like.device)


def opaque_when_compiling(
    name: str, fake: Callable[..., Any], schema_fn: Callable[..., Any]
) -> Callable[..., Any]:
    """Register ``schema_fn`` as the custom op ``losskit::name`` (with fake ``fake``) and return
    a caller that runs it directly in eager mode and through the op while compiling."""
    op = torch.library.custom_op(
        f"losskit::{name}", mutates_args=(), tags=(torch.Tag.nondeterministic_seeded,)
    )(schema_fn)
    op.register_fake(fake)

    def call(*args: Any) -> Any:
        return op(*args) if torch.compiler.is_compiling() else schema_fn(*args)

    return call
