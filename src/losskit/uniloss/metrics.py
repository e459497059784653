"""Metrics defined on binaries (UniLoss eq. 4's ``g``) and the ``METRICS`` registry.

A :class:`Metric` bundles a refactoring (scores + targets → :class:`Comparisons`), ``g`` (binary
tensors ``(A, G, P, Q)`` → metric values ``(A,)``, vectorised over the leading anchor axis) and a
direct ``reference`` computed from the scores. *Hard consistency* — the core property, tested
against sklearn — is ``g(h(f(s))) == reference(s)``, with these tie rules (all follow from
``h = [c > 0]``: a tied comparison is lost):

* accuracy / top-k: a competitor tied with the target class counts as beating it
  (``sklearn.accuracy_score(y, argmax)`` instead gives the tie to the lower class index);
* AP: positive–negative ties are exactly as in ``sklearn.average_precision_score`` (both land in
  one threshold); two *positives* with equal scores are ranked one after the other (the binaries
  never compare positives), so AP equals sklearn's whenever no two positive scores are equal;
* ROC-AUC: a positive–negative tie counts 0 (sklearn counts ½);
* precision@k: items tied across the k-th place are ranked negatives first;
* F1 (threshold 0): a score exactly 0 counts as a wrong decision for both classes (sklearn
  with ``pred = s > 0`` counts a negative at 0 as correct);
* PCK: correct iff the best positive pixel *strictly* beats every negative pixel (the
  evaluator's ``argmax`` breaks a tie by the lower pixel index).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch

from losskit.registry import Registry
from losskit.uniloss.refactor import (
    Comparisons,
    binary_labels,
    classification_comparisons,
    heatmap_logits,
    keypoint_comparisons,
    ranking_comparisons,
    threshold_comparisons,
)

Refactor = Callable[[torch.Tensor, torch.Tensor], Comparisons]
BinaryMetric = Callable[[torch.Tensor, Comparisons], torch.Tensor]


@dataclass(frozen=True)
class Metric:
    """A performance metric refactored as ``e = g(h(f(s, y)))`` (paper eq. 4).

    * ``refactor(input, target) -> Comparisons`` validates and builds ``f``'s comparisons;
    * ``evaluate(b, comps) -> (A,)``: ``g`` on binaries ``b`` ``(A, G, P, Q)`` bool (invalid
      comparisons are 1), one metric value per leading index;
    * ``reference(input, target) -> float``: the metric computed directly from the scores.
    """

    name: str
    refactor: Refactor
    evaluate: BinaryMetric
    reference: Callable[[torch.Tensor, torch.Tensor], float] | None = None
    description: str = ""

    def hard(self, input: torch.Tensor, target: torch.Tensor) -> float:
        """``g(sign(b))``: the exact metric obtained through the refactoring."""
        comps = self.refactor(input, target)
        return float(self.evaluate(comps.hard_binaries().unsqueeze(0), comps)[0])


METRICS: Registry[Metric] = Registry("uniloss metric")


def _as_bool(b: torch.Tensor) -> torch.Tensor:
    return b if b.dtype == torch.bool else b > 0.5


def _as_bytes(b: torch.Tensor) -> torch.Tensor:
    # uint8 min/sum reductions over a short last axis are several times faster than bool .all()
    return _as_bool(b).contiguous().view(torch.uint8)


def _per_group_all(b: torch.Tensor) -> torch.Tensor:
    return _as_bytes(b).flatten(-2).amin(-1).bool()  # (A, G)


def _lost(b: torch.Tensor, dims: int) -> torch.Tensor:
    """Number of 0 binaries over the last ``dims`` axes (int32)."""
    b8 = _as_bytes(b).flatten(-dims) if dims > 1 else _as_bytes(b)
    return b8.shape[-1] - b8.sum(-1, dtype=torch.int32)


# --------------------------------------------------------------------------- g functions
def accuracy_g(b: torch.Tensor, comps: Comparisons) -> torch.Tensor:
    """Eq. 7–8: a sample is correct iff all its binaries are 1; accuracy = mean over samples."""
    return _per_group_all(b).double().mean(-1)


def topk_g(k: int) -> BinaryMetric:
    """Top-k accuracy: a sample is correct iff fewer than ``k`` competitors beat (or tie) it."""

    def g(b: torch.Tensor, comps: Comparisons) -> torch.Tensor:
        return (_lost(b, 2) < k).double().mean(-1)

    return g


def _sorted_negatives_above(b: torch.Tensor) -> torch.Tensor:
    """Per positive, the number of negatives scoring ≥ it, sorted ascending ``(A, P)``.

    Sorting reproduces the positives' score order (a higher positive has no more negatives
    above it); ties in the count only arise between positives with no negative between them,
    where either order gives the same precisions.
    """
    above = _lost(b, 1)  # (A, 1, P)
    return above.flatten(1).sort(dim=1).values.double()


def ap_g(b: torch.Tensor, comps: Comparisons) -> torch.Tensor:
    """Average precision (paper §4.2.2) from positive-vs-negative binaries.

    With ``n_(r)`` the sorted counts of negatives above each positive, the r-th ranked positive
    has precision ``r / (r + n_(r))`` and AP is their mean over the ``P`` positives.
    """
    n = _sorted_negatives_above(b)
    r = torch.arange(1, n.shape[1] + 1, device=n.device, dtype=n.dtype)
    return (r / (r + n)).mean(-1)


def auc_g(b: torch.Tensor, comps: Comparisons) -> torch.Tensor:
    """ROC-AUC = fraction of valid positive–negative pairs ranked correctly (Mann–Whitney U)."""
    total = comps.num_binaries
    valid = comps.num_valid()
    won = _as_bytes(b).flatten(1).sum(-1, dtype=torch.int64).double() - (total - valid)
    return won / valid


def precision_at_k_g(k: int) -> BinaryMetric:
    """Precision@k of a binary ranking: the r-th positive sits at rank ``r + n_(r)``; it is in
    the top ``k`` iff ``r + n_(r) ≤ k``; precision@k = (number of such positives) / k."""

    def g(b: torch.Tensor, comps: Comparisons) -> torch.Tensor:
        n = _sorted_negatives_above(b)
        items = comps.shape[1] + (
            comps.shape[2] if comps.valid is None else int(comps.valid.sum())
        )
        if k > items:
            raise ValueError(f"k must be ≤ the number of ranked items ({items}), got {k}")
        r = torch.arange(1, n.shape[1] + 1, device=n.device, dtype=n.dtype)
        return (r + n <= k).double().sum(-1) / k

    return g


def f1_g(b: torch.Tensor, comps: Comparisons) -> torch.Tensor:
    """F1 = 2TP / (2TP + FP + FN) of the decisions ``s > 0`` (binaries = correct decisions)."""
    correct = _as_bool(b).flatten(1)  # (A, N)
    positive = comps.extra["positive"].to(correct.device)
    tp = (correct & positive).sum(-1).double()
    fn = positive.sum().double() - tp
    fp = (~correct & ~positive).sum(-1).double()
    return 2 * tp / (2 * tp + fp + fn)


def pck_g(b: torch.Tensor, comps: Comparisons) -> torch.Tensor:
    """PCK (paper §4.3.2): a joint is correct iff some positive pixel beats every negative
    pixel (``any_i all_j b[k, i, j]``); PCK = mean over heatmaps."""
    return _as_bytes(b).amin(-1).amax(-1).double().mean(-1)


# --------------------------------------------------------------------------- references
def accuracy_reference(input: torch.Tensor, target: torch.Tensor) -> float:
    """Fraction of samples whose target score is strictly the largest."""
    return topk_reference(input, target, 1)


def topk_reference(input: torch.Tensor, target: torch.Tensor, k: int) -> float:
    """Fraction of samples with fewer than ``k`` other classes scoring ≥ the target class."""
    s_y = input.gather(1, target.long().unsqueeze(1))
    rivals = (input >= s_y).sum(1) - 1
    return float((rivals < k).double().mean())


def ap_reference(input: torch.Tensor, target: torch.Tensor) -> float:
    """Average precision as ``sklearn.metrics.average_precision_score`` (ties grouped)."""
    from losskit.train.evaluation import average_precision

    scores, positive = binary_labels(input, target)
    return average_precision(scores.detach(), positive.long())


def auc_reference(input: torch.Tensor, target: torch.Tensor) -> float:
    """ROC-AUC as the fraction of positive–negative pairs with the positive strictly higher."""
    scores, positive = binary_labels(input, target)
    pos, neg = scores[positive], scores[~positive]
    return float((pos.unsqueeze(1) > neg.unsqueeze(0)).double().mean())


def precision_at_k_reference(input: torch.Tensor, target: torch.Tensor, k: int) -> float:
    """Fraction of positives among the ``k`` highest scores (ties: negatives ranked first)."""
    scores, positive = binary_labels(input, target)
    if k > scores.shape[0]:
        raise ValueError(f"k must be ≤ the number of ranked items ({scores.shape[0]}), got {k}")
    # sort by (score desc, negatives first): stable sort on label, then on score
    order = torch.argsort(positive.long(), stable=True)
    order = order[torch.argsort(scores[order], descending=True, stable=True)]
    return float(positive[order[:k]].double().sum() / k)


def f1_reference(input: torch.Tensor, target: torch.Tensor) -> float:
    """F1 of the decisions ``s > 0`` (positives) and ``s < 0`` (negatives)."""
    scores, positive = binary_labels(input, target, need_negative=False)
    tp = float((positive & (scores > 0)).sum())
    fn = float((positive & ~(scores > 0)).sum())
    fp = float((~positive & ~(scores < 0)).sum())
    return 2 * tp / (2 * tp + fp + fn)


def pck_reference(input: torch.Tensor, target: torch.Tensor, radius: float) -> float:
    """Fraction of heatmaps whose best pixel within ``radius`` strictly beats every other."""
    comps = keypoint_comparisons(input, target, radius)
    best_pos = comps.pos.max(1).values
    best_neg = comps.neg.masked_fill(~comps.valid, -torch.inf).max(1).values  # type: ignore[arg-type]
    return float((best_pos > best_neg).double().mean())


# --------------------------------------------------------------------------- registry
def _check_k(k: object) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be an integer ≥ 1, got {k!r}")
    return k


def _check_radius(radius: object) -> float:
    if isinstance(radius, bool) or not isinstance(radius, (int, float)):
        raise ValueError(f"radius must be a finite number ≥ 0, got {radius!r}")
    r = float(radius)
    if not (r >= 0 and r != float("inf")):
        raise ValueError(f"radius must be a finite number ≥ 0, got {radius!r}")
    return r


@METRICS.register("accuracy", help="multi-class accuracy: b_ij = s_i,y − s_i,j (§3.2)")
def accuracy() -> Metric:
    """Multi-class accuracy (paper §3.2): logits ``(N, C)``, labels ``(N,)``."""
    return Metric("accuracy", classification_comparisons, accuracy_g, accuracy_reference)


@METRICS.register("topk", help="top-k accuracy: fewer than k competitors win (beyond paper)")
def topk(k: int = 5) -> Metric:
    """Top-k accuracy: logits ``(N, C)``, labels ``(N,)``; same binaries as accuracy."""
    k = _check_k(k)
    return Metric(
        f"top{k}",
        classification_comparisons,
        topk_g(k),
        partial(topk_reference, k=k),
    )


@METRICS.register("ap", help="average precision, binary: b_ij = s_pos_i − s_neg_j (§4.2)")
def ap() -> Metric:
    """Average precision (paper §4.2): scores ``(N,)``/``(N, 1)`` or 2 logits, targets {0, 1}."""
    return Metric("ap", ranking_comparisons, ap_g, ap_reference)


@METRICS.register("auc", help="ROC-AUC, binary: fraction of positive-negative pairs won")
def auc() -> Metric:
    """ROC-AUC (beyond the paper): same binaries as AP, ``g`` = their mean."""
    return Metric("auc", ranking_comparisons, auc_g, auc_reference)


@METRICS.register("precision_at_k", help="precision@k of a binary ranking (positives in top k)")
def precision_at_k(k: int = 1) -> Metric:
    """Precision@k (beyond the paper): same binaries as AP."""
    k = _check_k(k)
    return Metric(
        f"precision@{k}",
        ranking_comparisons,
        precision_at_k_g(k),
        partial(precision_at_k_reference, k=k),
    )


@METRICS.register("f1", help="F1 of the binary decisions s > 0 (one binary per sample)")
def f1() -> Metric:
    """F1 at threshold 0 (beyond the paper): ``b_i = [±s_i > 0]`` = decision ``i`` correct."""
    return Metric("f1", threshold_comparisons, f1_g, f1_reference)


@METRICS.register("pck", help="PCK on heatmaps: pixels within radius vs the rest (§4.3)")
def pck(radius: float = 1.0) -> Metric:
    """PCK (paper §4.3): heatmap logits ``(N, S·S)``, target flat pixel index ``(N,)``."""
    radius = _check_radius(radius)
    return Metric(
        "pck",
        partial(keypoint_comparisons, radius=radius),
        pck_g,
        partial(pck_reference, radius=radius),
    )


def custom_metric(
    fn: Callable[[torch.Tensor], torch.Tensor], layout: str | Metric = "accuracy", **kwargs: object
) -> Metric:
    """A user-defined ``g``: ``fn(b)`` with ``b`` a float ``{0, 1}`` tensor ``(A, G, P, Q)``
    laid out like the built-in metric ``layout`` (e.g. ``"accuracy"``: ``(A, N, 1, C − 1)``),
    returning one value per anchor ``(A,)``. Invalid comparisons are 1.

    >>> m = custom_metric(lambda b: b.mean(dim=(1, 2, 3)))  # fraction of comparisons won
    """
    if not callable(fn):
        raise ValueError(f"metric must be a registered name, a Metric or a callable, got {fn!r}")
    base = layout if isinstance(layout, Metric) else METRICS.build(layout, dict(kwargs))

    def evaluate(b: torch.Tensor, comps: Comparisons) -> torch.Tensor:
        out = fn(_as_bool(b).to(comps.pos.dtype))
        if not isinstance(out, torch.Tensor) or out.shape != b.shape[:1]:
            raise ValueError(
                f"custom metric must return a tensor of shape ({b.shape[0]},) — one value per "
                f"binary configuration — got {getattr(out, 'shape', type(out).__name__)}"
            )
        return out

    return Metric(getattr(fn, "__name__", "custom"), base.refactor, evaluate)


def resolve_metric(metric: str | Metric | Callable, **kwargs: object) -> Metric:
    """``metric`` as a :class:`Metric`: a registered name (built with the ``kwargs`` it takes,
    e.g. ``k``, ``radius``), a ``Metric``, or a callable on binaries (:func:`custom_metric`)."""
    if isinstance(metric, Metric):
        return metric
    if isinstance(metric, str):
        return METRICS.build(metric, dict(kwargs))
    if callable(metric):
        layout = kwargs.pop("layout", "accuracy")
        return custom_metric(metric, layout, **kwargs)  # type: ignore[arg-type]
    raise ValueError(f"metric must be a registered name, a Metric or a callable, got {metric!r}")


__all__ = [
    "METRICS",
    "Metric",
    "accuracy",
    "ap",
    "auc",
    "custom_metric",
    "f1",
    "heatmap_logits",
    "pck",
    "precision_at_k",
    "resolve_metric",
    "topk",
]
