"""The study table sorted out once for every figure and table of the study report.

:func:`prepare` splits the table into successful and failed rows, configurations and
(policy, group) entries, and lays each parameter out on an axis (numeric levels, equal-count
bins, or categories). :func:`entry_effect` and :func:`pareto_points` compute, with
:mod:`twin.analysis`, what the sensitivity and Pareto sections show.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from twin.analysis import bin_index, main_effect, mean_ci, pareto_mask, quantile_edges, spearman
from twin.report.study.names import as_float, fmt_param, is_number
from twin.report.style import GROUP_DASHES, num, policy_colours
from twin.results.study_table import PARAM_PREFIX, PARETO_METRICS

#: A numeric parameter with more distinct values than this (random / LHS sampling) is binned.
MAX_LEVELS = 8

# Columns of a study row that are neither a parameter nor a metric.
_ROW_FIXED = ("run", "config", "seed", "status", "error", "policy", "group")
# Marker of each group (in order of appearance), as its line dash is GROUP_DASHES.
_GROUP_SYMBOLS = ("circle", "square", "diamond", "triangle-up", "cross", "x", "star", "pentagon")

Key = tuple[str, str]  # (policy, group)
CKey = tuple[str, ...]  # a configuration: its id and parameter values as JSON


# --------------------------------------------------------------------------- the study table


@dataclass
class Axis:
    """How a parameter is laid out on the x axis of the main-effect plots."""

    param: str
    kind: str  # "numeric", "binned" or "categorical"
    xs: list[Any] = field(default_factory=list)  # plotted positions
    labels: list[str] = field(default_factory=list)  # hover text per position
    index: dict[Any, int] = field(default_factory=dict)  # value (numeric/categorical) -> position
    edges: np.ndarray | None = None  # bin edges (binned)
    log: bool = False  # positive values over two decades or more (log-spaced sampling)

    def position(self, v: Any) -> int | None:
        """Position of a raw parameter value, ``None`` when missing."""
        if self.kind == "categorical":
            return None if v is None else self.index.get(fmt_param(v))
        x = as_float(v)
        if x is None:
            return None
        if self.kind == "numeric":
            return self.index.get(x)
        assert self.edges is not None
        return bin_index(self.edges, x)


def param_axis(param: str, values: list[Any]) -> Axis:
    """Axis of ``param`` from its values (one per configuration)."""
    present = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if present and all(is_number(v) for v in present):
        distinct = sorted({float(v) for v in present})
        log = distinct[0] > 0 and distinct[-1] / distinct[0] >= 100.0
        if len(distinct) <= MAX_LEVELS:
            ax = Axis(param, "numeric", distinct, [fmt_param(v) for v in distinct], log=log)
            ax.index = {v: i for i, v in enumerate(distinct)}
            return ax
        # Quantile bins: equally many configurations per bin whatever the sampling density.
        edges = quantile_edges([float(v) for v in present], MAX_LEVELS)
        centres = [float(c) for c in 0.5 * (edges[:-1] + edges[1:])]
        closing = [")"] * (len(centres) - 1) + ["]"]
        labels = [
            f"[{fmt_param(float(lo))}, {fmt_param(float(hi))}{end}"
            for lo, hi, end in zip(edges[:-1], edges[1:], closing, strict=True)
        ]
        return Axis(param, "binned", centres, labels, edges=edges, log=log)
    cats = list(dict.fromkeys(fmt_param(v) for v in present))
    ax = Axis(param, "categorical", cats, cats)
    ax.index = {c: i for i, c in enumerate(cats)}
    return ax


@dataclass
class Study:
    """The study table, sorted out once for every figure and table."""

    info: dict
    params: list[str]
    metrics: list[str]
    ok: list[dict]
    failed: list[dict]
    entries: list[Key]
    colours: dict[str, str]
    groups: list[str]
    labels: dict[Key, str]
    configs: list[CKey]
    config_id: dict[CKey, Any]
    config_params: dict[CKey, dict[str, Any]]
    cells: dict[tuple[CKey, Key], list[dict]]
    by_entry: dict[Key, list[dict]]
    axes: dict[str, Axis]
    effects: dict[tuple[str, str, Key], Effect] = field(default_factory=dict)
    positions: dict[tuple[str, Key], tuple[list, list]] = field(default_factory=dict)

    def colour(self, key: Key) -> str:
        """Colour of the entry's policy."""
        return self.colours[key[0]]

    def dash(self, key: Key) -> str:
        """Line dash of the entry's group."""
        return GROUP_DASHES[self.groups.index(key[1]) % len(GROUP_DASHES)]

    def symbol(self, key: Key) -> str:
        """Marker symbol of the entry's group."""
        return _GROUP_SYMBOLS[self.groups.index(key[1]) % len(_GROUP_SYMBOLS)]


def entry_key(row: dict) -> Key:
    """(policy, group) of a row, as strings."""
    group = row.get("group")
    return str(row.get("policy")), "" if group is None else str(group)


def name_list(value: Any) -> list[str] | None:
    """A list of names from the study dict, ``None`` when missing or not a list."""
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return None


def prepare(study: dict, rows: list[dict]) -> Study:
    """Split the table into ok and failed rows, configurations and (policy, group) entries."""
    params = name_list(study.get("parameters"))
    if params is None:  # fall back on the table's own columns
        params = list(
            dict.fromkeys(
                k[len(PARAM_PREFIX) :] for r in rows for k in r if k.startswith(PARAM_PREFIX)
            )
        )
    metrics = name_list(study.get("metrics"))
    if metrics is None:
        metrics = list(
            dict.fromkeys(
                k for r in rows for k in r if k not in _ROW_FIXED and not k.startswith(PARAM_PREFIX)
            )
        )
    ok = [r for r in rows if r.get("status") == "ok"]
    failed = [r for r in rows if r.get("status") != "ok"]

    def ckey(row: dict) -> CKey:
        # The id alone would merge configurations if it were missing; the values disambiguate.
        values = (row.get(PARAM_PREFIX + p) for p in params)
        return tuple(
            json.dumps(v, sort_keys=True, default=str) for v in (row.get("config"), *values)
        )

    entries: list[Key] = list(dict.fromkeys(entry_key(r) for r in ok))
    groups = list(dict.fromkeys(g for _, g in entries))
    single = len(groups) <= 1
    configs: list[CKey] = []
    config_id: dict[CKey, Any] = {}
    config_params: dict[CKey, dict[str, Any]] = {}
    cells: dict[tuple[CKey, Key], list[dict]] = {}
    by_entry: dict[Key, list[dict]] = {k: [] for k in entries}
    for r in ok:
        c = ckey(r)
        if c not in config_id:
            configs.append(c)
            config_id[c] = r.get("config")
            config_params[c] = {p: r.get(PARAM_PREFIX + p) for p in params}
        cells.setdefault((c, entry_key(r)), []).append(r)
        by_entry[entry_key(r)].append(r)
    axes = {p: param_axis(p, [config_params[c][p] for c in configs]) for p in params}
    return Study(
        info=study,
        params=params,
        metrics=metrics,
        ok=ok,
        failed=failed,
        entries=entries,
        colours=policy_colours(p for p, _ in entries),
        groups=groups,
        labels={k: k[0] if single else f"{k[0]} / {k[1]}" for k in entries},
        configs=configs,
        config_id=config_id,
        config_params=config_params,
        cells=cells,
        by_entry=by_entry,
        axes=axes,
    )


# --------------------------------------------------------------------------- main effects


@dataclass
class Effect:
    """Main effect of one parameter on one metric for one (policy, group)."""

    xs: list[Any]
    labels: list[str]
    means: list[float]
    half_widths: list[float]
    counts: list[int]
    rho: float | None
    pairs: int | None
    overall_mean: float
    range: float | None  # max minus min of the finite per-value means (None with fewer than two)


def entry_effect(s: Study, metric: str, param: str, key: Key) -> Effect:
    """Per-value means with CIs, and the Spearman correlation over the entry's ok rows."""
    cached = s.effects.get((metric, param, key))
    if cached is None:  # the plot and the table both need every effect
        cached = s.effects[(metric, param, key)] = _compute_effect(s, metric, param, key)
    return cached


def _compute_effect(s: Study, metric: str, param: str, key: Key) -> Effect:
    """Compute :func:`entry_effect` (uncached)."""
    ax = s.axes[param]
    rows = s.by_entry.get(key, [])
    if (param, key) not in s.positions:  # the same for every metric
        col = PARAM_PREFIX + param
        s.positions[(param, key)] = (
            [ax.position(r.get(col)) for r in rows],
            [as_float(r.get(col)) for r in rows],
        )
    positions, raw = s.positions[(param, key)]
    ys = [r.get(metric) for r in rows]
    effect = main_effect(positions, ys, len(ax.xs))
    shown = [i for i, n in enumerate(effect.counts) if n]  # levels this entry has values at
    px, py = (raw, ys) if ax.kind != "categorical" else ([], [])
    rho = spearman(px, py) if px else None
    pairs = (
        None
        if ax.kind == "categorical"
        else sum(1 for a, b in zip(px, py, strict=True) if a is not None and num(b) is not None)
    )
    return Effect(
        xs=[ax.xs[i] for i in shown],
        labels=[ax.labels[i] for i in shown],
        means=[effect.means[i] for i in shown],
        half_widths=[effect.half_widths[i] for i in shown],
        counts=[effect.counts[i] for i in shown],
        rho=rho,
        pairs=pairs,
        overall_mean=effect.overall_mean,
        range=effect.range,
    )


# --------------------------------------------------------------------------- Pareto front


@dataclass
class Point:
    """One (configuration, policy, group), its seed-averaged Pareto metrics and front status."""

    config: CKey
    key: Key
    values: tuple[float, float, float]  # battery life, latency p95, F1 (means over seeds)
    seeds: int
    optimal: bool = False


# Outcome metrics (lower is better) that join the Pareto front when a study measures them.
OUTCOME_OBJECTIVES = (
    "outcome.water_stress_h_per_node_day",
    "outcome.cold_occupied_h_per_node_day",
)


def _mean(s: Study, p: Point, metric: str) -> float | None:
    return mean_ci([r.get(metric) for r in s.cells.get((p.config, p.key), [])])[0]


def pareto_available(s: Study) -> bool:
    """Whether every Pareto metric has at least one value in the successful runs."""
    return all(any(num(r.get(m)) is not None for r in s.ok) for m in PARETO_METRICS)


def pareto_points(s: Study) -> list[Point]:
    """Seed-averaged points, with the front computed within each group.

    Groups are different device populations (their battery lives are not alternatives to each
    other), so a point competes only with the points of its own group.
    """
    points = []
    for c in s.configs:
        for key in s.entries:
            rows = s.cells.get((c, key))
            if not rows:
                continue
            means = tuple(mean_ci([r.get(m) for r in rows])[0] for m in PARETO_METRICS)
            points.append(Point(c, key, means, len(rows)))
    for group in s.groups:
        members = [p for p in points if p.key[1] == group]
        if not members:
            continue
        # The outcome the fleet exists for (crop stress, cold rooms) competes too, where the
        # study measured it for every point of the group: F1 alone may pick the wrong policy.
        extra = [
            m for m in OUTCOME_OBJECTIVES
            if m in s.metrics and all(_mean(s, p, m) is not None for p in members)
        ]  # fmt: skip
        table = [[*p.values, *(_mean(s, p, m) for m in extra)] for p in members]
        mask = pareto_mask(np.array(table), [True, False, True, *(False for _ in extra)])
        for p, on_front in zip(members, mask, strict=True):
            p.optimal = bool(on_front)
    return points


def drawable(p: Point) -> bool:
    """Whether the point has a battery life and a latency a log axis can show."""
    return math.isfinite(p.values[0]) and math.isfinite(p.values[1]) and p.values[1] > 0
