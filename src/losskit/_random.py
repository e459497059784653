"""Random draws from a ``torch.Generator`` that ``torch.compile(fullgraph=True)`` can trace.

Dynamo cannot trace a call taking a ``torch.Generator`` (a graph break), and Inductor would
replace global-RNG draws by its own (other numbers than eager). So while compiling, a draw goes
through the opaque custom op ``losskit::uniform``: it runs eagerly at run time with the real
generator, so compiled and eager code consume the same stream and get the same numbers, and
advancing the generator never causes a recompile. In eager mode the draw is a plain
``torch.rand`` (no op overhead).

A generator is named in traced code by an integer *key* (:func:`register_generator`): the key
maps to a *provider* ``device -> Generator | None`` (``None``: torch's default generator), so a
module can create its generator lazily on the data's device. Key 0 is torch's default
generator. (UniLoss keeps its own variant of this idea for its samplers.)
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Callable

import torch

Provider = Callable[[torch.device], "torch.Generator | None"]

_KEYS = itertools.count(1)
_PROVIDERS: dict[int, Callable[[], Provider | None]] = {}


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


def _generator(key: int, device: torch.device) -> torch.Generator | None:
    if key == 0:
        return None
    provider = _PROVIDERS.get(key, lambda: None)()
    if provider is None:
        raise RuntimeError(f"random generator {key} no longer exists")
    return provider(device)


def uniform(key: int, size: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    """``torch.rand(size)`` in ``like``'s dtype from generator ``key``, drawn on the
    generator's device and moved to ``like``'s (an opaque op while compiling)."""
    if torch.compiler.is_compiling():
        return _uniform_op(like.detach(), key, list(size))  # no gradient through a draw
    return _uniform(like, key, list(size))


def _uniform(like: torch.Tensor, key: int, size: list[int]) -> torch.Tensor:
    generator = _generator(key, like.device)
    device = generator.device if generator is not None else like.device
    u = torch.rand(size, generator=generator, device=device, dtype=like.dtype)
    return u if u.device == like.device else u.to(like.device)


@torch.library.custom_op(
    "losskit::uniform", mutates_args=(), tags=(torch.Tag.nondeterministic_seeded,)
)
def _uniform_op(like: torch.Tensor, key: int, size: list[int]) -> torch.Tensor:
    return _uniform(like, key, size)


@_uniform_op.register_fake
def _(like: torch.Tensor, key: int, size: list[int]) -> torch.Tensor:
    return like.new_empty(size)
