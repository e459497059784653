"""Statistics against SciPy: t-intervals, paired t-tests; Holm against a hand computation; n = 1."""

from __future__ import annotations

import math

import numpy as np
import pytest

from losskit.experiments import stats

scipy_stats = pytest.importorskip("scipy.stats")

VALUES = [91.2, 90.7, 91.9, 90.4, 91.5]
BASE = [90.1, 90.9, 90.8, 89.7, 90.6]


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
    with pytest.raises(ValueError, match="alpha"):
        stats.holm([0.1], alpha=0.0)
    with pytest.raises(ValueError, match="p_values"):
        stats.holm([1.5])


def test_holm_matches_the_step_down_by_hand():
    # sorted: 0.005·4 = 0.02 ✓, 0.01·3 = 0.03 ✓, 0.03·2 = 0.06 ✗ (stop), 0.04 → max(0.06, 0.04)
    ps = [0.01, 0.04, 0.03, 0.005]
    out = stats.holm(ps, alpha=0.05)
    assert [d.p_adjusted for d in out] == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert [d.reject for d in out] == [True, False, False, True]
    # levels: rank 1 at α/4, rank 2 at α/3, rank 3 at α/2 — and rank 4 frozen at α/2
    assert [1 - d.confidence for d in out] == pytest.approx([0.05 / 3, 0.025, 0.025, 0.0125])
    assert stats.holm([]) == []
    single = stats.holm([0.049])[0]
    assert single.reject and single.confidence == pytest.approx(0.95)


def test_holm_stops_at_the_first_failure_even_if_a_later_p_would_pass():
    # 0.02·3 = 0.06 fails; 0.024 < α/2 = 0.025 individually, but Holm does not reject it
    out = stats.holm([0.02, 0.024, 0.5])
    assert [d.reject for d in out] == [False, False, False]
    assert {round(1 - d.confidence, 6) for d in out} == {round(0.05 / 3, 6)}


def test_holm_interval_excludes_zero_exactly_when_rejected():
    rng = np.random.default_rng(0)
    pds = [stats.paired_difference(list(rng.normal(shift, 1.0, 5)), [0.0] * 5)
           for shift in np.linspace(-3, 3, 25)]
    decisions = stats.holm([pd.p_value for pd in pds])
    assert any(d.reject for d in decisions) and not all(d.reject for d in decisions)
    for pd, d in zip(pds, decisions):
        ci = pd.at(d.confidence)
        lo, hi = scipy_stats.t.interval(d.confidence, 4, loc=np.mean(pd.differences),
                                        scale=scipy_stats.sem(pd.differences))
        assert (ci.ci_low, ci.ci_high) == (pytest.approx(lo), pytest.approx(hi))
        assert (stats.verdict(ci) != "no significant difference") == d.reject


# ----------------------------------------------------------------------------- rank tests
def _brute_wilcoxon(d):
    """Two-sided exact Wilcoxon p by enumerating all 2ⁿ sign patterns (the definition)."""
    import itertools

    d = [x for x in d if x != 0]
    a = np.abs(d)
    ranks = scipy_stats.rankdata(a)  # mid-ranks for ties
    w = ranks[np.array(d) > 0].sum()
    mean = ranks.sum() / 2
    hits = 0
    for signs in itertools.product([0, 1], repeat=len(d)):
        if abs(ranks[np.array(signs) == 1].sum() - mean) >= abs(w - mean) - 1e-9:
            hits += 1
    return hits / 2 ** len(d)


def test_sign_test_against_hand_values():
    # all of n on one side: 2 / 2ⁿ (the 10 of 10 below CE: p = 0.002)
    assert stats.sign_test([-1.0] * 10) == pytest.approx(2 / 1024)
    assert stats.sign_test([0.3] * 5) == pytest.approx(2 / 32)
    # 4 of 5 above: 2 · (C(5,0) + C(5,1)) / 32 = 12/32
    assert stats.sign_test([1, 2, 3, 4, -1]) == pytest.approx(12 / 32)
    # zeros are dropped: 3 of 3 above
    assert stats.sign_test([0.0, 1.0, 2.0, 0.5, 0.0]) == pytest.approx(2 / 8)
    assert stats.sign_test([0.0, 0.0]) is None
    pd = stats.paired_difference([1.0, 2.0, 3.0, 0.5], [2.0, 1.0, 3.0, 1.0])
    assert (pd.below, pd.above) == (2, 1)
    assert pd.sign_p == pytest.approx(scipy_stats.binomtest(1, 3).pvalue)


def test_wilcoxon_hand_table_and_scipy_exact():
    # hand table: n of n positive → 2/2ⁿ; n = 5, W⁺ = 14 (rank 1 negative) → 4/32
    assert stats.wilcoxon_signed_rank([1, 2, 3, 4, 5]) == pytest.approx(2 / 32)
    assert stats.wilcoxon_signed_rank([-1, 2, 3, 4, 5]) == pytest.approx(4 / 32)
    assert stats.wilcoxon_signed_rank([0.1 * i for i in range(1, 11)]) == pytest.approx(2 / 1024)
    rng = np.random.default_rng(0)
    for n in (5, 6, 8, 12):
        for _ in range(5):
            d = rng.normal(0.3, 1.0, n)
            ref = scipy_stats.wilcoxon(d, method="exact").pvalue
            assert stats.wilcoxon_signed_rank(d) == pytest.approx(ref, rel=1e-12)


def test_wilcoxon_is_exact_with_ties_and_zeros():
    for d in ([1, 1, 2, -3], [0.5, 0.5, -0.5, 2, 0.0, 2], [-1, -1, -1, -1], [2, -2, 1, 3, 3, 0]):
        assert stats.wilcoxon_signed_rank(d) == pytest.approx(_brute_wilcoxon(d), rel=1e-12)
    assert stats.wilcoxon_signed_rank([0.0, 0.0]) is None
    assert stats.wilcoxon_signed_rank([1.0, -1.0]) == pytest.approx(1.0)


# ----------------------------------------------------------------------------- robust flags
def test_robust_outliers_flag_stalled_runs():
    # the SLF K=3: three runs near 98 %, two stalled near 88–90 %
    vals = [0.981, 0.980, 0.9805, 0.889, 0.901]
    assert stats.robust_outliers(vals) == [3, 4]
    # hand: median 0.9805, MAD = median(|…|) = 0.0005 → SD 0.000741; 3 SD = 0.00222
    assert stats.robust_outliers([0.98, 0.981, 0.9805, 0.977, 0.9835]) == [3, 4]
    assert stats.robust_outliers([0.98, 0.981, 0.9805, 0.977, 0.9835], min_sd=0.002) == []
    assert stats.robust_outliers([0.5, 0.9]) == []  # no robust centre from 2 values
    assert stats.robust_outliers([1.0, 1.0, 1.0, 0.99]) == [3]  # MAD 0: any other value


# ----------------------------------------------------------------------------- bounded intervals
def test_intervals_never_pass_the_metric_range():
    # the 95.19 ± 5.14 (past 100 %)
    s = stats.summarize([0.99, 0.985, 0.99, 0.889, 0.9058])
    assert s.ci_high > 1.0
    shown, clipped = stats.clip(s, 0.0, 1.0)
    assert clipped and shown.ci_high == 1.0 and shown.ci_low == s.ci_low
    text = stats.format_interval(s, 100, (0.0, 1.0))
    assert text == f"{100 * s.mean:.2f} [{100 * s.ci_low:.2f}, 100.00]‡"
    inside = stats.summarize(VALUES)
    assert stats.format_interval(inside, 1, (0, 100)) == stats.format_ci(inside)
    assert stats.clip(inside, 0, 100) == (inside, False)
    assert stats.format_interval(stats.summarize([0.5]), 100, (0, 1)) == "50.00 (n=1)"


def test_an_interval_wider_than_half_the_range_is_not_printed():
    """A bimodal group of 5 (two runs learn, three stay at chance: SLF-Softmax at a rate at the
    grid's end) has a t-interval wider than the metric itself: 'n too small', not [0, 100]‡."""
    bimodal = stats.summarize([0.98, 0.97, 0.10, 0.11, 0.10])
    assert bimodal.ci_high - bimodal.ci_low > 0.5
    text = stats.format_interval(bimodal, 100, (0.0, 1.0))
    assert text == "45.20 (n=5 too small for this spread)"
    # a quarter of the range wide: still an interval
    wide = stats.summarize([0.70, 0.80, 0.75])
    assert 0.2 < wide.ci_high - wide.ci_low < 0.5
    assert stats.format_interval(wide, 100, (0.0, 1.0)) == stats.format_ci(wide, 100)
