"""Quantiles of Student's t distribution, with numpy and the standard library only."""

from __future__ import annotations

import functools
import math
import statistics


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
