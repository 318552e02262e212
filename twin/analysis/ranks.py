"""Rank correlation: average ranks and Spearman's rho."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from twin.analysis._values import number


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
    pairs = [(number(u), number(v)) for u, v in zip(x, y, strict=True)]
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
