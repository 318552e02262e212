"""The run report's site map: every node and gateway where it stands, coloured by a choice.

Nodes stand at the same place under every policy (common random numbers), and so do their
spreading factors and links; what differs between policies is what the nodes did. The map is
one plotly figure with a menu of colourings (views): spreading factor and RSSI at the
strongest gateway (LoRa groups), and battery life (and losses, where nodes.csv has them) per
policy. Like every report piece it is a pure function of the summary and the node rows.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go

from twin.report.records import Key, RunContext, by_entry
from twin.report.style import get_path, no_data, num, plot_block, ptext, section, style_figure

SITE_MAP_ID = "plot-site-map"
SECTION_ID = "sec-map"
#: Nodes drawn at most (beyond, a regular subsample of them): tens of thousands of markers,
#: once per view, make the page heavy and the browser slow.
MAX_MAP_POINTS = 5000
MAP_HEIGHT_PX = 640
# Spreading factors, fast (light) to slow (dark): viridis steps, clear of the policy hues.
SF_COLOURS = {7: "#fde725", 8: "#7ad151", 9: "#22a884", 10: "#2a788e", 11: "#414487", 12: "#440154"}
_MISSING = "#bdbdbd"  # nodes a view has no value for (e.g. BLE nodes in the SF view)
_SYMBOLS = ("circle", "square", "diamond", "cross", "x", "star", "hexagon", "pentagon")
# Node-row columns shown per policy, if the rows carry them: (column, title, unit, log
# colour scale, what a node without a finite positive value is).
_PER_POLICY = (
    ("battery_life_days", "Battery life", "days", True, "no finite life (mains or sustained)"),
    ("uplinks_lost", "Uplinks lost", "frames", False, "none lost"),
)


def _site_nodes_all(ctx: RunContext, nodes: list[dict]) -> list[dict]:
    """Each node once, from the first policy that has its group (positions are the same)."""
    by = by_entry(nodes)
    out: list[dict] = []
    for group in ctx.groups:
        key: Key | None = next((k for k in ctx.entries if k[1] == group and k in by), None)
        if key is not None:
            out.extend(r for r in by[key] if num(r.get("x_m")) is not None)
    return out


def _site_nodes(ctx: RunContext, nodes: list[dict]) -> list[dict]:
    """The nodes drawn: all of them, or a regular subsample (the same for every view)."""
    out = _site_nodes_all(ctx, nodes)
    return out[:: max(1, math.ceil(len(out) / MAX_MAP_POINTS))]


def _gateways(ctx: RunContext) -> list[tuple[str, float, float]]:
    """The scenario's gateways with a position: (id, x [m], y [m])."""
    out = []
    for gw in get_path(ctx.summary, "scenario.gateways") or []:
        if isinstance(gw, dict) and None not in (num(gw.get("x_m")), num(gw.get("y_m"))):
            out.append((str(gw.get("id")), num(gw["x_m"]), num(gw["y_m"])))
    return out


def _site_m(ctx: RunContext, points: list[dict]) -> tuple[float, float]:
    """Site width and height [m]: the scenario's, else what the nodes span."""
    site = get_path(ctx.summary, "scenario.site_m")
    if isinstance(site, list) and len(site) == 2 and all(num(v) for v in site):
        return num(site[0]), num(site[1])
    xs = [num(r.get("x_m")) or 0.0 for r in points] or [1.0]
    ys = [num(r.get("y_m")) or 0.0 for r in points] or [1.0]
    return max(max(xs), 1.0), max(max(ys), 1.0)


def _marker_base(rows: list[dict], ctx: RunContext) -> dict:
    """Positions, hover labels and group symbols of some nodes (shared by every view)."""
    many_groups = len(ctx.groups) > 1
    return {
        "x": [round(num(r["x_m"]), 1) for r in rows],
        "y": [round(num(r["y_m"]), 1) for r in rows],
        "symbol": [
            _SYMBOLS[ctx.groups.index(str(r.get("group"))) % len(_SYMBOLS)]
            if str(r.get("group")) in ctx.groups
            else "circle"
            for r in rows
        ],
        "label": [
            f"{ptext(r.get('group')) + ' ' if many_groups else ''}node {r.get('node')}"
            for r in rows
        ],
    }


def _scatter(base: dict, idx: list[int], name: str, text: list[str], marker: dict) -> go.Scatter:
    """Nodes ``idx`` of ``base`` as one marker trace."""
    symbols = [base["symbol"][i] for i in idx]
    return go.Scatter(
        x=[base["x"][i] for i in idx],
        y=[base["y"][i] for i in idx],
        mode="markers",
        name=name,
        text=text,
        hovertemplate="%{text}<br>x %{x:.0f} m, y %{y:.0f} m<extra></extra>",
        marker={
            "size": 7,
            # One group, one shape: a single value, not one per node (the page stays small).
            "symbol": symbols[0] if len(set(symbols)) == 1 else symbols,
            "line": {"width": 0.3, "color": "#333"},
            **marker,
        },
    )


def _sf_view(rows: list[dict], base: dict) -> list[go.Scatter]:
    """One trace per spreading factor (a legend entry each), grey for nodes without one."""
    sf = [None if (v := num(r.get("spreading_factor"))) is None else int(v) for r in rows]
    traces = []
    for value in sorted({v for v in sf if v is not None}):
        idx = [i for i, v in enumerate(sf) if v == value]
        text = [
            f"{base['label'][i]}: SF{value}, best gateway {ptext(rows[i].get('best_gateway'))}"
            for i in idx
        ]
        colour = SF_COLOURS.get(value, _MISSING)
        traces.append(_scatter(base, idx, f"SF{value}", text, {"color": colour}))
    none = [i for i, v in enumerate(sf) if v is None]
    if none and traces:
        text = [f"{base['label'][i]}: no LoRa link" for i in none]
        traces.append(_scatter(base, none, "not LoRa", text, {"color": _MISSING}))
    return traces


def _log_ticks(lo: float, hi: float) -> list[float]:
    """Tick values 1, 3, 10, 30, ... within [lo, hi] (at least the two ends)."""
    ticks = [
        m * 10.0**e
        for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
        for m in (1, 3)
        if lo <= m * 10.0**e <= hi
    ]
    return ticks if len(ticks) >= 2 else [lo, hi]


def _continuous_view(
    values: list[float | None], base: dict, name: str, unit: str, scale: dict, missing: str
) -> list[go.Scatter]:
    """One trace on a continuous colour scale (``scale``), and grey ones for nodes without."""
    idx = [i for i, v in enumerate(values) if v is not None]
    if not idx:
        return []
    shown = [values[i] for i in idx]
    colour = np.log10(shown).tolist() if scale.get("log") else shown
    text = [f"{base['label'][i]}: {values[i]:,.4g} {unit}" for i in idx]
    bar = {"title": {"text": f"{name} [{unit}]", "side": "right"}, "len": 0.8}
    if scale.get("log"):  # the colour is log10 of the value: label the ticks with values
        bar["tickvals"] = np.log10(scale["ticks"]).tolist()
        bar["ticktext"] = [f"{t:,.4g}" for t in scale["ticks"]]
    marker = {
        "color": colour,
        "colorscale": "Viridis",
        "cmin": scale["cmin"],
        "cmax": scale["cmax"],
        "colorbar": bar,
        "showscale": True,
    }
    traces = [_scatter(base, idx, name, text, marker)]
    none = [i for i, v in enumerate(values) if v is None]
    if none:
        text = [f"{base['label'][i]}: {missing}" for i in none]
        traces.append(_scatter(base, none, missing, text, {"color": _MISSING}))
    return traces


def _colour_range(values: list[float], log: bool) -> dict:
    """Colour range over some values (log: of their logarithm, with 1-3-10 ticks)."""
    lo, hi = min(values), max(values)
    if log:
        cmin, cmax = math.log10(lo), math.log10(hi)
        if cmax - cmin < 1e-9:
            cmin, cmax = cmin - 0.5, cmax + 0.5
        return {
            "log": True,
            "cmin": cmin,
            "cmax": cmax,
            "ticks": _log_ticks(10.0**cmin, 10.0**cmax),
        }
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    return {"log": False, "cmin": lo, "cmax": hi}


def _policy_values(ctx: RunContext, nodes: list[dict], site: list[dict], column: str) -> dict:
    """Per policy, ``column`` of each map node (None: missing, or not finite and positive)."""
    by = by_entry(nodes)
    out: dict[str, list[float | None]] = {}
    for policy in dict.fromkeys(p for p, _ in ctx.entries):
        lookup: dict[tuple[str, str], float | None] = {}
        for key, rows in by.items():
            if key[0] == policy:
                for r in rows:
                    v = num(r.get(column))
                    ok = v is not None and math.isfinite(v) and v > 0
                    lookup[(key[1], str(r.get("node")))] = v if ok else None
        vals = [lookup.get((str(r.get("group")), str(r.get("node")))) for r in site]
        if any((str(r.get("group")), str(r.get("node"))) in lookup for r in site):
            out[policy] = vals
    return out


def _views(ctx: RunContext, nodes: list[dict], site: list[dict]) -> list[tuple[str, list]]:
    """The map's colourings in menu order: (title, traces)."""
    base = _marker_base(site, ctx)
    views: list[tuple[str, list]] = []
    sf = _sf_view(site, base)
    if sf:
        views.append(("Spreading factor (the same under every policy)", sf))
    rssi = [num(r.get("rssi_dbm")) for r in site]
    if any(v is not None for v in rssi):
        scale = _colour_range([v for v in rssi if v is not None], log=False)
        traces = _continuous_view(rssi, base, "RSSI at best gateway", "dBm", scale, "no LoRa link")
        views.append(("RSSI at the strongest gateway (the same under every policy)", traces))
    for column, title, unit, log, missing in _PER_POLICY:
        per = _policy_values(ctx, nodes, site, column)
        finite = [v for vals in per.values() for v in vals if v is not None]
        if not finite:
            continue
        # One colour range for every policy, so that the same colour is the same value.
        scale = _colour_range(finite, log=log)
        for policy, vals in per.items():
            traces = _continuous_view(vals, base, title, unit, scale, missing)
            views.append((f"{title} under {policy}", traces))
    return views


def _menu(views: list[tuple[str, list]], always: int) -> list[dict]:
    """A drop-down that shows one view's traces (the ``always`` last ones, gateways, stay)."""
    sizes = [len(traces) for _, traces in views]
    buttons = []
    for v, (title, _) in enumerate(views):
        visible = [v == w for w, n in enumerate(sizes) for _ in range(n)] + [True] * always
        buttons.append(
            {
                "label": ptext(title),
                "method": "update",
                "args": [{"visible": visible}, {"title.text": f"Site map: {ptext(title)}"}],
            }
        )
    return [
        {
            "buttons": buttons,
            "direction": "down",
            "x": 0.0,
            "xanchor": "left",
            "y": 1.0,
            "yanchor": "bottom",
            "pad": {"b": 4},
            "showactive": True,
        }
    ]


def site_map_figure(ctx: RunContext, nodes: list[dict]) -> go.Figure:
    """The site with its nodes (one colouring at a time, from a menu) and its gateways."""
    site = _site_nodes(ctx, nodes or [])
    gateways = _gateways(ctx)
    width_m, height_m = _site_m(ctx, site)
    fig = go.Figure()
    views = _views(ctx, nodes or [], site)
    for v, (_, traces) in enumerate(views):
        for trace in traces:
            trace.visible = v == 0
            fig.add_trace(trace)
    # Gateways last: drawn on top of the nodes, their labels readable.
    if gateways:
        fig.add_trace(
            go.Scatter(
                x=[x for _, x, _ in gateways],
                y=[y for _, _, y in gateways],
                mode="markers+text",
                name="gateway",
                text=[ptext(g) for g, _, _ in gateways],
                textposition="top center",
                textfont={"size": 11, "color": "#000"},
                marker={
                    "symbol": "triangle-up",
                    "size": 15,
                    "color": "#000",
                    "line": {"width": 1, "color": "#fff"},
                },
                hovertemplate="gateway %{text}<br>x %{x:.0f} m, y %{y:.0f} m<extra></extra>",
            )
        )
    title = f"Site map: {ptext(views[0][0])}" if views else "Site map"
    style_figure(fig, title, "x [m]", "y [m]")
    pad = 0.03 * max(width_m, height_m)
    fig.update_xaxes(range=[-pad, width_m + pad], constrain="domain", zeroline=False)
    # Equal scale: a metre is as long across as up.
    fig.update_yaxes(
        range=[-pad, height_m + pad],
        scaleanchor="x",
        scaleratio=1,
        constrain="domain",
        zeroline=False,
    )
    fig.update_layout(
        height=MAP_HEIGHT_PX, margin={"t": 100}, legend={"orientation": "h", "y": -0.12}
    )
    if len(views) > 1:
        fig.update_layout(updatemenus=_menu(views, len(fig.data) - sum(len(t) for _, t in views)))
    return fig if views else no_data(fig, "No node positions in this run.")


def site_map_caption(ctx: RunContext, nodes: list[dict]) -> str:
    """What the map shows: which nodes, which gateways, which colouring for which policy."""
    site = _site_nodes(ctx, nodes or [])
    total = sum(1 for _ in _site_nodes_all(ctx, nodes or []))
    width_m, height_m = _site_m(ctx, site)
    n_gw = len(_gateways(ctx))
    views = _views(ctx, nodes or [], site)
    shown = (
        f"every one of the {total:,} nodes"
        if len(site) == total
        else f"{len(site):,} of the {total:,} nodes (every {math.ceil(total / len(site))}th: "
        f"at most {MAX_MAP_POINTS:,} are drawn)"
    )
    gw = (
        f"black triangles: the {n_gw} gateway{'s' if n_gw != 1 else ''}"
        if n_gw
        else "no gateways: the nodes reach their own hubs (BLE, Wi-Fi, cellular)"
    )
    parts = [
        f"Site of {width_m:,.0f} m × {height_m:,.0f} m with {shown} where they stand; {gw}.",
        f"Shown first: {views[0][0]}." if views else "No nodes to show.",
    ]
    if len(views) > 1:
        parts.append(
            "The menu at the top left switches the colouring: "
            + "; ".join(title for title, _ in views)
            + "."
        )
    if len(ctx.groups) > 1:
        shapes = ", ".join(f"{g}: {_SYMBOLS[i % len(_SYMBOLS)]}" for i, g in enumerate(ctx.groups))
        parts.append(f"Marker shape by group ({shapes}).")
    if any(num(r.get("rssi_dbm")) is not None for r in site):
        parts.append(
            "RSSI is the mean received power at the strongest gateway (path loss and the "
            "link's fixed shadowing, as the channel decodes against; no per-frame fading)."
        )
    if not any("uplinks_lost" in r for r in site):
        parts.append("Losses are counted per group, not per node (see Faults).")
    return " ".join(parts)


def site_map_section(ctx: RunContext, nodes: list[dict], fig: go.Figure | None = None) -> str:
    """The report section ``sec-map``: the map in ``plot-site-map`` and its caption.

    ``fig``: the figure if already built (:func:`site_map_figure`), else it is built here.
    """
    fig = site_map_figure(ctx, nodes) if fig is None else fig
    block = plot_block(fig, SITE_MAP_ID, site_map_caption(ctx, nodes), height_px=MAP_HEIGHT_PX)
    return section(SECTION_ID, "Site map", block)
