"""The run report's figures of the network side: traffic, the channel, the cloud and faults.

Part of the run report's figures (:func:`twin.report.figures.build_figures` collects them).
"""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from twin.report.records import FAULT_LABELS, RunContext, by_entry, daily_totals, policy_ticks
from twin.report.style import DAY_S, get_path, no_data, num, ptext, style_figure

SHORT_RUN_DAYS = 3  # below this, per-day plots show each time-series step as a daily rate


def _step_rates(rows: list[dict], column: str) -> tuple[list[float], list[float | None]]:
    """Each time-series step's ``column`` as a rate per day, at the step's end [days]."""
    x, y = [], []
    for r in rows:
        step_s, v = num(r.get("interval_s")), num(r.get(column))
        if not step_s:
            continue
        x.append((num(r.get("time_s")) or 0.0) / DAY_S)
        y.append(None if v is None else v * DAY_S / step_s)
    return x, y


def _fig_daily(ctx: RunContext, timeseries: list[dict], column: str, per_node: bool) -> go.Figure:
    """Lines of a daily-aggregated interval column per policy/group."""
    fig = go.Figure()
    # A run of a few days would be a dot or two per line: show each time-series step as a
    # rate per day instead.
    short = (ctx.horizon_s or 0.0) < SHORT_RUN_DAYS * DAY_S
    for key, rows in by_entry(timeseries).items():
        x, y = _step_rates(rows, column) if short else daily_totals(rows, column)
        nodes = num(ctx.result(key).get("nodes"))
        name = ptext(ctx.label(key))
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


def fig_bytes_per_day(ctx: RunContext, timeseries: list[dict]) -> go.Figure:
    """Uplink PHY bytes per node and day per policy/group."""
    fig = _fig_daily(ctx, timeseries, "uplink_bytes", per_node=True)
    style_figure(
        fig,
        "Bytes on air per node and day (uplink, PHY incl. overhead)",
        "Time [days]",
        "Uplink [B per node per day]",
    )
    fig.update_yaxes(rangemode="tozero")
    return fig if fig.data else no_data(fig, "No uplink time series.")


def fig_airtime_per_day(ctx: RunContext, timeseries: list[dict]) -> go.Figure:
    """Uplink airtime of the whole group per day per policy/group."""
    fig = _fig_daily(ctx, timeseries, "airtime_s", per_node=False)
    style_figure(fig, "Airtime per day (whole group, uplink)", "Time [days]", "Airtime [s per day]")
    fig.update_yaxes(rangemode="tozero")
    return fig if fig.data else no_data(fig, "No airtime time series.")


# --------------------------------------------------------------------------- channel


_LOSS_LABELS = {
    "collision": "Lost: collision",
    "out_of_range": "Lost: out of range",
    "gateway_busy": "Lost: gateway busy",
    "outage": "Lost: gateway outage",
    "half_duplex": "Lost: gateway transmitting",
    "interference": "Lost: loss burst",
    "duty_cycle": "Not sent: duty cycle",
    "radio_busy": "Not sent: radio busy",
}


def fig_channel(ctx: RunContext) -> go.Figure:
    """Uplink fate per policy/group: delivered and lost by reason, as shares of messages."""
    fig = go.Figure()
    keys = [k for k in ctx.entries if num(ctx.result(k).get("uplink_messages"))]
    if not keys:
        return no_data(style_figure(fig, "Uplink fate", "Policy", "Share of uplink messages [%]"),
                        "No uplink messages.")  # fmt: skip
    ticks = policy_ticks(ctx, keys)
    x = [ptext(ctx.label(k)) for k in keys]
    fates = [("uplink_delivered", "Delivered")] + [(f"uplink_lost.{r}", lab)
                                                   for r, lab in _LOSS_LABELS.items()]  # fmt: skip
    greys = ["#4d4d4d", "#d9d9d9", "#a6a6a6", "#7f7f7f", "#e6b8af", "#cfe2f3", "#f4cccc",
             "#f0f0f0", "#bdbdbd"]  # fmt: skip
    for (path, label), colour in zip(fates, greys, strict=True):
        shares = []
        for k in keys:
            r = ctx.result(k)
            total = num(r.get("uplink_messages")) or 0
            v = num(get_path(r, path)) or 0
            shares.append(100.0 * v / total if total else 0.0)
        if not any(shares) and path != "uplink_delivered":
            continue
        fig.add_trace(go.Bar(
            x=x, y=shares, name=label,
            marker={"color": colour, "line": {"color": "#333", "width": 0.5}},
            text=[f"{s:.1f} %" if s >= 0.05 else "" for s in shares], textposition="inside",
            hovertemplate="%{y:.2f} %<extra>" + label + "</extra>",
        ))  # fmt: skip
    style_figure(
        fig, "Uplink fate: delivered and lost by reason", "Policy", "Share of uplink messages [%]"
    )
    fig.update_layout(barmode="stack")
    fig.update_xaxes(**ticks)
    return fig


# --------------------------------------------------------------------------- cloud, faults


def _time_panels(fig: go.Figure, *ytitles: str) -> None:
    """Axis titles of side-by-side panels over simulated time (y from zero)."""
    for col, ytitle in enumerate(ytitles, start=1):
        fig.update_xaxes(title_text="Time [days]", row=1, col=col)
        fig.update_yaxes(title_text=ytitle, rangemode="tozero", row=1, col=col)


def fig_cloud_queue(ctx: RunContext, timeseries: list[dict]) -> go.Figure:
    """The shared cloud service over time: worker utilisation and queueing wait per policy."""
    fig = make_subplots(
        rows=1, cols=2, subplot_titles=("Worker utilisation", "Queueing wait (mean, max)")
    )
    seen: set[str] = set()
    for key, rows in by_entry(timeseries).items():
        # Utilisation and wait belong to the whole service: one line per policy.
        if key[0] in seen or not any(
            num(r.get("cloud_requests")) for r in timeseries if r.get("policy") == key[0]
        ):
            continue
        seen.add(key[0])
        rows = [r for r in rows if num(r.get("interval_s"))]
        x = [(num(r.get("time_s")) or 0.0) / DAY_S for r in rows]
        name, colour = ptext(key[0]), ctx.colour(key)
        util = [100.0 * (num(r.get("cloud_utilisation")) or 0.0) for r in rows]
        fig.add_trace(
            go.Scatter(x=x, y=util, name=name, legendgroup=name, line={"color": colour},
                       hovertemplate="%{y:.3g} %<extra>%{fullData.name}</extra>"),
            row=1, col=1,
        )  # fmt: skip
        for field_, dash, label in (("cloud_wait_mean_s", "solid", "mean"),
                                    ("cloud_wait_max_s", "dot", "max")):  # fmt: skip
            fig.add_trace(
                go.Scatter(
                    x=x, y=[1e3 * (num(r.get(field_)) or 0.0) for r in rows],
                    name=f"{name} ({label})", legendgroup=name, showlegend=False,
                    line={"color": colour, "dash": dash},
                    hovertemplate=f"{label} %{{y:.3g}} ms<extra>%{{fullData.name}}</extra>",
                ),
                row=1, col=2,
            )  # fmt: skip
    style_figure(fig, "Cloud service over time")
    _time_panels(fig, "Utilisation [%]", "Wait [ms]")
    return fig if fig.data else no_data(fig, "No policy sent requests to the cloud.")


_FAULT_COLOURS = {
    "gateway_outage": "rgba(204, 0, 0, 0.12)",
    "cloud_outage": "rgba(0, 0, 204, 0.10)",
    "loss_burst": "rgba(230, 145, 56, 0.14)",
    "backhaul_spike": "rgba(120, 120, 120, 0.12)",
}


def fig_faults(ctx: RunContext, timeseries: list[dict]) -> go.Figure:
    """Frames lost and messages stored / forwarded per step, with the faults shaded."""
    fig = make_subplots(
        rows=1, cols=2, subplot_titles=("Uplink frames lost on the channel",
                                        "Store-and-forward: stored (solid), forwarded (dot)"),
    )  # fmt: skip
    for key, rows in by_entry(timeseries).items():
        rows = [r for r in rows if num(r.get("interval_s"))]
        if not rows:
            continue
        x = [(num(r.get("time_s")) or 0.0) / DAY_S for r in rows]
        name, colour = ptext(ctx.label(key)), ctx.colour(key)
        fig.add_trace(
            go.Scatter(x=x, y=[num(r.get("uplink_lost")) or 0 for r in rows], name=name,
                       legendgroup=name, line={"color": colour, "shape": "vh"},
                       hovertemplate="%{y} frames<extra>%{fullData.name}</extra>"),
            row=1, col=1,
        )  # fmt: skip
        if ctx.result(key).get("store_and_forward"):
            for field_, dash in (("messages_stored", "solid"), ("messages_forwarded", "dot")):
                fig.add_trace(
                    go.Scatter(
                        x=x, y=[num(r.get(field_)) or 0 for r in rows], name=name,
                        legendgroup=name, showlegend=False,
                        line={"color": colour, "dash": dash, "shape": "vh"},
                        hovertemplate=f"{field_.split('_')[1]} %{{y}}<extra>%{{fullData.name}}"
                        "</extra>",
                    ),
                    row=1, col=2,
                )  # fmt: skip
    faults = get_path(ctx.summary, "faults.intervals") or []
    for f in faults:
        colour = _FAULT_COLOURS.get(f.get("kind"), "rgba(0, 0, 0, 0.08)")
        x0, x1 = (num(f.get("start_s")) or 0.0) / DAY_S, (num(f.get("end_s")) or 0.0) / DAY_S
        for col in (1, 2):
            fig.add_vrect(x0=x0, x1=x1, fillcolor=colour, line_width=0, layer="below",
                          row=1, col=col)  # fmt: skip
    for kind in dict.fromkeys(f.get("kind") for f in faults):
        # Legend entries for the shaded spans (shapes have none of their own).
        fig.add_trace(go.Scatter(
            x=[None], y=[None], mode="markers", name=FAULT_LABELS.get(kind, str(kind)),
            marker={"symbol": "square", "size": 12, "color": _FAULT_COLOURS.get(kind)},
        ), row=1, col=1)  # fmt: skip
    style_figure(fig, "Faults over time")
    _time_panels(fig, "Frames lost [per step]", "Messages [per step]")
    if fig.data and not any(ctx.result(k).get("store_and_forward") for k in ctx.entries):
        # An empty panel would look like a run where nothing was stored: say why it is empty.
        fig.add_annotation(
            text="No LoRaWAN group stores and forwards<br>(groups.NAME.store_and_forward;"
            "<br>a BLE, Wi-Fi or cellular store: the table below)",
            xref="x2 domain", yref="y2 domain", x=0.5, y=0.5, showarrow=False,
            font={"color": "#666", "size": 13},
        )  # fmt: skip
    return fig if fig.data else no_data(fig, "No time series.")
