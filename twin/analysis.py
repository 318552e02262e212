"""Statistics of a study: confidence intervals, main effects, rank correlation, Pareto fronts.

Pure functions over sequences and numpy arrays, used by the study report
(:mod:`twin.report.study`) and by scripts that read a study table (``examples/``):

* :func:`t_quantile`: quantiles of Student's t distribution;
* :func:`mean_ci`: a mean and the half-width of its Student-t confidence interval;
* :func:`main_effect` / :func:`main_effects`: the mean of a metric at each level of a parameter
  (averaged over the other parameters and the seeds), with its confidence interval;
* :func:`quantile_edges` / :func:`bin_index`: equal-count bins for a parameter with many values;
* :func:`average_ranks` and :func:`spearman`: Spearman's rank correlation;
* :func:`pareto_mask`: the non-dominated rows of a table of objectives.

Missing observations (``None``, NaN, anything :class:`float` cannot read) are skipped, so a
metric a run could not define (an F1 score without positives) does not poison a mean. Only
numpy and the standard library are needed: the report does not pull in scipy.
"""

from __future__ import annotations

import functools
import math
import statistics
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "MainEffect",
    "average_ranks",
    "bin_index",
    "main_effect",
    "main_effects",
    "mean_ci",
    "pareto_mask",
    "quantile_edges",
    "spearman",
    "t_quantile",
]


def _number(v: Any) -> float | None:
    """``v`` as a float; ``None`` when missing, not a number or NaN (inf is kept)."""
    if v is None or isinstance(v, bool):
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) else x


# --------------------------------------------------------------------------- Student's t


def _normal_cdf_inverse(p: float) -> float:
    """Standard normal quantile (stdlib, exact to double precision)."""
    return statistics.NormalDist().inv_cdf(p)


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz).

    Press et al., *Numerical Recipes*, 3rd ed., section 6.4 (``betacf``).
    """
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    d = 1.0 / (tiny if abs(d) < tiny else d)
    h = d
    for m in range(1, 20000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (tiny if abs(d) < tiny else d)
        c = 1.0 + aa / c
        c = tiny if abs(c) < tiny else c
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (tiny if abs(d) < tiny else d)
        c = 1.0 + aa / c
        c = tiny if abs(c) < tiny else c
        step = d * c
        h *= step
        if abs(step - 1.0) < 1e-15:
            break
    return h


def _betainc(a: float, b: float, x: float, xc: float) -> float:
    """Regularised incomplete beta ``I_x(a, b)``; ``xc = 1 - x`` is passed exactly by the caller.

    Taking ``1 - x`` separately keeps full precision when ``x`` is close to 1, which is where the
    Student-t tail sits for many degrees of freedom.
    """
    if x <= 0.0:
        return 0.0
    if xc <= 0.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log(xc)
    )
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, xc) / b


def _t_upper_tail(t: float, df: float) -> float:
    """``P(T > t)`` for ``t >= 0``: ``I_{df/(df+t^2)}(df/2, 1/2) / 2`` (A&S 26.5.27, 26.7.1)."""
    t2 = t * t
    return 0.5 * _betainc(0.5 * df, 0.5, df / (df + t2), t2 / (df + t2))


def _t_cornish_fisher(p: float, df: float) -> float:
    """Student-t quantile by the Cornish-Fisher expansion (Abramowitz & Stegun 26.7.5).

    Four correction terms: the error is below 1e-12 relative for the degrees of freedom this is
    used for (> 1000).
    """
    z = _normal_cdf_inverse(p)
    z2 = z * z
    g1 = (z2 + 1.0) * z / 4.0
    g2 = ((5.0 * z2 + 16.0) * z2 + 3.0) * z / 96.0
    g3 = (((3.0 * z2 + 19.0) * z2 + 17.0) * z2 - 15.0) * z / 384.0
    g4 = ((((79.0 * z2 + 776.0) * z2 + 1482.0) * z2 - 1920.0) * z2 - 945.0) * z / 92160.0
    return z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4


def t_quantile(p: float, df: float) -> float:
    """Quantile of Student's t distribution.

    Exact closed forms for 1 and 2 degrees of freedom, ``t = tan(pi (p - 1/2))`` and
    ``t = (2p - 1) / sqrt(2p (1 - p))``; up to 1000 degrees of freedom the numeric inverse
    (bisection, relative precision ~1e-13) of the upper tail
    ``P(T > t) = I_{df/(df + t^2)}(df/2, 1/2) / 2`` with the regularised incomplete beta
    function ``I``; beyond, the Cornish-Fisher expansion around the normal quantile.

    Parameters
    ----------
    p : float
        Probability, strictly between 0 and 1.
    df : float
        Degrees of freedom, > 0 (``math.inf`` gives the normal quantile).

    Returns
    -------
    float
        ``t`` with ``P(T <= t) = p``.

    Raises
    ------
    ValueError
        If ``p`` is not in (0, 1) or ``df`` is not positive.

    References
    ----------
    M. Abramowitz and I. A. Stegun, *Handbook of Mathematical Functions*, 1964, 26.5.27
    (t distribution and incomplete beta function), 26.7.5 (Cornish-Fisher expansion).
    NIST/SEMATECH e-Handbook of Statistical Methods, 1.3.6.7.2, "Critical values of the
    Student's t distribution".

    Examples
    --------
    The two-sided 95 % critical value for 10 degrees of freedom (NIST table: 2.228):

    >>> round(t_quantile(0.975, 10), 3)
    2.228
    """
    p, df = float(p), float(df)
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p}")
    if not df > 0.0:
        raise ValueError(f"df must be positive, got {df}")
    if p == 0.5:
        return 0.0
    if p < 0.5:  # the distribution is symmetric; solving in the upper tail keeps precision
        return -t_quantile(1.0 - p, df)
    if df == 1.0:
        return math.tan(math.pi * (p - 0.5))
    if df == 2.0:
        return (2.0 * p - 1.0) / math.sqrt(2.0 * p * (1.0 - p))
    if math.isinf(df):
        return _normal_cdf_inverse(p)
    if df > 1000.0:
        return _t_cornish_fisher(p, df)
    return _t_bisect(p, df)


@functools.lru_cache(maxsize=4096)
def _t_bisect(p: float, df: float) -> float:
    """Upper quantile (p > 0.5) by bisection; cached because a report asks for few (p, df)."""
    tail = 1.0 - p
    lo, hi = 0.0, 1.0
    while _t_upper_tail(hi, df) > tail:
        lo, hi = hi, 2.0 * hi
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if _t_upper_tail(mid, df) > tail:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-14 * hi:
            break
    return 0.5 * (lo + hi)


# --------------------------------------------------------------------------- means


def mean_ci(values: Sequence[Any], confidence: float = 0.95) -> tuple[float, float, int]:
    """Mean and half-width of its two-sided Student-t confidence interval.

    The interval is ``mean ± t_{(1 + confidence)/2, n-1} s / sqrt(n)`` with the sample
    standard deviation ``s`` (divisor ``n - 1``): it covers the true mean with probability
    ``confidence`` when the observations are independent draws from a normal distribution,
    and approximately so for other distributions as ``n`` grows.

    Parameters
    ----------
    values : sequence
        Observations, in the metric's unit; ``None``, NaN and values :class:`float` cannot
        read are ignored.
    confidence : float, default 0.95
        Confidence level of the interval, in (0, 1).

    Returns
    -------
    mean : float
        Sample mean, in the unit of ``values`` (NaN without observations).
    half_width : float
        Half-width of the interval, same unit; NaN with fewer than two observations, exactly
        0.0 when every observation is the same.
    n : int
        Number of observations used.

    References
    ----------
    NIST/SEMATECH e-Handbook of Statistical Methods, 1.3.5.2, "Confidence limits for the mean".

    Examples
    --------
    Student's sleep data (Student 1908; R ``datasets::sleep``): extra hours of sleep with drug
    2 over drug 1 in 10 patients. R's ``t.test(..., paired = TRUE)`` prints the mean 1.58 and
    the 95 % interval 0.7001142 to 2.4598858, a half-width of 0.8798858:

    >>> mean, half_width, n = mean_ci([1.2, 2.4, 1.3, 1.3, 0.0, 1.0, 1.8, 0.8, 4.6, 1.4])
    >>> round(mean, 2), round(half_width, 7), n
    (1.58, 0.8798858, 10)
    """
    x = np.asarray([v for v in map(_number, values) if v is not None], dtype=float)
    n = int(x.size)
    if n == 0:
        return math.nan, math.nan, 0
    if n < 2:
        return float(x[0]), math.nan, n
    if np.all(x == x[0]):
        # Exactly zero spread: the summed mean would otherwise carry rounding noise (1e-16).
        return float(x[0]), 0.0, n
    mean = float(x.mean())
    sd = float(x.std(ddof=1))
    return mean, t_quantile(0.5 * (1.0 + confidence), n - 1) * sd / math.sqrt(n), n


@dataclass(frozen=True)
class MainEffect:
    """Main effect of a parameter (a factor) on a metric (a response).

    Attributes
    ----------
    means : tuple of float
        Mean of the metric at each level of the parameter, level 0 first, in the metric's unit;
        NaN for a level without observations.
    half_widths : tuple of float
        Half-width of the confidence interval of each mean (see :func:`mean_ci`).
    counts : tuple of int
        Observations at each level.
    overall_mean : float
        Mean of every observation, those without a level included (NaN without any).
    """

    means: tuple[float, ...]
    half_widths: tuple[float, ...]
    counts: tuple[int, ...]
    overall_mean: float

    @property
    def range(self) -> float | None:
        """Largest minus smallest finite level mean (the size of the effect); None with < 2."""
        finite = [m for m in self.means if math.isfinite(m)]
        return max(finite) - min(finite) if len(finite) >= 2 else None


def main_effect(
    levels: Sequence[int | None],
    values: Sequence[Any],
    n_levels: int,
    confidence: float = 0.95,
) -> MainEffect:
    """Mean of a metric at each level of a parameter, with its confidence interval.

    The main effect of a factor is the change of the mean response between its levels,
    averaged over the levels of every other factor (Montgomery 2017, section 5.1). In a study,
    the observations at one level are the runs of every configuration with that parameter
    value and every seed, so the interval covers the spread over the other parameters and the
    seeds.

    Parameters
    ----------
    levels : sequence of int or None
        Per observation, the index (``0 <= i < n_levels``) of its parameter level; ``None``
        when the parameter has no value (the observation then counts only in the overall mean).
    values : sequence
        Per observation, the metric (``None`` or NaN when missing), same length as ``levels``.
    n_levels : int
        Number of levels of the parameter.
    confidence : float, default 0.95
        Confidence level of the intervals.

    Returns
    -------
    MainEffect
        Per-level means, half-widths and counts, and the overall mean.

    Raises
    ------
    ValueError
        If ``levels`` and ``values`` differ in length.

    References
    ----------
    D. C. Montgomery, *Design and Analysis of Experiments*, 9th ed., Wiley, 2017, 5.1 (basic
    definitions) and 6.2 (the 2^2 design).

    Examples
    --------
    Montgomery's 2^2 factorial (section 6.2): yield of a chemical process at low/high reactant
    concentration (A) and catalyst amount (B), three replicates each. The main effect of A is
    8.33 and that of B is -5.00:

    >>> y = [28, 25, 27, 36, 32, 32, 18, 19, 23, 31, 30, 29]  # (1), a, b, ab
    >>> a = [0, 0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 1]
    >>> b = [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1]
    >>> effect_a, effect_b = main_effect(a, y, 2), main_effect(b, y, 2)
    >>> round(effect_a.means[1] - effect_a.means[0], 2), round(effect_a.range, 2)
    (8.33, 8.33)
    >>> round(effect_b.means[1] - effect_b.means[0], 2), effect_a.counts
    (-5.0, (6, 6))
    """
    if len(levels) != len(values):
        raise ValueError(f"levels and values differ in length ({len(levels)} != {len(values)})")
    buckets: list[list[Any]] = [[] for _ in range(n_levels)]
    for level, value in zip(levels, values, strict=True):
        if level is not None:
            buckets[level].append(value)
    stats = [mean_ci(bucket, confidence) for bucket in buckets]
    return MainEffect(
        means=tuple(m for m, _, _ in stats),
        half_widths=tuple(hw for _, hw, _ in stats),
        counts=tuple(n for _, _, n in stats),
        overall_mean=mean_ci(values, confidence)[0],
    )


def main_effects(
    levels: Sequence[int | None],
    values: Sequence[Any],
    groups: Sequence[Hashable],
    n_levels: int,
    confidence: float = 0.95,
) -> dict[Hashable, MainEffect]:
    """:func:`main_effect` within each group of observations (e.g. per policy).

    Parameters
    ----------
    levels, values, n_levels, confidence
        As for :func:`main_effect`.
    groups : sequence of hashable
        Per observation, its group (a policy, a (policy, device group) pair, ...).

    Returns
    -------
    dict
        The main effect of each group, groups in order of first appearance.

    Raises
    ------
    ValueError
        If ``levels``, ``values`` and ``groups`` differ in length.
    """
    if not len(levels) == len(values) == len(groups):
        raise ValueError(
            f"levels, values and groups differ in length "
            f"({len(levels)}, {len(values)}, {len(groups)})"
        )
    members: dict[Hashable, list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)
    return {
        g: main_effect([levels[i] for i in idx], [values[i] for i in idx], n_levels, confidence)
        for g, idx in members.items()
    }


def quantile_edges(values: Sequence[float], n_bins: int) -> np.ndarray:
    """Edges of equal-count bins: the ``k / n_bins`` quantiles of ``values``, repeats merged.

    Equally many observations fall in each bin whatever the sampling density, so random or
    Latin-hypercube parameter values can be shown as a main effect over ``n_bins`` levels.
    Quantiles interpolate linearly (numpy's default, Hyndman & Fan type 7).

    Parameters
    ----------
    values : sequence of float
        The observed values (finite).
    n_bins : int
        Number of bins wanted; fewer result when quantiles coincide.

    Returns
    -------
    numpy.ndarray
        Increasing edges, one more than the number of bins.

    Examples
    --------
    >>> quantile_edges([1, 2, 3, 4, 5], 2).tolist()
    [1.0, 3.0, 5.0]
    """
    qs = np.quantile(np.asarray(values, dtype=float), np.linspace(0, 1, n_bins + 1))
    return np.unique(qs)


def bin_index(edges: np.ndarray, x: float) -> int:
    """Bin of ``x`` among the bins of ``edges``: ``[e0, e1), [e1, e2), ..., [e_{k-1}, e_k]``.

    Values outside the edges fall in the first or last bin.

    Examples
    --------
    >>> [bin_index(np.array([1.0, 3.0, 5.0]), x) for x in (0, 1, 2.9, 3, 5, 9)]
    [0, 0, 0, 1, 1, 1]
    """
    pos = int(np.searchsorted(edges[1:-1], x, side="right"))
    return min(max(pos, 0), len(edges) - 2)


# --------------------------------------------------------------------------- rank correlation


def average_ranks(a: np.ndarray) -> np.ndarray:
    """Ranks 1..n of ``a``, ties sharing the average of their ranks ("fractional ranking").

    The same as :func:`scipy.stats.rankdata` with ``method="average"``.

    Examples
    --------
    >>> average_ranks(np.array([10.0, 30.0, 20.0, 20.0])).tolist()
    [1.0, 4.0, 2.5, 2.5]
    """
    a = np.asarray(a)
    n = a.size
    order = np.argsort(a, kind="mergesort")
    s = a[order]
    new = np.concatenate([[True], s[1:] != s[:-1]])
    starts = np.flatnonzero(new)
    counts = np.diff(np.concatenate([starts, [n]]))
    avg = starts + (counts - 1) / 2.0 + 1.0
    ranks = np.empty(n, dtype=float)
    ranks[order] = avg[np.cumsum(new) - 1]
    return ranks


def spearman(x: Sequence[Any], y: Sequence[Any]) -> float | None:
    """Spearman rank correlation of paired observations.

    The Pearson correlation of the average ranks (:func:`average_ranks`) of ``x`` and ``y``;
    without ties it equals ``1 - 6 sum(d_i^2) / (n (n^2 - 1))`` with ``d_i`` the rank
    differences. Pairs with a missing value (``None`` or NaN) on either side are dropped;
    ties are handled as :func:`scipy.stats.spearmanr` does.

    Parameters
    ----------
    x, y : sequence
        Paired observations of equal length.

    Returns
    -------
    float or None
        Correlation in [-1, 1]; ``None`` with fewer than three pairs or a constant input.

    Raises
    ------
    ValueError
        If ``x`` and ``y`` differ in length.

    References
    ----------
    C. Spearman, "The proof and measurement of association between two things", American
    Journal of Psychology 15(1), 72-101, 1904.

    Examples
    --------
    IQ against hours of television per week for ten people, the example of the Wikipedia
    article "Spearman's rank correlation coefficient": rho = -29/165 = -0.1758.

    >>> iq = [106, 86, 100, 101, 99, 103, 97, 113, 112, 110]
    >>> tv_h = [7, 0, 27, 50, 28, 29, 20, 12, 6, 17]
    >>> round(spearman(iq, tv_h), 4)
    -0.1758
    """
    if len(x) != len(y):
        raise ValueError(f"x and y differ in length ({len(x)} != {len(y)})")
    pairs = [(_number(u), _number(v)) for u, v in zip(x, y, strict=True)]
    pairs = [(a, b) for a, b in pairs if a is not None and b is not None]
    if len(pairs) < 3:
        return None
    xa = np.asarray([a for a, _ in pairs], dtype=float)
    ya = np.asarray([b for _, b in pairs], dtype=float)
    if np.all(xa == xa[0]) or np.all(ya == ya[0]):
        return None
    rx, ry = average_ranks(xa), average_ranks(ya)
    rx -= rx.mean()
    ry -= ry.mean()
    denom = math.sqrt(float(rx @ rx) * float(ry @ ry))
    if denom == 0.0:
        return None
    return float(min(1.0, max(-1.0, float(rx @ ry) / denom)))


# --------------------------------------------------------------------------- Pareto front


def pareto_mask(points: np.ndarray, maximise: Sequence[bool]) -> np.ndarray:
    """Mask of the non-dominated rows of ``points``.

    A row is dominated when another row is at least as good in every column and strictly better
    in one (Pareto dominance). Equal rows do not dominate each other. Rows with a NaN are never
    on the front (and dominate nothing). The pairwise comparison costs O(n^2 k), fine for the
    hundreds of configurations of a study.

    Parameters
    ----------
    points : array of shape (n, k)
        One row per candidate, one column per objective.
    maximise : sequence of bool, length k
        Per column: ``True`` if higher is better, ``False`` if lower is better.

    Returns
    -------
    numpy.ndarray of bool, shape (n,)
        ``True`` for the Pareto-optimal rows.

    Raises
    ------
    ValueError
        If ``points`` is not two-dimensional with one column per entry of ``maximise``.

    References
    ----------
    K. Deb, *Multi-Objective Optimization Using Evolutionary Algorithms*, Wiley, 2001, 2.4.

    Examples
    --------
    Maximise both columns: ``(2, 2)`` is dominated by ``(2, 4)`` and ``(3, 3)``.

    >>> pareto_mask(np.array([[1, 5], [2, 4], [3, 3], [2, 2]]), [True, True]).tolist()
    [True, True, True, False]
    """
    pts = np.asarray(points, dtype=float)
    if pts.size == 0 and pts.ndim < 2:
        return np.zeros(0, dtype=bool)
    if pts.ndim != 2 or pts.shape[1] != len(maximise):
        raise ValueError(f"points must have shape (n, {len(maximise)}), got {tuple(pts.shape)}")
    # Flip the minimised columns so that "higher is better" everywhere.
    q = pts * np.where(np.asarray(maximise, dtype=bool), 1.0, -1.0)
    valid = ~np.isnan(q).any(axis=1)
    mask = valid.copy()
    cand = q[valid]
    for k, i in enumerate(np.flatnonzero(valid)):
        dominates = (cand >= cand[k]).all(axis=1) & (cand > cand[k]).any(axis=1)
        if dominates.any():
            mask[i] = False
    return mask
