"""Battery physics: rate-dependent capacity, self-discharge, pulse limits, voltage under load.

Coulomb counting down to the cut-off is done by the engine (charge drawn per node and state);
these functions give the capacity that counting runs against.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

YEAR_S = 365.25 * 86_400.0


def peukert_capacity_mah(
    capacity_mah: float, rated_current_a: float, current_a: ArrayLike, exponent: float
) -> np.ndarray:
    """Capacity delivered at a constant discharge current [mAh] (Peukert's law).

    ``C(I) = C_rated (I_rated / I)^(k - 1)`` for ``I > I_rated``; below the rated current the
    rated capacity is returned (Peukert's law extrapolates to unphysical gains at low drain).

    Parameters
    ----------
    capacity_mah : float
        Capacity at the rated current [mAh].
    rated_current_a : float
        Current at which ``capacity_mah`` is rated [A].
    current_a : array_like
        Constant discharge current [A].
    exponent : float
        Peukert exponent ``k`` (1 = no rate dependence).
    """
    i = np.maximum(np.asarray(current_a, dtype=np.float64), rated_current_a)
    return capacity_mah * (rated_current_a / i) ** (exponent - 1.0)


def self_discharge_c(capacity_c: float, per_year: float, time_s: ArrayLike) -> np.ndarray:
    """Charge lost to self-discharge after ``time_s`` [C], a fixed fraction of capacity per year."""
    return capacity_c * per_year * np.asarray(time_s, dtype=np.float64) / YEAR_S


def pulse_warning(battery_id: str, max_pulse_current_a: float, peak_current_a: float) -> str | None:
    """A warning when a load's peak current exceeds what the cell can deliver without sag."""
    if peak_current_a <= max_pulse_current_a:
        return None
    return (
        f"battery '{battery_id}' is rated for {max_pulse_current_a * 1e3:.0f} mA pulses but the "
        f"node draws {peak_current_a * 1e3:.0f} mA peaks: expect voltage sag and brown-outs"
    )


# --------------------------------------------------------------------------- open-circuit voltage
#
# A battery profile may carry its open-circuit (rest) voltage against state of charge as two
# lists of breakpoints (``ocv_soc``, ``ocv_v``, for the whole pack). The curve is piecewise
# linear between breakpoints. Its limits, which every caller inherits:
#
# * it is the voltage at rest: no load sag (I x R), no recovery after a pulse, no hysteresis
#   between charge and discharge;
# * temperature is ignored (the curves are room-temperature curves);
# * ageing is ignored (a fresh cell's curve);
# * for primary cells the curves are low-drain discharge curves, a proxy for rest voltage.


def _ocv_curve(soc_points: ArrayLike, v_points: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """The breakpoints as float arrays, checked: same length >= 2, soc increasing, v not falling."""
    s = np.asarray(soc_points, dtype=np.float64)
    v = np.asarray(v_points, dtype=np.float64)
    if s.ndim != 1 or v.shape != s.shape or s.size < 2:
        raise ValueError("soc_points and v_points must be 1-D and of the same length >= 2")
    if not (np.all(np.isfinite(s)) and np.all(np.isfinite(v))):
        raise ValueError("the curve's breakpoints must be finite")
    if np.any(np.diff(s) <= 0):
        raise ValueError("soc_points must be strictly increasing")
    if np.any(np.diff(v) < 0):
        raise ValueError("v_points must not decrease with state of charge")
    return s, v


def open_circuit_v(soc: ArrayLike, soc_points: ArrayLike, v_points: ArrayLike) -> np.ndarray:
    """Open-circuit (rest) voltage of the pack at a state of charge [V].

    Piecewise-linear interpolation of the profile's curve. The state of charge is clipped to
    [0, 1] first; so is it to the curve's own range if that is narrower.

    Parameters
    ----------
    soc : array_like
        State of charge, the fraction of the usable capacity left (0 at the cut-off voltage,
        1 full) [-].
    soc_points : array_like
        The curve's breakpoints in state of charge, strictly increasing [-].
    v_points : array_like
        The pack's rest voltage at each breakpoint, non-decreasing [V].

    Returns
    -------
    numpy.ndarray
        Rest voltage [V], the shape of ``soc``.

    Notes
    -----
    A rest voltage: a node under load reads less (internal resistance), and temperature and
    ageing are ignored (see the module notes above).
    """
    s, v = _ocv_curve(soc_points, v_points)
    x = np.clip(np.asarray(soc, dtype=np.float64), 0.0, 1.0)
    return np.interp(x, s, v)


def soc_from_v(v: ArrayLike, soc_points: ArrayLike, v_points: ArrayLike) -> np.ndarray:
    """State of charge that a rest voltage reading stands for [-] (inverse of `open_circuit_v`).

    Where the curve rises, the inverse is the piecewise-linear interpolation of the curve with
    its axes swapped. Where it is flat (two or more breakpoints at the same voltage), a reading
    at exactly that voltage fits every state of charge on the flat stretch: the midpoint of the
    stretch is returned, the estimate with the smallest worst-case error. A reading above the
    curve's top voltage gives 1 (full); one below its bottom voltage gives 0 (empty).

    Parameters
    ----------
    v : array_like
        Rest voltage of the pack [V].
    soc_points, v_points : array_like
        The curve, as for `open_circuit_v` [-], [V].

    Returns
    -------
    numpy.ndarray
        State of charge in [0, 1] [-], the shape of ``v``.

    Notes
    -----
    Only meaningful for a rested pack: a reading under load is lower and maps to too low a
    state of charge. On a nearly flat curve (Li-SOCl2) small voltage errors move the answer
    a long way: see `soc_resolution`.
    """
    s, vp = _ocv_curve(soc_points, v_points)
    # Runs of equal voltage: each distinct voltage, the first and last soc it is reached at.
    levels, first, count = np.unique(vp, return_index=True, return_counts=True)
    lo = s[first]
    hi = s[first + count - 1]
    x = np.asarray(v, dtype=np.float64)
    k = np.searchsorted(levels, x, side="right") - 1  # levels[k] <= x < levels[k + 1]
    kc = np.clip(k, 0, levels.size - 1)
    kn = np.clip(k + 1, 0, levels.size - 1)
    # Between two levels the curve is one linear segment, from (hi[k], levels[k]) to
    # (lo[k + 1], levels[k + 1]).
    dv = levels[kn] - levels[kc]
    frac = np.divide(x - levels[kc], dv, out=np.zeros_like(x, dtype=np.float64), where=dv > 0)
    between = hi[kc] + frac * (lo[kn] - hi[kc])
    on_level = levels[kc] == x
    out = np.where(on_level, 0.5 * (lo[kc] + hi[kc]), between)
    out = np.where(k < 0, 0.0, out)
    out = np.where((k >= levels.size - 1) & ~on_level, 1.0, out)
    return np.clip(out, 0.0, 1.0)


def soc_resolution(
    soc: ArrayLike, soc_points: ArrayLike, v_points: ArrayLike, v_step: float
) -> np.ndarray:
    """State of charge one voltage step spans at a state of charge [-].

    ``v_step / (dV/dSoC)``, with the slope of the curve segment that holds ``soc`` (the
    segment to the right of a breakpoint, the last one at ``soc = 1``). It says how far apart
    two states of charge must be for a reading of resolution ``v_step`` (an ADC's LSB, a
    telemetry field's 0.01 V) to tell them apart: a value near 1 means the voltage does not
    identify the state of charge there (Li-SOCl2's plateau). The result is capped at 1, the
    whole range; a flat segment (slope 0) gives 1.

    Parameters
    ----------
    soc : array_like
        State of charge, clipped to [0, 1] [-].
    soc_points, v_points : array_like
        The curve, as for `open_circuit_v` [-], [V].
    v_step : float
        Voltage resolution of the reading, > 0 [V].

    Returns
    -------
    numpy.ndarray
        State of charge spanned by one step, in (0, 1] [-], the shape of ``soc``.

    Notes
    -----
    A property of the rest-voltage curve only: load sag, temperature and the cell-to-cell
    spread add to the uncertainty of a real reading and are not included.
    """
    if not (np.isfinite(v_step) and v_step > 0):
        raise ValueError(f"v_step must be a positive voltage, got {v_step!r}")
    s, v = _ocv_curve(soc_points, v_points)
    x = np.clip(np.asarray(soc, dtype=np.float64), 0.0, 1.0)
    seg = np.clip(np.searchsorted(s, x, side="right") - 1, 0, s.size - 2)
    slope = (v[seg + 1] - v[seg]) / (s[seg + 1] - s[seg])  # [V per unit soc]
    span = np.divide(v_step, slope, out=np.ones_like(slope), where=slope > 0)
    return np.minimum(span, 1.0)


# --------------------------------------------------------------------------- voltage under load
#
# A pack under a current I reads its rest voltage less I x R, with R its internal (DC)
# resistance at that state of charge (the Thevenin model without its RC branch: the sag a
# burst of ~1 s sees once the fast transient has settled). Profiles give R at the curve's own
# breakpoints, so the loaded voltage is piecewise linear in the state of charge and its
# crossings are found exactly. Limits: no recovery between pulses (the pulse is taken as long
# enough to reach the DC sag), no temperature or ageing, and a cell's pulse behaviour varies
# between makers more than this (TI, "Coin cells and peak current draw", 2010).


def loaded_v(
    soc: ArrayLike, soc_points: ArrayLike, v_points: ArrayLike, r_points: ArrayLike,
    current_a: float,
) -> np.ndarray:  # fmt: skip
    """Terminal voltage of the pack while it delivers ``current_a`` [V]: ``OCV - I R``.

    Parameters
    ----------
    soc : array_like
        State of charge, clipped to [0, 1] [-].
    soc_points, v_points : array_like
        The rest-voltage curve, as for `open_circuit_v` [-], [V].
    r_points : array_like
        The pack's internal resistance at each breakpoint [ohm].
    current_a : float
        The load's current [A].
    """
    s, v = _ocv_curve(soc_points, v_points)
    r = np.asarray(r_points, dtype=np.float64)
    if r.shape != s.shape:
        raise ValueError("r_points must give one resistance per breakpoint of the curve")
    x = np.clip(np.asarray(soc, dtype=np.float64), 0.0, 1.0)
    return np.interp(x, s, v) - current_a * np.interp(x, s, r)


def brownout_soc(
    soc_points: ArrayLike, v_points: ArrayLike, r_points: ArrayLike, current_a: float,
    min_v: float,
) -> float:  # fmt: skip
    """The state of charge at and below which a ``current_a`` burst sags the pack under ``min_v``.

    The node browns out there: the charge still in the cell is stranded. 0 when the loaded
    voltage stays at or above ``min_v`` all the way to the cut-off (the cell empties first);
    1 when even a full pack sags under it (the configuration cannot work). Exact for the
    piecewise-linear curves: on each segment the loaded voltage is linear, so the highest
    crossing is solved in closed form.

    Parameters
    ----------
    soc_points, v_points, r_points : array_like
        The curve and resistances, as for `loaded_v`.
    current_a : float
        The node's peak current [A].
    min_v : float
        The lowest terminal voltage the node runs at [V].
    """
    s = np.asarray(soc_points, dtype=np.float64)
    u = loaded_v(s, soc_points, v_points, r_points, current_a) - min_v  # margin at each point
    # A margin within float rounding of OCV - I R (1 nV) is none: at the limit is not under it.
    u = np.where(np.abs(u) < 1e-9, 0.0, u)
    if u[-1] < 0:
        return 1.0
    below = np.flatnonzero(u < 0)
    if not len(below):
        return 0.0
    i = int(below[-1])  # last breakpoint under: the crossing lies in (s[i], s[i + 1]]
    frac = -u[i] / (u[i + 1] - u[i])
    return float(s[i] + frac * (s[i + 1] - s[i]))


def max_burst_current_a(v_full: float, r_full: float, min_v: float) -> float:
    """The largest burst a full pack delivers above ``min_v``: ``(OCV - V_min) / R`` [A]."""
    if r_full <= 0:
        return np.inf
    return max(v_full - min_v, 0.0) / r_full
