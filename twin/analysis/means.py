"""Means with confidence intervals, and main effects of a parameter on a metric."""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from twin.analysis._values import number
from twin.analysis.student_t import t_quantile


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
    x = np.asarray([v for v in map(number, values) if v is not None], dtype=float)
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
