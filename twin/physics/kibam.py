"""Kinetic Battery Model (KiBaM): rate-dependent capacity and recovery from two charge wells.

Manwell & McGowan (1993), as summarised by Jongerden & Haverkort, "Which battery model to
use?" (IET Software 3(6), 2009). The cell's charge sits in two wells: the available well
``y1 = c h1``, which the load draws from, and the bound well ``y2 = (1 - c) h2``, which refills
it through a valve, ``dy2/dt = -k (h2 - h1)``. With ``k' = k / (c (1 - c))`` and the height
difference ``delta = h2 - h1``, a constant current ``I`` gives

    d(delta)/dt = I / c - k' delta.

The cell is empty when the available well is: ``y1 = 0``, i.e. when the charge left
``y = y1 + y2`` equals ``(1 - c) delta``. That term, the *gap*, is the charge the cell would
strand in its bound well if it emptied now; it grows under load (so a heavy load gets less
out) and decays at rest (the "recovery effect"). Everything here is in terms of the gap, which
needs one state per cell and has a closed form for every constant-current stretch.

Limits: the wells are linear (no temperature, ageing or voltage: the cut-off voltage is folded
into the fitted parameters), and a cell with ``c = 1`` or ``k' -> inf`` shows no rate effect.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

_NEWTON_STEPS = 60  # Newton from below converges quadratically; 60 is a safe cap, ~6 are used


def _check(c: ArrayLike, k_prime_per_s: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """``c`` and ``k'`` as float arrays, checked: 0 < c <= 1, k' > 0 (inf allowed)."""
    c_ = np.asarray(c, dtype=np.float64)
    k_ = np.asarray(k_prime_per_s, dtype=np.float64)
    if np.any(~(c_ > 0.0) | (c_ > 1.0)):
        raise ValueError(f"c must be in (0, 1], got {c!r}")
    if np.any(~(k_ > 0.0)):
        raise ValueError(f"k_prime_per_s must be > 0, got {k_prime_per_s!r}")
    return c_, k_


def steady_gap_c(current_a: ArrayLike, c: ArrayLike, k_prime_per_s: ArrayLike) -> np.ndarray:
    """Long-run gap under a constant current [C]: ``I (1 - c) / (c k')``.

    The charge stranded in the bound well once inflow through the valve balances the load; the
    most a constant current can strand, whatever the discharge's length.

    Parameters
    ----------
    current_a : array_like
        Constant discharge current [A].
    c : array_like
        Fraction of the capacity in the available well, in (0, 1] [-].
    k_prime_per_s : array_like
        Rate constant ``k' = k / (c (1 - c))``, > 0 [1/s].
    """
    c_, k_ = _check(c, k_prime_per_s)
    return np.asarray(current_a, dtype=np.float64) * (1.0 - c_) / (c_ * k_)


def well_gap_c(
    current_a: ArrayLike, time_s: ArrayLike, c: ArrayLike, k_prime_per_s: ArrayLike,
    gap0_c: ArrayLike = 0.0,
) -> np.ndarray:  # fmt: skip
    """Gap ``(1 - c) delta`` after a constant current for ``time_s`` [C] (closed form).

    ``g(t) = g0 e^{-k't} + I (1 - c) / (c k') (1 - e^{-k't})``: the exact solution of
    ``dg/dt = I (1 - c) / c - k' g``. At rest (``I = 0``) the gap decays, which is the
    recovery of charge that a pause between bursts gives.

    Parameters
    ----------
    current_a : array_like
        Constant discharge current over the stretch [A] (0 = rest).
    time_s : array_like
        Length of the stretch, >= 0 [s].
    c, k_prime_per_s : array_like
        The cell's KiBaM parameters, as for `steady_gap_c` [-], [1/s].
    gap0_c : array_like
        Gap at the start of the stretch [C] (0 for a full, rested cell). The result, the gap
        at the end of the stretch [C], broadcasts over all the inputs.
    """
    c_, k_ = _check(c, k_prime_per_s)
    t = np.asarray(time_s, dtype=np.float64)
    if np.any(t < 0):
        raise ValueError("time_s must be >= 0")
    with np.errstate(invalid="ignore"):
        kt = k_ * t  # inf * 0 (an ideal valve, no time) is no decay at all
    kt = np.where(np.isnan(kt), 0.0, kt)
    decay = np.exp(-kt)
    return np.asarray(gap0_c, dtype=np.float64) * decay + steady_gap_c(current_a, c_, k_) * (
        -np.expm1(-kt)  # 1 - e^{-x} without cancellation at small k't
    )


def capacity_at_current_c(
    capacity_c: ArrayLike, current_a: ArrayLike, c: ArrayLike, k_prime_per_s: ArrayLike
) -> np.ndarray:
    """Charge a full, rested cell delivers to empty at a constant current [C].

    Solves ``C - q = g(q / I)`` for the delivered charge ``q`` (the charge left equals the gap
    when the available well runs dry). ``F(q) = q - C + g(q / I)`` is increasing and concave,
    and the root lies in ``[c C, C]`` (``c C`` when the valve is shut, ``C`` when it is ideal),
    so Newton's method started at ``c C`` climbs monotonically to it without overshooting.

    Parameters
    ----------
    capacity_c : array_like
        Total charge ``C`` of the full cell, both wells [C].
    current_a : array_like
        Constant discharge current, >= 0 [A] (0 gives ``C``).
    c, k_prime_per_s : array_like
        The cell's KiBaM parameters, as for `steady_gap_c` [-], [1/s]. The result, in
        ``[c C, C]`` [C], broadcasts over all the inputs.
    """
    c_, k_ = _check(c, k_prime_per_s)
    cap, i, c_, k_ = np.broadcast_arrays(
        np.asarray(capacity_c, dtype=np.float64), np.asarray(current_a, dtype=np.float64),
        c_, k_,
    )  # fmt: skip
    if np.any(i < 0):
        raise ValueError("current_a must be >= 0 (a discharge)")
    b = (1.0 - c_) / c_  # s * r, with s the steady gap and r = k' / I
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(np.isinf(k_), 0.0, i * b / k_)
        r = np.where(i > 0, k_ / i, np.inf)  # no current: the gap never opens
    q = c_ * cap
    for _ in range(_NEWTON_STEPS):
        with np.errstate(invalid="ignore"):
            e = np.exp(-r * q)
        e = np.where(np.isnan(e), 0.0, e)  # inf * 0 only at q = 0: an empty cell
        f = q - cap - s * np.expm1(-r * q)
        step = f / (1.0 + b * e)
        q = np.minimum(q - step, cap)
        if np.all(np.abs(step) <= 1e-15 * np.maximum(np.abs(q), 1e-300)):
            break
    return q


def total_capacity_c(
    delivered_c: ArrayLike, current_a: ArrayLike, c: ArrayLike, k_prime_per_s: ArrayLike
) -> np.ndarray:
    """Total charge ``C`` of a cell that delivers ``delivered_c`` at ``current_a`` [C].

    The inverse of `capacity_at_current_c`, in closed form: a cell that empties after
    ``T = q / I`` at a constant current holds ``C = q + g(T)``. Use it to turn a profile's rated
    capacity (at its rated current) into the model's total capacity.
    """
    q = np.asarray(delivered_c, dtype=np.float64)
    i = np.asarray(current_a, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(i > 0, q / i, 0.0)
    return q + well_gap_c(i, t, c, k_prime_per_s)


@dataclass(frozen=True)
class KibamFit:
    """A fit of KiBaM to rate-capacity points: parameters and the fit's residual."""

    c: float  # fraction of the capacity in the available well [-]
    k_prime_per_s: float  # k' = k / (c (1 - c)) [1/s]
    capacity_c: float  # total charge C, both wells [C]
    rms_log_error: float  # rms of ln(model / published) over the points [-]


def _log_residuals(i, q, cap, c, kappa):
    """ln(model / published) for every (c, kappa) candidate; kappa = k' C [A]."""
    model = capacity_at_current_c(cap, i, c[..., None], kappa[..., None] / cap)
    return np.log(model / q)


def _sse(i, q, capacity_c, lc, lk, c_max):
    """Sum of squared log residuals on the grid ln c x ln kappa (C's best value if not given).

    Candidates whose best ``C`` exceeds ``c_max`` are ruled out (infinite sum).
    """
    c_g, k_g = np.meshgrid(np.exp(lc), np.exp(lk), indexing="ij")
    if capacity_c is None:
        # Delivered fraction for C = 1, then C's best offset in log space: ln C = -mean(res).
        res = _log_residuals(i, q, 1.0, c_g, k_g)
        offset = res.mean(axis=-1, keepdims=True)
        res = np.where(-offset > np.log(c_max), np.inf, res - offset)
    else:
        res = _log_residuals(i, q, capacity_c, c_g, k_g)
    return np.sum(res**2, axis=-1)


def _refine(i, q, capacity_c, lc0, lk0, step, c_bounds, c_max):
    """Shrinking 21 x 21 grids around a start: (sse, c, kappa) at the best point found."""
    dc, dk = step
    for _ in range(10):
        lc = np.linspace(max(lc0 - 2 * dc, c_bounds[0]), min(lc0 + 2 * dc, c_bounds[1]), 21)
        lk = np.linspace(lk0 - 2 * dk, lk0 + 2 * dk, 21)
        sse = _sse(i, q, capacity_c, lc, lk, c_max)
        a, b = np.unravel_index(np.argmin(sse), sse.shape)
        lc0, lk0 = lc[a], lk[b]
        dc, dk = 0.3 * dc, 0.3 * dk  # next grid spans +/- 0.6 of this one's step: overlap
    return float(sse[a, b]), float(np.exp(lc0)), float(np.exp(lk0))


def _local_minima(sse, n):
    """Indices of the ``n`` lowest finite grid points that no neighbour undercuts."""
    pad = np.pad(sse, 1, constant_values=np.inf)
    local = np.isfinite(sse)
    for da in (-1, 0, 1):
        for db in (-1, 0, 1):
            local &= sse <= pad[1 + da : 1 + da + sse.shape[0], 1 + db : 1 + db + sse.shape[1]]
    if not local.any():
        raise ValueError("no fit with C within max_capacity_ratio of the published capacities")
    return np.argwhere(local)[np.argsort(sse[local])][:n]


def fit(
    capacity_points: ArrayLike, capacity_c: float | None = None, c: float | None = None,
    max_capacity_ratio: float = 1.5,
) -> KibamFit:  # fmt: skip
    """Fit ``c``, ``k'`` and ``C`` (those not given) to datasheet rate-capacity points.

    Least squares in ln(capacity). The delivered fraction ``q / C`` depends only on ``c`` and
    ``I / (k' C)``, so the search runs over ``c`` and ``kappa = k' C`` [A]: a log-spaced grid,
    then shrinking grids around its best local minima. With ``C`` free its best value for a
    candidate is closed form (``ln C`` is the mean offset of ``ln q`` from ``ln(q / C)``).
    Grids, not gradients: the surface is flat along ``kappa`` wherever all the points sit far
    from the transition current, and numpy has no optimiser.

    Parameters
    ----------
    capacity_points : array_like
        ``(current_a, capacity_c)`` rows: constant discharge current [A] and the charge
        delivered to the cut-off [C]. At least as many rows as free parameters, and 2.
    capacity_c : float, optional
        Total charge ``C`` of the cell [C], e.g. a very-low-drain capacity. Fitted if omitted.
    c : float, optional
        Available fraction, held fixed if given. Two points in the low-rate regime
        (``I << k' C``) fix only ``C`` and ``(1 - c) / (c k')``, the loss per ampere, so a
        two-point fit needs ``c`` or ``C`` from elsewhere.
    max_capacity_ratio : float
        Bound on a fitted ``C`` over the largest published capacity. Without it a fit may
        "explain" the points with a bound well many times the cell's charge that only
        microamp loads could reach (an exact but unphysical second solution of two points).
    """
    p = np.asarray(capacity_points, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 2 or not np.all(np.isfinite(p)) or np.any(p <= 0):
        raise ValueError("capacity_points must be (current_a, capacity_c) rows, all > 0")
    need = max(2, 3 - (capacity_c is not None) - (c is not None))  # of C, c and k'
    if len(p) < need:
        raise ValueError(f"need >= {need} points to fit (got {len(p)})")
    i, q = p[:, 0], p[:, 1]
    if capacity_c is not None and capacity_c < q.max():
        raise ValueError("capacity_c is below a published capacity: the wells cannot hold it")
    c_lo = np.log(c) if c is not None else np.log(1e-3)  # ln c, c in [1e-3, 1]
    c_hi = np.log(c) if c is not None else 0.0
    lc = np.linspace(c_lo, c_hi, 61 if c is None else 1)
    lk = np.linspace(np.log(i.min()) - 12, np.log(i.max()) + 12, 97)  # ln kappa [ln A]
    c_max = max_capacity_ratio * q.max()
    sse = _sse(i, q, capacity_c, lc, lk, c_max)
    # The surface can hold several valleys (two points have two exact solutions): refine from
    # each of the coarse grid's best local minima, not only from its lowest point.
    starts = _local_minima(sse, 8)
    step = (lc[1] - lc[0] if len(lc) > 1 else 0.0, lk[1] - lk[0])
    best = min(
        (_refine(i, q, capacity_c, lc[a], lk[b], step, (c_lo, c_hi), c_max) for a, b in starts),
        key=lambda r: r[0],
    )
    sse_best, c_best, kappa = best
    if capacity_c is None:
        frac = capacity_at_current_c(1.0, i / kappa, c_best, 1.0)  # scale-free form
        capacity_c = float(np.exp(np.mean(np.log(q / frac))))
    rms = float(np.sqrt(sse_best / len(p)))
    return KibamFit(c_best, kappa / capacity_c, float(capacity_c), rms)
