"""The shape of a study's tidy table, shared by the study runner and its report.

One row per run x policy x group; one column per parameter (``param.<dotted path>``) and
per metric (a dotted path into the run's summary record, e.g. ``latency_s.p95``).
"""

from __future__ import annotations

# Metrics kept when a study names none; the study report's Pareto front needs the first three.
DEFAULT_METRICS = (
    "battery_life_days.median",
    "latency_s.p95",
    "decision.f1",
    "bytes_per_node_day",
    "energy_per_node_day_j",
    "cloud.cost_usd.total_usd",
)
PARETO_METRICS = DEFAULT_METRICS[:3]
PARAM_PREFIX = "param."
