"""Statistics for experiment reports: means, t-intervals, paired t-tests (``scipy.stats``) and the
Holm correction across the comparisons of one report.

* :func:`summarize`: mean ± ``t_{(1+c)/2, n−1} · s/√n`` (sample std, ddof = 1).
* :func:`paired_difference`: the paired t-test of ``scipy.stats.ttest_rel`` on matched seeds, with
  the interval of the mean difference.
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


def _as_floats(values: Sequence[float], name: str) -> list[float]:
    out = [float(v) for v in values]
    if not out:
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


def format_p(p: float | None) -> str:
    """A p-value for tables: ``n/a``, ``<0.001`` or three decimals."""
    if p is None or not math.isfinite(p):
        return "n/a"
    return "<0.001" if p < 0.001 else f"{p:.3f}"
