"""Statistics for experiment reports: means, t-intervals, paired tests on matched seeds, robust
outlier flags, and the Holm correction within a family of comparisons.

* :func:`summarize`: mean ± ``t_{(1+c)/2, n−1} · s/√n`` (sample std, ddof = 1).
* :func:`paired_difference`: the paired t-test of ``scipy.stats.ttest_rel`` on matched seeds, with
  the interval of the mean difference, plus two tests that assume no normality: the exact
  two-sided **sign test** (``scipy.stats.binomtest`` on the non-zero differences) and the exact
  **Wilcoxon signed-rank test** (:func:`wilcoxon_signed_rank`), and the counts "k of n below /
  above". With 5 seeds neither exact test can go below ``2/2⁵ = 0.0625``: they tell whether the
  seeds agree in direction, they cannot make a verdict alone.
* :func:`robust_outliers`: runs more than 3 robust SDs (``1.4826 · MAD``) from the median — how
  a group of runs that sometimes stalls (bimodal) is recognised and reported as counts.
* :func:`clip`: an interval limited to what the metric can take (an accuracy's t-interval must
  not pass 100 %).
* :func:`holm`: Holm's step-down procedure (Holm 1979) over ``m`` p-values. The i-th smallest
  p-value is tested at ``α/(m − i + 1)`` until the first failure; every later comparison is not
  rejected. Each comparison's interval is shown at the level it was tested at — ``1 − α/(m − i +
  1)``, frozen at the first non-rejection — so a shown interval excludes 0 exactly when Holm
  rejects (a t-interval at level ``1 − a`` excludes 0 iff the two-sided p-value is below ``a``).

With fewer than two values a CI is undefined: the fields are ``None`` and text shows ``n/a``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats as _scipy_stats


@dataclass(frozen=True)
class Summary:
    """Mean, sample std (ddof=1), count and a t-based confidence interval of some values.

    ``std``/``ci_low``/``ci_high`` are ``None`` when ``n < 2`` (undefined).
    """

    mean: float
    std: float | None
    n: int
    ci_low: float | None
    ci_high: float | None
    confidence: float = 0.95

    @property
    def half_width(self) -> float | None:
        if self.ci_low is None or self.ci_high is None:
            return None
        return 0.5 * (self.ci_high - self.ci_low)


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")


def _as_floats(values: Sequence[float], name: str, empty: bool = False) -> list[float]:
    out = [float(v) for v in values]
    if not out and not empty:
        raise ValueError(f"{name} must hold at least one value")
    if not all(math.isfinite(v) for v in out):
        raise ValueError(f"{name} must be finite, got {out}")
    return out


def t_quantile(p: float, df: float) -> float:
    """Quantile of Student's t (``scipy.stats.t.ppf``)."""
    return float(_scipy_stats.t.ppf(p, df))


def summarize(values: Sequence[float], confidence: float = 0.95) -> Summary:
    """Mean ± t-interval: ``mean ± t_{(1+c)/2, n−1} · s / √n`` with ``s`` the ddof=1 std."""
    _check_confidence(confidence)
    xs = _as_floats(values, "values")
    n = len(xs)
    mean = math.fsum(xs) / n
    if n < 2:
        return Summary(mean, None, n, None, None, confidence)
    std = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (n - 1))
    half = t_quantile(0.5 * (1.0 + confidence), n - 1) * std / math.sqrt(n)
    return Summary(mean, std, n, mean - half, mean + half, confidence)


@dataclass(frozen=True)
class PairedDifference:
    """Paired difference ``a − b`` over matched seeds: its summary, t statistic and p-value.

    ``t``/``p_value`` are ``None`` when ``n < 2``. With zero spread of the differences the
    p-value is 0 (all differences equal and non-zero) or 1 (all zero), never NaN.
    ``differences`` keeps the per-seed values (to recompute the interval at another level).
    """

    diff: Summary
    t: float | None
    p_value: float | None
    differences: tuple[float, ...] = ()

    def at(self, confidence: float) -> Summary:
        """The interval of the mean difference at ``confidence``."""
        return summarize(self.differences, confidence)

    @property
    def below(self) -> int:
        """Seeds where ``a < b``."""
        return sum(d < 0 for d in self.differences)

    @property
    def above(self) -> int:
        """Seeds where ``a > b``."""
        return sum(d > 0 for d in self.differences)

    @property
    def sign_p(self) -> float | None:
        """Exact two-sided sign test (:func:`sign_test`)."""
        return sign_test(self.differences)

    @property
    def wilcoxon_p(self) -> float | None:
        """Exact two-sided Wilcoxon signed-rank test (:func:`wilcoxon_signed_rank`)."""
        return wilcoxon_signed_rank(self.differences)


def paired_difference(
    values: Sequence[float], baseline: Sequence[float], confidence: float = 0.95
) -> PairedDifference:
    """Paired t-test of ``values`` against ``baseline`` (same seeds, same order):
    ``scipy.stats.ttest_rel`` (two-sided), plus the interval of the mean difference."""
    a = _as_floats(values, "values")
    b = _as_floats(baseline, "baseline")
    if len(a) != len(b):
        raise ValueError(f"values and baseline must have the same length, got {len(a)}, {len(b)}")
    d = tuple(x - y for x, y in zip(a, b))
    diff = summarize(d, confidence)
    if diff.n < 2:
        return PairedDifference(diff, None, None, d)
    assert diff.std is not None
    if diff.std == 0.0:  # scipy returns NaN here; the answer is certain
        if diff.mean == 0.0:
            return PairedDifference(diff, 0.0, 1.0, d)
        return PairedDifference(diff, math.copysign(math.inf, diff.mean), 0.0, d)
    res = _scipy_stats.ttest_rel(a, b)
    return PairedDifference(diff, float(res.statistic), float(res.pvalue), d)


def sign_test(differences: Sequence[float]) -> float | None:
    """Exact two-sided sign test of median 0: ``binomtest(#positive, #non-zero, 1/2)``
    (``scipy.stats.binomtest``); zero differences are dropped. ``None`` when all are zero or
    there are none. 10 of 10 on one side: ``2/2¹⁰ ≈ 0.002``."""
    d = _as_floats(differences, "differences", empty=True)
    above = sum(x > 0 for x in d)
    n = above + sum(x < 0 for x in d)
    if n == 0:
        return None
    return float(_scipy_stats.binomtest(above, n, 0.5).pvalue)


def wilcoxon_signed_rank(differences: Sequence[float]) -> float | None:
    """Exact two-sided Wilcoxon signed-rank p-value (Wilcoxon 1945) of median 0.

    Zero differences are dropped (Wilcoxon's rule); tied ``|d|`` get their mean rank. The null
    distribution of ``W⁺`` (the sum of the ranks of the positive differences) is computed
    exactly over all ``2ⁿ`` sign patterns by dynamic programming on doubled (integer) ranks, so
    the p-value is exact with ties too — where ``scipy.stats.wilcoxon`` falls back to a normal
    approximation; without ties it equals scipy's ``method="exact"``. Two-sided:
    ``P(|W⁺ − E W⁺| ≥ |w − E W⁺|)``. ``None`` when no difference is non-zero.
    """
    d = [x for x in _as_floats(differences, "differences", empty=True) if x != 0.0]
    n = len(d)
    if n == 0:
        return None
    order = sorted(range(n), key=lambda i: abs(d[i]))
    ranks2 = [0] * n  # doubled mid-ranks: integers
    i = 0
    while i < n:
        j = i
        while j + 1 < n and abs(d[order[j + 1]]) == abs(d[order[i]]):
            j += 1
        for k in range(i, j + 1):
            ranks2[order[k]] = i + j + 2  # 2 × mean of the 1-based ranks i+1 … j+1
        i = j + 1
    total = sum(ranks2)
    counts = [0] * (total + 1)  # counts[w]: sign patterns with doubled W⁺ = w
    counts[0] = 1
    for r in ranks2:
        for w in range(total, r - 1, -1):
            counts[w] += counts[w - r]
    observed = sum(r for r, x in zip(ranks2, d) if x > 0)
    dev = abs(2 * observed - total)  # |2·(W⁺ − E W⁺)| in doubled units
    extreme = sum(c for w, c in enumerate(counts) if abs(2 * w - total) >= dev)
    return min(1.0, extreme / 2.0 ** n)


def robust_outliers(
    values: Sequence[float], k: float = 3.0, min_sd: float = 0.0
) -> list[int]:
    """Indices of values more than ``k`` robust SDs from the median; robust SD =
    ``max(1.4826 · MAD, min_sd)`` (MAD: median absolute deviation; 1.4826 makes it the SD of a
    normal sample). ``min_sd`` keeps a group whose values mostly tie (MAD = 0) from flagging its
    every other run. Fewer than 3 values: nothing is flagged (no robust centre)."""
    xs = _as_floats(values, "values", empty=True)
    if len(xs) < 3:
        return []
    med = _median(xs)
    sd = max(1.4826 * _median([abs(x - med) for x in xs]), float(min_sd))
    if sd == 0.0:
        return [i for i, x in enumerate(xs) if x != med]
    return [i for i, x in enumerate(xs) if abs(x - med) > k * sd]


def _median(xs: Sequence[float]) -> float:
    s = sorted(xs)
    m = len(s) // 2
    return s[m] if len(s) % 2 else 0.5 * (s[m - 1] + s[m])


def clip(s: Summary, low: float, high: float) -> tuple[Summary, bool]:
    """``s`` with its interval limited to ``[low, high]`` (what the metric can take) and whether
    it had to be: a t-interval is symmetric by construction and passes a bound when the values
    sit near it or spread widely (a bimodal group)."""
    if s.ci_low is None or s.ci_high is None:
        return s, False
    lo, hi = max(s.ci_low, low), min(s.ci_high, high)
    if (lo, hi) == (s.ci_low, s.ci_high):
        return s, False
    return Summary(s.mean, s.std, s.n, lo, hi, s.confidence), True


@dataclass(frozen=True)
class HolmDecision:
    """One comparison's Holm outcome: adjusted p, rejection, and the level its interval is
    shown at (``confidence = 1 − α_i``)."""

    p_adjusted: float
    reject: bool
    confidence: float


def holm(p_values: Sequence[float], alpha: float = 0.05) -> list[HolmDecision]:
    """Holm's step-down correction of ``m = len(p_values)`` two-sided tests at family level
    ``alpha``; decisions in the input order (see the module docstring for the levels)."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    ps = [float(p) for p in p_values]
    if any(not (0.0 <= p <= 1.0) for p in ps):
        raise ValueError(f"p_values must be in [0, 1], got {ps}")
    m = len(ps)
    order = sorted(range(m), key=lambda i: ps[i])
    out: list[HolmDecision | None] = [None] * m
    running = 0.0
    frozen: float | None = None  # the level of the first non-rejected rank
    for rank, i in enumerate(order):
        level = alpha / (m - rank)
        running = max(running, min(1.0, (m - rank) * ps[i]))
        reject = running < alpha
        if not reject and frozen is None:
            frozen = level
        shown = level if reject else frozen
        assert shown is not None
        out[i] = HolmDecision(running, reject, 1.0 - shown)
    return [d for d in out if d is not None]


def verdict(diff: Summary, higher_is_better: bool = True) -> str:
    """``better`` / ``worse`` when the CI of the difference excludes 0, else
    ``no significant difference``; ``n/a`` when the CI is undefined (n < 2)."""
    if diff.ci_low is None or diff.ci_high is None:
        return "n/a"
    if diff.ci_low <= 0.0 <= diff.ci_high:
        return "no significant difference"
    up = diff.ci_low > 0.0
    return "better" if up == higher_is_better else "worse"


def format_number(x: float | None, digits: int = 2) -> str:
    """``x`` with ``digits`` decimals; ``n/a`` for ``None`` or a non-finite number."""
    if x is None or not math.isfinite(x):
        return "n/a"
    return f"{x:.{digits}f}"


def format_ci(s: Summary, scale: float = 1.0, digits: int = 2, signed: bool = False) -> str:
    """``mean ± half-width`` (scaled), e.g. ``91.23 ± 0.45``; ``91.23 ± n/a`` when n < 2."""
    mean = s.mean * scale
    text = f"{mean:+.{digits}f}" if signed else format_number(mean, digits)
    half = s.half_width
    return f"{text} ± {format_number(None if half is None else half * scale, digits)}"


#: An interval wider than this share of what the value can take is not printed
#: (:func:`format_interval`).
TOO_WIDE = 0.5


def format_interval(
    s: Summary, scale: float = 1.0, bounds: tuple[float, float] | None = None,
    digits: int = 2, signed: bool = False,
) -> str:
    """``mean ± half-width``, or — when the interval passes ``bounds`` (the metric's range) —
    the range-bounded interval ``mean [low, high]‡`` (‡: clipped); ``mean (n=1)`` for one value;
    ``mean (n=5 too small for this spread)`` when the t-interval is wider than half of
    ``bounds`` (:data:`TOO_WIDE`): such an interval says nothing (a bimodal group of 5).
    """
    mean = s.mean * scale
    text = f"{mean:+.{digits}f}" if signed else format_number(mean, digits)
    if s.ci_low is None or s.ci_high is None:
        return f"{text} (n={s.n})"
    if bounds is not None and s.ci_high - s.ci_low > TOO_WIDE * (bounds[1] - bounds[0]):
        return f"{text} (n={s.n} too small for this spread)"
    shown, clipped = clip(s, *bounds) if bounds is not None else (s, False)
    if not clipped:
        return format_ci(s, scale, digits, signed)
    assert shown.ci_low is not None and shown.ci_high is not None
    fmt = f"{{:+.{digits}f}}" if signed else f"{{:.{digits}f}}"
    return f"{text} [{fmt.format(shown.ci_low * scale)}, {fmt.format(shown.ci_high * scale)}]‡"


def format_p(p: float | None) -> str:
    """A p-value for tables: ``n/a``, ``<0.001`` or three decimals."""
    if p is None or not math.isfinite(p):
        return "n/a"
    return "<0.001" if p < 0.001 else f"{p:.3f}"
