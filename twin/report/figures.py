"""The run report's figures: one plotly figure per plot id, from the run's result records.

:func:`build_figures` returns them all by id (:data:`PLOT_IDS`); the HTML report and the static
images (:func:`twin.api.write_images`) draw the same figures. A figure without data says so
instead of staying blank.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from twin.report.records import (
    Key,
    RunContext,
    by_entry,
    histogram_cdf,
    life_points,
    model_entries,
    policy_ticks,
)
from twin.report.site_map import site_map_figure
from twin.report.style import (
    DAY_S,
    fmt_energy,
    fmt_number,
    fmt_pct,
    fmt_ratio,
    get_path,
    no_data,
    num,
    ptext,
    ratio,
    rgba,
    style_figure,
)
from twin.report.traffic_figures import (
    fig_airtime_per_day,
    fig_bytes_per_day,
    fig_channel,
    fig_cloud_queue,
    fig_faults,
)

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
    "plot-site-map",
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
# Fills of the op classes of an inference: greys, as the classes are not policies.
_GREYS: tuple[str, ...] = ("#f0f0f0", "#c8c8c8", "#a0a0a0", "#787878", "#505050", "#282828")
#: Per-node points drawn at most per (policy, group) in the battery-life plot (beyond, a
#: regular subsample): the browser slows down with many thousands of markers.
MAX_POINTS = 1500


# --------------------------------------------------------------------------- latency, energy


def _fig_latency_cdf(ctx: RunContext, latency_hist: list[dict]) -> go.Figure:
    """Decision latency CDF per policy/group on a log time axis."""
    fig = go.Figure()
    for key, rows in by_entry(latency_hist).items():
        row = rows[0]
        x, y, n = histogram_cdf(row.get("edges_s") or [], row.get("counts") or [])
        if not x:
            continue
        fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                mode="lines",
                name=f"{ptext(ctx.label(key))} (n={n:,})",
                line={"color": ctx.colour(key), "dash": ctx.dash(key), "width": 2},
                hovertemplate="≤ %{x:.3g} s: %{y:.1f} %<extra>%{fullData.name}</extra>",
            )
        )
    for level in (50, 95):
        fig.add_hline(y=level, line={"color": "#999", "width": 1, "dash": "dot"})
    style_figure(fig, "Decision latency (CDF)", "Decision latency [s] (log scale)", "Decisions [%]")
    fig.update_xaxes(type="log")
    fig.update_yaxes(range=[0, 101])
    return fig if fig.data else no_data(fig, "No decisions were delivered.")


def _energy_per_node_day(ctx: RunContext, key: Key) -> dict[str, float | None]:
    """Energy per state in J per node-day, scaled so the states sum to the summary total."""
    r = ctx.result(key)
    per_node_day = num(r.get("energy_per_node_day_j"))
    total = num(get_path(r, "energy_j.total"))
    if per_node_day is not None and total:
        scale = per_node_day / total
    else:
        nodes, horizon = num(r.get("nodes")), ctx.horizon_s
        scale = 1.0 / (nodes * horizon / DAY_S) if nodes and horizon else None
    out = {}
    for state, *_ in ENERGY_STATES:
        e = num(get_path(r, f"energy_j.{state}"))
        out[state] = None if e is None or scale is None else e * scale
    return out


def _fig_energy(ctx: RunContext) -> go.Figure:
    """Stacked energy per state (J per node-day) per policy/group."""
    fig = go.Figure()
    keys = [k for k in ctx.entries if k in ctx.results]
    per = {k: _energy_per_node_day(ctx, k) for k in keys}
    keys = [k for k in keys if any(v is not None for v in per[k].values())]
    x = [ptext(ctx.label(k)) for k in keys]
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
            text=[fmt_energy(t) for t in totals],
            textposition="top center",
            showlegend=False,
            hoverinfo="skip",
        )
    )
    style_figure(fig, "Energy per node-day by state", "Policy", "Energy [J per node-day]")
    fig.update_layout(barmode="stack")
    if keys:
        fig.update_xaxes(**policy_ticks(ctx, keys))
    return fig if keys else no_data(fig, "No energy data.")


# --------------------------------------------------------------------------- battery


def _soc_traces(ctx: RunContext, key: Key, rows: list[dict]) -> list[go.Scatter]:
    """Band (p05..p95) and median line of the battery state of charge of one entry."""
    rows = sorted(rows, key=lambda r: num(r.get("time_s")) or 0.0)
    days = [(num(r.get("time_s")) or 0.0) / DAY_S for r in rows]

    def pct(col: str) -> list[float | None]:
        return [None if (v := num(r.get(col))) is None else 100.0 * v for r in rows]

    name, colour, group = ptext(ctx.label(key)), ctx.colour(key), ctx.label(key)
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
            fillcolor=rgba(colour, 0.18),
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


SOC_ZOOM_BELOW_PCT = 80.0  # above this lowest charge the plot zooms to the range that moves


def _fig_battery_soc(ctx: RunContext, timeseries: list[dict]) -> go.Figure:
    """Battery state of charge over time: median with a 5-95 % band per policy/group."""
    fig = go.Figure()
    mains = []
    for key, rows in by_entry(timeseries).items():
        if get_path(ctx.result(key), "battery.mains"):
            mains.append(ptext(ctx.label(key)))  # always full: a flat line says nothing
            continue
        fig.add_traces(_soc_traces(ctx, key, rows))
    low = min((min(y for y in t.y if y is not None) for t in fig.data if t.y), default=100.0)
    title = "Battery state of charge (median, 5–95 % of nodes)"
    if low > SOC_ZOOM_BELOW_PCT:
        # A month on two AA cells moves the charge by a few per cent: zoom to what moves.
        title += f", zoomed: the lowest is {low:.1f} %"
        fig.update_yaxes(range=[max(0.0, low - 0.25 * (100.5 - low)), 100.5])
    else:
        fig.update_yaxes(range=[0, 101])
    style_figure(fig, title, "Time [days]", "State of charge [%]")
    if mains:
        note = f"Mains-powered, not drawn: {', '.join(mains)}"
        if not fig.data:
            return no_data(fig, note)
        fig.add_annotation(text=note, xref="paper", yref="paper", x=0.01, y=0.02,
                           showarrow=False, font={"color": "#666"}, xanchor="left",
                           yanchor="bottom")  # fmt: skip
    return fig if fig.data else no_data(fig, "No battery time series.")


def _life_traces(ctx: RunContext, key: Key, pos: int, rows: list[dict]) -> list:
    """Box (whiskers at 5th/95th percentile) and per-node points of one entry."""
    life, projected, text = life_points(rows)
    if life.size == 0:
        return []
    p05, q1, med, q3, p95 = np.percentile(life, [5, 25, 50, 75, 95])
    name, colour = ptext(ctx.label(key)), ctx.colour(key)
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
        fillcolor=rgba(colour, 0.15),
        hoverinfo="y",
    )
    idx = np.arange(life.size)[:: max(1, math.ceil(life.size / MAX_POINTS))]
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


def _fig_battery_life(ctx: RunContext, nodes: list[dict]) -> go.Figure:
    """Distribution of per-node battery life per policy/group, projected lives marked."""
    fig = go.Figure()
    by = by_entry(nodes)
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
    style_figure(
        fig,
        "Battery life per node (box: quartiles, whiskers 5–95 %)",
        "Policy",
        "Battery life [days]",
    )
    fig.update_xaxes(
        tickmode="array",
        tickvals=list(range(len(shown))),
        ticktext=policy_ticks(ctx, shown)["ticktext"] if shown else [],
        range=[-0.6, max(len(shown), 1) - 0.4],
    )
    if shown:
        return fig
    return no_data(fig, _why_no_lives(ctx))


def _why_no_lives(ctx: RunContext) -> str:
    """Say why no node has a finite battery life: mains power, or a harvest that sustains."""
    limits = {get_path(ctx.result(k), "battery_life_days.limit") for k in ctx.entries}
    if limits <= {"sustained", "mains"} and "sustained" in limits:
        mains = " or on mains" if "mains" in limits else ""
        return f"No node runs down: harvest sustains them{mains} (see harvest against draw below)."
    if limits == {"mains"}:
        return "Every node is mains-powered: no battery runs down."
    return "No per-node battery lives."


# --------------------------------------------------------------------------- decisions


def _fig_decision_quality(ctx: RunContext) -> go.Figure:
    """Precision, recall and F1 as grouped bars per policy/group."""
    fig = go.Figure()
    metrics = (("precision", "Precision"), ("recall", "Recall"), ("f1", "F1"))
    for key in ctx.entries:
        d = ctx.result(key).get("decision")
        if not isinstance(d, dict):
            continue
        vals = [num(d.get(m)) for m, _ in metrics]
        fig.add_trace(
            go.Bar(
                x=[label for _, label in metrics],
                y=[v or 0.0 for v in vals],
                name=ptext(ctx.label(key)),
                text=[fmt_ratio(v) for v in vals],
                textposition="outside",
                marker={"color": ctx.colour(key)},
                hovertemplate="%{x}: %{text}<extra>%{fullData.name}</extra>",
            )
        )
    style_figure(fig, "Decision quality", "Metric", "Score [0–1]")
    fig.update_layout(barmode="group")
    fig.update_yaxes(range=[0, 1.12])
    return fig if fig.data else no_data(fig, "No decision-quality data.")


# --------------------------------------------------------------------------- model


def _fig_model_fit(ctx: RunContext) -> go.Figure:
    """Flash and RAM used by the model against the board's capacity."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Flash", "RAM"))
    models = model_entries(ctx)
    x = [ptext(ctx.label(k)) for k, _ in models]
    for col, (used_key, cap_key) in enumerate(
        (("flash_bytes", "board_flash_bytes"), ("ram_bytes", "board_ram_bytes")), start=1
    ):
        cap = [num(m.get(cap_key)) for _, m in models]
        used = [num(m.get(used_key)) for _, m in models]
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
                text=[fmt_pct(ratio(u, c)) for u, c in zip(used, cap, strict=True)],
                textposition="outside",
                hovertemplate="used %{y:,.1f} KiB (%{text} of board)<extra>%{x}</extra>",
            ),
            row=1,
            col=col,
        )
    style_figure(
        fig, "Model fit on the board (flash and RAM, used vs capacity)", "Policy", "Memory [KiB]"
    )
    fig.update_layout(barmode="overlay")
    return fig if models else no_data(fig, "No on-device model in this run.")


def _fig_model_inference(ctx: RunContext) -> go.Figure:
    """Latency and energy of one on-device inference per policy/group."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Latency", "Energy"))
    models = model_entries(ctx)
    x = [ptext(ctx.label(k)) for k, _ in models]
    colours = [ctx.colour(k) for k, _ in models]
    # Latency stacked by op class where the run recorded it (greys: the classes are not
    # policies, and policy colours stay reserved for policies).
    classes = sorted(
        {
            c
            for _, m in models
            for c, v in (m.get("latency_by_op_class_s") or {}).items()
            if num(v)  # classes the model does not use stay out of the legend
        }
    )
    for i, cls in enumerate(classes):
        y = [1e3 * (num((m.get("latency_by_op_class_s") or {}).get(cls)) or 0.0) for _, m in models]
        fig.add_trace(
            go.Bar(
                x=x, y=y, name=ptext(cls), legendgroup="op-class",
                marker={"color": _GREYS[i % len(_GREYS)], "line": {"color": "#333", "width": 0.5}},
                hovertemplate=f"{ptext(cls)}: %{{y:.4g}} ms<extra>%{{x}}</extra>",
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
        y = [None if (v := num(m.get(field_))) is None else v * scale for _, m in models]
        fig.add_trace(
            go.Bar(
                x=x,
                y=y,
                marker={"color": colours},
                showlegend=False,
                text=[fmt_number(v) for v in y],
                textposition="outside",
                hovertemplate=f"%{{y:.4g}} {unit}<extra>%{{x}}</extra>",
            ),
            row=1,
            col=col,
        )
        fig.update_xaxes(title_text="Policy", row=1, col=col)
    style_figure(fig, "Cost of one inference on the device (latency by op class)")
    fig.update_yaxes(title_text="Latency per inference [ms]", row=1, col=1)
    fig.update_yaxes(title_text="Energy per inference [mJ]", row=1, col=2)
    return fig if models else no_data(fig, "No on-device model in this run.")


def build_figures(
    ctx: RunContext, timeseries: list[dict], latency_hist: list[dict], nodes: list[dict]
) -> dict[str, go.Figure]:
    """Every figure of the run report by plot id, in the order of :data:`PLOT_IDS`."""
    return {
        "plot-latency-cdf": _fig_latency_cdf(ctx, latency_hist),
        "plot-energy-breakdown": _fig_energy(ctx),
        "plot-battery-soc": _fig_battery_soc(ctx, timeseries),
        "plot-battery-life": _fig_battery_life(ctx, nodes),
        "plot-bytes-per-day": fig_bytes_per_day(ctx, timeseries),
        "plot-airtime-per-day": fig_airtime_per_day(ctx, timeseries),
        "plot-channel": fig_channel(ctx),
        "plot-cloud-queue": fig_cloud_queue(ctx, timeseries),
        "plot-faults": fig_faults(ctx, timeseries),
        "plot-decision-quality": _fig_decision_quality(ctx),
        "plot-model-fit": _fig_model_fit(ctx),
        "plot-model-inference": _fig_model_inference(ctx),
        "plot-site-map": site_map_figure(ctx, nodes),
    }
