"""Anchor configurations for interpolating ``g`` (UniLoss §3.4.2, appendix A).

Three kinds, each drawn per step from a ``torch.Generator`` (fully vectorised):

* **good**: the best configuration (the ground truth: every binary 1) with ``flip_bits`` random
  bits set to 0 — high metric, "global" information;
* **bad**: uniformly random bits — low metric;
* **nearby**: the current configuration ``[c > 0]`` with ``flip_bits`` bits flipped — "local"
  information. ``nearby="random"`` flips random bits (the paper's wording);
  ``nearby="toward_truth"`` flips only bits that are 0 to 1 (the authors' code), falling back to
  the current configuration itself when every bit is already 1;

plus the ground truth itself (``include_truth``). Invalid comparisons are 1 in every anchor and
are never flipped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

TRUTH, GOOD, BAD, NEARBY = 0, 1, 2, 3
KIND_NAMES = {TRUTH: "truth", GOOD: "good", BAD: "bad", NEARBY: "nearby"}
NEARBY_MODES = ("random", "toward_truth")


@dataclass
class Anchors:
    """Anchor configurations over binaries of shape ``shape`` (``L`` elements), stored by
    structure and materialised once (``bits``):

    * ``truth``: whether the first anchor is the all-ones configuration (the ground truth);
    * ``good_pos`` ``(A_good, m)``: positions set to 0 in the all-ones configuration;
    * ``dense`` ``(A_dense, L)`` bool: explicit rows (the bad anchors, or user anchors);
    * ``nearby_base`` ``(L,)`` bool and ``nearby_pos`` ``(A_nearby, m)``: positions toggled in
      the current configuration.

    Rows are ordered truth, good…, dense…, nearby…; ``kind`` ``(A,)`` labels them (TRUTH, GOOD,
    BAD, NEARBY; ``-1`` for explicit rows given to :meth:`from_bits`).
    """

    shape: tuple[int, ...]
    truth: bool = False
    good_pos: torch.Tensor | None = None
    dense: torch.Tensor | None = None
    nearby_base: torch.Tensor | None = None
    nearby_pos: torch.Tensor | None = None
    dense_kind: int = BAD
    _bits: torch.Tensor | None = field(default=None, repr=False)

    @classmethod
    def from_bits(cls, bits: torch.Tensor) -> Anchors:
        """Explicit anchors ``(A, *shape)`` (bool or {0, 1})."""
        bits = bits.bool()
        return cls(
            tuple(bits.shape[1:]), dense=bits.reshape(bits.shape[0], -1), dense_kind=-1, _bits=bits
        )

    def _sizes(self) -> tuple[int, int, int, int]:
        return (
            int(self.truth),
            0 if self.good_pos is None else self.good_pos.shape[0],
            0 if self.dense is None else self.dense.shape[0],
            0 if self.nearby_pos is None else self.nearby_pos.shape[0],
        )

    def __len__(self) -> int:
        return sum(self._sizes())

    @property
    def length(self) -> int:
        return math.prod(self.shape)

    @property
    def kind(self) -> torch.Tensor:
        """``(A,)`` int64 kind of each row."""
        sizes = self._sizes()
        kinds = [TRUTH] * sizes[0] + [GOOD] * sizes[1] + [self.dense_kind] * sizes[2]
        return torch.tensor(kinds + [NEARBY] * sizes[3], dtype=torch.long)

    @property
    def bits(self) -> torch.Tensor:
        """The anchors as a bool tensor ``(A, *shape)`` (built once, then cached)."""
        if self._bits is None:
            self._bits = self._build(None).reshape(-1, *self.shape)
        return self._bits

    def bits_with(self, extra: torch.Tensor) -> torch.Tensor:
        """``(A + 1, *shape)``: the anchors followed by the configuration ``extra``."""
        if self._bits is not None:
            return torch.cat([self._bits, extra.unsqueeze(0)])
        return self._build(extra).reshape(-1, *self.shape)

    def _build(self, extra: torch.Tensor | None) -> torch.Tensor:
        t, g, d, n = self._sizes()
        rows = t + g + d + n + (extra is not None)
        device = next(
            x.device
            for x in (self.good_pos, self.dense, self.nearby_base, extra, torch.empty(0))
            if x is not None
        )
        out = torch.empty(rows, self.length, dtype=torch.bool, device=device)
        if t + g:
            out[: t + g] = True
        if self.good_pos is not None:
            out[t : t + g].scatter_(1, self.good_pos, False)
        if self.dense is not None:
            out[t + g : t + g + d] = self.dense
        if self.nearby_pos is not None and self.nearby_base is not None:
            base, pos = self.nearby_base, self.nearby_pos
            near = out[t + g + d : t + g + d + n]
            near[:] = base
            near.scatter_(1, pos, base[pos].logical_not_())
        if extra is not None:
            out[-1] = extra.reshape(-1)
        return out

    def counts(self) -> dict[str, int]:
        """Number of anchors of each kind, by name."""
        kind = self.kind
        return {name: int((kind == k).sum()) for k, name in KIND_NAMES.items()}


def _check_count(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be an integer ≥ 0, got {value!r}")
    return value


def _rand(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device):
    gen_device = generator.device if generator is not None else device
    out = torch.rand(shape, generator=generator, device=gen_device)
    return out if gen_device == device else out.to(device)


def _randint(high: int, shape: tuple[int, ...], generator, device: torch.device) -> torch.Tensor:
    gen_device = generator.device if generator is not None else device
    out = torch.randint(high, shape, generator=generator, device=gen_device)
    return out if gen_device == device else out.to(device)


_SHIFTS: dict[torch.device, torch.Tensor] = {}


def random_bits(count: int, length: int, generator, device: torch.device) -> torch.Tensor:
    """``(count, length)`` independent fair random bits (8 per drawn byte)."""
    gen_device = generator.device if generator is not None else device
    words = torch.randint(
        256, (count, -(-length // 8), 1), generator=generator, device=gen_device, dtype=torch.uint8
    )
    words = words if gen_device == device else words.to(device)
    shifts = _SHIFTS.get(device)
    if shifts is None:
        shifts = _SHIFTS[device] = torch.arange(8, device=device, dtype=torch.uint8)
    bits = (words >> shifts).bitwise_and_(1).view(torch.bool)
    return bits.reshape(count, -1)[:, :length]


def _pick_positions(
    count: int,
    bits: int,
    candidates: torch.Tensor | None,
    length: int,
    generator: torch.Generator | None,
    device: torch.device,
) -> torch.Tensor:
    """``(count, m)`` flat positions, distinct within a row, drawn uniformly among
    ``candidates`` (``(L,)`` bool; ``None``: all ``length`` positions); ``m = min(bits, #)``."""
    index = None if candidates is None else candidates.nonzero().squeeze(1)
    n = length if index is None else index.shape[0]
    m = min(bits, n)
    if m == 0:
        return torch.zeros(count, 0, dtype=torch.long, device=device)
    if m == 1:
        picks = _randint(n, (count, 1), generator, device)
    else:
        picks = _rand((count, n), generator, device).topk(m, dim=1, sorted=False).indices
    return picks if index is None else index[picks]


def sample_anchors(
    current: torch.Tensor,
    valid: torch.Tensor | None = None,
    num_good: int = 16,
    num_bad: int = 16,
    num_nearby: int = 16,
    flip_bits: int = 1,
    nearby: str = "random",
    include_truth: bool = True,
    generator: torch.Generator | None = None,
) -> Anchors:
    """Draw anchors around ``current`` (bool binaries, any shape; invalid entries must be 1).

    ``valid`` (same shape, bool) marks the binaries that may be flipped / randomised. Returns
    ``1 + num_good + num_bad + num_nearby`` anchors (``include_truth`` adds the 1).
    """
    num_good = _check_count(num_good, "num_good")
    num_bad = _check_count(num_bad, "num_bad")
    num_nearby = _check_count(num_nearby, "num_nearby")
    if isinstance(flip_bits, bool) or not isinstance(flip_bits, int) or flip_bits < 1:
        raise ValueError(f"flip_bits must be an integer ≥ 1, got {flip_bits!r}")
    if nearby not in NEARBY_MODES:
        raise ValueError(f"nearby must be one of {NEARBY_MODES}, got {nearby!r}")
    if num_good + num_bad + num_nearby + int(bool(include_truth)) == 0:
        raise ValueError("at least one anchor is needed (all anchor counts are 0)")
    shape = tuple(current.shape)
    device = current.device
    flat = current.reshape(-1).bool()
    length = flat.shape[0]
    flippable = valid.reshape(-1).bool() if valid is not None else None
    anchors = Anchors(shape, truth=bool(include_truth))
    if num_good:
        anchors.good_pos = _pick_positions(
            num_good, flip_bits, flippable, length, generator, device
        )
    if num_bad:
        bad = random_bits(num_bad, length, generator, device)
        anchors.dense = bad if flippable is None else bad | ~flippable
    if num_nearby:
        if nearby == "random":
            candidates = flippable
        else:
            candidates = ~flat if flippable is None else flippable & ~flat
        anchors.nearby_pos = _pick_positions(
            num_nearby, flip_bits, candidates, length, generator, device
        )
        anchors.nearby_base = flat
    return anchors
