"""Shared look of the HTML reports: colours, number formats, escaping, CSS and HTML pieces.

The run report (:mod:`twin.report.page`) and the study report (:mod:`twin.report.study`) are
built from these pieces, so a policy has the same colour, a number the same format and a table
the same look in both. Every function is pure: the same arguments give the same text.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable, Iterable
from typing import Any

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

DAY_S = 86400.0

# --------------------------------------------------------------------------- colours


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
#: Line dash of each group (in order of appearance): groups differ by dash, policies by colour.
GROUP_DASHES: tuple[str, ...] = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")


def policy_colours(policies: Iterable[str]) -> dict[str, str]:
    """Colour for each policy: fixed for known policies, palette order for the others.

    In a comparison (``twin compare``: policies named ``label/policy``) a policy keeps its
    own colour in every run, a shade darker or lighter per run after the first, so that
    ``on_device`` is blue in both runs and the runs still tell apart.

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
    base: dict[str, str] = {}
    runs: list[str] = []
    for p in policies:
        if p in colours:
            continue
        label, _, name = p.rpartition("/")
        if name not in base:
            known = POLICY_COLOURS.get(name)
            base[name] = (
                known
                or EXTRA_COLOURS[
                    sum(1 for b in base if b not in POLICY_COLOURS) % len(EXTRA_COLOURS)
                ]
            )
        if label and label not in runs:
            runs.append(label)
        colours[p] = _shade(base[name], runs.index(label) if label else 0)
    return colours


# Per run after the first: mix with black, then white, alternately and a little more each time.
_SHADES = (0.0, -0.35, 0.45, -0.55, 0.65)


def _shade(colour: str, run: int) -> str:
    """``colour`` darkened (negative) or lightened (positive) for the ``run``-th run."""
    f = _SHADES[run % len(_SHADES)]
    rgb = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
    target = 255 if f > 0 else 0
    mixed = [round(c + (target - c) * abs(f)) for c in rgb]
    return "#" + "".join(f"{c:02X}" for c in mixed)


# --------------------------------------------------------------------------- values


def get_path(d: Any, path: str) -> Any:
    """Value at a dotted ``path`` in nested dicts, ``None`` if any level is missing."""
    for part in path.split("."):
        if not isinstance(d, dict):
            return None
        d = d.get(part)
    return d


def num(v: Any) -> float | None:
    """``v`` as a float, ``None`` for missing, non-numeric or NaN values (inf is kept)."""
    if v is None or isinstance(v, bool):
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) else x


def esc(v: Any) -> str:
    """HTML-escape any value for element text or a quoted attribute."""
    return html.escape("" if v is None else str(v), quote=True)


def ptext(v: Any) -> str:
    """Escape a user string for plotly's pseudo-HTML text (trace names, tick labels)."""
    return html.escape("" if v is None else str(v), quote=False)


def json_attr(v: Any) -> str:
    """Encode the raw value as JSON for a ``data-value`` attribute (``null`` if not a number)."""
    x = num(v)
    if x is None:
        return "null"
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    return json.dumps(v if isinstance(v, float) else x)


def rgba(hex_colour: str, alpha: float) -> str:
    """``#rrggbb`` to an ``rgba()`` string."""
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def fmt_number(v: Any, sig: int = 3) -> str:
    """Format a number to ``sig`` significant digits (no exponent for ordinary magnitudes)."""
    x = num(v)
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


def fmt_int(v: Any) -> str:
    """Format an integer count with thousands separators."""
    x = num(v)
    if x is None:
        return "n/a"
    return f"{x:,.0f}" if math.isfinite(x) else fmt_number(x)


def fmt_pct(v: Any) -> str:
    """Format a fraction 0..1 as a percentage."""
    x = num(v)
    return "n/a" if x is None else f"{fmt_number(100.0 * x)} %"


def fmt_duration(v: Any) -> str:
    """Seconds in the most readable unit."""
    s = num(v)
    if s is None or math.isinf(s):
        return fmt_number(s)
    a = abs(s)
    for limit, scale, unit in (
        (1e-3, 1e6, "µs"),
        (1.0, 1e3, "ms"),
        (120.0, 1.0, "s"),
        (7200.0, 1 / 60, "min"),
        (2 * DAY_S, 1 / 3600, "h"),
    ):
        if a < limit:
            return f"{fmt_number(s * scale)} {unit}"
    return f"{fmt_number(s / DAY_S)} d"


def fmt_bytes(v: Any) -> str:
    """Bytes with SI prefixes (traffic)."""
    b = num(v)
    if b is None or math.isinf(b):
        return fmt_number(b)
    for limit, scale, unit in ((1e4, 1.0, "B"), (1e7, 1e-3, "kB"), (1e10, 1e-6, "MB")):
        if abs(b) < limit:
            return f"{fmt_number(b * scale)} {unit}"
    return f"{fmt_number(b * 1e-9)} GB"


def fmt_days(v: Any) -> str:
    """Days, with years in brackets for long lives."""
    d = num(v)
    if d is None or math.isinf(d):
        return fmt_number(d)
    text = f"{fmt_number(d)} d"
    return f"{text} ({d / 365.25:.1f} y)" if d >= 730 else text


def fmt_energy(v: Any) -> str:
    """Joules in the most readable unit."""
    j = num(v)
    if j is None or math.isinf(j):
        return fmt_number(j)
    for limit, scale, unit in ((1e-3, 1e6, "µJ"), (1.0, 1e3, "mJ"), (1e3, 1.0, "J")):
        if abs(j) < limit:
            return f"{fmt_number(j * scale)} {unit}"
    return f"{fmt_number(j * 1e-3)} kJ"


def fmt_ratio(v: Any) -> str:
    """Format a score in 0..1 with three decimals."""
    x = num(v)
    return "n/a" if x is None else f"{x:.3f}"


def ratio(a: Any, b: Any) -> float | None:
    """Return ``a / b``, or ``None`` when either is missing or ``b`` is zero."""
    x, y = num(a), num(b)
    return None if x is None or not y else x / y


# --------------------------------------------------------------------------- figures

FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif'
PLOT_CONFIG = {"displaylogo": False, "responsive": True}
PLOT_HEIGHT_PX = 440


def style_figure(
    fig: go.Figure, title: str, xtitle: str | None = None, ytitle: str | None = None
) -> go.Figure:
    """Apply the common layout: title, axis titles, fonts and a print-friendly template."""
    fig.update_layout(
        template="plotly_white",
        title={"text": title, "x": 0.01, "xanchor": "left"},
        height=PLOT_HEIGHT_PX,
        margin={"l": 70, "r": 20, "t": 70, "b": 60},
        font={"family": FONT, "size": 12, "color": "#222"},
        hoverlabel={"namelength": -1},
        legend={"title": {"text": ""}},
    )
    if xtitle is not None:
        fig.update_xaxes(title_text=xtitle)
    if ytitle is not None:
        fig.update_yaxes(title_text=ytitle)
    return fig


def no_data(fig: go.Figure, message: str) -> go.Figure:
    """Annotate an empty figure instead of leaving a blank frame."""
    fig.add_annotation(
        text=ptext(message),
        xref="paper",
        yref="paper",
        x=0.5,
        y=0.5,
        showarrow=False,
        font={"size": 14, "color": "#777"},
    )
    return fig


def plot_block(
    fig: go.Figure | None,
    plot_id: str,
    caption: str,
    height_px: int = PLOT_HEIGHT_PX,
    inner: str = "",
) -> str:
    """Wrap a figure (or ready ``inner`` HTML) in its container ``<div class="twin-plot">``.

    The graph goes in ``<div id="{plot_id}-fig">`` without plotly.js (the page inlines it once)
    and the caption under it; ``inner``, when given, replaces the graph (a note instead of an
    empty figure).
    """
    if not inner:
        inner = fig.to_html(
            full_html=False,
            include_plotlyjs=False,
            include_mathjax=False,
            div_id=f"{plot_id}-fig",
            default_height=f"{height_px}px",
            config=PLOT_CONFIG,
        )
    return (
        f'<div class="twin-plot" id="{plot_id}" data-plot="{plot_id}">{inner}'
        f'<p class="caption">{esc(caption)}</p></div>'
    )


# --------------------------------------------------------------------------- HTML


def swatch(colour: str) -> str:
    """Render a small colour square."""
    return f'<span class="swatch" style="background:{colour}"></span>'


def td(value: Any, fmt: Callable[[Any], str]) -> str:
    """Render a numeric table cell with its raw value in ``data-value``."""
    return f'<td class="num" data-value="{esc(json_attr(value))}">{esc(fmt(value))}</td>'


def table(table_id: str, headers: list[str], rows: list[str], caption: str) -> str:
    """Render a ``<table>`` with a stable id and a caption."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join(f"<tr>{r}</tr>" for r in rows) or (
        f'<tr><td colspan="{len(headers)}">n/a</td></tr>'
    )
    return (
        f'<div class="table-wrap"><table id="{table_id}"><caption>{esc(caption)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )


def section(section_id: str, title: str, body: str) -> str:
    """Render a titled report section."""
    return f'<section id="{section_id}"><h2>{esc(title)}</h2>{body}</section>'


# --------------------------------------------------------------------------- the page


CSS = """
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
.badge::before { content: "◆ "; }
.verdict { border-left: 4px solid #888; background: var(--bg-soft); padding: .6rem 1rem;
           margin: .6rem 0; }
.verdict.recommended { border-left-color: #0a6b2f; }
.verdict-sentence { margin: 0 0 .3rem; font-size: 1rem; }
.verdict-objective { margin: 0; color: var(--muted); font-size: .85rem; }
.table-verdict td.leads { color: #0a6b2f; font-weight: 600; }
td.muted { color: var(--muted); font-size: .8rem; }
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
""".replace("__FONT__", FONT)


# Re-flow the figures to the page width when printing (they are sized for the screen).
PRINT_JS = (
    "(function(){function fit(){if(!window.Plotly){return;}"
    "document.querySelectorAll('.plotly-graph-div').forEach(function(d){"
    "window.Plotly.Plots.resize(d);});}"
    "window.addEventListener('beforeprint',fit);window.addEventListener('afterprint',fit);"
    "if(window.matchMedia){var m=window.matchMedia('print');"
    "if(m.addEventListener){m.addEventListener('change',fit);}}})();"
)


def policy_key(colours: dict[str, str]) -> str:
    """The policy colour key of a report header: a swatch and the name of each policy."""
    return "".join(
        f'<span class="item" data-policy="{esc(p)}" data-colour="{c}">{swatch(c)}{esc(p)}</span>'
        for p, c in colours.items()
    )


def nav_links(items: Iterable[tuple[str, str]]) -> str:
    """Links to the report's sections, from (section id, title) pairs."""
    return "".join(f'<a href="#{sid}">{esc(t)}</a>' for sid, t in items)


def document(title: str, css: str, header: str, main: str, footer: str) -> str:
    """The complete, self-contained HTML document of a report.

    plotly.js is inlined once in ``<head>`` with the print helper; nothing external is
    referenced, so the file opens offline.

    Parameters
    ----------
    title : str
        Page title (plain text; escaped here).
    css : str
        Style sheet appended to :data:`CSS`.
    header, main, footer : str
        HTML of the page header (with its navigation), the sections and the footer element.

    Returns
    -------
    str
        The document, ending in a newline.
    """
    plotly_js = get_plotlyjs().replace("</script", "<\\/script")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="generator" content="twin">'
        f"<title>{esc(title)}</title><style>{CSS}{css}</style>"
        f'<script type="text/javascript">{plotly_js}\n{PRINT_JS}</script></head>'
        f"<body>{header}<main>{main}</main>{footer}</body></html>\n"
    )
