"""Names, units and value formats of a study's metrics and parameters.

Known metrics have a label, a unit and a better direction (:data:`METRIC_INFO`); for the others
the unit is guessed from the suffix of the dotted name (``sampling_period_s`` -> ``s``).
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

#: Known metrics: label, unit and which direction is better (None: neither).
METRIC_INFO: dict[str, tuple[str, str | None, str | None]] = {
    "battery_life_days.median": ("Battery life, median", "d", "higher"),
    "latency_s.p95": ("Decision latency p95", "s", "lower"),
    "decision.f1": ("F1 score", "0–1", "higher"),
    "bytes_per_node_day": ("Uplink bytes per node-day", "B/node·day", "lower"),
    "energy_per_node_day_j": ("Energy per node-day", "J/node·day", "lower"),
    "cloud.cost_usd.total_usd": ("Cloud cost, total", "USD", "lower"),
    "battery_life_days.charge_limited_median": ("Battery life on charge alone", "d", "higher"),
    "decision.recall": ("Recall", "0–1", "higher"),
    "decision.precision": ("Precision", "0–1", "higher"),
    "outcome.water_stress_h_per_node_day": ("Crop water stress", "h/zone·day", "lower"),
    "outcome.water_applied_mm_per_node_day": ("Water applied", "mm/zone·day", "lower"),
    "outcome.cold_occupied_h_per_node_day": ("Occupied and cold", "h/room·day", "lower"),
    "outcome.heat_loss_degree_h_per_node_day": ("Heat loss", "K h/room·day", "lower"),
    "uplink_lost.collision": ("Uplinks lost to collisions", None, "lower"),
}
# Statistics a dotted metric name may end with ("latency_s.p95"): the unit is in the segment
# before them.
_STATS = {"p05", "p5", "p50", "p95", "p99", "median", "mean", "min", "max", "total", "std"}
# Unit suffixes of dotted names (last "_" token), for axis titles of unknown metrics/parameters.
_UNIT_TOKENS = {
    "s": "s",
    "ms": "ms",
    "us": "µs",
    "h": "h",
    "d": "d",
    "day": "d",
    "days": "d",
    "j": "J",
    "mj": "mJ",
    "uj": "µJ",
    "w": "W",
    "mw": "mW",
    "usd": "USD",
    "mm": "mm",
    "m": "m",
    "km": "km",
    "db": "dB",
    "dbm": "dBm",
    "bytes": "B",
    "hz": "Hz",
    "khz": "kHz",
    "mah": "mAh",
    "v": "V",
    "pct": "%",
}


def guess_unit(path: str) -> str | None:
    """Unit guessed from a dotted name's suffix (``sampling_period_s`` -> ``s``), or None."""
    for segment in reversed(path.split(".")):
        tokens = segment.lower().split("_")
        if "per" in tokens:
            i = tokens.index("per")
            left, right = tokens[:i], tokens[i + 1 :]
            unit = _UNIT_TOKENS.get(left[-1]) if left else None
            if unit is None and len(right) > 1 and right[-1] in _UNIT_TOKENS:
                unit, right = _UNIT_TOKENS[right[-1]], right[:-1]
            denom = "·".join(right)
            return f"{unit}/{denom}" if unit else f"per {denom}"
        if len(tokens) > 1 and tokens[-1] in _UNIT_TOKENS:
            return _UNIT_TOKENS[tokens[-1]]
        if segment.lower() not in _STATS:  # look past "p95", "median"... only
            return None
    return None


def metric_label(metric: str) -> str:
    """Readable name of a metric column (the dotted path for unknown metrics)."""
    return METRIC_INFO[metric][0] if metric in METRIC_INFO else metric


def metric_unit(metric: str) -> str | None:
    """Unit of a metric column."""
    return METRIC_INFO[metric][1] if metric in METRIC_INFO else guess_unit(metric)


def metric_title(metric: str) -> str:
    """Axis title of a metric: label and unit."""
    unit = metric_unit(metric)
    return metric_label(metric) + (f" [{unit}]" if unit else "")


def param_title(param: str) -> str:
    """Axis title of a parameter: dotted path and unit."""
    unit = guess_unit(param)
    return param + (f" [{unit}]" if unit else "")


def better_direction(metric: str) -> str | None:
    """``"higher"``, ``"lower"`` or ``None`` (unknown direction)."""
    return METRIC_INFO[metric][2] if metric in METRIC_INFO else None


# --------------------------------------------------------------------------- values


def fmt_param(v: Any) -> str:
    """A parameter value as written in tables and hovers."""
    if v is None:
        return "n/a"
    if isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating):
        return v if isinstance(v, str) else json.dumps(v, sort_keys=True, default=str)
    if isinstance(v, int | np.integer):
        return str(int(v))
    return "n/a" if math.isnan(v) else f"{float(v):.6g}"


def is_number(v: Any) -> bool:
    """True for real numbers (not bools, not numeric-looking strings, not NaN)."""
    if isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating):
        return False
    return not math.isnan(float(v))


def as_float(v: Any) -> float | None:
    """``v`` as a float when it is a real number, else None."""
    return float(v) if is_number(v) else None
