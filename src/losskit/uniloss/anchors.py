"""Anchor configurations for interpolating ``g`` (UniLoss §3.4.2, appendix A).

Three kinds, each drawn per step from a ``torch.Generator`` (fully vectorised):

* **good**: the best configuration (the ground truth: every binary 1) with ``flip_bits`` random
  bits set to 0 — high metric, "global" information;
* **bad**: uniformly random bits — low metric;
* **nearby**: the current configuration ``h(c)`` (the hard binaries) with a few binaries
  changed — "local" information. ``unit="bit"`` flips ``flip_bits`` single bits;
  ``unit="score"`` changes *all* binaries of ``flip_bits`` scores (for PCK a whole pixel, the
  paper's appendix A): half the nearby anchors take a positive score and set its binaries to 1
  (it now beats every negative), the other half a negative score and set its binaries to 0 (it
  now beats every positive), as the authors' pose code does. ``nearby="random"`` picks the bits
  / scores uniformly (the paper's wording); ``nearby="toward_truth"`` only moves toward the
  ground truth (the authors' classification and AP code: a bit that is 0 becomes 1, falling
  back to the current configuration itself when every bit is already 1; a score's binaries are
  all set to 1);

plus the ground truth itself (``include_truth``). Invalid comparisons are 1 in every anchor and
are never flipped.

Anchors are stored by structure (:class:`Anchors`): good and nearby rows as a few *edits* of
their base (all ones / the current configuration), bad rows densely. The interpolation and the
metric values are computed from that structure (:mod:`losskit.uniloss.interpolation`,
:meth:`Anchors.lost_counts`) without materialising ``A × L`` bits; :attr:`Anchors.bits` does
materialise them when needed (custom metrics, tests).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from losskit.core._random import (
    generator_key,
    opaque_when_compiling,
    rand,
    randint,
)
from losskit.uniloss.accumulate import accumulate_

TRUTH, GOOD, BAD, NEARBY = 0, 1, 2, 3
KIND_NAMES = {TRUTH: "truth", GOOD: "good", BAD: "bad", NEARBY: "nearby"}
NEARBY_MODES = ("random", "toward_truth")
UNITS = ("bit", "score")


@dataclass
class Anchors:
    """Anchor configurations over binaries of shape ``shape`` ``(G, P, Q)`` (``L`` elements),
    stored by structure:

    * ``truth``: whether the first anchor is the all-ones configuration (the ground truth);
    * ``good_pos`` / ``good_val`` ``(A_good, K)``: edits of the all-ones configuration — flat
      position and new value (``False``: the bit is set to 0); position ``L`` is padding
      (value ``True``, no change);
    * ``dense`` ``(A_dense, L)`` bool (or float 0/1): explicit rows (the bad anchors, or user
      anchors);
    * ``base`` ``(L,)`` bool and ``nearby_pos`` / ``nearby_val`` ``(A_nearby, K')``: edits of
      the current configuration ``base`` (position ``L``: padding, value ``True``);
    * ``padded``: whether some edit may be padding (``False`` allows a faster build).

    Rows are ordered truth, good…, dense…, nearby…; ``kind`` ``(A,)`` labels them (TRUTH, GOOD,
    BAD, NEARBY; ``-1`` for explicit rows given to :meth:`from_bits`).
    """

    shape: tuple[int, ...]
    truth: bool = False
    good_pos: torch.Tensor | None = None
    good_val: torch.Tensor | None = None
    dense: torch.Tensor | None = None
    base: torch.Tensor | None = None
    nearby_pos: torch.Tensor | None = None
    nearby_val: torch.Tensor | None = None
    dense_kind: int = BAD
    padded: bool = True
    _bits: torch.Tensor | None = field(default=None, repr=False)

    @classmethod
    def from_bits(cls, bits: torch.Tensor) -> Anchors:
        """Explicit anchors ``(A, *shape)`` (bool or {0, 1})."""
        bits = bits.bool()
        return cls(
            tuple(bits.shape[1:]), dense=bits.reshape(bits.shape[0], -1), dense_kind=-1, _bits=bits
        )

    def sizes(self) -> tuple[int, int, int, int]:
        """Number of rows of each block: truth, good, dense, nearby."""
        return (
            int(self.truth),
            0 if self.good_pos is None else self.good_pos.shape[0],
            0 if self.dense is None else self.dense.shape[0],
            0 if self.nearby_pos is None else self.nearby_pos.shape[0],
        )

    def __len__(self) -> int:
        return sum(self.sizes())

    @property
    def length(self) -> int:
        return math.prod(self.shape)

    @property
    def kind(self) -> torch.Tensor:
        """``(A,)`` int64 kind of each row."""
        sizes = self.sizes()
        kinds = [TRUTH] * sizes[0] + [GOOD] * sizes[1] + [self.dense_kind] * sizes[2]
        return torch.tensor(kinds + [NEARBY] * sizes[3], dtype=torch.long)

    def counts(self) -> dict[str, int]:
        """Number of anchors of each kind, by name."""
        sizes = self.sizes()
        return {
            "truth": sizes[0],
            "good": sizes[1],
            "bad": sizes[2] if self.dense_kind == BAD else 0,
            "nearby": sizes[3],
        }

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

    def _device(self) -> torch.device:
        for x in (self.good_pos, self.dense, self.nearby_pos, self.base):
            if x is not None:
                return x.device
        return torch.device("cpu")

    def _build(self, extra: torch.Tensor | None) -> torch.Tensor:
        t, g, d, n = self.sizes()
        length = self.length
        if not self.padded:  # one concatenation of the row bases, then the edits
            rows = []
            if t + g:
                ones = torch.ones(1, 1, dtype=torch.bool, device=self._device())
                rows.append(ones.expand(t + g, length))
            if self.dense is not None:
                rows.append(self.dense if self.dense.dtype == torch.bool else self.dense.bool())
            if self.base is not None and n:
                rows.append(self.base.reshape(1, length).expand(n, length))
            if extra is not None:
                rows.append(extra.reshape(1, length))
            out = torch.cat(rows)
            if self.good_pos is not None and self.good_val is not None:
                out[t : t + g].scatter_(1, self.good_pos, self.good_val)
            if self.nearby_pos is not None and self.nearby_val is not None:
                out[t + g + d : t + g + d + n].scatter_(1, self.nearby_pos, self.nearby_val)
            return out
        out = torch.empty(t + g + d + n + (extra is not None), length + 1, dtype=torch.bool,
                          device=self._device())  # column L takes the padding edits
        out[: t + g].fill_(True)
        if self.good_pos is not None and self.good_val is not None:
            out[t : t + g].scatter_(1, self.good_pos, self.good_val)
        if self.dense is not None:
            out[t + g : t + g + d, :length] = self.dense
        if self.nearby_pos is not None and self.nearby_val is not None and self.base is not None:
            near = out[t + g + d : t + g + d + n]
            near[:, :length] = self.base
            near.scatter_(1, self.nearby_pos, self.nearby_val)
        if extra is not None:
            out[-1, :length] = extra.reshape(-1)
        return out[:, :length]

    def lost_counts(self, base_counts: torch.Tensor | None = None) -> torch.Tensor:
        """Per anchor and row ``(g, i)`` of binaries shaped ``(G, P, Q)``, the number of
        binaries equal to 0 ``(A, G·P)``, from the anchors' structure (no bits materialised);
        float (``dense``'s dtype when it is float, else float32).

        ``base_counts`` ``(G·P,)``: the counts of ``base`` (needed with nearby anchors).
        """
        g_, p_, q = self.shape
        rows = g_ * p_
        row_of = torch.sym_max(q, 1)  # flat position // Q (Q = 0: only padding, never read)
        dense = self.dense
        dtype = dense.dtype if dense is not None and dense.is_floating_point() else torch.float32
        blocks: list[torch.Tensor] = []
        device = self._device()
        t, g, d, n = self.sizes()
        if t:
            blocks.append(torch.zeros(1, rows, dtype=dtype, device=device))
        pad = int(self.padded)  # padding edits land in an extra column (row index G·P)
        if g and self.good_pos is not None and self.good_val is not None:
            lost = (~self.good_val).to(dtype)  # base 1 → value v: Δlost = 1 − v
            counts = torch.zeros(g, rows + pad, dtype=dtype, device=device)
            counts = accumulate_(counts, 1, self.good_pos // row_of, lost, "scatter_add")
            blocks.append(counts[:, :rows] if pad else counts)
        if d and dense is not None:
            # ones per row as a matrix-vector product: exact (integer sums of 0/1), and about
            # twice as fast on the CPU as a sum over a short last dimension
            ones = _as_float(dense, dtype).reshape(d * rows, q) @ dense.new_ones(q, dtype=dtype)
            blocks.append(q - ones.reshape(d, rows))
        if n and self.nearby_pos is not None and self.nearby_val is not None:
            if base_counts is None or self.base is None:
                raise ValueError("nearby anchors need the counts of their base configuration")
            base = _extend(self.base, True) if pad else self.base
            delta = base[self.nearby_pos].to(dtype) - self.nearby_val.to(dtype)
            counts = base_counts.to(dtype)
            counts = (_extend(counts, 0.0) if pad else counts).expand(n, rows + pad).clone()
            counts = accumulate_(counts, 1, self.nearby_pos // row_of, delta, "scatter_add")
            blocks.append(counts[:, :rows] if pad else counts)
        return torch.cat(blocks) if len(blocks) > 1 else blocks[0]


def _extend(x: torch.Tensor, value: bool | float) -> torch.Tensor:
    """``x`` ``(L,)`` with one more element ``value`` (the target of padding edits)."""
    return torch.cat([x.reshape(-1), x.new_full((1,), value)])


def _as_float(bits: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    # bool → float is a slow path on CPU; through a uint8 view it is several times faster
    return bits.view(torch.uint8).to(dtype) if bits.dtype == torch.bool else bits.to(dtype)


def _check_count(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be an integer ≥ 0, got {value!r}")
    return value


_UNPACK: dict[tuple[torch.device, torch.dtype], torch.Tensor] = {}


def random_bits(
    count: int, length: int, key: int, device: torch.device, dtype: torch.dtype = torch.bool
) -> torch.Tensor:
    """``(count, length)`` independent fair random bits: bit ``k`` of random byte ``b`` is bit
    ``8b + k`` (8 bits per drawn byte, unpacked through a 256-entry table straight into
    ``dtype``: bool or a float dtype)."""
    words = randint(key, 256, (count, -(-length // 8)), device, torch.uint8)
    table = _UNPACK.get((device, dtype))
    if table is None:
        rows = [[(v >> k) & 1 for k in range(8)] for v in range(256)]
        if dtype == torch.bool:  # a row of 8 bools read as one int64
            table = torch.tensor(rows, dtype=torch.uint8).view(torch.int64).reshape(256)
        else:
            table = torch.tensor(rows, dtype=dtype)
        table = _UNPACK[(device, dtype)] = table.to(device)
    bits = table.index_select(0, words.reshape(-1).int())  # int32 indices: ~2× faster on CPU
    if dtype == torch.bool:
        bits = bits.view(torch.bool)
    bits = bits.reshape(count, words.shape[1] * 8)
    return bits if bits.shape[1] == length else bits[:, :length].contiguous()


def _pick_positions(
    count: int,
    bits: int,
    candidates: torch.Tensor | None,
    length: int,
    key: int,
    device: torch.device,
) -> torch.Tensor:
    """``(count, bits)`` flat positions, distinct within a row, drawn uniformly among
    ``candidates`` (``(L,)`` bool; ``None``: all ``length`` positions). With fewer candidates
    than ``bits``, the missing columns are ``length`` (padding). Nothing is read back to the
    host (no ``nonzero``): one pick is the ``⌊r·n⌋``-th candidate (a search in their cumulative
    count), several are the candidates with the largest random keys."""
    if candidates is None:
        m = min(bits, length)
        if m == 0:
            picks = torch.zeros(count, 0, dtype=torch.long, device=device)
        elif m == 1:
            picks = randint(key, length, (count, 1), device)
        else:
            picks = rand(key, (count, length), device).topk(m, dim=1, sorted=False).indices
    elif bits == 1:
        ranks = candidates.cumsum(0)
        r = rand(key, (count, 1), device, torch.float64)
        k = (r * ranks[-1:]).floor_().long()  # the k-th candidate (0-based); none: position L
        picks = torch.searchsorted(ranks, k + 1)
    else:
        keys = rand(key, (count, length), device).masked_fill_(~candidates, -1.0)
        top = keys.topk(min(bits, length), dim=1, sorted=False)
        picks = top.indices.masked_fill_(top.values < 0, length)
    if picks.shape[1] < bits:
        picks = torch.cat([picks, picks.new_full((count, bits - picks.shape[1]), length)], 1)
    return picks


def _score_edits(
    shape: tuple[int, int, int],
    num_nearby: int,
    units: int,
    columns: torch.Tensor | None,
    toward_truth: bool,
    key: int,
    device: torch.device,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearby edits that set all binaries of ``units`` scores per anchor (see module doc)."""
    g, p, q = shape
    length = g * p * q
    width = units * max(p, q)
    num_pos, num_neg = (num_nearby + 1) // 2, num_nearby // 2
    # positive scores: slot s = g·P + i is row s of the binaries, positions s·Q + j
    slots = _pick_positions(num_pos, units, None, g * p, key, device)
    pos_rows = (slots.unsqueeze(2) * q + torch.arange(q, device=device)).flatten(1)
    pos_rows = pos_rows.masked_fill_((slots == g * p).repeat_interleave(q, 1), length)
    # negative scores: valid column t = g·Q + j, positions g·P·Q + i·Q + j
    cols = _pick_positions(num_neg, units, columns, g * q, key, device)
    grp, j = cols // q, cols % q
    offsets = torch.arange(p, device=device) * q
    neg_rows = ((grp * (p * q) + j).unsqueeze(2) + offsets).flatten(1)
    neg_rows = neg_rows.masked_fill_((cols == g * q).repeat_interleave(p, 1), length)
    pos = torch.full((num_nearby, width), length, dtype=torch.long, device=device)
    pos[:num_pos, : pos_rows.shape[1]] = pos_rows
    pos[num_pos:, : neg_rows.shape[1]] = neg_rows
    val = torch.ones(num_nearby, width, dtype=torch.bool, device=device)
    if not toward_truth:
        val[num_pos:] = pos[num_pos:] == length  # negative scores now beat every positive
    return pos, val


def _draw(
    current: torch.Tensor,
    valid: torch.Tensor | None,
    key: int,
    num_good: int,
    num_bad: int,
    num_nearby: int,
    flip_bits: int,
    nearby: str,
    unit: str,
    dense_dtype: torch.dtype,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """All random parts of the anchors around ``current`` ``(G, P, Q)`` (see
    :func:`sample_anchors`): ``(good_pos, good_val, bad, nearby_pos, nearby_val)``, the bad
    rows in ``dense_dtype``."""
    device = current.device
    flat = current.reshape(-1)
    length = flat.shape[0]
    flippable = None if valid is None else valid.reshape(-1)
    good = _pick_positions(num_good, flip_bits, flippable, length, key, device)
    bad = random_bits(num_bad, length, key, device, dense_dtype)
    if flippable is not None:
        bad = bad.masked_fill(~flippable, True)
    if unit == "score":
        columns = None if valid is None else valid[:, 0, :].reshape(-1)
        near, near_val = _score_edits(
            tuple(current.shape), num_nearby, flip_bits, columns, nearby == "toward_truth",
            key, device,
        )
    else:
        if nearby == "random":
            candidates = flippable
        else:
            candidates = ~flat if flippable is None else flippable & ~flat
        near = _pick_positions(num_nearby, flip_bits, candidates, length, key, device)
        if candidates is None and flip_bits <= length:  # no padding
            near_val = ~flat[near]  # toggled
        else:
            near_val = ~_extend(flat, True)[near] | (near == length)  # padding: True
    return good, good == length, bad, near, near_val


def _draw_fake(
    current, valid, key, num_good, num_bad, num_nearby, flip_bits, nearby, unit, dense_dtype
):
    g, p, q = current.shape
    width = flip_bits * torch.sym_max(p, q) if unit == "score" else flip_bits
    long = {"dtype": torch.long}
    return (
        current.new_empty((num_good, flip_bits), **long),
        current.new_empty((num_good, flip_bits)),
        current.new_empty((num_bad, g * p * q), dtype=dense_dtype),
        current.new_empty((num_nearby, width), **long),
        current.new_empty((num_nearby, width)),
    )


draw = opaque_when_compiling("uniloss_anchors", _draw_fake, _draw)
""":func:`_draw`, an opaque op while ``torch.compile`` traces (see :mod:`losskit.core._random`)."""


def _draw_padded(
    current: torch.Tensor,
    rows: torch.Tensor,
    cols: torch.Tensor,
    key: int,
    num_good: int,
    num_bad: int,
    num_nearby: int,
    flip_bits: int,
    nearby: str,
    unit: str,
    dense_dtype: torch.dtype,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`_draw` for a static padded layout (the compiled ranking metrics,
    :func:`losskit.uniloss.refactor.ranking_comparisons`): ``current`` ``(1, R, C)`` of which
    the first ``P = rows.sum()`` rows and ``Q = cols.sum()`` columns are real, the rest
    padding (1 in every anchor).

    The anchors are those :func:`_draw` gives the compact ``(1, P, Q)`` configuration — the
    same random stream as eager mode, whose layout is that compact one — with the positions
    mapped into the padded layout. How much the draw takes from the generator depends on
    ``P·Q`` (the bad rows' random bits), so ``P`` and ``Q`` are read here (one host read, inside
    the opaque op); a degenerate batch (``P = 0`` or ``Q = 0``) draws nothing, as in eager mode,
    and gets all-padding edits.
    """
    g, r, c = current.shape
    if g != 1:
        raise ValueError(f"a padded layout has one group, got shape {tuple(current.shape)}")
    length = r * c
    p, q = (int(x) for x in torch.stack([rows.sum(), cols.sum()]).tolist())
    device = current.device
    width = flip_bits * max(r, c) if unit == "score" else flip_bits
    good_pos = torch.full((num_good, flip_bits), length, dtype=torch.long, device=device)
    near_pos = torch.full((num_nearby, width), length, dtype=torch.long, device=device)
    bad = torch.ones(num_bad, r, c, dtype=dense_dtype, device=device)
    if p == 0 or q == 0:
        return good_pos, good_pos == length, bad.reshape(num_bad, -1), near_pos, near_pos == length
    good, _, compact_bad, near, near_val = _draw(
        current[:, :p, :q].contiguous(), None, key, num_good, num_bad, num_nearby, flip_bits,
        nearby, unit, dense_dtype,
    )

    def padded(k: torch.Tensor) -> torch.Tensor:  # compact flat position i·Q + j → i·C + j
        return torch.where(k < p * q, (k // q) * c + k % q, length)

    good_pos[:, : good.shape[1]] = padded(good)
    near_pos[:, : near.shape[1]] = padded(near)
    near_vals = torch.ones(num_nearby, width, dtype=torch.bool, device=device)
    near_vals[:, : near_val.shape[1]] = near_val
    bad[:, :p, :q] = compact_bad.reshape(num_bad, p, q)
    return good_pos, good_pos == length, bad.reshape(num_bad, -1), near_pos, near_vals


def _draw_padded_fake(
    current, rows, cols, key, num_good, num_bad, num_nearby, flip_bits, nearby, unit, dense_dtype
):
    return _draw_fake(
        current, None, key, num_good, num_bad, num_nearby, flip_bits, nearby, unit, dense_dtype
    )


draw_padded = opaque_when_compiling("uniloss_anchors_padded", _draw_padded_fake, _draw_padded)
""":func:`_draw_padded`, an opaque op while ``torch.compile`` traces."""


def check_anchor_options(
    num_good: int, num_bad: int, num_nearby: int, flip_bits: int, nearby: str, unit: str,
    include_truth: bool,
) -> None:
    """``ValueError`` naming the first bad anchor option."""
    _check_count(num_good, "num_good")
    _check_count(num_bad, "num_bad")
    _check_count(num_nearby, "num_nearby")
    if isinstance(flip_bits, bool) or not isinstance(flip_bits, int) or flip_bits < 1:
        raise ValueError(f"flip_bits must be an integer ≥ 1, got {flip_bits!r}")
    if nearby not in NEARBY_MODES:
        raise ValueError(f"nearby must be one of {NEARBY_MODES}, got {nearby!r}")
    if unit not in UNITS:
        raise ValueError(f"nearby_unit must be one of {UNITS}, got {unit!r}")
    if num_good + num_bad + num_nearby + int(bool(include_truth)) == 0:
        raise ValueError("at least one anchor is needed (all anchor counts are 0)")


def sample_anchors(
    current: torch.Tensor,
    valid: torch.Tensor | None = None,
    num_good: int = 16,
    num_bad: int = 16,
    num_nearby: int = 16,
    flip_bits: int = 1,
    nearby: str = "random",
    include_truth: bool = True,
    generator: torch.Generator | int | None = None,
    unit: str = "bit",
) -> Anchors:
    """Draw anchors around ``current`` (bool binaries ``(G, P, Q)`` or any shape for
    ``unit="bit"``; invalid entries must be 1).

    ``valid`` (same shape, bool) marks the binaries that may be flipped / randomised (for
    ``unit="score"`` it must be constant along ``P``: a column mask). Returns
    ``1 + num_good + num_bad + num_nearby`` anchors (``include_truth`` adds the 1).
    ``generator``: a ``torch.Generator``, a key of :func:`losskit.core._random.generator_key` or
    ``None`` (torch's default generator).
    """
    check_anchor_options(num_good, num_bad, num_nearby, flip_bits, nearby, unit, include_truth)
    shape = tuple(current.shape)
    cur = current.bool()
    if unit == "score" and cur.dim() != 3:
        raise ValueError(f"nearby_unit='score' needs binaries of shape (G, P, Q), got {shape}")
    cur3 = cur if cur.dim() == 3 else cur.reshape(1, 1, -1)
    val3 = None if valid is None else valid.bool().reshape(cur3.shape)
    key = generator if isinstance(generator, int) else generator_key(generator)
    good, good_val, bad, near, near_val = draw(
        cur3, val3, key, num_good, num_bad, num_nearby, flip_bits, nearby, unit, torch.bool
    )
    return Anchors(
        shape,
        truth=bool(include_truth),
        good_pos=good if num_good else None,
        good_val=good_val if num_good else None,
        dense=bad if num_bad else None,
        base=cur.reshape(-1) if num_nearby else None,
        nearby_pos=near if num_nearby else None,
        nearby_val=near_val if num_nearby else None,
        padded=may_pad(cur.numel(), valid is not None, flip_bits, nearby, unit),
    )


def may_pad(length: int, masked: bool, flip_bits: int, nearby: str, unit: str) -> bool:
    """Whether :func:`sample_anchors` may return padding edits (position ``L``): with a mask
    of flippable bits, ``toward_truth``, ``unit="score"`` or fewer bits than ``flip_bits``."""
    return masked or nearby != "random" or unit != "bit" or length < flip_bits


__all__ = [
    "Anchors",
    "KIND_NAMES",
    "NEARBY_MODES",
    "UNITS",
    "draw",
    "draw_padded",
    "random_bits",
    "sample_anchors",
]
