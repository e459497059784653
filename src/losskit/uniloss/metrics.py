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

from losskit.core.ranking import average_precision
from losskit.core.registry import Registry
from losskit.uniloss.refactor import (
    Comparisons,
    binary_labels,
    classification_comparisons,
    heatmap_logits,
    keypoint_comparisons,
    ranking_comparisons,
    threshold_comparisons,
)

Refactor = Callable[..., Comparisons]
BinaryMetric = Callable[[torch.Tensor, Comparisons], torch.Tensor]
CountMetric = Callable[[torch.Tensor, Comparisons], torch.Tensor]
NEARBY_UNITS = ("bit", "score")


def lost_counts(b: torch.Tensor) -> torch.Tensor:
    """Per row, the number of lost comparisons: ``(A, G, P, Q)`` binaries → ``(A, G, P)`` int32."""
    b8 = _as_bool(b).contiguous().view(torch.uint8)  # uint8 sums are faster than bool ones
    return b8.shape[-1] - b8.sum(-1, dtype=torch.int32)


@dataclass(frozen=True)
class Metric:
    """A performance metric refactored as ``e = g(h(f(s, y)))`` (paper eq. 4).

    * ``refactor(input, target, validate_args=None) -> Comparisons`` validates and builds
      ``f``'s comparisons;
    * ``from_counts(n, comps) -> (A,)``: ``g`` as a function of the per-row numbers of lost
      comparisons ``n[a, g, i] = #{j : b[a, g, i, j] = 0}`` ``(A, G, P)`` (int or float) — every
      built-in metric is one, and UniLoss then evaluates anchors from their few edits instead of
      from ``A × G × P × Q`` bits;
    * ``evaluate(b, comps) -> (A,)``: ``g`` on binaries ``b`` ``(A, G, P, Q)`` bool (invalid
      comparisons are 1), one metric value per leading index; derived from ``from_counts`` when
      not given;
    * ``reference(input, target) -> float``: the metric computed directly from the scores;
    * ``nearby_unit``: what a nearby anchor flips by default (``"bit"``, or ``"score"``: all
      binaries of one score — a whole pixel for PCK, paper appendix A).
    """

    name: str
    refactor: Refactor
    evaluate: BinaryMetric | None = None
    reference: Callable[[torch.Tensor, torch.Tensor], float] | None = None
    description: str = ""
    from_counts: CountMetric | None = None
    nearby_unit: str = "bit"

    def __post_init__(self) -> None:
        if self.evaluate is None:
            if self.from_counts is None:
                raise ValueError("a Metric needs evaluate or from_counts")
            object.__setattr__(self, "evaluate", partial(_evaluate_by_counts, self.from_counts))
        if self.nearby_unit not in NEARBY_UNITS:
            raise ValueError(f"nearby_unit must be one of {NEARBY_UNITS}, got {self.nearby_unit!r}")

    def hard(self, input: torch.Tensor, target: torch.Tensor) -> float:
        """``g(h(f(s, y)))``: the exact metric obtained through the refactoring."""
        comps = self.refactor(input, target)
        return float(self.evaluate(comps.hard_binaries().unsqueeze(0), comps)[0])  # type: ignore[misc]


def _evaluate_by_counts(from_counts: CountMetric, b: torch.Tensor, comps: Comparisons):
    return from_counts(lost_counts(b), comps)


METRICS: Registry[Metric] = Registry("uniloss metric")


def _as_bool(b: torch.Tensor) -> torch.Tensor:
    return b if b.dtype == torch.bool else b > 0.5


# --------------------------------------------------------------------------- g functions
# Each takes the lost counts n (A, G, P) of the rows; a binary row is all 1 iff its count is 0.
def accuracy_g(n: torch.Tensor, comps: Comparisons) -> torch.Tensor:
    """Eq. 7–8: a sample is correct iff all its binaries are 1; accuracy = mean over samples."""
    return (n.flatten(1) == 0).double().mean(-1)  # P = 1: one row per sample


def topk_g(k: int) -> CountMetric:
    """Top-k accuracy: a sample is correct iff fewer than ``k`` competitors beat (or tie) it."""

    def g(n: torch.Tensor, comps: Comparisons) -> torch.Tensor:
        return (n.flatten(1) < k).double().mean(-1)

    return g


def _sorted_negatives_above(n: torch.Tensor, comps: Comparisons) -> torch.Tensor:
    """Per positive, the number of negatives scoring ≥ it, sorted ascending ``(A, P)``.

    Sorting reproduces the positives' score order (a higher positive has no more negatives
    above it); ties in the count only arise between positives with no negative between them,
    where either order gives the same precisions. Padding rows (``comps.rows``, the static
    layout) count ``+inf``: they sort last and are ranked nowhere.
    """
    if comps.rows is None:
        return n.flatten(1).sort(dim=1).values.double()
    padding = ~comps.rows.reshape(1, -1).to(n.device)
    return n.flatten(1).double().masked_fill(padding, torch.inf).sort(dim=1).values


def ap_g(n: torch.Tensor, comps: Comparisons) -> torch.Tensor:
    """Average precision (paper §4.2.2) from positive-vs-negative binaries.

    With ``n_(r)`` the sorted counts of negatives above each positive, the r-th ranked positive
    has precision ``r / (r + n_(r))`` and AP is their mean over the ``P`` positives.
    """
    above = _sorted_negatives_above(n, comps)
    r = torch.arange(1, above.shape[1] + 1, device=above.device, dtype=above.dtype)
    if comps.rows is None:
        return (r / (r + above)).mean(-1)
    return (r / (r + above)).sum(-1) / comps.rows.sum().to(above)  # padding: r / ∞ = 0


def auc_g(n: torch.Tensor, comps: Comparisons) -> torch.Tensor:
    """ROC-AUC = fraction of valid positive–negative pairs ranked correctly (Mann–Whitney U)."""
    valid = comps.num_valid()
    return (valid - n.flatten(1).sum(-1, dtype=torch.float64)) / valid


def precision_at_k_g(k: int) -> CountMetric:
    """Precision@k of a binary ranking: the r-th positive sits at rank ``r + n_(r)``; it is in
    the top ``k`` iff ``r + n_(r) ≤ k``; precision@k = (number of such positives) / k."""

    def g(n: torch.Tensor, comps: Comparisons) -> torch.Tensor:
        items = comps.extra.get("items")
        if items is None:
            raise ValueError("precision@k needs the ranking layout (extra['items'])")
        if k > items:
            raise ValueError(f"k must be ≤ the number of ranked items ({items}), got {k}")
        above = _sorted_negatives_above(n, comps)
        r = torch.arange(1, above.shape[1] + 1, device=above.device, dtype=above.dtype)
        return (r + above <= k).double().sum(-1) / k

    return g


def f1_g(n: torch.Tensor, comps: Comparisons) -> torch.Tensor:
    """F1 = 2TP / (2TP + FP + FN) of the decisions ``s > 0`` (binaries = correct decisions)."""
    correct = n.flatten(1) == 0  # (A, N)
    positive = comps.extra["positive"].to(correct.device)
    tp = (correct & positive).sum(-1).double()
    fn = positive.sum().double() - tp
    fp = (~correct & ~positive).sum(-1).double()
    return 2 * tp / (2 * tp + fp + fn)


def pck_g(n: torch.Tensor, comps: Comparisons) -> torch.Tensor:
    """PCK (paper §4.3.2): a joint is correct iff some positive pixel beats every negative
    pixel (``any_i all_j b[k, i, j]``); PCK = mean over heatmaps."""
    return (n == 0).any(-1).double().mean(-1)


# --------------------------------------------------------------------------- references
def accuracy_reference(input: torch.Tensor, target: torch.Tensor) -> float:
    """Fraction of samples whose target score is strictly the largest."""
    return topk_reference(input, target, 1)


def topk_reference(input: torch.Tensor, target: torch.Tensor, k: int) -> float:
    """Fraction of samples with fewer than ``k`` other classes scoring ≥ the target class (one
    logit per sample: of samples with the target's side strictly winning, ``±s > 0``)."""
    if input.dim() == 1 or input.shape[1] == 1:
        scores, positive = binary_labels(input, target)
        return float((torch.where(positive, scores, -scores) > 0).double().mean())
    if target.is_floating_point() or target.dtype == torch.bool or target.dim() == 2:
        target = binary_labels(input, target)[1]  # two-class logits, 0/1 targets
    s_y = input.gather(1, target.long().unsqueeze(1))
    rivals = (input >= s_y).sum(1) - 1
    return float((rivals < k).double().mean())


def ap_reference(input: torch.Tensor, target: torch.Tensor) -> float:
    """Average precision as ``sklearn.metrics.average_precision_score`` (ties grouped)."""
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
    scores, positive = binary_labels(input, target)
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
    """Multi-class accuracy (paper §3.2): logits ``(N, C)``, labels ``(N,)``; binary accuracy
    for one logit per sample ``(N,)`` / ``(N, 1)`` (the BCE convention) and 0/1 targets."""
    return Metric(
        "accuracy", classification_comparisons, reference=accuracy_reference,
        from_counts=accuracy_g,
    )


@METRICS.register("topk", help="top-k accuracy: fewer than k competitors win (beyond paper)")
def topk(k: int = 5) -> Metric:
    """Top-k accuracy: logits ``(N, C)`` with ``C > k``, labels ``(N,)``; same binaries as
    accuracy."""
    k = _check_k(k)
    return Metric(
        f"top{k}",
        partial(classification_comparisons, k=k),
        reference=partial(topk_reference, k=k),
        from_counts=topk_g(k),
    )


@METRICS.register("ap", help="average precision, binary: b_ij = s_pos_i − s_neg_j (§4.2)")
def ap() -> Metric:
    """Average precision (paper §4.2): one logit ``(N,)`` / ``(N, 1)`` or two-class logits
    ``(N, 2)`` (score ``logit_1 − logit_0``), targets 0/1 (bool, integer or float)."""
    return Metric("ap", ranking_comparisons, reference=ap_reference, from_counts=ap_g)


@METRICS.register("auc", help="ROC-AUC, binary: fraction of positive-negative pairs won")
def auc() -> Metric:
    """ROC-AUC (beyond the paper): same binaries as AP, ``g`` = their mean."""
    return Metric("auc", ranking_comparisons, reference=auc_reference, from_counts=auc_g)


@METRICS.register("precision_at_k", help="precision@k of a binary ranking (positives in top k)")
def precision_at_k(k: int = 1) -> Metric:
    """Precision@k (beyond the paper): same binaries as AP."""
    k = _check_k(k)
    return Metric(
        f"precision@{k}",
        ranking_comparisons,
        reference=partial(precision_at_k_reference, k=k),
        from_counts=precision_at_k_g(k),
    )


@METRICS.register("f1", help="F1 of the binary decisions s > 0 (one binary per sample)")
def f1() -> Metric:
    """F1 at threshold 0 (beyond the paper): ``b_i = [±s_i > 0]`` = decision ``i`` correct."""
    return Metric("f1", threshold_comparisons, reference=f1_reference, from_counts=f1_g)


@METRICS.register("pck", help="PCK on heatmaps: pixels within radius vs the rest (§4.3)")
def pck(radius: float = 1.0) -> Metric:
    """PCK (paper §4.3): heatmap logits ``(N, S·S)``, target flat pixel index ``(N,)``. Nearby
    anchors flip whole pixels (paper appendix A)."""
    radius = _check_radius(radius)
    return Metric(
        "pck",
        partial(keypoint_comparisons, radius=radius),
        reference=partial(pck_reference, radius=radius),
        from_counts=pck_g,
        nearby_unit="score",
    )


def balanced_comparisons(input: torch.Tensor, target: torch.Tensor,
                         validate_args: bool | None = None) -> Comparisons:
    """Accuracy's comparisons (:func:`classification_comparisons`) with the per-sample class
    indices in ``extra["labels"]`` (what balanced accuracy's ``g`` groups by)."""
    comps = classification_comparisons(input, target, validate_args)
    labels = target
    if input.dim() == 1 or input.shape[1] <= 2:  # binary: 0/1 targets of any dtype
        labels = binary_labels(input, target, validate_args)[1]
    comps.extra["labels"] = labels.reshape(-1).long()
    return comps


def balanced_accuracy_g(n: torch.Tensor, comps: Comparisons) -> torch.Tensor:
    """Balanced accuracy (beyond the paper; Brodersen et al. 2010): accuracy's per-sample
    correctness (all of a sample's binaries won, eq. 7–8) averaged within each class present in
    the batch, then over those classes — ``sklearn.metrics.balanced_accuracy_score``."""
    correct = (n.flatten(1) == 0).double()  # (A, N)
    labels = comps.extra["labels"].to(correct.device)
    onehot = torch.nn.functional.one_hot(labels).double()  # (N, C)
    counts = onehot.sum(0)
    present = counts > 0
    recall = (correct @ onehot)[:, present] / counts[present]
    return recall.mean(-1)


def balanced_accuracy_reference(input: torch.Tensor, target: torch.Tensor) -> float:
    """Mean over the classes in ``target`` of the fraction of their samples whose target score
    is strictly the largest (one logit: whose side strictly wins)."""
    comps = balanced_comparisons(input, target)
    n = (comps.differences() <= 0).sum(-1).unsqueeze(0)  # lost comparisons per row
    return float(balanced_accuracy_g(n, comps)[0])


@METRICS.register("balanced_accuracy",
                  help="mean per-class recall on accuracy's binaries (beyond paper)")
def balanced_accuracy() -> Metric:
    """Balanced accuracy (mean per-class recall): accuracy's binaries ``b_ij = s_i,y − s_i,j``,
    a sample correct iff all are won, averaged per class then over the batch's classes
    (:func:`balanced_accuracy_g`). Logits ``(N, C)`` and class indices, or binary inputs as
    accuracy takes them."""
    return Metric("balanced_accuracy", balanced_comparisons,
                  reference=balanced_accuracy_reference, from_counts=balanced_accuracy_g)


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

    return Metric(
        getattr(fn, "__name__", "custom"), base.refactor, evaluate, nearby_unit=base.nearby_unit
    )


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
    "NEARBY_UNITS",
    "Metric",
    "accuracy",
    "ap",
    "auc",
    "balanced_accuracy",
    "custom_metric",
    "f1",
    "heatmap_logits",
    "lost_counts",
    "pck",
    "precision_at_k",
    "resolve_metric",
    "topk",
]
