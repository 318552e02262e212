"""Solar harvesting: irradiance over the day and the charge a small panel puts into a cell.

A clear-sky day is modelled as a half-sine of irradiance between 06:00 and 18:00 peaking at
``peak_irradiance_w_m2`` (1000 W/m2 is the standard test condition of IEC 61215 / 61730 panel
ratings), scaled per day by a weather factor in [0, 1]. Simplifications: no seasons or
latitude (equinox day length), no panel temperature derating, no MPPT losses beyond the
stated efficiencies.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

DAY_S = 86_400.0
SUNRISE_S = 6 * 3600.0
DAYLIGHT_S = 12 * 3600.0


def irradiance_w_m2(t_s: ArrayLike, peak_irradiance_w_m2: float, day_factor: ArrayLike = 1.0):
    """Irradiance on the panel at time ``t_s`` [W/m2]."""
    tod = np.asarray(t_s, dtype=np.float64) % DAY_S - SUNRISE_S
    up = (tod > 0) & (tod < DAYLIGHT_S)
    return np.where(up, peak_irradiance_w_m2 * np.sin(np.pi * tod / DAYLIGHT_S), 0.0) * day_factor


def daily_insolation_j_m2(peak_irradiance_w_m2: float) -> float:
    """Energy per m2 of one clear day [J/m2]: the half-sine's integral, peak x 12 h x 2/pi."""
    return peak_irradiance_w_m2 * DAYLIGHT_S * 2.0 / np.pi


def insolation_j_m2(t_s: ArrayLike, peak_irradiance_w_m2: float, day_factors: np.ndarray):
    """Energy per m2 received from t = 0 to ``t_s`` [J/m2] (closed form, vectorised).

    ``day_factors[d]`` scales day ``d`` (0 = the first simulated day).
    """
    t = np.asarray(t_s, dtype=np.float64)
    day = np.floor(t / DAY_S).astype(np.int64)
    full = np.concatenate([[0.0], np.cumsum(day_factors)])
    tod = np.clip(t - day * DAY_S - SUNRISE_S, 0.0, DAYLIGHT_S)
    partial = (1.0 - np.cos(np.pi * tod / DAYLIGHT_S)) / 2.0  # share of the day's energy
    per_day = daily_insolation_j_m2(peak_irradiance_w_m2)
    return per_day * (full[day] + day_factors[day] * partial)
