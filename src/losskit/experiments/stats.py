"""Statistics for experiment reports: mean, sample std, t-based 95% CIs and paired t-tests.

Everything here is plain Python (no SciPy): Student's t distribution is evaluated through the
regularized incomplete beta function, ``P(|T| > t) = I_{ν/(ν+t²)}(ν/2, 1/2)``, computed with
its continued fraction (DLMF 8.17.22) and the symmetry ``I_x(a, b) = 1 − I_{1−x}(b, a)``. The
quantile is found by bisection on that CDF. The tests compare against ``scipy.stats``.

With fewer than two values a CI is undefined: the fields are ``None`` and text shows ``n/a``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

_EPS = 1e-16
_TINY = 1e-300
_MAX_ITER = 10_000


def _beta_cf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz evaluation)."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, _MAX_ITER + 1):
        m2 = 2 * m
        for aa in (
            m * (b - m) * x / ((qam + m2) * (a + m2)),
            -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)),
        ):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > _TINY else _TINY)
            c = 1.0 + aa / c
            c = c if abs(c) > _TINY else _TINY
            step = d * c
            h *= step
        if abs(step - 1.0) < _EPS:
            return h
    raise ArithmeticError(f"incomplete beta continued fraction did not converge (a={a}, b={b})")


def betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta function ``I_x(a, b)`` for ``a, b > 0``, ``x ∈ [0, 1]``."""
    if not (a > 0 and b > 0):
        raise ValueError(f"a and b must be > 0, got a={a}, b={b}")
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"x must be in [0, 1], got {x}")
    if x == 0.0 or x == 1.0:
        return x
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_cf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_cf(b, a, 1.0 - x) / b


def _check_df(df: float) -> float:
    df = float(df)
    if not (df > 0 and math.isfinite(df)):
        raise ValueError(f"df must be a finite number > 0, got {df}")
    return df


def t_sf(t: float, df: float) -> float:
    """Survival function ``P(T > t)`` of Student's t with ``df`` degrees of freedom."""
    df = _check_df(df)
    if math.isnan(t):
        raise ValueError("t must not be NaN")
    if math.isinf(t):
        return 0.0 if t > 0 else 1.0
    t2 = t * t
    x = df / (df + t2)
    if x < (0.5 * df + 1.0) / (0.5 * df + 2.5):
        # the tail may be tiny: evaluate it directly (continued fraction, no cancellation)
        tail = 0.5 * betainc(0.5 * df, 0.5, x)
    else:  # |t| small, tail near 1/2: P(|T| < |t|) = I_{t²/(ν+t²)}(1/2, ν/2)
        tail = 0.5 * (1.0 - betainc(0.5, 0.5 * df, t2 / (df + t2)))
    return tail if t > 0 else 1.0 - tail


def t_cdf(t: float, df: float) -> float:
    """``P(T ≤ t)`` of Student's t with ``df`` degrees of freedom."""
    return t_sf(-t, df)


def t_ppf(p: float, df: float) -> float:
    """Quantile of Student's t: the ``t`` with ``P(T ≤ t) = p`` (bisection on :func:`t_sf`)."""
    df = _check_df(df)
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p}")
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -t_ppf(1.0 - p, df)
    q = 1.0 - p  # target upper-tail probability
    lo, hi = 0.0, 1.0
    while t_sf(hi, df) > q:
        lo, hi = hi, 2.0 * hi
        if hi > 1e300:
            return math.inf
    for _ in range(2000):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi) or hi - lo <= 1e-15 * hi:
            break
        if t_sf(mid, df) > q:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


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


def summarize(values: Sequence[float], confidence: float = 0.95) -> Summary:
    """Mean ± t-interval: ``mean ± t_{(1+c)/2, n−1} · s / √n`` with ``s`` the ddof=1 std."""
    _check_confidence(confidence)
    xs = _as_floats(values, "values")
    n = len(xs)
    mean = math.fsum(xs) / n
    if n < 2:
        return Summary(mean, None, n, None, None, confidence)
    std = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (n - 1))
    half = t_ppf(0.5 * (1.0 + confidence), n - 1) * std / math.sqrt(n)
    return Summary(mean, std, n, mean - half, mean + half, confidence)


@dataclass(frozen=True)
class PairedDifference:
    """Paired difference ``a − b`` over matched seeds: its summary, t statistic and p-value.

    ``t``/``p_value`` are ``None`` when ``n < 2``. With zero spread of the differences the
    p-value is 0 (all differences equal and non-zero) or 1 (all zero), never NaN.
    """

    diff: Summary
    t: float | None
    p_value: float | None


def paired_difference(
    values: Sequence[float], baseline: Sequence[float], confidence: float = 0.95
) -> PairedDifference:
    """Paired t-test of ``values`` against ``baseline`` (same seeds, same order).

    ``t = mean(d) / (s_d / √n)`` with ``d = values − baseline``; two-sided
    ``p = 2·P(T_{n−1} > |t|)`` — the same test as ``scipy.stats.ttest_rel``.
    """
    a = _as_floats(values, "values")
    b = _as_floats(baseline, "baseline")
    if len(a) != len(b):
        raise ValueError(f"values and baseline must have the same length, got {len(a)}, {len(b)}")
    diff = summarize([x - y for x, y in zip(a, b)], confidence)
    if diff.n < 2:
        return PairedDifference(diff, None, None)
    assert diff.std is not None
    if diff.std == 0.0:
        if diff.mean == 0.0:
            return PairedDifference(diff, 0.0, 1.0)
        return PairedDifference(diff, math.copysign(math.inf, diff.mean), 0.0)
    t = diff.mean / (diff.std / math.sqrt(diff.n))
    return PairedDifference(diff, t, min(1.0, 2.0 * t_sf(abs(t), diff.n - 1)))


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
