"""Self-contained HTML report of a parameter study: the page, from the study table.

:func:`render_study_report` assembles the study's provenance, the main-effect sensitivity plots
with a rank-correlation table, the Pareto front of battery life, decision latency and F1,
confidence intervals over seeds, and the failed runs.
"""

from __future__ import annotations

import plotly.graph_objects as go

from twin.report.study.figures import fig_pareto, fig_sensitivity
from twin.report.study.model import (
    MAX_LEVELS,
    Study,
    drawable,
    pareto_available,
    pareto_points,
    prepare,
)
from twin.report.study.tables import (
    ci_table,
    failures_table,
    pareto_table,
    section_study,
    sensitivity_table,
    table_html,
)
from twin.report.style import (
    PLOT_HEIGHT_PX,
    document,
    esc,
    fmt_int,
    nav_links,
    plot_block,
    policy_key,
    section,
)
from twin.results.study_table import PARETO_METRICS

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


def _plot_div(
    fig: go.Figure | None,
    plot_id: str,
    caption: str,
    height_px: int = PLOT_HEIGHT_PX,
    note: str = "",
) -> str:
    """A figure in its stable container; ``fig=None`` renders only the note."""
    inner = f'<p class="note">{esc(note)}</p>' if fig is None else ""
    return plot_block(fig, plot_id, caption, height_px, inner)


def _header(s: Study) -> str:
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
    return (
        f'<header><h1 id="study-name">{esc(info.get("name") or "Unnamed study")}</h1>'
        f'<p class="sub">twin parameter-study report · {esc(" · ".join(facts))}</p>'
        f'<p class="legend-key">Policies: {policy_key(s.colours) or "n/a"}</p></header>'
        f"<nav>{nav_links(_NAV)}</nav>"
    )


def _section_sensitivity(s: Study) -> str:
    """Main-effect plots and the rank-correlation table."""
    fig, height_px = fig_sensitivity(s)
    sens_plot = _plot_div(
        fig,
        "plot-sensitivity",
        "Rows: metrics; columns: parameters. Each point is the mean of the metric over every "
        "successful run with that parameter value (so averaged over the other parameters and "
        "the seeds), with the 95 % Student-t confidence interval of that mean. Colour: policy; "
        "line dash and marker: group. Numeric parameters with more than "
        f"{MAX_LEVELS} distinct values are grouped into {MAX_LEVELS} quantile bins, plotted at "
        "the bin centres.",
        height_px,
    ).replace(
        'data-plot="plot-sensitivity"',
        f'data-plot="plot-sensitivity" data-rows="{len(s.metrics)}" data-cols="{len(s.params)}"',
        1,
    )
    return section("sec-sensitivity", "Sensitivity", sens_plot + sensitivity_table(s))


def _section_pareto(s: Study) -> str:
    """The Pareto front plot and table, or a note naming the metrics it needs."""
    caption = (
        "One point per configuration, policy and group, each metric averaged over the seeds. "
        "Filled with a black outline: Pareto-optimal within its group (no other point is at "
        "least as good on battery life, latency and F1 and better on one); faint: dominated, "
        "or not ranked because a metric is missing. Marker size grows with F1; hover for the "
        "parameter values."
    )
    if pareto_available(s):
        points = pareto_points(s)
        hidden = sum(1 for p in points if not drawable(p))
        if hidden:
            caption += (
                f" {hidden} point(s) without a battery life or a positive latency are not drawn."
            )
        body = _plot_div(fig_pareto(s, points), "plot-pareto", caption) + pareto_table(s, points)
    else:
        note = f"n/a: needs {', '.join(PARETO_METRICS[:-1])} and {PARETO_METRICS[-1]}"
        body = _plot_div(None, "plot-pareto", caption, note=note)
        body += table_html("table-pareto", ["Pareto front"], [], note, empty=note)
    return section("sec-pareto", "Pareto front", body)


def _body(s: Study) -> str:
    """All report sections, in order."""
    return "".join(
        [
            section_study(s),
            _section_sensitivity(s),
            _section_pareto(s),
            section("sec-ci", "Confidence intervals over seeds", ci_table(s)),
            section("sec-failures", "Failed runs", failures_table(s)),
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
    s = prepare(study or {}, list(rows or []))
    name = s.info.get("name") or "Unnamed study"
    versions = s.info.get("versions")
    twin_version = versions.get("twin") if isinstance(versions, dict) else None
    footer = (
        f"<footer>Generated by twin {esc(twin_version or 'n/a')} "
        "from the study table. Self-contained: no network access needed.</footer>"
    )
    return document(f"twin study report: {name}", _STUDY_CSS, _header(s), _body(s), footer)
