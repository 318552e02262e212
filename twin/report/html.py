"""Self-contained HTML report: a pure function of a run's result records.

:func:`render_report` turns the four result records written by the engine (``summary``,
``timeseries``, ``latency_hist`` and ``nodes``) into ONE HTML document. plotly.js is inlined once
in ``<head>``; the document references no external resource (no CDN, fonts, CSS or MathJax), so
it opens offline and prints cleanly.

Conventions the rest of the project (and the browser tests) can rely on:

* every figure sits in ``<div class="twin-plot" id="plot-...">`` (ids in :data:`PLOT_IDS`), the
  plotly graph itself in ``<div id="plot-...-fig">``;
* every table has a stable id (:data:`TABLE_IDS`) and numeric cells carry ``data-value``;
* every headline metric is an element ``.card-metric`` with ``data-policy``, ``data-group``,
  ``data-metric`` (dotted path into a ``summary["results"]`` entry), ``data-value`` (the raw
  summary value as JSON, ``null`` when missing) and ``data-best`` (``"true"``/``"false"``);
* a policy has the same colour in every figure and table (:func:`policy_colours`).
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

DAY_S = 86400.0

#: Fixed colours of the known policies (Okabe-Ito, colour-blind safe).
POLICY_COLOURS: dict[str, str] = {
    "on_device": "#0072B2",
    "cloud": "#D55E00",
    "cascade": "#009E73",
    "batched_upload": "#CC79A7",
}
#: Colours handed out, in order, to policies not in :data:`POLICY_COLOURS` (Paul Tol "muted").
EXTRA_COLOURS: tuple[str, ...] = (
    "#E69F00",
    "#56B4E9",
    "#882255",
    "#44AA99",
    "#999933",
    "#332288",
    "#AA4499",
    "#117733",
    "#661100",
    "#888888",
)
#: Energy states, their labels and (neutral, print-safe) fills; policy hues stay reserved.
ENERGY_STATES: tuple[tuple[str, str, str, str], ...] = (
    ("sleep", "Sleep", "#e0e0e0", ""),
    ("sense", "Sense", "#b0b0b0", "/"),
    ("compute", "Compute", "#808080", "x"),
    ("radio_tx", "Radio TX", "#505050", "."),
    ("radio_rx", "Radio RX", "#262626", "-"),
    ("radio_idle", "Radio idle (link upkeep)", "#000000", "+"),
)
_GREYS: tuple[str, ...] = ("#f0f0f0", "#c8c8c8", "#a0a0a0", "#787878", "#505050", "#282828")
GROUP_DASHES: tuple[str, ...] = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")

PLOT_IDS: tuple[str, ...] = (
    "plot-latency-cdf",
    "plot-energy-breakdown",
    "plot-battery-soc",
    "plot-battery-life",
    "plot-bytes-per-day",
    "plot-airtime-per-day",
    "plot-channel",
    "plot-cloud-queue",
    "plot-faults",
    "plot-decision-quality",
    "plot-model-fit",
    "plot-model-inference",
)
TABLE_IDS: tuple[str, ...] = (
    "table-comparison",
    "table-traffic",
    "table-faults",
    "table-confusion",
    "table-events",
    "table-outcome",
    "table-model",
    "table-provenance",
    "table-versions",
)

_FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif'
_PLOT_CONFIG = {"displaylogo": False, "responsive": True}
_PLOT_HEIGHT = 440
_MAX_POINTS = 1500  # per-node points drawn per (policy, group) in the battery-life plot

Key = tuple[str, str]


# --------------------------------------------------------------------------- small helpers


def _get(d: Any, path: str) -> Any:
    """Value at a dotted ``path`` in nested dicts, ``None`` if any level is missing."""
    for part in path.split("."):
        if not isinstance(d, dict):
            return None
        d = d.get(part)
    return d


def _num(v: Any) -> float | None:
    """``v`` as a float, ``None`` for missing, non-numeric or NaN values (inf is kept)."""
    if v is None or isinstance(v, bool):
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) else x


def _esc(v: Any) -> str:
    """HTML-escape any value for element text or a quoted attribute."""
    return html.escape("" if v is None else str(v), quote=True)


def _ptext(v: Any) -> str:
    """Escape a user string for plotly's pseudo-HTML text (trace names, tick labels)."""
    return html.escape("" if v is None else str(v), quote=False)


def _json_attr(v: Any) -> str:
    """Encode the raw value as JSON for a ``data-value`` attribute (``null`` if not a number)."""
    x = _num(v)
    if x is None:
        return "null"
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    return json.dumps(v if isinstance(v, float) else x)


def _rgba(hex_colour: str, alpha: float) -> str:
    """``#rrggbb`` to an ``rgba()`` string."""
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def _fmt_number(v: Any, sig: int = 3) -> str:
    """Format a number to ``sig`` significant digits (no exponent for ordinary magnitudes)."""
    x = _num(v)
    if x is None:
        return "n/a"
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    if x == 0:
        return "0"
    a = abs(x)
    if a >= 10**sig:
        return f"{x:,.0f}"
    if a < 1e-3:
        return f"{x:.{sig - 1}e}"
    decimals = max(sig - 1 - math.floor(math.log10(a)), 0)
    return f"{x:,.{decimals}f}"


def _fmt_int(v: Any) -> str:
    """Format an integer count with thousands separators."""
    x = _num(v)
    if x is None:
        return "n/a"
    return f"{x:,.0f}" if math.isfinite(x) else _fmt_number(x)


def _fmt_pct(v: Any) -> str:
    """Format a fraction 0..1 as a percentage."""
    x = _num(v)
    return "n/a" if x is None else f"{_fmt_number(100.0 * x)} %"


def _fmt_duration(v: Any) -> str:
    """Seconds in the most readable unit."""
    s = _num(v)
    if s is None or math.isinf(s):
        return _fmt_number(s)
    a = abs(s)
    for limit, scale, unit in (
        (1e-3, 1e6, "µs"),
        (1.0, 1e3, "ms"),
        (120.0, 1.0, "s"),
        (7200.0, 1 / 60, "min"),
        (2 * DAY_S, 1 / 3600, "h"),
    ):
        if a < limit:
            return f"{_fmt_number(s * scale)} {unit}"
    return f"{_fmt_number(s / DAY_S)} d"


def _fmt_bytes(v: Any) -> str:
    """Bytes with SI prefixes (traffic)."""
    b = _num(v)
    if b is None or math.isinf(b):
        return _fmt_number(b)
    for limit, scale, unit in ((1e4, 1.0, "B"), (1e7, 1e-3, "kB"), (1e10, 1e-6, "MB")):
        if abs(b) < limit:
            return f"{_fmt_number(b * scale)} {unit}"
    return f"{_fmt_number(b * 1e-9)} GB"


def _fmt_days(v: Any) -> str:
    """Days, with years in brackets for long lives."""
    d = _num(v)
    if d is None or math.isinf(d):
        return _fmt_number(d)
    text = f"{_fmt_number(d)} d"
    return f"{text} ({d / 365.25:.1f} y)" if d >= 730 else text


def _fmt_energy(v: Any) -> str:
    """Joules in the most readable unit."""
    j = _num(v)
    if j is None or math.isinf(j):
        return _fmt_number(j)
    for limit, scale, unit in ((1e-3, 1e6, "µJ"), (1.0, 1e3, "mJ"), (1e3, 1.0, "J")):
        if abs(j) < limit:
            return f"{_fmt_number(j * scale)} {unit}"
    return f"{_fmt_number(j * 1e-3)} kJ"


def _fmt_ratio(v: Any) -> str:
    """Format a score in 0..1 with three decimals."""
    x = _num(v)
    return "n/a" if x is None else f"{x:.3f}"


def _ratio(a: Any, b: Any) -> float | None:
    """Return ``a / b``, or ``None`` when either is missing or ``b`` is zero."""
    x, y = _num(a), _num(b)
    return None if x is None or not y else x / y


def policy_colours(policies: Iterable[str]) -> dict[str, str]:
    """Colour for each policy: fixed for known policies, palette order for the others.

    Parameters
    ----------
    policies : iterable of str
        Policy names in order of first appearance (duplicates are ignored).

    Returns
    -------
    dict of str to str
        ``#rrggbb`` colour per policy.
    """
    colours: dict[str, str] = {}
    extra = 0
    for p in policies:
        if p in colours:
            continue
        if p in POLICY_COLOURS:
            colours[p] = POLICY_COLOURS[p]
        else:
            colours[p] = EXTRA_COLOURS[extra % len(EXTRA_COLOURS)]
            extra += 1
    return colours


# --------------------------------------------------------------------------- context


@dataclass
class _Ctx:
    """Everything the figure and table builders share: entries, labels and colours."""

    summary: dict
    entries: list[Key]
    results: dict[Key, dict]
    colours: dict[str, str]
    groups: list[str]
    horizon_s: float | None = None
    labels: dict[Key, str] = field(default_factory=dict)

    def label(self, key: Key) -> str:
        """Display label of a (policy, group) entry."""
        return self.labels[key]

    def colour(self, key: Key) -> str:
        """Colour of the entry's policy."""
        return self.colours[key[0]]

    def dash(self, key: Key) -> str:
        """Line dash of the entry's group."""
        return GROUP_DASHES[self.groups.index(key[1]) % len(GROUP_DASHES)]

    def result(self, key: Key) -> dict:
        """Return the summary result of the entry (empty if the summary has none)."""
        return self.results.get(key, {})


def _key(row: dict) -> Key:
    """(policy, group) of a record, as strings."""
    group = row.get("group")
    return str(row.get("policy")), "" if group is None else str(group)


def _context(summary: dict, *records: list[dict]) -> _Ctx:
    """Collect entries in order of appearance (summary first) and assign labels/colours."""
    results: dict[Key, dict] = {}
    entries: list[Key] = []
    for r in summary.get("results") or []:
        k = _key(r)
        results.setdefault(k, r)
        if k not in entries:
            entries.append(k)
    for rows in records:
        for row in rows:
            k = _key(row)
            if k not in entries:
                entries.append(k)
    groups = list(dict.fromkeys(g for _, g in entries))
    ctx = _Ctx(
        summary=summary,
        entries=entries,
        results=results,
        colours=policy_colours(p for p, _ in entries),
        groups=groups,
        horizon_s=_num(_get(summary, "scenario.horizon_s")),
    )
    single = len(groups) <= 1
    ctx.labels = {k: k[0] if single else f"{k[0]} / {k[1]}" for k in entries}
    return ctx


def _by_entry(rows: list[dict]) -> dict[Key, list[dict]]:
    """Group records by (policy, group), keeping their order."""
    out: dict[Key, list[dict]] = {}
    for row in rows:
        out.setdefault(_key(row), []).append(row)
    return out


# --------------------------------------------------------------------------- figures


def _style(
    fig: go.Figure, title: str, xtitle: str | None = None, ytitle: str | None = None
) -> go.Figure:
    """Apply the common layout: title, axis titles, fonts and a print-friendly template."""
    fig.update_layout(
        template="plotly_white",
        title={"text": title, "x": 0.01, "xanchor": "left"},
        height=_PLOT_HEIGHT,
        margin={"l": 70, "r": 20, "t": 70, "b": 60},
        font={"family": _FONT, "size": 12, "color": "#222"},
        hoverlabel={"namelength": -1},
        legend={"title": {"text": ""}},
    )
    if xtitle is not None:
        fig.update_xaxes(title_text=xtitle)
    if ytitle is not None:
        fig.update_yaxes(title_text=ytitle)
    return fig


def _no_data(fig: go.Figure, message: str) -> go.Figure:
    """Annotate an empty figure instead of leaving a blank frame."""
    fig.add_annotation(
        text=_ptext(message),
        xref="paper",
        yref="paper",
        x=0.5,
        y=0.5,
        showarrow=False,
        font={"size": 14, "color": "#777"},
    )
    return fig


def _histogram_cdf(edges: list, counts: list) -> tuple[list[float], list[float], int]:
    """Points of the empirical CDF (in %) at the bin edges, and the number of samples."""
    c = np.asarray([_num(v) or 0.0 for v in counts], dtype=float)
    e = np.asarray([_num(v) for v in edges], dtype=float)
    total = float(c.sum())
    if total <= 0 or len(e) != len(c) + 1:
        return [], [], int(total)
    cdf = np.concatenate([[0.0], np.cumsum(c) / total * 100.0])
    keep = np.isfinite(e) & (e > 0)  # a log axis cannot show 0
    return e[keep].tolist(), cdf[keep].tolist(), int(total)


def _fig_latency_cdf(ctx: _Ctx, latency_hist: list[dict]) -> go.Figure:
    """Decision latency CDF per policy/group on a log time axis."""
    fig = go.Figure()
    for key, rows in _by_entry(latency_hist).items():
        row = rows[0]
        x, y, n = _histogram_cdf(row.get("edges_s") or [], row.get("counts") or [])
        if not x:
            continue
        fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                mode="lines",
                name=f"{_ptext(ctx.label(key))} (n={n:,})",
                line={"color": ctx.colour(key), "dash": ctx.dash(key), "width": 2},
                hovertemplate="≤ %{x:.3g} s: %{y:.1f} %<extra>%{fullData.name}</extra>",
            )
        )
    for level in (50, 95):
        fig.add_hline(y=level, line={"color": "#999", "width": 1, "dash": "dot"})
    _style(fig, "Decision latency (CDF)", "Decision latency [s] (log scale)", "Decisions [%]")
    fig.update_xaxes(type="log")
    fig.update_yaxes(range=[0, 101])
    return fig if fig.data else _no_data(fig, "No decisions were delivered.")


def _energy_per_node_day(ctx: _Ctx, key: Key) -> dict[str, float | None]:
    """Energy per state in J per node-day, scaled so the states sum to the summary total."""
    r = ctx.result(key)
    per_node_day = _num(r.get("energy_per_node_day_j"))
    total = _num(_get(r, "energy_j.total"))
    if per_node_day is not None and total:
        scale = per_node_day / total
    else:
        nodes, horizon = _num(r.get("nodes")), ctx.horizon_s
        scale = 1.0 / (nodes * horizon / DAY_S) if nodes and horizon else None
    out = {}
    for state, *_ in ENERGY_STATES:
        e = _num(_get(r, f"energy_j.{state}"))
        out[state] = None if e is None or scale is None else e * scale
    return out


def _policy_ticks(ctx: _Ctx, keys: list[Key]) -> dict:
    """Category tick labels with a swatch in the policy colour."""
    return {
        "tickmode": "array",
        "tickvals": [_ptext(ctx.label(k)) for k in keys],
        "ticktext": [
            f"<span style='color:{ctx.colour(k)}'>■</span> {_ptext(ctx.label(k))}" for k in keys
        ],
    }


def _fig_energy(ctx: _Ctx) -> go.Figure:
    """Stacked energy per state (J per node-day) per policy/group."""
    fig = go.Figure()
    keys = [k for k in ctx.entries if k in ctx.results]
    per = {k: _energy_per_node_day(ctx, k) for k in keys}
    keys = [k for k in keys if any(v is not None for v in per[k].values())]
    x = [_ptext(ctx.label(k)) for k in keys]
    for state, label, colour, pattern in ENERGY_STATES:
        fig.add_trace(
            go.Bar(
                x=x,
                y=[per[k][state] for k in keys],
                name=label,
                marker={"color": colour, "line": {"color": "#222", "width": 0.5}},
                marker_pattern_shape=pattern,
                hovertemplate=f"{label}: %{{y:.4g}} J/node·day<extra>%{{x}}</extra>",
            )
        )
    totals = [sum(v or 0.0 for v in per[k].values()) for k in keys]
    fig.add_trace(
        go.Scatter(
            x=x,
            y=totals,
            mode="text",
            text=[_fmt_energy(t) for t in totals],
            textposition="top center",
            showlegend=False,
            hoverinfo="skip",
        )
    )
    _style(fig, "Energy per node-day by state", "Policy", "Energy [J per node-day]")
    fig.update_layout(barmode="stack")
    if keys:
        fig.update_xaxes(**_policy_ticks(ctx, keys))
    return fig if keys else _no_data(fig, "No energy data.")


def _soc_traces(ctx: _Ctx, key: Key, rows: list[dict]) -> list[go.Scatter]:
    """Band (p05..p95) and median line of the battery state of charge of one entry."""
    rows = sorted(rows, key=lambda r: _num(r.get("time_s")) or 0.0)
    days = [(_num(r.get("time_s")) or 0.0) / DAY_S for r in rows]

    def pct(col: str) -> list[float | None]:
        return [None if (v := _num(r.get(col))) is None else 100.0 * v for r in rows]

    name, colour, group = _ptext(ctx.label(key)), ctx.colour(key), ctx.label(key)
    band = {"width": 0}
    return [
        go.Scatter(
            x=days,
            y=pct("battery_soc_p95"),
            mode="lines",
            line=band,
            legendgroup=group,
            showlegend=False,
            name=f"{name} p95",
            hoverinfo="skip",
        ),
        go.Scatter(
            x=days,
            y=pct("battery_soc_p05"),
            mode="lines",
            line=band,
            legendgroup=group,
            fill="tonexty",
            fillcolor=_rgba(colour, 0.18),
            showlegend=False,
            name=f"{name} p05",
            hoverinfo="skip",
        ),
        go.Scatter(
            x=days,
            y=pct("battery_soc_p50"),
            mode="lines",
            legendgroup=group,
            name=name,
            line={"color": colour, "dash": ctx.dash(key), "width": 2},
            hovertemplate="day %{x:.2f}: %{y:.1f} %<extra>%{fullData.name}</extra>",
        ),
    ]


def _fig_battery_soc(ctx: _Ctx, timeseries: list[dict]) -> go.Figure:
    """Battery state of charge over time: median with a 5-95 % band per policy/group."""
    fig = go.Figure()
    for key, rows in _by_entry(timeseries).items():
        fig.add_traces(_soc_traces(ctx, key, rows))
    _style(
        fig,
        "Battery state of charge (median, 5–95 % of nodes)",
        "Time [days]",
        "State of charge [%]",
    )
    fig.update_yaxes(range=[0, 101])
    return fig if fig.data else _no_data(fig, "No battery time series.")


def _life_points(rows: list[dict]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Finite per-node battery lives, their projected flags and hover texts."""
    life, projected, text = [], [], []
    for r in rows:
        d = _num(r.get("battery_life_days"))
        if d is None or not math.isfinite(d):
            continue
        life.append(d)
        projected.append(bool(r.get("projected")))
        state = "projected" if projected[-1] else "died"
        text.append(f"node {_ptext(r.get('node'))}: {d:.1f} d ({state})")
    return np.asarray(life, dtype=float), np.asarray(projected, dtype=bool), text


def _life_traces(ctx: _Ctx, key: Key, pos: int, rows: list[dict]) -> list:
    """Box (whiskers at 5th/95th percentile) and per-node points of one entry."""
    life, projected, text = _life_points(rows)
    if life.size == 0:
        return []
    p05, q1, med, q3, p95 = np.percentile(life, [5, 25, 50, 75, 95])
    name, colour = _ptext(ctx.label(key)), ctx.colour(key)
    box = go.Box(
        x=[pos],
        q1=[q1],
        median=[med],
        q3=[q3],
        lowerfence=[p05],
        upperfence=[p95],
        name=name,
        legendgroup=name,
        width=0.5,
        line={"color": colour},
        fillcolor=_rgba(colour, 0.15),
        hoverinfo="y",
    )
    idx = np.arange(life.size)[:: max(1, math.ceil(life.size / _MAX_POINTS))]
    jitter = ((idx * 0.6180339887) % 1.0 - 0.5) * 0.4
    points = go.Scatter(
        x=pos + jitter,
        y=life[idx],
        mode="markers",
        name=name,
        legendgroup=name,
        showlegend=False,
        text=[text[i] for i in idx],
        hoverinfo="text",
        marker={
            "color": colour,
            "size": 6,
            "opacity": 0.7,
            "symbol": np.where(projected[idx], "circle-open", "circle").tolist(),
        },
    )
    return [box, points]


def _fig_battery_life(ctx: _Ctx, nodes: list[dict]) -> go.Figure:
    """Distribution of per-node battery life per policy/group, projected lives marked."""
    fig = go.Figure()
    by = _by_entry(nodes)
    keys = [k for k in ctx.entries if k in by]
    shown = []
    for key in keys:
        traces = _life_traces(ctx, key, len(shown), by[key])
        if traces:
            fig.add_traces(traces)
            shown.append(key)
    for symbol, label in (("circle", "died within horizon"), ("circle-open", "projected")):
        fig.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="markers",
                name=label,
                marker={"symbol": symbol, "color": "#555", "size": 7},
            )
        )
    _style(
        fig,
        "Battery life per node (box: quartiles, whiskers 5–95 %)",
        "Policy",
        "Battery life [days]",
    )
    fig.update_xaxes(
        tickmode="array",
        tickvals=list(range(len(shown))),
        ticktext=_policy_ticks(ctx, shown)["ticktext"] if shown else [],
        range=[-0.6, max(len(shown), 1) - 0.4],
    )
    return fig if shown else _no_data(fig, "No per-node battery lives.")


def _daily(rows: list[dict], column: str) -> tuple[list[float], list[float | None]]:
    """Per-day totals of an interval column; partial days are scaled to a full day."""
    acc: dict[int, list[float]] = {}
    prev = 0.0
    for r in sorted(rows, key=lambda r: _num(r.get("time_s")) or 0.0):
        t = _num(r.get("time_s")) or 0.0
        dt = _num(r.get("interval_s"))
        dt = t - prev if dt is None else dt
        prev = t
        day = math.floor(max(t - dt / 2.0, 0.0) / DAY_S)
        a = acc.setdefault(day, [0.0, 0.0, 0.0])  # sum, covered seconds, valid rows
        v = _num(r.get(column))
        if v is not None:
            a[0] += v
            a[2] += 1
        a[1] += max(dt, 0.0)
    days = sorted(acc)
    vals = [
        None if not acc[d][2] else acc[d][0] * (DAY_S / acc[d][1] if acc[d][1] > 0 else 1.0)
        for d in days
    ]
    return [d + 0.5 for d in days], vals


def _fig_daily(ctx: _Ctx, timeseries: list[dict], column: str, per_node: bool) -> go.Figure:
    """Lines of a daily-aggregated interval column per policy/group."""
    fig = go.Figure()
    for key, rows in _by_entry(timeseries).items():
        x, y = _daily(rows, column)
        nodes = _num(ctx.result(key).get("nodes"))
        name = _ptext(ctx.label(key))
        if per_node and nodes:
            y = [None if v is None else v / nodes for v in y]
        elif per_node:
            name += " (fleet total: node count unknown)"
        if not any(v is not None for v in y):
            continue
        fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                name=name,
                mode="lines+markers" if len(x) <= 60 else "lines",
                line={"color": ctx.colour(key), "dash": ctx.dash(key), "width": 2},
                hovertemplate="day %{x:.1f}: %{y:.4g}<extra>%{fullData.name}</extra>",
            )
        )
    return fig


def _fig_bytes_per_day(ctx: _Ctx, timeseries: list[dict]) -> go.Figure:
    """Uplink PHY bytes per node and day per policy/group."""
    fig = _fig_daily(ctx, timeseries, "uplink_bytes", per_node=True)
    _style(
        fig,
        "Bytes on air per node and day (uplink, PHY incl. overhead)",
        "Time [days]",
        "Uplink [B per node per day]",
    )
    fig.update_yaxes(rangemode="tozero")
    return fig if fig.data else _no_data(fig, "No uplink time series.")


def _fig_airtime_per_day(ctx: _Ctx, timeseries: list[dict]) -> go.Figure:
    """Uplink airtime of the whole group per day per policy/group."""
    fig = _fig_daily(ctx, timeseries, "airtime_s", per_node=False)
    _style(fig, "Airtime per day (whole group, uplink)", "Time [days]", "Airtime [s per day]")
    fig.update_yaxes(rangemode="tozero")
    return fig if fig.data else _no_data(fig, "No airtime time series.")


def _time_panels(fig: go.Figure, *ytitles: str) -> None:
    """Axis titles of side-by-side panels over simulated time (y from zero)."""
    for col, ytitle in enumerate(ytitles, start=1):
        fig.update_xaxes(title_text="Time [days]", row=1, col=col)
        fig.update_yaxes(title_text=ytitle, rangemode="tozero", row=1, col=col)


def _fig_cloud_queue(ctx: _Ctx, timeseries: list[dict]) -> go.Figure:
    """The shared cloud service over time: worker utilisation and queueing wait per policy."""
    fig = make_subplots(
        rows=1, cols=2, subplot_titles=("Worker utilisation", "Queueing wait (mean, max)")
    )
    seen: set[str] = set()
    for key, rows in _by_entry(timeseries).items():
        # Utilisation and wait belong to the whole service: one line per policy.
        if key[0] in seen or not any(
            _num(r.get("cloud_requests")) for r in timeseries if r.get("policy") == key[0]
        ):
            continue
        seen.add(key[0])
        rows = [r for r in rows if _num(r.get("interval_s"))]
        x = [(_num(r.get("time_s")) or 0.0) / DAY_S for r in rows]
        name, colour = _ptext(key[0]), ctx.colour(key)
        util = [100.0 * (_num(r.get("cloud_utilisation")) or 0.0) for r in rows]
        fig.add_trace(
            go.Scatter(x=x, y=util, name=name, legendgroup=name, line={"color": colour},
                       hovertemplate="%{y:.3g} %<extra>%{fullData.name}</extra>"),
            row=1, col=1,
        )  # fmt: skip
        for field_, dash, label in (("cloud_wait_mean_s", "solid", "mean"),
                                    ("cloud_wait_max_s", "dot", "max")):  # fmt: skip
            fig.add_trace(
                go.Scatter(
                    x=x, y=[1e3 * (_num(r.get(field_)) or 0.0) for r in rows],
                    name=f"{name} ({label})", legendgroup=name, showlegend=False,
                    line={"color": colour, "dash": dash},
                    hovertemplate=f"{label} %{{y:.3g}} ms<extra>%{{fullData.name}}</extra>",
                ),
                row=1, col=2,
            )  # fmt: skip
    _style(fig, "Cloud service over time")
    _time_panels(fig, "Utilisation [%]", "Wait [ms]")
    return fig if fig.data else _no_data(fig, "No policy sent requests to the cloud.")


_FAULT_COLOURS = {
    "gateway_outage": "rgba(204, 0, 0, 0.12)",
    "cloud_outage": "rgba(0, 0, 204, 0.10)",
    "loss_burst": "rgba(230, 145, 56, 0.14)",
    "backhaul_spike": "rgba(120, 120, 120, 0.12)",
}
_FAULT_LABELS = {
    "gateway_outage": "gateway outage",
    "cloud_outage": "cloud outage",
    "loss_burst": "loss burst",
    "backhaul_spike": "backhaul spike",
}


def _fig_faults(ctx: _Ctx, timeseries: list[dict]) -> go.Figure:
    """Frames lost and messages stored / forwarded per step, with the faults shaded."""
    fig = make_subplots(
        rows=1, cols=2, subplot_titles=("Uplink frames lost on the channel",
                                        "Store-and-forward: stored (solid), forwarded (dot)"),
    )  # fmt: skip
    for key, rows in _by_entry(timeseries).items():
        rows = [r for r in rows if _num(r.get("interval_s"))]
        if not rows:
            continue
        x = [(_num(r.get("time_s")) or 0.0) / DAY_S for r in rows]
        name, colour = _ptext(ctx.label(key)), ctx.colour(key)
        fig.add_trace(
            go.Scatter(x=x, y=[_num(r.get("uplink_lost")) or 0 for r in rows], name=name,
                       legendgroup=name, line={"color": colour, "shape": "vh"},
                       hovertemplate="%{y} frames<extra>%{fullData.name}</extra>"),
            row=1, col=1,
        )  # fmt: skip
        if ctx.result(key).get("store_and_forward"):
            for field_, dash in (("messages_stored", "solid"), ("messages_forwarded", "dot")):
                fig.add_trace(
                    go.Scatter(
                        x=x, y=[_num(r.get(field_)) or 0 for r in rows], name=name,
                        legendgroup=name, showlegend=False,
                        line={"color": colour, "dash": dash, "shape": "vh"},
                        hovertemplate=f"{field_.split('_')[1]} %{{y}}<extra>%{{fullData.name}}"
                        "</extra>",
                    ),
                    row=1, col=2,
                )  # fmt: skip
    faults = _get(ctx.summary, "faults.intervals") or []
    for f in faults:
        colour = _FAULT_COLOURS.get(f.get("kind"), "rgba(0, 0, 0, 0.08)")
        x0, x1 = (_num(f.get("start_s")) or 0.0) / DAY_S, (_num(f.get("end_s")) or 0.0) / DAY_S
        for col in (1, 2):
            fig.add_vrect(x0=x0, x1=x1, fillcolor=colour, line_width=0, layer="below",
                          row=1, col=col)  # fmt: skip
    for kind in dict.fromkeys(f.get("kind") for f in faults):
        # Legend entries for the shaded spans (shapes have none of their own).
        fig.add_trace(go.Scatter(
            x=[None], y=[None], mode="markers", name=_FAULT_LABELS.get(kind, str(kind)),
            marker={"symbol": "square", "size": 12, "color": _FAULT_COLOURS.get(kind)},
        ), row=1, col=1)  # fmt: skip
    _style(fig, "Faults over time")
    _time_panels(fig, "Frames lost [per step]", "Messages [per step]")
    return fig if fig.data else _no_data(fig, "No time series.")


def _fig_decision_quality(ctx: _Ctx) -> go.Figure:
    """Precision, recall and F1 as grouped bars per policy/group."""
    fig = go.Figure()
    metrics = (("precision", "Precision"), ("recall", "Recall"), ("f1", "F1"))
    for key in ctx.entries:
        d = ctx.result(key).get("decision")
        if not isinstance(d, dict):
            continue
        vals = [_num(d.get(m)) for m, _ in metrics]
        fig.add_trace(
            go.Bar(
                x=[label for _, label in metrics],
                y=[v or 0.0 for v in vals],
                name=_ptext(ctx.label(key)),
                text=[_fmt_ratio(v) for v in vals],
                textposition="outside",
                marker={"color": ctx.colour(key)},
                hovertemplate="%{x}: %{text}<extra>%{fullData.name}</extra>",
            )
        )
    _style(fig, "Decision quality", "Metric", "Score [0–1]")
    fig.update_layout(barmode="group")
    fig.update_yaxes(range=[0, 1.12])
    return fig if fig.data else _no_data(fig, "No decision-quality data.")


_LOSS_LABELS = {
    "collision": "Lost: collision",
    "out_of_range": "Lost: out of range",
    "gateway_busy": "Lost: gateway busy",
    "outage": "Lost: gateway outage",
    "interference": "Lost: loss burst",
    "duty_cycle": "Not sent: duty cycle",
    "radio_busy": "Not sent: radio busy",
}


def _fig_channel(ctx: _Ctx) -> go.Figure:
    """Uplink fate per policy/group: delivered and lost by reason, as shares of messages."""
    fig = go.Figure()
    keys = [k for k in ctx.entries if _num(ctx.result(k).get("uplink_messages"))]
    if not keys:
        return _no_data(_style(fig, "Uplink fate", "Policy", "Share of uplink messages [%]"),
                        "No uplink messages.")  # fmt: skip
    ticks = _policy_ticks(ctx, keys)
    x = [_ptext(ctx.label(k)) for k in keys]
    fates = [("uplink_delivered", "Delivered")] + [(f"uplink_lost.{r}", lab)
                                                   for r, lab in _LOSS_LABELS.items()]  # fmt: skip
    greys = ["#4d4d4d", "#d9d9d9", "#a6a6a6", "#7f7f7f", "#e6b8af", "#f4cccc", "#f0f0f0",
             "#bdbdbd"]  # fmt: skip
    for (path, label), colour in zip(fates, greys, strict=True):
        shares = []
        for k in keys:
            r = ctx.result(k)
            total = _num(r.get("uplink_messages")) or 0
            v = _num(_get(r, path)) or 0
            shares.append(100.0 * v / total if total else 0.0)
        if not any(shares) and path != "uplink_delivered":
            continue
        fig.add_trace(go.Bar(
            x=x, y=shares, name=label,
            marker={"color": colour, "line": {"color": "#333", "width": 0.5}},
            text=[f"{s:.1f} %" if s >= 0.05 else "" for s in shares], textposition="inside",
            hovertemplate="%{y:.2f} %<extra>" + label + "</extra>",
        ))  # fmt: skip
    _style(
        fig, "Uplink fate: delivered and lost by reason", "Policy", "Share of uplink messages [%]"
    )
    fig.update_layout(barmode="stack")
    fig.update_xaxes(**ticks)
    return fig


def _model_entries(ctx: _Ctx) -> list[tuple[Key, dict]]:
    """Entries whose summary carries an (at least partly filled) model record."""
    out = []
    for key in ctx.entries:
        m = ctx.result(key).get("model")
        if isinstance(m, dict) and any(_num(v) is not None for v in m.values()):
            out.append((key, m))
    return out


def _fig_model_fit(ctx: _Ctx) -> go.Figure:
    """Flash and RAM used by the model against the board's capacity."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Flash", "RAM"))
    models = _model_entries(ctx)
    x = [_ptext(ctx.label(k)) for k, _ in models]
    for col, (used_key, cap_key) in enumerate(
        (("flash_bytes", "board_flash_bytes"), ("ram_bytes", "board_ram_bytes")), start=1
    ):
        cap = [_num(m.get(cap_key)) for _, m in models]
        used = [_num(m.get(used_key)) for _, m in models]
        fig.add_trace(
            go.Bar(
                x=x,
                y=[None if c is None else c / 1024 for c in cap],
                width=0.8,
                name="Board capacity",
                legendgroup="capacity",
                showlegend=col == 1,
                marker={"color": "rgba(0,0,0,0)", "line": {"color": "#555", "width": 1.5}},
                hovertemplate="capacity %{y:,.1f} KiB<extra>%{x}</extra>",
            ),
            row=1,
            col=col,
        )
        fig.add_trace(
            go.Bar(
                x=x,
                y=[None if u is None else u / 1024 for u in used],
                width=0.5,
                name="Used by model",
                showlegend=False,
                marker={"color": [ctx.colour(k) for k, _ in models]},
                text=[_fmt_pct(_ratio(u, c)) for u, c in zip(used, cap, strict=True)],
                textposition="outside",
                hovertemplate="used %{y:,.1f} KiB (%{text} of board)<extra>%{x}</extra>",
            ),
            row=1,
            col=col,
        )
    _style(
        fig, "Model fit on the board (flash and RAM, used vs capacity)", "Policy", "Memory [KiB]"
    )
    fig.update_layout(barmode="overlay")
    return fig if models else _no_data(fig, "No on-device model in this run.")


def _fig_model_inference(ctx: _Ctx) -> go.Figure:
    """Latency and energy of one on-device inference per policy/group."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Latency", "Energy"))
    models = _model_entries(ctx)
    x = [_ptext(ctx.label(k)) for k, _ in models]
    colours = [ctx.colour(k) for k, _ in models]
    # Latency stacked by op class where the run recorded it (greys: the classes are not
    # policies, and policy colours stay reserved for policies).
    classes = sorted(
        {
            c
            for _, m in models
            for c, v in (m.get("latency_by_op_class_s") or {}).items()
            if _num(v)  # classes the model does not use stay out of the legend
        }
    )
    for i, cls in enumerate(classes):
        y = [
            1e3 * (_num((m.get("latency_by_op_class_s") or {}).get(cls)) or 0.0) for _, m in models
        ]
        fig.add_trace(
            go.Bar(
                x=x, y=y, name=_ptext(cls), legendgroup="op-class",
                marker={"color": _GREYS[i % len(_GREYS)], "line": {"color": "#333", "width": 0.5}},
                hovertemplate=f"{_ptext(cls)}: %{{y:.4g}} ms<extra>%{{x}}</extra>",
            ),
            row=1, col=1,
        )  # fmt: skip
    fig.update_layout(barmode="stack")
    for col, (field_, scale, unit) in enumerate(
        (("latency_s", 1e3, "ms"), ("energy_j", 1e3, "mJ")), start=1
    ):
        fig.update_xaxes(title_text="Policy", row=1, col=col)
        if col == 1 and classes:
            continue
        y = [None if (v := _num(m.get(field_))) is None else v * scale for _, m in models]
        fig.add_trace(
            go.Bar(
                x=x,
                y=y,
                marker={"color": colours},
                showlegend=False,
                text=[_fmt_number(v) for v in y],
                textposition="outside",
                hovertemplate=f"%{{y:.4g}} {unit}<extra>%{{x}}</extra>",
            ),
            row=1,
            col=col,
        )
        fig.update_xaxes(title_text="Policy", row=1, col=col)
    _style(fig, "Cost of one inference on the device (latency by op class)")
    fig.update_yaxes(title_text="Latency per inference [ms]", row=1, col=1)
    fig.update_yaxes(title_text="Energy per inference [mJ]", row=1, col=2)
    return fig if models else _no_data(fig, "No on-device model in this run.")


# --------------------------------------------------------------------------- HTML pieces


def _plot_block(
    fig: go.Figure | None, plot_id: str, caption: str, height: int = _PLOT_HEIGHT, inner: str = ""
) -> str:
    """Wrap a figure (or ready ``inner`` HTML) in its container ``<div class="twin-plot">``."""
    if not inner:
        inner = fig.to_html(
            full_html=False,
            include_plotlyjs=False,
            include_mathjax=False,
            div_id=f"{plot_id}-fig",
            default_height=f"{height}px",
            config=_PLOT_CONFIG,
        )
    return (
        f'<div class="twin-plot" id="{plot_id}" data-plot="{plot_id}">{inner}'
        f'<p class="caption">{_esc(caption)}</p></div>'
    )


def _swatch(colour: str) -> str:
    """Render a small colour square."""
    return f'<span class="swatch" style="background:{colour}"></span>'


def _policy_cell(ctx: _Ctx, key: Key) -> str:
    """Table cells for policy (with swatch) and group."""
    return (
        f'<td class="policy">{_swatch(ctx.colour(key))}{_esc(key[0])}</td><td>{_esc(key[1])}</td>'
    )


def _td(value: Any, fmt: Callable[[Any], str]) -> str:
    """Render a numeric table cell with its raw value in ``data-value``."""
    return f'<td class="num" data-value="{_esc(_json_attr(value))}">{_esc(fmt(value))}</td>'


def _table(table_id: str, headers: list[str], rows: list[str], caption: str) -> str:
    """Render a ``<table>`` with a stable id and a caption."""
    head = "".join(f"<th>{_esc(h)}</th>" for h in headers)
    body = "".join(f"<tr>{r}</tr>" for r in rows) or (
        f'<tr><td colspan="{len(headers)}">n/a</td></tr>'
    )
    return (
        f'<div class="table-wrap"><table id="{table_id}"><caption>{_esc(caption)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )


# (dotted metric path, label, "higher"/"lower" is better, formatter)
_HEADLINE: tuple[tuple[str, str, str, Callable[[Any], str]], ...] = (
    ("battery_life_days.median", "Battery life (median)", "higher", _fmt_days),
    ("latency_s.p95", "Decision latency p95", "lower", _fmt_duration),
    ("bytes_per_node_day", "Uplink per node-day", "lower", _fmt_bytes),
    ("decision.f1", "F1 score", "higher", _fmt_ratio),
)


def _best_values(ctx: _Ctx, keys: list[Key]) -> dict[str, float | None]:
    """Best value per headline metric among ``keys`` (``None`` if fewer than two values)."""
    best: dict[str, float | None] = {}
    for path, _, better, _ in _HEADLINE:
        vals = [v for k in keys if (v := _num(_get(ctx.result(k), path))) is not None]
        pick = max if better == "higher" else min
        best[path] = pick(vals) if len(vals) >= 2 else None
    return best


def _metric_note(r: dict, path: str) -> str:
    """Small context line under a headline value."""
    if path == "battery_life_days.median":
        parts = [f"p05 {_fmt_days(_get(r, 'battery_life_days.p05'))}"]
        parts.append(f"{_fmt_int(_get(r, 'battery_life_days.dead_nodes'))} dead")
        if _get(r, "battery_life_days.projected"):
            parts.append("projected")
        return " · ".join(parts)
    if path == "latency_s.p95":
        p50, n = _get(r, "latency_s.p50"), _get(r, "latency_s.count")
        return f"p50 {_fmt_duration(p50)} · n = {_fmt_int(n)}"
    if path == "bytes_per_node_day":
        return f"{_fmt_int(r.get('uplink_messages'))} messages in total"
    precision, recall = _get(r, "decision.precision"), _get(r, "decision.recall")
    return f"P {_fmt_ratio(precision)} · R {_fmt_ratio(recall)}"


def _card(ctx: _Ctx, key: Key, best: dict[str, float | None]) -> str:
    """Headline card of one (policy, group) entry with one element per metric."""
    r = ctx.result(key)
    pol, grp = _esc(key[0]), _esc(key[1])
    items = []
    for path, label, better, fmt in _HEADLINE:
        raw = _get(r, path)
        is_best = best[path] is not None and _num(raw) == best[path]
        badge = '<span class="badge">best</span>' if is_best else ""
        items.append(
            f'<div class="card-metric{" best" if is_best else ""}" data-policy="{pol}" '
            f'data-group="{grp}" data-metric="{path}" data-value="{_esc(_json_attr(raw))}" '
            f'data-best="{"true" if is_best else "false"}" data-better="{better}">'
            f'<div class="metric-label">{_esc(label)}</div>'
            f'<div class="metric-value">{_esc(fmt(raw))}{badge}</div>'
            f'<div class="metric-note">{_esc(_metric_note(r, path))}</div></div>'
        )
    return (
        f'<div class="card" data-policy="{pol}" data-group="{grp}" '
        f'style="border-top-color:{ctx.colour(key)}">'
        f"<h3>{_swatch(ctx.colour(key))}{pol}</h3>"
        f'<div class="card-group">group {grp} · {_fmt_int(r.get("nodes"))} nodes</div>'
        f"{''.join(items)}</div>"
    )


def _section_headline(ctx: _Ctx) -> str:
    """Headline cards, one row per group; the best policy per metric is marked."""
    rows = []
    for group in ctx.groups:
        keys = [k for k in ctx.entries if k[1] == group and k in ctx.results]
        if not keys:
            continue
        best = _best_values(ctx, keys)
        title = f"<h3>Group {_esc(group)}</h3>" if len(ctx.groups) > 1 else ""
        rows.append(f'{title}<div class="cards">{"".join(_card(ctx, k, best) for k in keys)}</div>')
    note = (
        "Best per metric within a group is marked: longer battery life and higher F1 are "
        "better, lower latency and fewer bytes are better."
    )
    body = "".join(rows) or "<p>No results.</p>"
    return _section("sec-headline", "Headline", f'{body}<p class="note">{_esc(note)}</p>')


def _section(section_id: str, title: str, body: str) -> str:
    """Render a titled report section."""
    return f'<section id="{section_id}"><h2>{_esc(title)}</h2>{body}</section>'


def _comparison_rows(ctx: _Ctx) -> list[str]:
    """Rows of the main comparison table."""
    rows = []
    for key in [k for k in ctx.entries if k in ctx.results]:
        r = ctx.result(key)
        delivery = _ratio(r.get("uplink_delivered"), r.get("uplink_messages"))
        cells = [
            _td(r.get("nodes"), _fmt_int),
            _td(_get(r, "battery_life_days.median"), _fmt_number),
            _td(_get(r, "battery_life_days.p05"), _fmt_number),
            _td(_get(r, "battery_life_days.dead_nodes"), _fmt_int),
            _td(r.get("energy_per_node_day_j"), _fmt_number),
            _td(_get(r, "latency_s.p50"), _fmt_number),
            _td(_get(r, "latency_s.p95"), _fmt_number),
            _td(_get(r, "latency_s.p99"), _fmt_number),
            _td(r.get("bytes_per_node_day"), _fmt_number),
            _td(None if delivery is None else 100 * delivery, _fmt_number),
            _td(_get(r, "decision.precision"), _fmt_ratio),
            _td(_get(r, "decision.recall"), _fmt_ratio),
            _td(_get(r, "decision.f1"), _fmt_ratio),
        ]
        rows.append(_policy_cell(ctx, key) + "".join(cells))
    return rows


def _traffic_rows(ctx: _Ctx) -> list[str]:
    """Rows of the traffic and cloud detail table."""
    rows = []
    for key in [k for k in ctx.entries if k in ctx.results]:
        r = ctx.result(key)
        phy, payload = r.get("uplink_bytes"), r.get("uplink_payload_bytes")
        both = _num(phy) is not None and _num(payload) is not None
        overhead = _ratio(_num(phy) - _num(payload), phy) if both else None
        util = _num(_get(r, "cloud.utilisation"))
        cells = [
            _td(r.get("samples"), _fmt_int),
            _td(r.get("samples_skipped"), _fmt_int),
            _td(r.get("inferences_device"), _fmt_int),
            _td(r.get("inferences_cloud"), _fmt_int),
            _td(r.get("uplink_messages"), _fmt_int),
            _td(r.get("uplink_delivered"), _fmt_int),
            _td(_get(r, "uplink_lost.collision"), _fmt_int),
            _td(_get(r, "uplink_lost.duty_cycle"), _fmt_int),
            _td(phy, _fmt_int),
            _td(payload, _fmt_int),
            _td(None if overhead is None else 100 * overhead, _fmt_number),
            _td(r.get("downlink_messages"), _fmt_int),
            _td(r.get("airtime_s"), _fmt_number),
            _td(_get(r, "cloud.requests"), _fmt_int),
            _td(None if util is None else 100 * util, _fmt_number),
            _td(_get(r, "cloud.wait_p95_s"), _fmt_number),
        ]
        rows.append(_policy_cell(ctx, key) + "".join(cells))
    return rows


def _section_comparison(ctx: _Ctx) -> str:
    """Policy comparison table plus the traffic detail table."""
    main = _table(
        "table-comparison",
        [
            "Policy",
            "Group",
            "Nodes",
            "Battery life median [d]",
            "Battery life p05 [d]",
            "Dead nodes",
            "Energy [J/node·day]",
            "Latency p50 [s]",
            "Latency p95 [s]",
            "Latency p99 [s]",
            "Uplink [B/node·day]",
            "Delivered [%]",
            "Precision",
            "Recall",
            "F1",
        ],
        _comparison_rows(ctx),
        "Policy comparison (one row per policy and group).",
    )
    traffic = _table(
        "table-traffic",
        [
            "Policy",
            "Group",
            "Samples",
            "Skipped",
            "Inferences device",
            "Inferences cloud",
            "Uplink msgs",
            "Delivered",
            "Lost: collision",
            "Lost: duty cycle",
            "Uplink PHY [B]",
            "Uplink payload [B]",
            "Protocol overhead [%]",
            "Downlink msgs",
            "Airtime [s]",
            "Cloud requests",
            "Cloud utilisation [%]",
            "Cloud wait p95 [s]",
        ],
        _traffic_rows(ctx),
        "Traffic, radio and cloud totals over the whole horizon.",
    )
    return _section("sec-comparison", "Policy comparison", main + traffic)


def _confusion_table(ctx: _Ctx) -> str:
    """Confusion counts per policy/group."""
    rows = []
    for key in [k for k in ctx.entries if k in ctx.results]:
        d = ctx.result(key).get("decision") or {}
        cells = "".join(_td(d.get(c), _fmt_int) for c in ("tp", "fp", "fn", "tn"))
        rows.append(_policy_cell(ctx, key) + cells)
    return _table(
        "table-confusion",
        [
            "Policy",
            "Group",
            "True positives",
            "False positives",
            "False negatives",
            "True negatives",
        ],
        rows,
        "Confusion counts of the delivered decisions against ground truth.",
    )


def _events_table(ctx: _Ctx) -> str:
    """Episodes of positive truth per policy/group: caught, missed, how fast; false alarms."""
    rows = []
    for key in [k for k in ctx.entries if k in ctx.results]:
        d = ctx.result(key).get("decision") or {}
        delay = d.get("detection_delay_s") or {}
        cells = (
            _td(d.get("events"), _fmt_int)
            + _td(d.get("events_detected"), _fmt_int)
            + _td(d.get("events_missed"), _fmt_int)
            + _td(delay.get("p50"), _fmt_duration)
            + _td(delay.get("p95"), _fmt_duration)
            + _td(d.get("false_alarms_per_node_day"), _fmt_number)
        )
        rows.append(_policy_cell(ctx, key) + cells)
    return _table(
        "table-events",
        [
            "Policy",
            "Group",
            "Events",
            "Detected",
            "Missed",
            "Detection delay p50",
            "Detection delay p95",
            "False alarms per node-day",
        ],
        rows,
        "An event is a run of samples with positive ground truth; its detection delay runs "
        "from its first sample to the moment a positive decision acts.",
    )


# Closed-loop outcomes (summary "outcome" keys, per node-day) and how to read them.
_OUTCOME_LABELS: dict[str, str] = {
    "water_applied_mm_per_node_day": "Water applied [mm per zone-day]",
    "water_drained_mm_per_node_day": "Water drained past field capacity [mm per zone-day]",
    "irrigations_per_node_day": "Irrigations [per zone-day]",
    "water_stress_h_per_node_day": "Crop water stress, Ks < 1 [h per zone-day]",
    "cold_occupied_h_per_node_day": "Occupied and cold [h per room-day]",
    "comfort_heating_h_per_node_day": "Heating to comfort [h per room-day]",
    "heat_loss_degree_h_per_node_day": "Heat loss, indoor-outdoor [K h per room-day]",
    "cold_occupied_program_h_per_node_day": "Fixed program: occupied and cold [h per room-day]",
    "heat_loss_program_degree_h_per_node_day": "Fixed program: heat loss [K h per room-day]",
}


def _outcome_table(ctx: _Ctx) -> str:
    """What acting on the decisions did to the world (groups that close the loop)."""
    rows = []
    for key in [k for k in ctx.entries if k in ctx.results]:
        out = ctx.result(key).get("outcome") or {}
        for name, value in out.items():
            if name == "actuator":
                continue
            rows.append(
                _policy_cell(ctx, key)
                + f"<td>{_esc(out.get('actuator', ''))}</td>"
                + f"<td>{_esc(_OUTCOME_LABELS.get(name, name))}</td>"
                + _td(value, _fmt_number)
            )
    return _table(
        "table-outcome",
        ["Policy", "Group", "Actuator", "Outcome", "Value"],
        rows,
        "Closed loop (groups with actuation): the decision acting after each sample drives "
        "the actuator, so late or wrong decisions show here. n/a: no group closes the loop.",
    )


def _faults_table(ctx: _Ctx) -> str:
    """What the faults cost each policy and group: readings lost, buffered, forwarded."""
    rows = []
    for key in [k for k in ctx.entries if k in ctx.results]:
        r = ctx.result(key)
        sf = r.get("store_and_forward") or {}
        cells = (
            (_get(r, "uplink_lost.outage"), _fmt_int),
            (_get(r, "uplink_lost.interference"), _fmt_int),
            (_get(r, "messages_lost.retries_exhausted"), _fmt_int),
            (_get(r, "messages_lost.cloud_outage"), _fmt_int),
            (_get(r, "samples_skipped_by_reason.reset"), _fmt_int),
            (sf.get("stored"), _fmt_int),
            (sf.get("forwarded"), _fmt_int),
            (sf.get("dropped_overflow"), _fmt_int),
            (sf.get("buffered_at_end"), _fmt_int),
            (_get(sf, "forward_delay_s.p50"), _fmt_duration),
        )
        rows.append(_policy_cell(ctx, key) + "".join(_td(v, f) for v, f in cells))
    spans = _get(ctx.summary, "faults.intervals") or []
    down = {}
    for f in spans:
        span_s = (_num(f.get("end_s")) or 0.0) - (_num(f.get("start_s")) or 0.0)
        down[f.get("kind")] = down.get(f.get("kind"), 0.0) + span_s
    what = "; ".join(f"{_FAULT_LABELS.get(k, k)} {v / 3600:.3g} h" for k, v in down.items())
    return _table(
        "table-faults",
        ["Policy", "Group", "Frames lost: outage", "Frames lost: loss burst",
         "Messages given up", "Requests lost: cloud down", "Samples missed: reset",
         "Stored", "Forwarded", "Dropped: buffer full", "Still stored", "Forward delay p50"],
        rows,
        f"Faults in this run: {what or 'none'}. Frames: uplink frames no gateway heard "
        "because every gateway in reach was down, or lost to a loss burst. Store-and-forward "
        "nodes keep what they could not send in flash and forward it, oldest first, once the "
        "network answers again; n/a: the group does not store.",
    )  # fmt: skip


def _model_table(ctx: _Ctx) -> str:
    """Model details: size, memory use against the board, cost per inference."""
    rows = []
    for key, m in _model_entries(ctx):
        cells = [
            f"<td>{_esc(m.get('name') or 'n/a')}</td><td>{_esc(m.get('variant') or 'n/a')}</td>",
            _td(m.get("macs"), _fmt_int),
            _td(m.get("flash_bytes"), _fmt_int),
            _td(m.get("board_flash_bytes"), _fmt_int),
            _td(_ratio(m.get("flash_bytes"), m.get("board_flash_bytes")), _fmt_pct),
            _td(m.get("ram_bytes"), _fmt_int),
            _td(m.get("board_ram_bytes"), _fmt_int),
            _td(_ratio(m.get("ram_bytes"), m.get("board_ram_bytes")), _fmt_pct),
            _td(m.get("latency_s"), _fmt_duration),
            _td(m.get("energy_j"), _fmt_energy),
        ]
        rows.append(_policy_cell(ctx, key) + "".join(cells))
    return _table(
        "table-model",
        [
            "Policy",
            "Group",
            "Model",
            "Variant",
            "MACs",
            "Flash [B]",
            "Board flash [B]",
            "Flash used",
            "RAM [B]",
            "Board RAM [B]",
            "RAM used",
            "Latency / inference",
            "Energy / inference",
        ],
        rows,
        "The model run on the device, per policy and group.",
    )


def _section_provenance(summary: dict) -> str:
    """Scenario, seed, horizon, versions and timing of the run."""
    sc = summary.get("scenario") or {}
    horizon = _num(sc.get("horizon_s"))
    horizon_txt = (
        "n/a" if horizon is None else f"{_fmt_number(horizon)} s ({horizon / DAY_S:.2f} d)"
    )
    items = [
        ("Scenario", _esc(sc.get("name") or "n/a")),
        ("Scenario file", f"<code>{_esc(sc.get('file') or 'n/a')}</code>"),
        ("Scenario SHA-256", f"<code>{_esc(sc.get('hash') or 'n/a')}</code>"),
        ("Seed", _esc("n/a" if sc.get("seed") is None else sc.get("seed"))),
        ("Horizon", _esc(horizon_txt)),
        ("Wall time", _esc(_fmt_duration(summary.get("wall_time_s")))),
        ("Created (UTC)", _esc(summary.get("created_utc") or "n/a")),
    ]
    prov = "".join(f"<tr><th>{_esc(k)}</th><td>{v}</td></tr>" for k, v in items)
    versions = summary.get("versions") or {}
    ver = (
        "".join(
            f"<tr><th>{_esc(k)}</th><td><code>{_esc('n/a' if v is None else v)}</code></td></tr>"
            for k, v in versions.items()
        )
        or '<tr><td colspan="2">n/a</td></tr>'
    )
    runs = summary.get("runs") or []
    runs_html = ""
    if runs:  # a comparison (twin compare): where each labelled run came from
        rows = [
            f"<td>{_esc(r.get('label'))}</td><td>{_esc(r.get('name') or 'n/a')}</td>"
            f"<td><code>{_esc(r.get('file') or 'n/a')}</code></td>"
            f"<td><code>{_esc((r.get('hash') or 'n/a')[:12])}</code></td>"
            f"<td>{_esc('n/a' if r.get('seed') is None else r.get('seed'))}</td>"
            for r in runs
        ]
        runs_html = _table(
            "table-runs",
            ["Label", "Scenario", "File", "SHA-256 (first 12)", "Seed"],
            rows,
            "Runs compared; their policies appear as label/policy.",
        )
    body = runs_html + (
        f'<div class="table-wrap"><table id="table-provenance" class="kv"><caption>Run</caption>'
        f"<tbody>{prov}</tbody></table></div>"
        f'<div class="table-wrap"><table id="table-versions" class="kv"><caption>Software '
        f"versions</caption><tbody>{ver}</tbody></table></div>"
    )
    return _section("sec-provenance", "Provenance", body)


_CSS = """
:root { --fg: #1e1e1e; --muted: #666; --line: #d6d6d6; --bg-soft: #f6f6f6; }
* { box-sizing: border-box; }
body { font-family: __FONT__; color: var(--fg); background: #fff; margin: 0 auto;
       max-width: 1200px; padding: 1.5rem; line-height: 1.45; font-size: 15px; }
header h1 { margin: 0 0 .25rem; font-size: 1.7rem; }
header .sub { color: var(--muted); margin: 0 0 .75rem; }
nav { border-top: 1px solid var(--line); border-bottom: 1px solid var(--line);
      padding: .4rem 0; margin-bottom: 1rem; font-size: .9rem; }
nav a { margin-right: 1rem; color: #0b4f8a; text-decoration: none; }
h2 { font-size: 1.3rem; border-bottom: 2px solid var(--fg); padding-bottom: .2rem;
     margin-top: 2rem; }
h3 { font-size: 1.05rem; margin: .8rem 0 .4rem; }
.legend-key span.item { margin-right: 1.2rem; white-space: nowrap; }
.swatch { display: inline-block; width: .8em; height: .8em; margin-right: .35em;
          vertical-align: -0.05em; border: 1px solid rgba(0,0,0,.35);
          -webkit-print-color-adjust: exact; print-color-adjust: exact; }
.cards { display: flex; flex-wrap: wrap; gap: .8rem; }
.card { flex: 1 1 240px; border: 1px solid var(--line); border-top: 5px solid #888;
        border-radius: 4px; padding: .6rem .8rem; break-inside: avoid;
        -webkit-print-color-adjust: exact; print-color-adjust: exact; }
.card h3 { margin: 0; }
.card-group { color: var(--muted); font-size: .85rem; margin-bottom: .4rem; }
.card-metric { padding: .3rem 0; border-top: 1px dotted var(--line); }
.metric-label { font-size: .8rem; color: var(--muted); text-transform: uppercase;
                letter-spacing: .03em; }
.metric-value { font-size: 1.35rem; font-weight: 600; font-variant-numeric: tabular-nums; }
.metric-note { font-size: .8rem; color: var(--muted); }
.card-metric.best .metric-value { color: #0a6b2f; }
.badge { font-size: .7rem; font-weight: 700; border: 1.5px solid #0a6b2f; color: #0a6b2f;
         border-radius: 3px; padding: 0 .3em; margin-left: .5em; vertical-align: .25em; }
.badge::before { content: "★ "; }
.note, .caption { color: var(--muted); font-size: .85rem; }
.table-wrap { overflow-x: auto; margin: .6rem 0 1rem; }
table { border-collapse: collapse; font-size: .85rem; font-variant-numeric: tabular-nums; }
caption { text-align: left; font-weight: 600; padding: .3rem 0; }
th, td { border: 1px solid var(--line); padding: .25rem .5rem; text-align: left;
         vertical-align: top; }
thead th { background: var(--bg-soft); }
td.num { text-align: right; white-space: nowrap; }
td.policy { white-space: nowrap; font-weight: 600; }
table.kv th { background: var(--bg-soft); width: 13rem; }
code { font-size: .85em; word-break: break-all; }
.twin-plot { margin: 1rem 0 1.5rem; border: 1px solid var(--line); border-radius: 4px;
             padding: .4rem; break-inside: avoid; page-break-inside: avoid; }
.twin-plot .caption { margin: .3rem .4rem 0; }
footer { margin-top: 2rem; color: var(--muted); font-size: .8rem;
         border-top: 1px solid var(--line); padding-top: .5rem; }
@media print {
  @page { size: A4; margin: 12mm; }
  body { max-width: none; padding: 0; font-size: 10pt; }
  nav, .modebar-container { display: none !important; }
  a { color: inherit; }
  section { break-before: auto; }
  h2 { break-after: avoid; }
  .table-wrap { overflow: visible; }
  table { font-size: 8pt; }
}
""".replace("__FONT__", _FONT)

# Re-flow the figures to the page width when printing (they are sized for the screen).
_PRINT_JS = (
    "(function(){function fit(){if(!window.Plotly){return;}"
    "document.querySelectorAll('.plotly-graph-div').forEach(function(d){"
    "window.Plotly.Plots.resize(d);});}"
    "window.addEventListener('beforeprint',fit);window.addEventListener('afterprint',fit);"
    "if(window.matchMedia){var m=window.matchMedia('print');"
    "if(m.addEventListener){m.addEventListener('change',fit);}}})();"
)

_NAV = (
    ("sec-headline", "Headline"),
    ("sec-comparison", "Comparison"),
    ("sec-latency", "Latency"),
    ("sec-energy", "Energy"),
    ("sec-battery", "Battery"),
    ("sec-traffic", "Bytes on air"),
    ("sec-faults", "Faults"),
    ("sec-decisions", "Decisions"),
    ("sec-model", "Model"),
    ("sec-provenance", "Provenance"),
)


def _header(ctx: _Ctx) -> str:
    """Title, run facts, navigation and the policy colour key."""
    sc = ctx.summary.get("scenario") or {}
    horizon = ctx.horizon_s
    facts = [
        f"horizon {'n/a' if horizon is None else f'{horizon / DAY_S:.2f} d'}",
        f"seed {'n/a' if sc.get('seed') is None else sc.get('seed')}",
        f"created (UTC) {ctx.summary.get('created_utc') or 'n/a'}",
        f"twin {_get(ctx.summary, 'versions.twin') or 'n/a'}",
    ]
    key = "".join(
        f'<span class="item" data-policy="{_esc(p)}" data-colour="{c}">{_swatch(c)}{_esc(p)}</span>'
        for p, c in ctx.colours.items()
    )
    nav = "".join(f'<a href="#{sid}">{_esc(t)}</a>' for sid, t in _NAV)
    return (
        f'<header><h1 id="scenario-name">{_esc(sc.get("name") or "Unnamed scenario")}</h1>'
        f'<p class="sub">twin digital-twin report · {_esc(" · ".join(facts))}</p>'
        f'<p class="legend-key">Policies: {key}</p></header><nav>{nav}</nav>'
    )


def _figures(ctx: _Ctx, timeseries, latency_hist, nodes) -> dict[str, go.Figure]:
    """Every figure of the report by plot id (the HTML and the static images share them)."""
    return {
        "plot-latency-cdf": _fig_latency_cdf(ctx, latency_hist),
        "plot-energy-breakdown": _fig_energy(ctx),
        "plot-battery-soc": _fig_battery_soc(ctx, timeseries),
        "plot-battery-life": _fig_battery_life(ctx, nodes),
        "plot-bytes-per-day": _fig_bytes_per_day(ctx, timeseries),
        "plot-airtime-per-day": _fig_airtime_per_day(ctx, timeseries),
        "plot-channel": _fig_channel(ctx),
        "plot-cloud-queue": _fig_cloud_queue(ctx, timeseries),
        "plot-faults": _fig_faults(ctx, timeseries),
        "plot-decision-quality": _fig_decision_quality(ctx),
        "plot-model-fit": _fig_model_fit(ctx),
        "plot-model-inference": _fig_model_inference(ctx),
    }


def _body_sections(ctx: _Ctx, timeseries, latency_hist, nodes) -> list[str]:
    """All report sections, in order."""
    figs = _figures(ctx, timeseries, latency_hist, nodes)
    latency = _plot_block(
        figs["plot-latency-cdf"],
        "plot-latency-cdf",
        "Time from sensing to a delivered decision; dotted lines at 50 % and 95 %. Built from "
        "the log-spaced latency histogram (linear interpolation within a bin).",
    )
    energy = _plot_block(
        figs["plot-energy-breakdown"],
        "plot-energy-breakdown",
        "Average energy per node and day by device state; the label on top is the total.",
    )
    soc = _plot_block(
        figs["plot-battery-soc"],
        "plot-battery-soc",
        "Line: median state of charge across nodes; band: 5th to 95th percentile of nodes.",
    )
    life = _plot_block(
        figs["plot-battery-life"],
        "plot-battery-life",
        f"One point per node (at most {_MAX_POINTS:,} per policy and group). Filled: the "
        "battery ran out within the horizon; open: life projected from the observed drain.",
    )
    bytes_day = _plot_block(
        figs["plot-bytes-per-day"],
        "plot-bytes-per-day",
        "Uplink bytes on air (PHY, including protocol overhead) per node, summed per simulated "
        "day; a partial last day is scaled to a full day.",
    )
    airtime = _plot_block(
        figs["plot-airtime-per-day"],
        "plot-airtime-per-day",
        "Total uplink airtime of the group per simulated day (channel occupancy).",
    )
    channel = _plot_block(
        figs["plot-channel"],
        "plot-channel",
        "Every uplink message: delivered to the network, lost on the channel (collision "
        "without capture, no gateway in range, all demodulators busy) or never sent because "
        "the duty-cycle limit was reached.",
    )
    cloud = _plot_block(
        figs["plot-cloud-queue"],
        "plot-cloud-queue",
        "The cloud inference service shared by every group: busy share of its workers and the "
        "time requests waited for a worker, per time-series step (a call counts in the step "
        "it starts in).",
    )
    faults = _plot_block(
        figs["plot-faults"],
        "plot-faults",
        "Left: uplink frames lost on the channel per time-series step (any reason). Right: "
        "messages store-and-forward nodes stored and forwarded per step. Shaded: the "
        "scenario's faults (gateway and cloud outages, loss bursts, backhaul spikes).",
    )
    quality = _plot_block(
        figs["plot-decision-quality"],
        "plot-decision-quality",
        "Precision, recall and F1 of the delivered decisions; n/a where undefined.",
    )
    fit = _plot_block(
        figs["plot-model-fit"],
        "plot-model-fit",
        "Outline: board capacity; filled bar: used by the model (label: share of capacity).",
    )
    cost = _plot_block(
        figs["plot-model-inference"],
        "plot-model-inference",
        "Latency and energy of a single inference on the device.",
    )
    return [
        _section_headline(ctx),
        _section_comparison(ctx),
        _section("sec-latency", "Decision latency", latency),
        _section("sec-energy", "Energy", energy),
        _section("sec-battery", "Battery", soc + life),
        _section("sec-traffic", "Bytes on air and the channel", bytes_day + airtime + channel),
        _section("sec-cloud", "Cloud service", cloud),
        _section("sec-faults", "Faults and store-and-forward", faults + _faults_table(ctx)),
        _section(
            "sec-decisions",
            "Decision quality",
            quality + _confusion_table(ctx) + _events_table(ctx) + _outcome_table(ctx),
        ),
        _section("sec-model", "Model on the board", fit + cost + _model_table(ctx)),
        _section_provenance(ctx.summary),
    ]


def report_figures(
    summary: dict, timeseries: list[dict], latency_hist: list[dict], nodes: list[dict]
) -> dict[str, go.Figure]:
    """The report's figures by plot id (``plot-latency-cdf``, ...), for static export.

    Same inputs as :func:`render_report`, same figures as the HTML report draws.
    """
    timeseries, latency_hist, nodes = timeseries or [], latency_hist or [], nodes or []
    ctx = _context(summary or {}, timeseries, latency_hist, nodes)
    return _figures(ctx, timeseries, latency_hist, nodes)


def render_report(
    summary: dict,
    timeseries: list[dict],
    latency_hist: list[dict],
    nodes: list[dict],
) -> str:
    """Render the self-contained HTML report of one run.

    The result depends only on the arguments (no clock, no file system, no network), and the
    inputs are not modified. plotly.js is inlined exactly once; nothing external is referenced.

    Parameters
    ----------
    summary : dict
        Run summary: ``scenario``, ``versions``, ``wall_time_s``, ``created_utc`` and
        ``results`` (one entry per policy and group). Any value may be ``None``.
    timeseries : list of dict
        Per (policy, group) and interval: battery state-of-charge percentiles (fractions),
        ``uplink_bytes`` and ``airtime_s`` in the interval ending at ``time_s``, ``interval_s``.
    latency_hist : list of dict
        Per (policy, group): decision-latency histogram ``edges_s`` (n + 1) and ``counts`` (n).
    nodes : list of dict
        Per node and policy: position, traffic, energy, ``battery_life_days``, ``projected`` and
        confusion counts.

    Returns
    -------
    str
        The complete HTML document.
    """
    timeseries, latency_hist, nodes = timeseries or [], latency_hist or [], nodes or []
    ctx = _context(summary or {}, timeseries, latency_hist, nodes)
    name = _get(ctx.summary, "scenario.name") or "Unnamed scenario"
    plotly_js = get_plotlyjs().replace("</script", "<\\/script")
    body = "".join(_body_sections(ctx, timeseries, latency_hist, nodes))
    footer = (
        f"<footer>Generated by twin {_esc(_get(ctx.summary, 'versions.twin') or 'n/a')} from the "
        "run's result records. Self-contained: no network access needed.</footer>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="generator" content="twin">'
        f"<title>twin report: {_esc(name)}</title><style>{_CSS}</style>"
        f'<script type="text/javascript">{plotly_js}\n{_PRINT_JS}</script></head>'
        f"<body>{_header(ctx)}<main>{body}</main>{footer}</body></html>\n"
    )
