"""Tests of twin.analysis against numbers published outside the project, and against scipy."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest

from twin.analysis import (
    MainEffect,
    average_ranks,
    bin_index,
    main_effect,
    main_effects,
    mean_ci,
    means,
    pareto,
    pareto_mask,
    quantile_edges,
    ranks,
    spearman,
    student_t,
    t_quantile,
)

# NIST/SEMATECH e-Handbook of Statistical Methods, 1.3.6.7.2 "Critical values of the Student's
# t distribution": upper critical values t with P(T > t) = alpha, for alpha = 0.10, 0.05, 0.025,
# 0.01 and 0.005. The 0.001 column is left out: two of its entries are off by more than
# rounding (nu = 1 gives 318.313, but for one degree of freedom t = tan(pi (p - 1/2)) = 318.309
# exactly; nu = 10 gives 4.143 for 4.1437).
NIST_ALPHAS = (0.10, 0.05, 0.025, 0.01, 0.005)
NIST_T = {
    1: (3.078, 6.314, 12.706, 31.821, 63.657),
    2: (1.886, 2.920, 4.303, 6.965, 9.925),
    3: (1.638, 2.353, 3.182, 4.541, 5.841),
    4: (1.533, 2.132, 2.776, 3.747, 4.604),
    5: (1.476, 2.015, 2.571, 3.365, 4.032),
    10: (1.372, 1.812, 2.228, 2.764, 3.169),
    20: (1.325, 1.725, 2.086, 2.528, 2.845),
    30: (1.310, 1.697, 2.042, 2.457, 2.750),
    100: (1.290, 1.660, 1.984, 2.364, 2.626),
    math.inf: (1.282, 1.645, 1.960, 2.326, 2.576),
}

# Student's sleep data (Student 1908, "The probable error of a mean", Biometrika 6(1); R's
# datasets::sleep): extra hours of sleep with drug 2 minus drug 1, ten patients.
SLEEP_DIFF_H = [1.2, 2.4, 1.3, 1.3, 0.0, 1.0, 1.8, 0.8, 4.6, 1.4]

# Montgomery, Design and Analysis of Experiments (9th ed., 2017), section 6.2: yield of a
# chemical process in a 2^2 factorial, reactant concentration A and catalyst amount B at a low
# (0) and a high (1) level, three replicates per treatment (1), a, b, ab.
YIELD = [28, 25, 27, 36, 32, 32, 18, 19, 23, 31, 30, 29]
LEVEL_A = [0, 0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 1]
LEVEL_B = [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1]

# Wikipedia, "Spearman's rank correlation coefficient", Example: IQ against hours of TV per
# week; sum of squared rank differences 194, rho = 1 - 6 * 194 / (10 * 99) = -29/165.
IQ = [106, 86, 100, 101, 99, 103, 97, 113, 112, 110]
TV_H = [7, 0, 27, 50, 28, 29, 20, 12, 6, 17]


def test_docstring_examples():
    # The docstrings quote published numbers; keep them true.
    for module in (student_t, means, ranks, pareto):
        result = doctest.testmod(module)
        assert result.attempted >= 1 and result.failed == 0, module.__name__


# --------------------------------------------------------------------------- Student's t


def test_t_quantile_matches_the_nist_table():
    # The table prints three decimals, correctly rounded: half a unit in the last place.
    for df, row in NIST_T.items():
        for alpha, expected in zip(NIST_ALPHAS, row, strict=True):
            assert abs(t_quantile(1.0 - alpha, df) - expected) <= 5e-4, (df, alpha)
            assert abs(t_quantile(alpha, df) + expected) <= 5e-4, (df, alpha)


def test_t_quantile_closed_forms():
    # One degree of freedom is the Cauchy distribution, two have an algebraic inverse; both are
    # evaluated directly, so only rounding error (a few ulp) separates them from the formula.
    assert math.isclose(t_quantile(0.999, 1), math.tan(math.pi * 0.499), rel_tol=1e-14)
    assert math.isclose(t_quantile(0.975, 2), 4.302652729749464, rel_tol=1e-14)
    assert math.isclose(t_quantile(0.975, 2), 0.95 / math.sqrt(0.0975 * 0.5), rel_tol=1e-14)


def test_t_quantile_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    # The bisection stops at a relative width of 1e-14 and the Cornish-Fisher series errs below
    # 1e-12 beyond 1000 degrees of freedom; 1e-8 leaves room for scipy's own error.
    for df in range(1, 201):
        for p in (0.9, 0.95, 0.975, 0.995):
            expected = stats.t.ppf(p, df)
            assert math.isclose(t_quantile(p, df), expected, rel_tol=1e-8), (p, df)
    for df in (500, 1000, 1001, 5000, 10**6):
        for p in (0.025, 0.5, 0.9, 0.995):
            expected = stats.t.ppf(p, df)
            assert math.isclose(t_quantile(p, df), expected, rel_tol=1e-8, abs_tol=1e-12)
    assert math.isclose(t_quantile(0.025, 7), -t_quantile(0.975, 7), rel_tol=1e-14)
    assert math.isclose(t_quantile(0.975, math.inf), 1.959963984540054, rel_tol=1e-12)


def test_t_quantile_rejects_bad_input():
    for bad in ((0.0, 3), (1.0, 3), (0.5, 0), (0.5, -1.0)):
        with pytest.raises(ValueError):
            t_quantile(*bad)
    assert t_quantile(0.5, 4) == 0.0


# --------------------------------------------------------------------------- mean_ci


def test_mean_ci_reproduces_students_sleep_interval():
    # R's t.test(extra ~ group, data = sleep, paired = TRUE) prints the 95 % interval of the
    # mean difference as -2.4598858 to -0.7001142 around -1.58, seven decimals: half a unit in
    # the seventh decimal is the tolerance.
    mean, half, n = mean_ci(SLEEP_DIFF_H)
    assert n == 10 and math.isclose(mean, 1.58, rel_tol=1e-12)
    assert abs((mean - half) - 0.7001142) <= 5e-8
    assert abs((mean + half) - 2.4598858) <= 5e-8
    # The same interval for the opposite difference, as R prints it.
    mean, half, _ = mean_ci([-d for d in SLEEP_DIFF_H])
    assert abs((mean - half) + 2.4598858) <= 5e-8 and abs((mean + half) + 0.7001142) <= 5e-8


def test_mean_ci():
    stats = pytest.importorskip("scipy.stats")
    mean, half, n = mean_ci([1, 2, 3, 4])
    assert mean == 2.5 and n == 4
    expected = t_quantile(0.975, 3) * np.std([1, 2, 3, 4], ddof=1) / 2
    assert math.isclose(half, expected, rel_tol=1e-12)
    assert math.isclose(half, stats.t.ppf(0.975, 3) * math.sqrt(5 / 3) / 2, rel_tol=1e-10)
    # None, NaN and text that is not a number are ignored.
    assert mean_ci([1, None, 2, float("nan"), 3, "n/a", 4]) == (mean, half, n)
    m1, h1, n1 = mean_ci([7.0])
    assert m1 == 7.0 and math.isnan(h1) and n1 == 1
    m0, h0, n0 = mean_ci([None, float("nan")])
    assert math.isnan(m0) and math.isnan(h0) and n0 == 0
    assert mean_ci([0.8, 0.8, 0.8]) == (0.8, 0.0, 3)
    _, h90, _ = mean_ci([1, 2, 3, 4], confidence=0.9)
    assert math.isclose(h90, stats.t.ppf(0.95, 3) * math.sqrt(5 / 3) / 2, rel_tol=1e-10)


# --------------------------------------------------------------------------- main effects


def test_main_effect_reproduces_montgomerys_factorial():
    # Montgomery gives the effects to two decimals (A = 8.33, B = -5.00); they are exact
    # fractions (50/6 and -30/6), so the computed means agree to rounding error.
    a = main_effect(LEVEL_A, YIELD, 2)
    b = main_effect(LEVEL_B, YIELD, 2)
    assert math.isclose(a.means[1] - a.means[0], 50 / 6, rel_tol=1e-12)
    assert round(a.means[1] - a.means[0], 2) == 8.33
    assert math.isclose(b.means[1] - b.means[0], -5.0, rel_tol=1e-12)
    assert math.isclose(a.range, 50 / 6, rel_tol=1e-12) and math.isclose(b.range, 5.0)
    assert a.counts == b.counts == (6, 6)
    assert math.isclose(a.overall_mean, sum(YIELD) / 12, rel_tol=1e-12)
    # Each level's interval is mean_ci of its six observations.
    low_a = [y for y, lvl in zip(YIELD, LEVEL_A, strict=True) if lvl == 0]
    assert (a.means[0], a.half_widths[0], a.counts[0]) == mean_ci(low_a)


def test_main_effect_levels_without_values_and_missing_levels():
    eff = main_effect([0, None, 2, 2, 0], [1.0, 100.0, 3.0, None, 2.0], 4)
    assert eff.counts == (2, 0, 1, 0)
    assert eff.means[0] == 1.5 and math.isnan(eff.means[1]) and eff.means[2] == 3.0
    assert math.isnan(eff.half_widths[2])  # one observation: no interval
    assert eff.range == 1.5  # the empty levels do not count
    assert eff.overall_mean == pytest.approx((1 + 100 + 3 + 2) / 4)  # level None included
    assert main_effect([0, 0], [1.0, None], 2).range is None
    with pytest.raises(ValueError):
        main_effect([0, 1], [1.0], 2)


def test_main_effects_per_group_keep_order_and_equal_main_effect():
    groups = ["cloud", "on_device"] * 6
    effects = main_effects(LEVEL_A, YIELD, groups, 2)
    assert list(effects) == ["cloud", "on_device"]
    for g, eff in effects.items():
        idx = [i for i, x in enumerate(groups) if x == g]
        alone = main_effect([LEVEL_A[i] for i in idx], [YIELD[i] for i in idx], 2)
        assert isinstance(eff, MainEffect) and eff == alone
    with pytest.raises(ValueError):
        main_effects([0], [1.0], ["a", "b"], 1)


def test_quantile_bins_hold_equal_counts():
    values = np.random.default_rng(5).uniform(60, 3600, size=80)
    edges = quantile_edges(values, 8)
    assert len(edges) == 9 and edges[0] == values.min() and edges[-1] == values.max()
    counts = np.bincount([bin_index(edges, v) for v in values], minlength=8)
    assert counts.tolist() == [10] * 8
    # Repeated quantiles merge; values outside the edges fall in the outer bins.
    assert quantile_edges([1, 1, 1, 2, 3], 4).tolist() == [1.0, 2.0, 3.0]
    assert bin_index(edges, -1.0) == 0 and bin_index(edges, 1e9) == 7


# --------------------------------------------------------------------------- Spearman


def test_spearman_reproduces_the_iq_tv_example():
    # The published value is the exact fraction -29/165; the computation is a Pearson
    # correlation of small integers, exact to a few ulp.
    assert math.isclose(spearman(IQ, TV_H), -29 / 165, rel_tol=1e-12)
    iq_ranks = average_ranks(np.array(IQ, dtype=float))
    assert iq_ranks.tolist() == [7, 1, 4, 5, 3, 6, 2, 10, 9, 8]  # the rank column of the example


def test_average_ranks_share_ties():
    assert average_ranks(np.array([3.0, 1.0, 3.0, 2.0, 3.0])).tolist() == [4, 1, 4, 2, 4]
    assert average_ranks(np.array([1.0, 1.0])).tolist() == [1.5, 1.5]
    assert average_ranks(np.array([])).tolist() == []


def test_spearman_matches_scipy_with_ties():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(11)
    # Both compute a Pearson correlation of the same average ranks: rounding error only.
    for n in (3, 5, 20, 200):
        x = rng.integers(0, 4, n).astype(float)  # many ties
        y = x * rng.uniform(0.5, 1.5) + rng.integers(0, 3, n)
        if np.ptp(x) == 0 or np.ptp(y) == 0:
            continue
        assert math.isclose(spearman(x, y), stats.spearmanr(x, y).statistic, rel_tol=1e-12)
    x, y = rng.normal(size=50), rng.normal(size=50)
    assert math.isclose(spearman(x, y), stats.spearmanr(x, y).statistic, rel_tol=1e-12)
    assert spearman([1, 2, 3], [3, 2, 1]) == -1.0


def test_spearman_missing_and_degenerate():
    assert spearman([1, 2], [1, 2]) is None
    assert spearman([1, 2, 3], [5, 5, 5]) is None
    assert spearman([4, 4, 4], [1, 2, 3]) is None
    # Pairs with a missing value are dropped.
    assert spearman([1, None, 2, 3, float("nan")], [1, 9, 2, 3, 0]) == 1.0
    assert spearman([1, None, 3], [1, 2, 3]) is None
    with pytest.raises(ValueError):
        spearman([1, 2, 3], [1, 2])


# --------------------------------------------------------------------------- Pareto front


def test_pareto_mask_hand_examples():
    pts = np.array([[1.0, 5.0], [2.0, 4.0], [3.0, 3.0], [2.0, 2.0], [3.0, 3.0], [0.5, 6.0]])
    # Maximise both: (2, 2) is dominated by (2, 4) and (3, 3); the two (3, 3) are equal.
    assert pareto_mask(pts, [True, True]).tolist() == [True, True, True, False, True, True]
    # Minimise both: (1, 5), (2, 2) and (0.5, 6) survive.
    assert pareto_mask(pts, [False, False]).tolist() == [True, False, False, True, False, True]
    # Maximise the first, minimise the second: (3, 3) twice and (2, 2) survive.
    assert pareto_mask(pts, [True, False]).tolist() == [False, False, True, True, True, False]
    # A row with NaN is never on the front and dominates nothing.
    with_nan = np.array([[np.nan, 100.0], [1.0, 1.0], [0.5, 0.5]])
    assert pareto_mask(with_nan, [True, True]).tolist() == [False, True, False]
    assert pareto_mask(np.empty((0, 3)), [True, False, True]).tolist() == []
    with pytest.raises(ValueError):
        pareto_mask(np.ones((3, 2)), [True, False, True])


def test_pareto_mask_equals_brute_force():
    rng = np.random.default_rng(2)
    pts = rng.integers(0, 5, size=(60, 3)).astype(float)
    maximise = [True, False, True]
    sign = np.where(maximise, 1.0, -1.0)
    q = pts * sign
    expected = [
        not any((q[j] >= q[i]).all() and (q[j] > q[i]).any() for j in range(len(q)))
        for i in range(len(q))
    ]
    assert pareto_mask(pts, maximise).tolist() == expected
