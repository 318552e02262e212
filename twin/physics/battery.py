"""Battery physics: rate-dependent capacity, self-discharge, pulse limits. Pure functions.

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
