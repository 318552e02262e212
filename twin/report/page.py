"""Self-contained HTML report of a run: the page, assembled from its figures and tables.

:func:`render_report` turns the four result records written by the engine (``summary``,
``timeseries``, ``latency_hist`` and ``nodes``) into ONE HTML document. plotly.js is inlined once
in ``<head>``; the document references no external resource (no CDN, fonts, CSS or MathJax), so
it opens offline and prints cleanly.

Conventions the rest of the project (and the browser tests) can rely on:

* every figure sits in ``<div class="twin-plot" id="plot-...">`` (ids in
  :data:`~twin.report.figures.PLOT_IDS`), the plotly graph itself in ``<div id="plot-...-fig">``;
* every table has a stable id (:data:`~twin.report.tables.TABLE_IDS`) and numeric cells carry
  ``data-value``;
* every headline metric is an element ``.card-metric`` with ``data-policy``, ``data-group``,
  ``data-metric`` (dotted path into a ``summary["results"]`` entry), ``data-value`` (the raw
  summary value as JSON, ``null`` when missing) and ``data-best`` (``"true"``/``"false"``);
* a policy has the same colour in every figure and table
  (:func:`~twin.report.style.policy_colours`).
"""

from __future__ import annotations

import plotly.graph_objects as go

from twin.report.at_risk import section_at_risk
from twin.report.figures import MAX_POINTS, build_figures
from twin.report.harvest import harvest_table
from twin.report.records import RunContext, run_context
from twin.report.site_map import site_map_section
from twin.report.style import (
    DAY_S,
    document,
    esc,
    get_path,
    nav_links,
    plot_block,
    policy_key,
    section,
)
from twin.report.tables import (
    confusion_table,
    events_table,
    faults_table,
    latency_stages_table,
    model_table,
    outcome_table,
    section_comparison,
    section_headline,
    section_provenance,
)
from twin.report.verdict_section import section_verdict

_NAV = (
    ("sec-verdict", "Verdict"),
    ("sec-headline", "Headline"),
    ("sec-comparison", "Comparison"),
    ("sec-map", "Map"),
    ("sec-latency", "Latency"),
    ("sec-energy", "Energy"),
    ("sec-battery", "Battery"),
    ("sec-traffic", "Bytes on air"),
    ("sec-faults", "Faults"),
    ("sec-decisions", "Decisions"),
    ("sec-model", "Model"),
    ("sec-provenance", "Provenance"),
)

# What each figure shows and how to read it, under the figure.
_CAPTIONS = {
    "plot-latency-cdf": "Time from sensing to a delivered decision; dotted lines at 50 % and "
    "95 %. Only decisions that reached their node count (answers never sent are not in it: "
    "see answers delivered in the verdict). Built from the log-spaced latency histogram "
    "(linear interpolation within a bin).",
    "plot-energy-breakdown": "Average energy per node and day by device state; the label on top "
    "is the total.",
    "plot-battery-soc": "Line: median state of charge across nodes; band: 5th to 95th "
    "percentile of nodes.",
    "plot-battery-life": f"One point per node (at most {MAX_POINTS:,} per policy and group). "
    "Filled: the battery ran out within the horizon; open: life projected from the observed "
    "drain.",
    "plot-bytes-per-day": "Uplink bytes on air (PHY, including protocol overhead) per node, "
    "summed per simulated day; a partial last day is scaled to a full day. Runs shorter than "
    "3 days show each time-series step as a rate per day.",
    "plot-airtime-per-day": "Total uplink airtime of the group per simulated day (channel "
    "occupancy); runs shorter than 3 days show each time-series step as a rate per day.",
    "plot-channel": "Every uplink message: delivered to the network, lost on the channel "
    "(collision without capture, no gateway in range, all demodulators busy, every gateway in "
    "reach transmitting a downlink meanwhile: gateways are half-duplex) or never sent "
    "because the duty-cycle limit was reached.",
    "plot-cloud-queue": "The cloud inference service shared by every group: busy share of its "
    "workers and the time requests waited for a worker, per time-series step (a call counts in "
    "the step it starts in).",
    "plot-faults": "Left: uplink frames lost on the channel per time-series step (any reason). "
    "Right: messages store-and-forward nodes stored and forwarded per step. Shaded: the "
    "scenario's faults (gateway and cloud outages, loss bursts, backhaul spikes).",
    "plot-decision-quality": "Precision, recall and F1 of the delivered decisions; n/a where "
    "undefined.",
    "plot-model-fit": "Outline: board capacity; filled bar: used by the model (label: share of "
    "capacity).",
    "plot-model-inference": "Latency and energy of a single inference on the device.",
}


def _header(ctx: RunContext) -> str:
    """Title, run facts, navigation and the policy colour key."""
    sc = ctx.summary.get("scenario") or {}
    horizon = ctx.horizon_s
    facts = [
        f"horizon {'n/a' if horizon is None else f'{horizon / DAY_S:.2f} d'}",
        f"seed {'n/a' if sc.get('seed') is None else sc.get('seed')}",
        f"created (UTC) {ctx.summary.get('created_utc') or 'n/a'}",
        f"twin {get_path(ctx.summary, 'versions.twin') or 'n/a'}",
    ]
    return (
        f'<header><h1 id="scenario-name">{esc(sc.get("name") or "Unnamed scenario")}</h1>'
        f'<p class="sub">twin digital-twin report · {esc(" · ".join(facts))}</p>'
        f'<p class="legend-key">Policies: {policy_key(ctx.colours)}</p></header>'
        f"<nav>{nav_links(_NAV)}</nav>"
    )


def _body_sections(ctx: RunContext, timeseries, latency_hist, nodes) -> list[str]:
    """All report sections, in order."""
    figs = build_figures(ctx, timeseries, latency_hist, nodes)
    # The site map's caption depends on the data: its section builds its own block.
    plot = {
        pid: plot_block(fig, pid, _CAPTIONS[pid]) for pid, fig in figs.items() if pid in _CAPTIONS
    }
    return [
        # A dated twin (a calibrated fleet) names the nodes to visit before anything else.
        section_at_risk(ctx.summary, nodes),
        section_verdict(ctx),
        section_headline(ctx),
        section_comparison(ctx),
        site_map_section(ctx, nodes, figs["plot-site-map"]),
        section(
            "sec-latency", "Decision latency", plot["plot-latency-cdf"] + latency_stages_table(ctx)
        ),
        section("sec-energy", "Energy", plot["plot-energy-breakdown"]),
        section(
            "sec-battery",
            "Battery",
            plot["plot-battery-soc"] + plot["plot-battery-life"] + harvest_table(ctx),
        ),
        section(
            "sec-traffic",
            "Bytes on air and the channel",
            plot["plot-bytes-per-day"] + plot["plot-airtime-per-day"] + plot["plot-channel"],
        ),
        section("sec-cloud", "Cloud service", plot["plot-cloud-queue"]),
        section(
            "sec-faults", "Faults and store-and-forward", plot["plot-faults"] + faults_table(ctx)
        ),
        section(
            "sec-decisions",
            "Decision quality",
            plot["plot-decision-quality"]
            + confusion_table(ctx)
            + events_table(ctx)
            + outcome_table(ctx),
        ),
        section(
            "sec-model",
            "Model on the board",
            plot["plot-model-fit"] + plot["plot-model-inference"] + model_table(ctx),
        ),
        section_provenance(ctx.summary),
    ]


def report_figures(
    summary: dict, timeseries: list[dict], latency_hist: list[dict], nodes: list[dict]
) -> dict[str, go.Figure]:
    """The report's figures by plot id (``plot-latency-cdf``, ...), for static export.

    Same inputs as :func:`render_report`, same figures as the HTML report draws.
    """
    timeseries, latency_hist, nodes = timeseries or [], latency_hist or [], nodes or []
    ctx = run_context(summary or {}, timeseries, latency_hist, nodes)
    return build_figures(ctx, timeseries, latency_hist, nodes)


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
    ctx = run_context(summary or {}, timeseries, latency_hist, nodes)
    name = get_path(ctx.summary, "scenario.name") or "Unnamed scenario"
    body = "".join(_body_sections(ctx, timeseries, latency_hist, nodes))
    footer = (
        f"<footer>Generated by twin {esc(get_path(ctx.summary, 'versions.twin') or 'n/a')} from "
        "the run's result records. Self-contained: no network access needed.</footer>"
    )
    return document(f"twin report: {name}", "", _header(ctx), body, footer)
