"""The study report's figures: main-effect sensitivity grid and the Pareto front."""

from __future__ import annotations

import math

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from twin.report.study.model import CKey, Effect, Key, Point, Study, drawable, entry_effect
from twin.report.study.names import fmt_param, metric_label, metric_title, param_title
from twin.report.style import (
    PLOT_HEIGHT_PX,
    fmt_number,
    fmt_ratio,
    no_data,
    ptext,
    rgba,
    style_figure,
)

STUDY_PLOT_IDS: tuple[str, ...] = ("plot-sensitivity", "plot-pareto")
_PANEL_HEIGHT_PX = 230  # per metric row of the sensitivity grid


# --------------------------------------------------------------------------- sensitivity


def _nan_none(v: float) -> float | None:
    """NaN (and inf) to None for plotly arrays."""
    return v if math.isfinite(v) else None


def _effect_trace(s: Study, metric: str, param: str, key: Key, eff: Effect) -> go.Scatter:
    """Line of one entry's main effect, with its confidence intervals as error bars."""
    stats = zip(eff.labels, eff.means, eff.half_widths, eff.counts, strict=True)
    hover = [
        f"{ptext(param)} = {ptext(lab)}<br>{ptext(metric_label(metric))}: "
        f"{fmt_number(m)} ± {fmt_number(hw)} (n = {n})"
        for lab, m, hw, n in stats
    ]
    categorical = s.axes[param].kind == "categorical"
    return go.Scatter(
        x=[ptext(x) for x in eff.xs] if categorical else eff.xs,
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
    )


def _draw_panel(fig: go.Figure, s: Study, metric: str, param: str, row: int, col: int) -> list:
    """Main effects of ``param`` on ``metric``, one line per entry; returns the means drawn."""
    ax = s.axes[param]
    drawn, means = False, []
    for key in s.entries:
        eff = entry_effect(s, metric, param, key)
        if not eff.xs:
            continue
        drawn = True
        means += [m for m in eff.means if math.isfinite(m)]
        fig.add_trace(_effect_trace(s, metric, param, key, eff), row=row, col=col)
    if not drawn:
        _empty_panel(fig, row, col, (row - 1) * len(s.params) + col)
    if row == len(s.metrics):
        fig.update_xaxes(
            title_text=ptext(param_title(param))
            + (" (quantile bins)" if ax.kind == "binned" else ""),
            title_font={"size": 11},
            row=row,
            col=col,
        )
    if ax.kind == "categorical":
        fig.update_xaxes(type="category", row=row, col=col)
    elif ax.log:
        fig.update_xaxes(type="log", row=row, col=col)
    return means


def fig_sensitivity(s: Study) -> tuple[go.Figure, int]:
    """Grid of main-effect plots (rows: metrics, columns: parameters), and its height in px."""
    n_rows, n_cols = len(s.metrics), len(s.params)
    title = "Sensitivity: main effect of each parameter on each metric"
    if not n_rows or not n_cols:
        fig = style_figure(go.Figure(), title, "Parameter", "Metric")
        return no_data(fig, "The study names no parameters or no metrics."), PLOT_HEIGHT_PX
    height_px = 130 + _PANEL_HEIGHT_PX * n_rows
    fig = make_subplots(
        rows=n_rows,
        cols=n_cols,
        shared_xaxes=True,  # per column: one parameter
        shared_yaxes=True,  # per row: one metric, so panels in a row compare directly
        vertical_spacing=min(45.0 / height_px, 0.9 / max(n_rows - 1, 1)),
        horizontal_spacing=min(0.03, 0.9 / max(n_cols - 1, 1)),
    )
    style_figure(fig, title)
    fig.update_layout(height=height_px, margin={"l": 90, "r": 20, "t": 80, "b": 70})
    for i, metric in enumerate(s.metrics, start=1):
        row_means: list[float] = []
        for j, param in enumerate(s.params, start=1):
            row_means += _draw_panel(fig, s, metric, param, i, j)
        fig.update_yaxes(
            title_text=ptext(metric_title(metric)).replace(" [", "<br>["),
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
    return fig, height_px


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


# --------------------------------------------------------------------------- Pareto front


def _config_text(s: Study, c: CKey) -> str:
    """Parameter values of a configuration, one per line (plotly text, escaped)."""
    return "<br>".join(f"{ptext(p)} = {ptext(fmt_param(s.config_params[c][p]))}" for p in s.params)


def _f1_size(f1: float) -> float:
    """Marker size of a Pareto point from its F1 score."""
    return 8.0 + 16.0 * min(max(f1, 0.0), 1.0) if math.isfinite(f1) else 6.0


def _pareto_status(p: Point) -> str:
    """Why a point is, or is not, on the front."""
    if p.optimal:
        return "Pareto-optimal"
    if not all(math.isfinite(v) for v in p.values):
        return "not ranked (a metric is missing)"
    return "dominated"


def _pareto_hover(s: Study, p: Point) -> str:
    """Hover text of a Pareto point: configuration, entry, parameters and metrics."""
    return (
        f"config {ptext(fmt_param(s.config_id[p.config]))} · {ptext(s.labels[p.key])} · "
        f"{_pareto_status(p)}<br>{_config_text(s, p.config)}<br>"
        f"battery life {fmt_number(p.values[0])} d · latency p95 {fmt_number(p.values[1])} s · "
        f"F1 {fmt_ratio(_nan_none(p.values[2]))}<br>mean of {p.seeds} seed(s)"
    )


def fig_pareto(s: Study, points: list[Point]) -> go.Figure:
    """Battery life against decision latency, F1 as marker size; the front outlined."""
    fig = go.Figure()
    for key in s.entries:
        mine = [p for p in points if p.key == key and drawable(p)]
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
