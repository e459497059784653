"""Statistics against SciPy: t quantiles, t-intervals, paired t-tests; the n = 1 edge case."""

from __future__ import annotations

import math

import numpy as np
import pytest

from losskit.experiments import stats

scipy_stats = pytest.importorskip("scipy.stats")
scipy_special = pytest.importorskip("scipy.special")

VALUES = [91.2, 90.7, 91.9, 90.4, 91.5]
BASE = [90.1, 90.9, 90.8, 89.7, 90.6]


@pytest.mark.parametrize("p", [0.6, 0.9, 0.95, 0.975, 0.995, 0.9995, 0.025, 1e-4])
def test_t_ppf_matches_scipy_df_1_to_100(p):
    for df in range(1, 101):
        ours, ref = stats.t_ppf(p, df), scipy_stats.t.ppf(p, df)
        assert ours == pytest.approx(ref, rel=1e-6), (df, p)


@pytest.mark.parametrize("df", [0.5, 1, 2, 5, 30, 200, 5000])
def test_t_sf_and_cdf_match_scipy_including_far_tails(df):
    for t in [-40.0, -3.0, -0.2, 0.0, 1e-6, 0.7, 2.0, 8.0, 60.0]:
        assert stats.t_sf(t, df) == pytest.approx(scipy_stats.t.sf(t, df), rel=1e-9, abs=1e-300)
        assert stats.t_cdf(t, df) == pytest.approx(scipy_stats.t.cdf(t, df), rel=1e-9)


def test_betainc_matches_scipy():
    for a, b, x in [(0.5, 3.0, 0.2), (10.0, 0.5, 0.9), (100.0, 0.5, 0.75), (2.0, 3.0, 0.5),
                    (0.3, 0.3, 0.01), (50.0, 60.0, 0.45)]:
        assert stats.betainc(a, b, x) == pytest.approx(scipy_special.betainc(a, b, x), rel=1e-10)


def test_t_ppf_inverts_cdf_and_is_odd():
    for df in [1, 3, 17]:
        for p in [0.01, 0.3, 0.8, 0.99]:
            t = stats.t_ppf(p, df)
            assert stats.t_cdf(t, df) == pytest.approx(p, rel=1e-12)
            assert stats.t_ppf(1 - p, df) == pytest.approx(-t, rel=1e-12)
    assert stats.t_ppf(0.5, 4) == 0.0


def test_summarize_matches_scipy_interval():
    s = stats.summarize(VALUES)
    arr = np.array(VALUES)
    lo, hi = scipy_stats.t.interval(0.95, len(arr) - 1, loc=arr.mean(), scale=scipy_stats.sem(arr))
    assert s.n == 5
    assert s.mean == pytest.approx(arr.mean(), rel=1e-14)
    assert s.std == pytest.approx(arr.std(ddof=1), rel=1e-12)
    assert (s.ci_low, s.ci_high) == (pytest.approx(lo, rel=1e-9), pytest.approx(hi, rel=1e-9))
    s90 = stats.summarize(VALUES, confidence=0.9)
    lo90, hi90 = scipy_stats.t.interval(0.9, 4, loc=arr.mean(), scale=scipy_stats.sem(arr))
    assert (s90.ci_low, s90.ci_high) == (pytest.approx(lo90), pytest.approx(hi90))


def test_paired_difference_matches_ttest_rel():
    pd = stats.paired_difference(VALUES, BASE)
    ref = scipy_stats.ttest_rel(VALUES, BASE)
    d = np.array(VALUES) - np.array(BASE)
    lo, hi = scipy_stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=scipy_stats.sem(d))
    assert pd.t == pytest.approx(ref.statistic, rel=1e-10)
    assert pd.p_value == pytest.approx(ref.pvalue, rel=1e-8)
    assert (pd.diff.ci_low, pd.diff.ci_high) == (pytest.approx(lo), pytest.approx(hi))
    # tiny p-values keep relative accuracy
    strong = [v + 5 + 0.01 * i for i, v in enumerate(BASE)]
    assert stats.paired_difference(strong, BASE).p_value == pytest.approx(
        scipy_stats.ttest_rel(strong, BASE).pvalue, rel=1e-6)


def test_verdicts_follow_the_difference_ci():
    better = stats.paired_difference(VALUES, BASE).diff
    assert better.ci_low > 0 and stats.verdict(better) == "better"
    assert stats.verdict(better, higher_is_better=False) == "worse"
    worse = stats.paired_difference(BASE, VALUES).diff
    assert stats.verdict(worse) == "worse"
    noisy = stats.paired_difference([1.0, 2.0, 0.5], [1.5, 1.0, 1.0]).diff
    assert noisy.ci_low < 0 < noisy.ci_high
    assert stats.verdict(noisy) == "no significant difference"


def test_n_equals_one_is_undefined_not_nan():
    s = stats.summarize([0.9])
    assert (s.mean, s.n, s.std, s.ci_low, s.ci_high, s.half_width) == (0.9, 1, None, None, None,
                                                                      None)
    text = stats.format_ci(s, scale=100)
    assert text == "90.00 ± n/a" and "nan" not in text.lower()
    pd = stats.paired_difference([0.9], [0.8])
    assert pd.p_value is None and pd.t is None and stats.verdict(pd.diff) == "n/a"
    assert stats.format_p(pd.p_value) == "n/a"


def test_constant_differences_give_no_nan():
    same = stats.paired_difference([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert same.p_value == 1.0 and stats.verdict(same.diff) == "no significant difference"
    shifted = stats.paired_difference([2.0, 3.0, 4.0], [1.0, 2.0, 3.0])
    assert shifted.p_value == 0.0 and math.isinf(shifted.t)
    assert stats.verdict(shifted.diff) == "better"


def test_validation_names_the_argument():
    with pytest.raises(ValueError, match="values"):
        stats.summarize([])
    with pytest.raises(ValueError, match="values"):
        stats.summarize([1.0, float("nan")])
    with pytest.raises(ValueError, match="confidence"):
        stats.summarize([1.0, 2.0], confidence=1.5)
    with pytest.raises(ValueError, match="same length"):
        stats.paired_difference([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="df"):
        stats.t_ppf(0.9, 0)
    with pytest.raises(ValueError, match="p must"):
        stats.t_ppf(1.0, 3)
