"""Random draws from a ``torch.Generator`` that ``torch.compile(fullgraph=True)`` can trace.

One home for the methods' randomness (SLF's Gumbel noise, UniLoss's anchors and subsampling).
Dynamo cannot trace a call taking a ``torch.Generator`` (a graph break), and Inductor would
replace global-RNG draws by its own (other numbers than eager). So while compiling, a draw goes
through an opaque custom op (``losskit::uniform``, or one registered with
:func:`opaque_when_compiling`): it runs eagerly at run time with the real generator, so compiled
and eager code consume the same stream and get the same numbers, advancing the generator never
causes a recompile, and data-dependent shapes inside a sampler stay hidden behind fixed output
shapes. In eager mode the same Python functions are called directly (no op overhead).

A generator is named in traced code by an integer *key*; key 0 is torch's default generator.
A key maps to a *provider* ``device -> Generator | None``:

* :func:`register_generator` registers a provider (a module can create its generator lazily on
  the data's device; a bound method is held weakly, so the module is not kept alive);
* :func:`generator_key` gives the key of an existing generator (held weakly; the same generator
  always gets the same key).

Each draw is made on the generator's device and moved to the requested one.
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Callable
from typing import Any

import torch

Provider = Callable[[torch.device], "torch.Generator | None"]

_KEYS = itertools.count(1)
_PROVIDERS: dict[int, Callable[[], Provider | None]] = {}
_GENERATOR_KEYS: weakref.WeakKeyDictionary[torch.Generator, int] = weakref.WeakKeyDictionary()


def register_generator(provider: Provider) -> int:
    """A fresh key for ``provider`` (held weakly when it is a bound method, so a module that
    registers its own method is not kept alive by the registry)."""
    key = next(_KEYS)
    if hasattr(provider, "__self__"):
        ref = weakref.WeakMethod(provider)  # type: ignore[arg-type]
        _PROVIDERS[key] = ref
        weakref.finalize(provider.__self__, _PROVIDERS.pop, key, None)
    else:
        _PROVIDERS[key] = lambda: provider
    return key


def generator_key(generator: torch.Generator | None) -> int:
    """The key standing for ``generator`` in traced code (0 for ``None``: the default one).

    The generator is held weakly; asking again for the same generator returns the same key."""
    if generator is None:
        return 0
    key = _GENERATOR_KEYS.get(generator)
    if key is None:
        ref = weakref.ref(generator)

        def provider() -> Provider | None:
            return None if ref() is None else (lambda device: ref())

        key = next(_KEYS)
        _PROVIDERS[key] = provider
        weakref.finalize(generator, _PROVIDERS.pop, key, None)
        _GENERATOR_KEYS[generator] = key
    return key


def generator_for(key: int, device: torch.device | None = None) -> torch.Generator | None:
    """The generator registered under ``key`` for ``device`` (``None`` for key 0: torch's
    default generator); ``RuntimeError`` when it no longer exists."""
    if key == 0:
        return None
    provider = _PROVIDERS.get(key, lambda: None)()
    if provider is None:
        raise RuntimeError(f"random generator {key} no longer exists")
    return provider(device)


def _on(out: torch.Tensor, device: torch.device) -> torch.Tensor:
    return out if out.device == device else out.to(device)


def _generator_and_device(
    key: int, device: torch.device
) -> tuple[torch.Generator | None, torch.device]:
    """Generator ``key`` for ``device`` and the device to draw on (the generator's own)."""
    generator = generator_for(key, device)
    return generator, generator.device if generator is not None else device


def rand(
    key: int, size: tuple[int, ...], device: torch.device, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """``torch.rand(size)`` from generator ``key``, drawn on its device, on ``device``."""
    generator, gen_device = _generator_and_device(key, device)
    return _on(torch.rand(size, generator=generator, device=gen_device, dtype=dtype), device)


def randint(
    key: int,
    high: int,
    size: tuple[int, ...],
    device: torch.device,
    dtype: torch.dtype = torch.int64,
) -> torch.Tensor:
    """``torch.randint(high, size)`` from generator ``key``, drawn on its device, on ``device``."""
    generator, gen_device = _generator_and_device(key, device)
    out = torch.randint(high, size, generator=generator, device=gen_device, dtype=dtype)
    return _on(out, device)


def uniform(
    key: int, size: tuple[int, ...], like: torch.Tensor, dtype: torch.dtype | None = None
) -> torch.Tensor:
    """:func:`rand` on ``like``'s device, in ``dtype`` (default ``like``'s); an opaque op (no
    gradient through the draw) while ``torch.compile`` traces."""
    dtype = like.dtype if dtype is None else dtype
    if torch.compiler.is_compiling():
        return _uniform_op(like.detach(), key, list(size), dtype)
    return rand(key, size, like.device, dtype)


@torch.library.custom_op(
    "losskit::uniform", mutates_args=(), tags=(torch.Tag.nondeterministic_seeded,)
)
def _uniform_op(like: torch.Tensor, key: int, size: list[int], dtype: torch.dtype) -> torch.Tensor:
    return rand(key, tuple(size), like.device, dtype)


@_uniform_op.register_fake
def _(like: torch.Tensor, key: int, size: list[int], dtype: torch.dtype) -> torch.Tensor:
    return like.new_empty(size, dtype=dtype)


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
