"""Refactoring (UniLoss §3.1, eq. 4 and §3.3): scores → comparisons → binaries.

Every metric implemented here compares *positive* scores with *negative* scores inside groups:

* ``pos`` ``(G, P)``: per group ``g``, the scores that should win;
* ``neg`` ``(G, Q)``: per group ``g``, the scores they are compared against;
* the comparisons (eq. 4's ``f``) are all differences ``c[g, i, j] = pos[g, i] − neg[g, j]``,
  shape ``(G, P, Q)``, and the binaries (``h``) are ``b = [c > 0]`` (paper §3.3: the step at 0,
  so a tie ``c = 0`` is a *lost* comparison, ``b = 0``). :func:`binarize` is the one home of
  this sign rule: the exact metric, ``last_metric`` and the nearby anchors all use it.

Examples: multi-class accuracy (§3.2, eq. 8) has one group per sample, ``P = 1`` (the target
score) and ``Q = C − 1`` (the competitors); AP (§4.2.2) has one group, ``P`` positives and ``Q``
negatives; PCK (§4.3.2) has one group per heatmap, the pixels within the radius as positives and
the other pixels as negatives.

A column ``j`` of group ``g`` may be *invalid* (``valid[g, j] = False``), e.g. the positive
pixels of a heatmap sit among the negatives so that every group has the same ``Q``; so may a row
``i`` (``rows[g, i] = False``: the padding of the static ranking layout below). Invalid
comparisons are constants: their binary (hard, relaxed, and in every anchor) is **1**, a
"comparison already won" that changes no metric, adds nothing to any interpolation distance and
receives no gradient.

Static shapes for ``torch.compile`` (ranking metrics)
    A ranking batch has ``P`` positives and ``Q = N − P`` negatives, sizes that depend on the
    labels. In eager mode the refactoring reads ``P`` once (one host read: the anchors' random
    stream depends on ``P·Q`` anyway, see :func:`losskit.uniloss.anchors.draw_padded`) and
    builds the exact ``(1, P, Q)`` layout by a stable sort of the labels (no boolean-mask
    selection). While ``torch.compile`` traces it builds the same comparisons padded to
    ``(1, N, N)`` instead: row ``i < P`` is the ``i``-th positive, column ``j < Q`` the ``j``-th
    negative (both in index order), the rest invalid — no data-dependent shape, the same
    binaries, anchors and metric values as eager.

Value checks (NaN/Inf scans, label ranges) follow :func:`losskit.core._validation.check_values`
(``validate_args``); shape and dtype checks are always on. In eager mode a ranking batch without
a positive or a negative sample is recognised from the number of positives (the one value read,
below) and raises :class:`DegenerateBatchError`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

from losskit.core._random import generator_key, uniform
from losskit.core._validation import check_finite_float, check_logits_and_labels, check_values
from losskit.core.ranking import binary_scores


def binarize(c: torch.Tensor) -> torch.Tensor:
    """``h`` (eq. 4, §3.3): ``b = [c > 0]`` — a tied comparison (``c = 0``) is lost. The one
    sign rule of UniLoss."""
    return c > 0


@dataclass
class Comparisons:
    """Grouped positive/negative scores whose pairwise differences are a metric's comparisons.

    ``pos`` ``(G, P)``, ``neg`` ``(G, Q)``, ``valid`` ``(G, Q)`` bool or ``None`` (all columns
    valid), ``rows`` ``(G, P)`` bool or ``None`` (all rows valid); a comparison is valid iff its
    row and its column are. ``extra`` holds what a metric's ``g`` needs besides the binaries
    (e.g. labels for F1).
    """

    pos: torch.Tensor
    neg: torch.Tensor
    valid: torch.Tensor | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    rows: torch.Tensor | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(G, P, Q)``: the shape of the comparison / binary tensor."""
        return (self.pos.shape[0], self.pos.shape[1], self.neg.shape[1])

    @property
    def num_binaries(self) -> int:
        g, p, q = self.shape
        return g * p * q

    def differences(self) -> torch.Tensor:
        """Comparisons ``c = pos[:, :, None] − neg[:, None, :]`` ``(G, P, Q)`` (eq. 4's ``f``)."""
        return self.pos.unsqueeze(2) - self.neg.unsqueeze(1)

    def mask(self) -> torch.Tensor | None:
        """Which comparisons are valid, broadcastable to ``(G, P, Q)`` (``(G, 1, Q)`` for a
        column mask alone); ``None`` when all are."""
        cols = None if self.valid is None else self.valid.unsqueeze(1)
        if self.rows is None:
            return cols
        rows = self.rows.unsqueeze(2)
        return rows if cols is None else rows & cols

    def valid_mask(self) -> torch.Tensor | None:
        """``(G, P, Q)`` view of :meth:`mask` (``None`` when every comparison is valid)."""
        mask = self.mask()
        return None if mask is None else mask.expand(self.shape)

    def num_valid(self) -> int | torch.Tensor:
        """Number of valid comparisons: an ``int`` when all are valid, else a 0-d tensor (not
        read back to the host)."""
        if self.valid is None and self.rows is None:
            return self.num_binaries
        if self.rows is None:
            return self.valid.sum() * self.shape[1]  # type: ignore[union-attr]
        cols = self.shape[2] if self.valid is None else self.valid.sum(1)
        return (self.rows.sum(1) * cols).sum()

    def hard_binaries(self) -> torch.Tensor:
        """``b = binarize(c)`` ``(G, P, Q)`` bool, invalid comparisons set to 1 (eq. 4's ``h``)."""
        b = binarize(self.differences())
        mask = self.mask()
        return b if mask is None else b | ~mask

    def map_scores(self, fn) -> Comparisons:
        """The same comparisons of ``fn(pos)`` and ``fn(neg)`` (``fn`` increasing)."""
        return Comparisons(fn(self.pos), fn(self.neg), self.valid, self.extra, self.rows)


# --------------------------------------------------------------------------- input handling

class DegenerateBatchError(ValueError):
    """A well-formed batch on which the metric is undefined or constant: a ranking metric
    without a positive or a negative sample, or no comparison at all.
    ``UniLoss(on_degenerate="zero")`` turns it into a zero loss (no gradient)."""


def _check_labels(target: torch.Tensor, n: int, name: str = "target") -> None:
    if not isinstance(target, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(target).__name__}")
    if target.is_floating_point() or target.is_complex():
        raise ValueError(f"{name} must be an integer or bool tensor, got dtype {target.dtype}")
    if target.shape != (n,):
        raise ValueError(f"{name} must have shape (N,) = ({n},), got {tuple(target.shape)}")


def binary_labels(
    input: torch.Tensor, target: torch.Tensor, validate_args: bool | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Validated ``(scores (N,), positive mask (N,) bool)`` for a binary metric.

    ``input``: one score per sample, ``(N,)`` or ``(N, 1)`` (a logit, the BCE convention), or
    two-class logits ``(N, 2)``, whose score is ``logit_1 − logit_0``
    (:func:`losskit.core.ranking.binary_scores`). ``target``: ``(N,)`` or ``(N, 1)``, bool, integer
    or float, with values 0 (negative) and 1 (positive); a ``ValueError`` names the argument
    otherwise (the values are checked with value checks on; with them off a nonzero value is
    a positive).
    """
    scores = binary_scores(input, validate_args)
    if scores.shape[0] == 0:
        raise ValueError("input is an empty batch (N = 0)")
    target = _binary_target(target, scores.shape[0])
    if (
        target.dtype != torch.bool
        and check_values(validate_args)
        and bool(((target != 0) & (target != 1)).any())
    ):
        raise ValueError(
            "target must contain only 0 (negative) and 1 (positive) for a binary metric"
            + (", got other float values" if target.is_floating_point() else "")
        )
    return scores, target if target.dtype == torch.bool else target != 0


def _binary_target(target: torch.Tensor, n: int) -> torch.Tensor:
    """``target`` of a binary metric as ``(N,)`` (``(N, 1)`` accepted), any real dtype."""
    if not isinstance(target, torch.Tensor):
        raise ValueError(f"target must be a torch.Tensor, got {type(target).__name__}")
    if target.is_complex():
        raise ValueError(f"target must be a real tensor of 0/1 labels, got dtype {target.dtype}")
    if target.dim() == 2 and target.shape[1] == 1:
        target = target.reshape(-1)
    if target.shape != (n,):
        raise ValueError(
            f"target must have shape (N,) or (N, 1) with N = {n}, got {tuple(target.shape)}"
        )
    return target


def _check_not_degenerate(num_positive: int, num_negative: int | None = None) -> None:
    if num_positive == 0:
        raise DegenerateBatchError(
            "target contains no positive sample (label 1); the metric is undefined"
        )
    if num_negative is not None and num_negative == 0:
        raise DegenerateBatchError(
            "target contains no negative sample (label 0); the metric is undefined"
        )


# --------------------------------------------------------------------------- refactorings
def classification_comparisons(
    input: torch.Tensor, target: torch.Tensor, validate_args: bool | None = None, k: int = 1
) -> Comparisons:
    """Multi-class accuracy / top-k (paper §3.2, eq. 8; §4.4.2).

    One group per sample ``i``: ``pos = s[i, y_i]`` ``(N, 1)``, ``neg = s[i, j]`` for the
    ``C − 1`` competitors ``j ≠ y_i`` (in class order) ``(N, C − 1)``; so
    ``b[i, 0, j] = [s_{i, y_i} − s_{i, j} > 0]``. ``k`` (top-k) must be below ``C``: with
    ``k ≥ C`` every sample is always right and the metric is constant.

    Binary models: one logit per sample (``(N,)`` or ``(N, 1)``, the BCE convention) gives
    binary accuracy through :func:`threshold_comparisons` (``b_i = [±s_i > 0]``, the same
    binaries as two logits ``(l_0, l_1)`` with ``s = l_1 − l_0``), with targets 0/1 of any
    real dtype; ``(N, 2)`` logits take float 0/1 targets too.
    """
    if isinstance(input, torch.Tensor) and (
        input.dim() == 1 or (input.dim() == 2 and input.shape[1] == 1)
    ):
        if k >= 2:
            raise ValueError(
                f"k must be smaller than the number of classes (2 for a binary input of shape "
                f"{tuple(input.shape)}), got {k}"
            )
        comps = threshold_comparisons(input, target, validate_args, check_degenerate=False)
        return Comparisons(comps.pos, comps.neg)
    if (
        isinstance(input, torch.Tensor) and input.dim() == 2 and input.shape[1] == 2
        and isinstance(target, torch.Tensor)
        and (target.is_floating_point() or target.dtype == torch.bool or target.dim() == 2)
    ):  # two-class logits, 0/1 targets given as floats, bools or (N, 1)
        target = binary_labels(input, target, validate_args)[1].long()
    check_logits_and_labels(input, target, validate_args)
    n, c = input.shape
    if c < 2:
        raise ValueError(f"input must have at least 2 classes (columns), got {c}")
    if k >= c:
        raise ValueError(
            f"k must be smaller than the number of classes ({c}), got {k}: top-{k} accuracy "
            "is then 1 for any scores"
        )
    y = (target if target.dtype == torch.int64 else target.long()).unsqueeze(1)
    pos = input.gather(1, y)
    cols = _columns(c - 1, input.device)
    competitors = cols + (cols >= y)  # the C − 1 class indices other than y_i
    return Comparisons(pos, input.gather(1, competitors))


_COLUMNS: dict[tuple[int, torch.device], torch.Tensor] = {}


def _columns(n: int, device: torch.device) -> torch.Tensor:
    """Cached ``arange(n)`` ``(1, n)`` int64."""
    key = (n, device)
    cols = _COLUMNS.get(key)
    if cols is None:
        cols = _COLUMNS[key] = torch.arange(n, device=device).unsqueeze(0)
    return cols


def ranking_comparisons(
    input: torch.Tensor, target: torch.Tensor, validate_args: bool | None = None
) -> Comparisons:
    """Binary ranking metrics: AP (paper §4.2.2), ROC-AUC, precision@k.

    One group: ``pos`` = scores of the positives ``(1, P)``, ``neg`` = scores of the negatives
    ``(1, Q)``, each in index order; ``b[0, i, j] = [s_i − s_j > 0]`` for positive ``i``,
    negative ``j``. Scores and targets: :func:`binary_labels`. ``extra``: ``items`` (``N``).

    No boolean-mask selection: a stable sort of the labels orders the positives first. In
    eager mode ``P`` is read once and the layout is exactly ``(1, P, Q)`` (a batch without a
    positive or a negative raises :class:`DegenerateBatchError`); while ``torch.compile``
    traces it is the static ``(1, N, N)`` padding of it (see the module docs: ``rows`` and
    ``valid`` mark the first ``P`` rows and ``Q`` columns; ``extra["degenerate"]`` is a 0-d bool
    tensor, resolved in the graph by the loss).
    """
    scores, positive = binary_labels(input, target, validate_args)
    n = scores.shape[0]
    extra: dict[str, Any] = {"items": n}
    order = torch.argsort(~positive, stable=True)  # the positives, then the negatives
    if torch.compiler.is_compiling():  # static shapes: (1, N, N), padding marked invalid
        num_pos = positive.sum()
        slots = torch.arange(n, device=scores.device)
        negatives_first = torch.argsort(positive, stable=True)
        extra["degenerate"] = (num_pos == 0) | (num_pos == n)
        return Comparisons(
            scores[order].unsqueeze(0), scores[negatives_first].unsqueeze(0),
            (slots < n - num_pos).unsqueeze(0), extra, rows=(slots < num_pos).unsqueeze(0),
        )
    p = int(positive.sum())  # the one host read (the anchors' random stream needs P·Q)
    _check_not_degenerate(p, n - p)
    return Comparisons(scores[order[:p]].unsqueeze(0), scores[order[p:]].unsqueeze(0),
                       extra=extra)


def threshold_comparisons(
    input: torch.Tensor, target: torch.Tensor, validate_args: bool | None = None,
    check_degenerate: bool = True,
) -> Comparisons:
    """Thresholded binary decisions (F1 at threshold 0, i.e. the argmax of two logits).

    One group per sample with ``P = Q = 1``: ``c_i = s_i − 0`` for a positive (correct iff
    predicted positive, ``s_i > 0``) and ``c_i = 0 − s_i`` for a negative (correct iff
    ``s_i < 0``). ``extra["positive"]`` ``(N,)`` bool tells ``g`` which is which.
    ``check_degenerate``: whether a batch without a positive is degenerate (for F1; binary
    accuracy is defined on any batch).
    """
    scores, positive = binary_labels(input, target, validate_args)
    signed = torch.where(positive, scores, -scores)
    extra: dict[str, Any] = {"positive": positive}
    if check_degenerate and check_values(validate_args):
        _check_not_degenerate(int(positive.sum()))
    elif check_degenerate:  # not read back: the loss resolves it in the graph
        extra["degenerate"] = ~positive.any()
    return Comparisons(signed.unsqueeze(1), torch.zeros_like(signed).unsqueeze(1), extra=extra)


def disk_offsets(radius: float) -> list[tuple[int, int]]:
    """Integer pixel offsets ``(dr, dc)`` with ``dr² + dc² ≤ radius²`` (``(0, 0)`` first)."""
    r = math.floor(radius)
    offsets = [
        (dr, dc)
        for dr in range(-r, r + 1)
        for dc in range(-r, r + 1)
        if dr * dr + dc * dc <= radius * radius
    ]
    offsets.sort(key=lambda o: (o != (0, 0), o))
    return offsets


def heatmap_logits(
    input: torch.Tensor, validate_args: bool | None = None
) -> tuple[torch.Tensor, int, int]:
    """Flatten heatmap logits to ``(N, H·W)``; accepts ``(N, S·S)`` (square, row-major),
    ``(N, H, W)`` or ``(N, 1, H, W)``. Returns ``(flat, H, W)``."""
    check_finite_float(input, "input", validate_args)
    if input.dim() == 2:
        side = math.isqrt(input.shape[1])
        if side * side != input.shape[1]:
            raise ValueError(
                "input must be heatmap logits (N, S·S) with a perfect-square number of columns, "
                f"(N, H, W) or (N, 1, H, W); got {tuple(input.shape)}"
            )
        h = w = side
    elif input.dim() == 3 or (input.dim() == 4 and input.shape[1] == 1):
        h, w = input.shape[-2], input.shape[-1]
    else:
        raise ValueError(
            f"input must be heatmap logits (N, S·S), (N, H, W) or (N, 1, H, W); "
            f"got {tuple(input.shape)}"
        )
    if input.shape[0] == 0 or h * w == 0:
        raise ValueError(f"input must hold a non-empty batch of heatmaps, got {tuple(input.shape)}")
    return input.reshape(input.shape[0], h * w), h, w


def keypoint_comparisons(
    input: torch.Tensor,
    target: torch.Tensor,
    radius: float,
    validate_args: bool | None = None,
) -> Comparisons:
    """PCK on heatmaps (paper §4.3.2).

    One group per heatmap ``k``; positives: pixels within Euclidean distance ``radius``
    (inclusive) of the target pixel, in the fixed order of :func:`disk_offsets` (a slot whose
    pixel falls off the canvas repeats the target pixel, which changes no ``any``/``all``);
    negatives: all ``H·W`` pixels, the positive ones marked invalid. Hence
    ``b[k, i, j] = [s_pos_i − s_neg_j > 0]``, and the joint is correct iff some positive pixel
    beats every negative pixel.

    ``target``: the keypoint's flat pixel index ``(N,)`` (row-major ``r·W + c``); a negative
    index means "no keypoint" and is rejected, as is a radius that leaves no negative pixel
    (value checks).
    """
    flat, h, w = heatmap_logits(input, validate_args)
    n, m = flat.shape
    _check_labels(target, n)
    if check_values(validate_args):
        if bool((target < 0).any()):
            raise ValueError(
                "target contains a heatmap without a keypoint (negative pixel index); PCK "
                "needs one keypoint per heatmap"
            )
        if bool((target >= m).any()):
            raise ValueError(
                f"target pixel indices must lie in [0, {m}), got max {int(target.max())}"
            )
    t = target.long()
    tr, tc = t // w, t % w
    offsets, pr, pc = _pixel_grid(radius, h, w, flat.device)
    rows = tr.unsqueeze(1) + offsets[:, 0]
    cols = tc.unsqueeze(1) + offsets[:, 1]
    inside = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
    pos_idx = torch.where(inside, rows * w + cols, t.unsqueeze(1))
    d2 = (pr - tr.unsqueeze(1)).square_() + (pc - tc.unsqueeze(1)).square_()
    negative = d2 > math.floor(radius * radius)  # integer d² > r²  ⇔  d² > ⌊r²⌋
    if check_values(validate_args):
        compared = negative.any(1)
        if not bool(compared.any()):
            raise DegenerateBatchError(
                f"radius {radius} covers the whole {h}×{w} heatmap for every sample: no "
                "comparison is left, PCK is 1 for any scores"
            )
        if not bool(compared.all()):
            raise ValueError(
                f"radius {radius} covers the whole {h}×{w} heatmap for some sample: no "
                "negative pixel is left to compare against"
            )
    return Comparisons(flat.gather(1, pos_idx), flat, valid=negative)


_GRIDS: dict[tuple[float, int, int, torch.device], tuple[torch.Tensor, ...]] = {}


def _pixel_grid(
    radius: float, h: int, w: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Cached ``(disk offsets (D, 2), pixel rows (1, H·W), pixel columns (1, H·W))``."""
    key = (radius, h, w, device)
    grid = _GRIDS.get(key)
    if grid is None:
        pixels = torch.arange(h * w, device=device).unsqueeze(0)
        offsets = torch.tensor(disk_offsets(radius), device=device, dtype=torch.long)
        grid = _GRIDS[key] = (offsets, pixels // w, pixels % w)
    return grid  # type: ignore[return-value]


# --------------------------------------------------------------------------- subsampling
def subsample(
    comps: Comparisons, spec: int | float | None, generator: torch.Generator | int | None = None
) -> Comparisons:
    """Keep a subset of the negative columns of every group (paper §4.4.2, "a portion of binary
    variables" per step on CIFAR-100).

    * ``None``: keep all.
    * an ``int`` ``k ≥ 1``: per group the ``k`` highest-scoring valid negatives (the hardest
      competitors, as the authors' CIFAR-100 code keeps the 20 top classes). For accuracy,
      top-k (with ``k`` ≥ the metric's k) and PCK this keeps ``g(sign(b))`` exact, since the
      strongest competitor is always kept.
    * a ``float`` in ``(0, 1]``: per group a uniformly random ``ceil(fraction · Q)`` columns
      (valid ones first), drawn from ``generator`` (or the generator key of
      :func:`losskit.core._random.generator_key`).

    Returns ``comps`` unchanged when nothing would be dropped.
    """
    if spec is None:
        return comps
    if comps.rows is not None:
        raise NotImplementedError(
            "subsample is not available for the ranking metrics (ap, auc, precision_at_k) "
            "under torch.compile: their static layout pads the negatives to the batch size; "
            "use subsample=None or eager mode"
        )
    g, _, q = comps.shape
    if isinstance(spec, bool):
        raise ValueError(f"subsample must be None, an int ≥ 1 or a float in (0, 1], got {spec!r}")
    if isinstance(spec, int):
        keep = spec
        if keep >= q:
            return comps
        key = comps.neg.detach()
        if comps.valid is not None:
            key = key.masked_fill(~comps.valid, -math.inf)
    else:
        keep = math.ceil(float(spec) * q)
        if keep >= q:
            return comps
        rng = generator if isinstance(generator, int) else generator_key(generator)
        key = uniform(rng, (g, q), comps.neg, torch.float32)
        if comps.valid is not None:
            key = key.masked_fill(~comps.valid, -1.0)
    idx = key.topk(keep, dim=1, sorted=False).indices
    valid = comps.valid.gather(1, idx) if comps.valid is not None else None
    return Comparisons(comps.pos, comps.neg.gather(1, idx), valid, dict(comps.extra))


def parse_subsample(text: str) -> int | float | None:
    """A ``subsample`` given as text (command line, config file): ``none``, an int or a
    float."""
    text = text.strip().lower()
    if text in ("", "none"):
        return None
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"subsample must be none, an int or a float, got {text!r}"
                             ) from None


def check_subsample(spec: Any) -> int | float | None:
    """Validate a ``subsample`` argument (see :func:`subsample`)."""
    if spec is None:
        return None
    if isinstance(spec, bool):
        pass
    elif isinstance(spec, int) and spec >= 1:
        return spec
    elif isinstance(spec, float) and 0 < spec <= 1:
        return spec
    raise ValueError(
        f"subsample must be None, an int k ≥ 1 (top-k competitors) or a float fraction in "
        f"(0, 1], got {spec!r}"
    )
