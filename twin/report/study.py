"""Self-contained HTML report of a parameter study: a pure function of the study table.

:func:`render_study_report` turns a study's summary and its tidy table (one row per run x
policy x group, as written by :func:`twin.study.run_study`) into ONE HTML document: the study's
provenance, main-effect sensitivity plots with a rank-correlation table, the Pareto front of
battery life, decision latency and F1, confidence intervals over seeds, and the failed runs.

It follows the conventions of the run report (:mod:`twin.report.html`): plotly.js is inlined
once in ``<head>``, nothing external is referenced, every figure sits in ``<div
class="twin-plot" id="plot-...">`` with the graph in ``<div id="plot-...-fig">``, every table has
a stable id (:data:`STUDY_TABLE_IDS`), numeric cells carry their raw value in ``data-value``, and
a policy has the same colour everywhere.

The statistics (confidence intervals, main effects, rank correlations, the Pareto front) come
from :mod:`twin.analysis`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from twin.analysis import bin_index, main_effect, mean_ci, pareto_mask, quantile_edges, spearman
from twin.report.style import (
    CSS,
    GROUP_DASHES,
    PLOT_HEIGHT_PX,
    PRINT_JS,
    esc,
    fmt_duration,
    fmt_int,
    fmt_number,
    fmt_ratio,
    json_attr,
    no_data,
    num,
    plot_block,
    policy_colours,
    ptext,
    rgba,
    section,
    style_figure,
    swatch,
    td,
)
from twin.study import PARAM_PREFIX, PARETO_METRICS

STUDY_PLOT_IDS: tuple[str, ...] = ("plot-sensitivity", "plot-pareto")
STUDY_TABLE_IDS: tuple[str, ...] = (
    "table-study",
    "table-sensitivity",
    "table-pareto",
    "table-ci",
    "table-failures",
)

#: Known metrics: label, unit and which direction is better (None: neither).
METRIC_INFO: dict[str, tuple[str, str | None, str | None]] = {
    "battery_life_days.median": ("Battery life, median", "d", "higher"),
    "latency_s.p95": ("Decision latency p95", "s", "lower"),
    "decision.f1": ("F1 score", "0–1", "higher"),
    "bytes_per_node_day": ("Uplink bytes per node-day", "B/node·day", "lower"),
    "energy_per_node_day_j": ("Energy per node-day", "J/node·day", "lower"),
    "cloud.cost_usd.total": ("Cloud cost, total", "USD", "lower"),
}

#: A numeric parameter with more distinct values than this (random / LHS sampling) is binned.
MAX_LEVELS = 8

_ROW_FIXED = ("run", "config", "seed", "status", "error", "policy", "group")
_GROUP_SYMBOLS = ("circle", "square", "diamond", "triangle-up", "cross", "x", "star", "pentagon")
_PANEL_HEIGHT = 230  # px per metric row of the sensitivity grid
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

Key = tuple[str, str]  # (policy, group)
CKey = tuple[str, ...]  # a configuration: its id and parameter values as JSON


# --------------------------------------------------------------------------- names and units


def _unit(path: str) -> str | None:
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


def _metric_label(metric: str) -> str:
    """Readable name of a metric column (the dotted path for unknown metrics)."""
    return METRIC_INFO[metric][0] if metric in METRIC_INFO else metric


def _metric_unit(metric: str) -> str | None:
    """Unit of a metric column."""
    return METRIC_INFO[metric][1] if metric in METRIC_INFO else _unit(metric)


def _metric_title(metric: str) -> str:
    """Axis title of a metric: label and unit."""
    unit = _metric_unit(metric)
    return _metric_label(metric) + (f" [{unit}]" if unit else "")


def _param_title(param: str) -> str:
    """Axis title of a parameter: dotted path and unit."""
    unit = _unit(param)
    return param + (f" [{unit}]" if unit else "")


def _better(metric: str) -> str | None:
    """``"higher"``, ``"lower"`` or ``None`` (unknown direction)."""
    return METRIC_INFO[metric][2] if metric in METRIC_INFO else None


def _fmt_param(v: Any) -> str:
    """A parameter value as written in tables and hovers."""
    if v is None:
        return "n/a"
    if isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating):
        return v if isinstance(v, str) else json.dumps(v, sort_keys=True, default=str)
    if isinstance(v, int | np.integer):
        return str(int(v))
    return "n/a" if math.isnan(v) else f"{float(v):.6g}"


def _is_number(v: Any) -> bool:
    """True for real numbers (not bools, not numeric-looking strings, not NaN)."""
    if isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating):
        return False
    return not math.isnan(float(v))


def _as_float(v: Any) -> float | None:
    """``v`` as a float when it is a real number, else None."""
    return float(v) if _is_number(v) else None


# --------------------------------------------------------------------------- the study table


@dataclass
class _Axis:
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
            return None if v is None else self.index.get(_fmt_param(v))
        x = _as_float(v)
        if x is None:
            return None
        if self.kind == "numeric":
            return self.index.get(x)
        assert self.edges is not None
        return bin_index(self.edges, x)


def _axis(param: str, values: list[Any]) -> _Axis:
    """Axis of ``param`` from its values (one per configuration)."""
    present = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if present and all(_is_number(v) for v in present):
        distinct = sorted({float(v) for v in present})
        log = distinct[0] > 0 and distinct[-1] / distinct[0] >= 100.0
        if len(distinct) <= MAX_LEVELS:
            ax = _Axis(param, "numeric", distinct, [_fmt_param(v) for v in distinct], log=log)
            ax.index = {v: i for i, v in enumerate(distinct)}
            return ax
        # Quantile bins: equally many configurations per bin whatever the sampling density.
        edges = quantile_edges([float(v) for v in present], MAX_LEVELS)
        centres = [float(c) for c in 0.5 * (edges[:-1] + edges[1:])]
        closing = [")"] * (len(centres) - 1) + ["]"]
        labels = [
            f"[{_fmt_param(float(lo))}, {_fmt_param(float(hi))}{end}"
            for lo, hi, end in zip(edges[:-1], edges[1:], closing, strict=True)
        ]
        return _Axis(param, "binned", centres, labels, edges=edges, log=log)
    cats = list(dict.fromkeys(_fmt_param(v) for v in present))
    ax = _Axis(param, "categorical", cats, cats)
    ax.index = {c: i for i, c in enumerate(cats)}
    return ax


@dataclass
class _Study:
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
    axes: dict[str, _Axis]
    effects: dict[tuple[str, str, Key], _Effect] = field(default_factory=dict)
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


def _entry(row: dict) -> Key:
    """(policy, group) of a row, as strings."""
    group = row.get("group")
    return str(row.get("policy")), "" if group is None else str(group)


def _names(value: Any) -> list[str] | None:
    """A list of names from the study dict, ``None`` when missing or not a list."""
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return None


def _prepare(study: dict, rows: list[dict]) -> _Study:
    """Split the table into ok and failed rows, configurations and (policy, group) entries."""
    params = _names(study.get("parameters"))
    if params is None:  # fall back on the table's own columns
        params = list(
            dict.fromkeys(
                k[len(PARAM_PREFIX) :] for r in rows for k in r if k.startswith(PARAM_PREFIX)
            )
        )
    metrics = _names(study.get("metrics"))
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

    entries: list[Key] = list(dict.fromkeys(_entry(r) for r in ok))
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
        cells.setdefault((c, _entry(r)), []).append(r)
        by_entry[_entry(r)].append(r)
    axes = {p: _axis(p, [config_params[c][p] for c in configs]) for p in params}
    return _Study(
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


# --------------------------------------------------------------------------- sensitivity


@dataclass
class _Effect:
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


def _effect(s: _Study, metric: str, param: str, key: Key) -> _Effect:
    """Per-value means with CIs, and the Spearman correlation over the entry's ok rows."""
    cached = s.effects.get((metric, param, key))
    if cached is None:  # the plot and the table both need every effect
        cached = s.effects[(metric, param, key)] = _compute_effect(s, metric, param, key)
    return cached


def _compute_effect(s: _Study, metric: str, param: str, key: Key) -> _Effect:
    """Compute :func:`_effect` (uncached)."""
    ax = s.axes[param]
    rows = s.by_entry.get(key, [])
    if (param, key) not in s.positions:  # the same for every metric
        col = PARAM_PREFIX + param
        s.positions[(param, key)] = (
            [ax.position(r.get(col)) for r in rows],
            [_as_float(r.get(col)) for r in rows],
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
    return _Effect(
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


def _nan_none(v: float) -> float | None:
    """NaN (and inf) to None for plotly arrays."""
    return v if math.isfinite(v) else None


def _fig_sensitivity(s: _Study) -> tuple[go.Figure, int]:
    """Grid of main-effect plots (rows: metrics, columns: parameters), and its height in px."""
    n_rows, n_cols = len(s.metrics), len(s.params)
    title = "Sensitivity: main effect of each parameter on each metric"
    if not n_rows or not n_cols:
        fig = style_figure(go.Figure(), title, "Parameter", "Metric")
        return no_data(fig, "The study names no parameters or no metrics."), PLOT_HEIGHT_PX
    height = 130 + _PANEL_HEIGHT * n_rows
    fig = make_subplots(
        rows=n_rows,
        cols=n_cols,
        shared_xaxes=True,  # per column: one parameter
        shared_yaxes=True,  # per row: one metric, so panels in a row compare directly
        vertical_spacing=min(45.0 / height, 0.9 / max(n_rows - 1, 1)),
        horizontal_spacing=min(0.03, 0.9 / max(n_cols - 1, 1)),
    )
    style_figure(fig, title)
    fig.update_layout(height=height, margin={"l": 90, "r": 20, "t": 80, "b": 70})
    for i, metric in enumerate(s.metrics, start=1):
        row_means: list[float] = []
        for j, param in enumerate(s.params, start=1):
            ax = s.axes[param]
            drawn = False
            for key in s.entries:
                eff = _effect(s, metric, param, key)
                if not eff.xs:
                    continue
                drawn = True
                row_means += [m for m in eff.means if math.isfinite(m)]
                stats = zip(eff.labels, eff.means, eff.half_widths, eff.counts, strict=True)
                hover = [
                    f"{ptext(param)} = {ptext(lab)}<br>{ptext(_metric_label(metric))}: "
                    f"{fmt_number(m)} ± {fmt_number(hw)} (n = {n})"
                    for lab, m, hw, n in stats
                ]
                fig.add_trace(
                    go.Scatter(
                        x=[ptext(x) for x in eff.xs] if ax.kind == "categorical" else eff.xs,
                        y=[_nan_none(m) for m in eff.means],
                        error_y={
                            "type": "data",
                            "array": [_nan_none(h) for h in eff.half_widths],
                            "visible": True,
                            "thickness": 1.2,
                            "width": 3,
                        },
                        mode="lines+markers",
                        name=ptext(s.labels[key]),
                        legendgroup=ptext(s.labels[key]),
                        showlegend=False,
                        line={"color": s.colour(key), "dash": s.dash(key), "width": 2},
                        marker={"color": s.colour(key), "size": 6, "symbol": s.symbol(key)},
                        text=hover,
                        hovertemplate="%{text}<extra>%{fullData.name}</extra>",
                    ),
                    row=i,
                    col=j,
                )
            if not drawn:
                _empty_panel(fig, i, j, (i - 1) * n_cols + j)
            if i == n_rows:
                fig.update_xaxes(
                    title_text=ptext(_param_title(param))
                    + (" (quantile bins)" if ax.kind == "binned" else ""),
                    title_font={"size": 11},
                    row=i,
                    col=j,
                )
            if ax.kind == "categorical":
                fig.update_xaxes(type="category", row=i, col=j)
            elif ax.log:
                fig.update_xaxes(type="log", row=i, col=j)
        fig.update_yaxes(
            title_text=ptext(_metric_title(metric)).replace(" [", "<br>["),
            title_font={"size": 11},
            row=i,
            col=1,
        )
        # Latencies of on-device and cloud decisions differ by orders of magnitude.
        if metric.startswith("latency") and row_means and min(row_means) > 0:
            # Short panels: powers of ten only, from one decade on.
            fig.update_yaxes(type="log", row=i, **_log_ticks(row_means, 1.0))
    # One legend entry per (policy, group): the first trace of each.
    seen: set[str] = set()
    for trace in fig.data:
        if trace.name is not None and trace.name not in seen:
            seen.add(trace.name)
            trace.showlegend = True
    return fig, height


def _empty_panel(fig: go.Figure, row: int, col: int, n: int) -> None:
    """Keep an empty panel visible and say why it is empty.

    plotly.js drops a subplot without traces from a shared-axes grid, taking the bottom row's
    axis titles with it, so an invisible placeholder trace keeps the panel.
    """
    fig.add_trace(
        go.Scatter(x=[None], y=[None], mode="markers", showlegend=False, hoverinfo="skip"),
        row=row,
        col=col,
    )
    suffix = "" if n == 1 else str(n)
    fig.add_annotation(
        text="no values",
        xref=f"x{suffix} domain",
        yref=f"y{suffix} domain",
        x=0.5,
        y=0.5,
        showarrow=False,
        font={"size": 12, "color": "#777"},
    )


def _fmt_rho(v: Any) -> str:
    """Correlation with sign and two decimals."""
    x = num(v)
    return "n/a" if x is None else f"{x:+.2f}"


def _sensitivity_table(s: _Study) -> str:
    """Spearman correlation and main-effect range per (metric, parameter, policy, group)."""
    rows = []
    for metric in s.metrics:
        better = _better(metric)
        arrow = {"higher": "↑ higher", "lower": "↓ lower"}.get(better or "", "–")
        for param in s.params:
            ax = s.axes[param]
            for key in s.entries:
                eff = _effect(s, metric, param, key)
                rng = eff.range
                rel = (
                    100.0 * rng / abs(eff.overall_mean)
                    if rng is not None and math.isfinite(eff.overall_mean) and eff.overall_mean
                    else None
                )
                rows.append(
                    f'<tr data-metric="{esc(metric)}" data-param="{esc(param)}" '
                    f'data-policy="{esc(key[0])}" data-group="{esc(key[1])}">'
                    f"<td>{esc(_metric_title(metric))}</td><td>{esc(arrow)}</td>"
                    f"<td><code>{_wbr(param)}</code></td><td>{esc(ax.kind)}</td>"
                    f'<td class="policy">{swatch(s.colour(key))}{esc(key[0])}</td>'
                    f"<td>{esc(key[1])}</td>"
                    f"{td(eff.rho, _fmt_rho)}{td(eff.pairs, fmt_int)}"
                    f"{td(rng, fmt_number)}{td(rel, fmt_number)}</tr>"
                )
    return _table_html(
        "table-sensitivity",
        [
            "Metric",
            "Better",
            "Parameter",
            "Parameter type",
            "Policy",
            "Group",
            "Spearman ρ",
            "Pairs",
            "Main-effect range",
            "Range / mean [%]",
        ],
        rows,
        "Which knob matters for which metric: Spearman rank correlation between the parameter "
        "and the metric over every successful run (n/a for categorical parameters), and the "
        "spread of the main-effect means (max − min, in the metric's unit, and relative to the "
        "metric's mean).",
    )


# --------------------------------------------------------------------------- Pareto front


@dataclass
class _Point:
    """One (configuration, policy, group), its seed-averaged Pareto metrics and front status."""

    config: CKey
    key: Key
    values: tuple[float, float, float]  # battery life, latency p95, F1 (means over seeds)
    seeds: int
    optimal: bool = False


def _pareto_available(s: _Study) -> bool:
    """Whether every Pareto metric has at least one value in the successful runs."""
    return all(any(num(r.get(m)) is not None for r in s.ok) for m in PARETO_METRICS)


def _pareto_points(s: _Study) -> list[_Point]:
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
            points.append(_Point(c, key, means, len(rows)))
    for group in s.groups:
        members = [p for p in points if p.key[1] == group]
        if not members:
            continue
        mask = pareto_mask(np.array([p.values for p in members]), [True, False, True])
        for p, on_front in zip(members, mask, strict=True):
            p.optimal = bool(on_front)
    return points


def _config_text(s: _Study, c: CKey) -> str:
    """Parameter values of a configuration, one per line (plotly text, escaped)."""
    return "<br>".join(f"{ptext(p)} = {ptext(_fmt_param(s.config_params[c][p]))}" for p in s.params)


def _f1_size(f1: float) -> float:
    """Marker size of a Pareto point from its F1 score."""
    return 8.0 + 16.0 * min(max(f1, 0.0), 1.0) if math.isfinite(f1) else 6.0


def _drawable(p: _Point) -> bool:
    """Whether the point has a battery life and a latency a log axis can show."""
    return math.isfinite(p.values[0]) and math.isfinite(p.values[1]) and p.values[1] > 0


def _pareto_status(p: _Point) -> str:
    """Why a point is, or is not, on the front."""
    if p.optimal:
        return "Pareto-optimal"
    if not all(math.isfinite(v) for v in p.values):
        return "not ranked (a metric is missing)"
    return "dominated"


def _pareto_hover(s: _Study, p: _Point) -> str:
    """Hover text of a Pareto point: configuration, entry, parameters and metrics."""
    return (
        f"config {ptext(_fmt_param(s.config_id[p.config]))} · {ptext(s.labels[p.key])} · "
        f"{_pareto_status(p)}<br>{_config_text(s, p.config)}<br>"
        f"battery life {fmt_number(p.values[0])} d · latency p95 {fmt_number(p.values[1])} s · "
        f"F1 {fmt_ratio(_nan_none(p.values[2]))}<br>mean of {p.seeds} seed(s)"
    )


def _fig_pareto(s: _Study, points: list[_Point]) -> go.Figure:
    """Battery life against decision latency, F1 as marker size; the front outlined."""
    fig = go.Figure()
    for key in s.entries:
        mine = [p for p in points if p.key == key and _drawable(p)]
        colour, label = s.colour(key), ptext(s.labels[key])
        # Dominated points first (drawn below), then the front; one legend entry per
        # (policy, group), in the front's style when it has one.
        parts = [[p for p in mine if not p.optimal], [p for p in mine if p.optimal]]
        for optimal, part in zip((False, True), parts, strict=True):
            if not part:
                continue
            fig.add_trace(
                go.Scatter(
                    x=[p.values[1] for p in part],
                    y=[p.values[0] for p in part],
                    mode="markers",
                    name=label,
                    legendgroup=label,
                    showlegend=optimal or not parts[1],
                    meta="pareto-optimal" if optimal else "dominated",
                    marker={
                        "symbol": s.symbol(key),
                        # Size grows with F1 (0..1); a missing F1 gets the smallest marker.
                        "size": [_f1_size(p.values[2]) for p in part],
                        "color": colour if optimal else rgba(colour, 0.25),
                        "line": {
                            "color": "#000000" if optimal else rgba(colour, 0.45),
                            "width": 1.8 if optimal else 0.8,
                        },
                    },
                    text=[_pareto_hover(s, p) for p in part],
                    hovertemplate="%{text}<extra></extra>",
                )
            )
    style_figure(
        fig,
        "Pareto front: battery life vs decision latency (marker size: F1)",
        "Decision latency p95 [s] (log scale)",
        "Battery life, median [d]",
    )
    fig.update_xaxes(type="log", **_log_ticks([x for t in fig.data for x in t.x], 3.0))
    return fig if fig.data else no_data(fig, "No configuration has both metrics.")


def _log_ticks(values: list[float], decades: float) -> dict:
    """Tick spacing of a log axis: plotly's default labels every digit, which overlaps.

    Powers of ten only from ``decades`` decades of data on; 1-2-5 labels below (down to one
    decade); plotly's default for narrower ranges.
    """
    pos = [v for v in values if v is not None and math.isfinite(v) and v > 0]
    if not pos:
        return {}
    span = math.log10(max(pos) / min(pos))
    if span >= decades:
        return {"dtick": 1}
    return {"dtick": "D2"} if span >= 1.0 else {}


def _param_cells(s: _Study, c: CKey) -> str:
    """Table cells of a configuration's parameter values (numbers carry ``data-value``)."""
    cells = []
    for p in s.params:
        v = s.config_params[c][p]
        if _is_number(v):
            cells.append(td(v, _fmt_param))
        else:
            cells.append(f"<td>{esc(_fmt_param(v))}</td>")
    return "".join(cells)


def _row_attrs(s: _Study, c: CKey, key: Key) -> str:
    """Identifying ``data-*`` attributes of a (configuration, policy, group) table row."""
    return (
        f'data-config="{esc(json.dumps(s.config_id[c], default=str))}" '
        f'data-policy="{esc(key[0])}" data-group="{esc(key[1])}"'
    )


def _entry_cells(s: _Study, key: Key) -> str:
    """Policy (with swatch) and group cells."""
    return f'<td class="policy">{swatch(s.colour(key))}{esc(key[0])}</td><td>{esc(key[1])}</td>'


def _pareto_table(s: _Study, points: list[_Point]) -> str:
    """The Pareto-optimal (configuration, policy, group), fastest first within each group."""
    front = [p for p in points if p.optimal]
    order = {g: i for i, g in enumerate(s.groups)}
    front.sort(key=lambda p: (order[p.key[1]], p.values[1]))
    rows = [
        f"<tr {_row_attrs(s, p.config, p.key)}>{td(s.config_id[p.config], _fmt_param)}"
        f"{_entry_cells(s, p.key)}{_param_cells(s, p.config)}"
        f"{td(p.values[0], fmt_number)}{td(p.values[1], fmt_number)}"
        f"{td(p.values[2], fmt_ratio)}{td(p.seeds, fmt_int)}</tr>"
        for p in front
    ]
    return _table_html(
        "table-pareto",
        [
            "Config",
            "Policy",
            "Group",
            *s.params,
            "Battery life median [d]",
            "Latency p95 [s]",
            "F1",
            "Seeds",
        ],
        rows,
        "Pareto-optimal configurations and policies (longer battery life, lower latency and "
        "higher F1; metrics averaged over seeds), fastest first within each group.",
    )


# --------------------------------------------------------------------------- CI and failures


def _fmt_ci(mean: float, hw: float, n: int) -> str:
    """``mean ± half-width (n)``."""
    if n == 0:
        return "n/a (0)"
    return f"{fmt_number(mean)} ± {fmt_number(hw)} ({n})"


def _ci_table(s: _Study) -> str:
    """Mean and 95 % CI over seeds of every metric, per (configuration, policy, group)."""
    rows = []
    for c in s.configs:
        for key in s.entries:
            cell_rows = s.cells.get((c, key))
            if not cell_rows:
                continue
            cells = []
            for metric in s.metrics:
                m, hw, n = mean_ci([r.get(metric) for r in cell_rows])
                cells.append(
                    f'<td class="num" data-metric="{esc(metric)}" '
                    f'data-value="{esc(json_attr(m))}" data-half-width="{esc(json_attr(hw))}" '
                    f'data-n="{n}">{esc(_fmt_ci(m, hw, n))}</td>'
                )
            rows.append(
                f"<tr {_row_attrs(s, c, key)}>{td(s.config_id[c], _fmt_param)}"
                f"{_entry_cells(s, key)}{_param_cells(s, c)}{''.join(cells)}</tr>"
            )
    return _table_html(
        "table-ci",
        ["Config", "Policy", "Group", *s.params, *(_metric_title(m) for m in s.metrics)],
        rows,
        "Mean ± half-width of the 95 % Student-t confidence interval over seeds (number of "
        "seeds with a value in brackets).",
    )


def _failures_table(s: _Study) -> str:
    """Failed runs with their parameters and error text; a "none" row when all succeeded."""
    seen: set[Any] = set()
    rows = []
    for r in s.failed:
        run = r.get("run")
        if run in seen:  # a failed run has a single row; guard against repeats anyway
            continue
        seen.add(run)
        params = []
        for p in s.params:
            v = r.get(PARAM_PREFIX + p)
            params.append(td(v, _fmt_param) if _is_number(v) else f"<td>{esc(_fmt_param(v))}</td>")
        rows.append(
            f'<tr data-run="{esc(run)}"><td><code>{esc(run if run is not None else "n/a")}'
            f"</code></td>{td(r.get('config'), _fmt_param)}{td(r.get('seed'), _fmt_param)}"
            f'{"".join(params)}<td><pre class="error">{esc(r.get("error") or "n/a")}</pre></td>'
            "</tr>"
        )
    headers = ["Run", "Config", "Seed", *s.params, "Error"]
    return _table_html(
        "table-failures",
        headers,
        rows,
        "Runs that raised; the study went on without them.",
        empty="none",
    )


# --------------------------------------------------------------------------- HTML pieces


def _wbr(text: str) -> str:
    """Escape a dotted name and allow line breaks after its dots (not inside words)."""
    return esc(text).replace(".", ".<wbr>")


def _table_html(
    table_id: str, headers: list[str], rows: list[str], caption: str, empty: str = "n/a"
) -> str:
    """A ``<table>`` with a stable id; ``rows`` are complete ``<tr>`` elements."""
    head = "".join(f"<th>{_wbr(h)}</th>" for h in headers)
    body = "".join(rows) or f'<tr class="empty"><td colspan="{len(headers)}">{esc(empty)}</td></tr>'
    return (
        f'<div class="table-wrap"><table id="{table_id}"><caption>{esc(caption)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )


def _plot_div(
    fig: go.Figure | None, plot_id: str, caption: str, height: int = PLOT_HEIGHT_PX, note: str = ""
) -> str:
    """A figure in its stable container; ``fig=None`` renders only the note."""
    inner = f'<p class="note">{esc(note)}</p>' if fig is None else ""
    return plot_block(fig, plot_id, caption, height, inner)


def _na(v: Any) -> str:
    """Escaped text of a value, ``n/a`` when missing."""
    return esc("n/a" if v is None or v == "" else v)


def _code_list(items: list[str] | None) -> str:
    """Names as ``<code>`` lines."""
    if not items:
        return "n/a"
    return "<br>".join(f"<code>{esc(i)}</code>" for i in items)


def _seeds_text(seeds: Any) -> str:
    """The seeds, shortened when there are many."""
    if not isinstance(seeds, list | tuple) or not seeds:
        return "n/a"
    shown = ", ".join(str(x) for x in seeds[:20])
    more = f", … ({len(seeds)} seeds)" if len(seeds) > 20 else f" ({len(seeds)})"
    return shown + more


def _section_study(s: _Study) -> str:
    """Provenance table of the study."""
    info = s.info
    versions = info.get("versions")
    ver = (
        "<br>".join(f"{esc(k)} <code>{_na(v)}</code>" for k, v in versions.items())
        if isinstance(versions, dict) and versions
        else "n/a"
    )
    n_runs = len({r.get("run") for r in s.ok} | {r.get("run") for r in s.failed})
    items = [
        ("Study", _na(info.get("name"))),
        ("Base scenario", f"<code>{_na(info.get('scenario'))}</code>"),
        ("Sampling", _na(info.get("sampling"))),
        ("Parameters", _code_list(_names(info.get("parameters")))),
        ("Metrics", _code_list(_names(info.get("metrics")))),
        ("Seeds", esc(_seeds_text(info.get("seeds")))),
        ("Configurations (with a successful run)", esc(fmt_int(len(s.configs)))),
        ("Policies / groups", esc(" · ".join(s.labels.values()) or "n/a")),
    ]
    rows = [f"<tr><th>{esc(k)}</th><td>{v}</td></tr>" for k, v in items]
    for label, value in (
        ("Runs planned", info.get("runs_planned")),
        ("Runs in the table", n_runs),
        ("Runs failed", info.get("runs_failed")),
    ):
        rows.append(f"<tr><th>{esc(label)}</th>{td(value, fmt_int)}</tr>")
    rows += [
        f"<tr><th>Executor</th><td>{_na(info.get('executor'))}</td></tr>",
        f"<tr><th>Wall time</th>{td(info.get('wall_time_s'), fmt_duration)}</tr>",
        f"<tr><th>Versions</th><td>{ver}</td></tr>",
    ]
    table = (
        '<div class="table-wrap"><table id="table-study" class="kv"><caption>Study</caption>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )
    return section("sec-study", "Study", table)


_STUDY_CSS = """
pre.error { margin: 0; white-space: pre-wrap; word-break: break-word; font-size: .8rem;
            max-width: 60rem; }
table#table-study td.num { text-align: left; }
#table-sensitivity td:nth-child(2) { white-space: nowrap; }
#table-sensitivity code { word-break: normal; }
"""

_NAV = (
    ("sec-study", "Study"),
    ("sec-sensitivity", "Sensitivity"),
    ("sec-pareto", "Pareto front"),
    ("sec-ci", "Confidence intervals"),
    ("sec-failures", "Failed runs"),
)


def _header(s: _Study) -> str:
    """Title, study facts, navigation and the policy colour key."""
    info = s.info
    seeds = info.get("seeds")
    facts = [
        f"sampling {info.get('sampling') or 'n/a'}",
        f"{len(s.configs)} configurations",
        f"{len(seeds) if isinstance(seeds, list | tuple) else 'n/a'} seeds",
        f"{fmt_int(info.get('runs_planned'))} runs planned",
        f"{fmt_int(info.get('runs_failed'))} failed",
    ]
    key = "".join(
        f'<span class="item" data-policy="{esc(p)}" data-colour="{c}">{swatch(c)}{esc(p)}</span>'
        for p, c in s.colours.items()
    )
    nav = "".join(f'<a href="#{sid}">{esc(t)}</a>' for sid, t in _NAV)
    return (
        f'<header><h1 id="study-name">{esc(info.get("name") or "Unnamed study")}</h1>'
        f'<p class="sub">twin parameter-study report · {esc(" · ".join(facts))}</p>'
        f'<p class="legend-key">Policies: {key or "n/a"}</p></header><nav>{nav}</nav>'
    )


def _body(s: _Study) -> str:
    """All report sections, in order."""
    fig, height = _fig_sensitivity(s)
    sens_plot = _plot_div(
        fig,
        "plot-sensitivity",
        "Rows: metrics; columns: parameters. Each point is the mean of the metric over every "
        "successful run with that parameter value (so averaged over the other parameters and "
        "the seeds), with the 95 % Student-t confidence interval of that mean. Colour: policy; "
        "line dash and marker: group. Numeric parameters with more than "
        f"{MAX_LEVELS} distinct values are grouped into {MAX_LEVELS} quantile bins, plotted at "
        "the bin centres.",
        height,
    ).replace(
        'data-plot="plot-sensitivity"',
        f'data-plot="plot-sensitivity" data-rows="{len(s.metrics)}" data-cols="{len(s.params)}"',
        1,
    )
    sensitivity = section("sec-sensitivity", "Sensitivity", sens_plot + _sensitivity_table(s))

    pareto_caption = (
        "One point per configuration, policy and group, each metric averaged over the seeds. "
        "Filled with a black outline: Pareto-optimal within its group (no other point is at "
        "least as good on battery life, latency and F1 and better on one); faint: dominated, "
        "or not ranked because a metric is missing. Marker size grows with F1; hover for the "
        "parameter values."
    )
    if _pareto_available(s):
        points = _pareto_points(s)
        hidden = sum(1 for p in points if not _drawable(p))
        if hidden:
            pareto_caption += (
                f" {hidden} point(s) without a battery life or a positive latency are not drawn."
            )
        pareto = _plot_div(_fig_pareto(s, points), "plot-pareto", pareto_caption)
        pareto += _pareto_table(s, points)
    else:
        note = f"n/a: needs {', '.join(PARETO_METRICS[:-1])} and {PARETO_METRICS[-1]}"
        pareto = _plot_div(None, "plot-pareto", pareto_caption, note=note)
        pareto += _table_html("table-pareto", ["Pareto front"], [], note, empty=note)
    return "".join(
        [
            _section_study(s),
            sensitivity,
            section("sec-pareto", "Pareto front", pareto),
            section("sec-ci", "Confidence intervals over seeds", _ci_table(s)),
            section("sec-failures", "Failed runs", _failures_table(s)),
        ]
    )


def render_study_report(study: dict, rows: list[dict]) -> str:
    """Render the self-contained HTML report of a parameter study.

    The result depends only on the arguments (no clock, no file system, no network; the same
    inputs give byte-identical HTML), and the inputs are not modified. plotly.js is inlined
    exactly once; nothing external is referenced.

    Parameters
    ----------
    study : dict
        Study summary: ``name``, ``scenario``, ``sampling``, ``parameters`` (dotted paths),
        ``metrics`` (column names), ``seeds``, ``runs_planned``, ``runs_failed``, ``versions``,
        ``wall_time_s`` and ``executor``. Any value may be missing or ``None`` ("n/a").
    rows : list of dict
        The study table: one row per run x policy x group (one row for a failed run) with
        ``run``, ``config``, ``seed``, ``status``, ``error``, ``policy``, ``group``, a
        ``param.<path>`` column per parameter and a column per metric.

    Returns
    -------
    str
        The complete HTML document.
    """
    s = _prepare(study or {}, list(rows or []))
    name = s.info.get("name") or "Unnamed study"
    plotly_js = get_plotlyjs().replace("</script", "<\\/script")
    versions = s.info.get("versions")
    twin_version = versions.get("twin") if isinstance(versions, dict) else None
    footer = (
        f"<footer>Generated by twin {esc(twin_version or 'n/a')} "
        "from the study table. Self-contained: no network access needed.</footer>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="generator" content="twin">'
        f"<title>twin study report: {esc(name)}</title><style>{CSS}{_STUDY_CSS}</style>"
        f'<script type="text/javascript">{plotly_js}\n{PRINT_JS}</script></head>'
        f"<body>{_header(s)}<main>{_body(s)}</main>{footer}</body></html>\n"
    )
