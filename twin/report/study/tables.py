"""The study report's tables: provenance, sensitivity, Pareto front, intervals, failures.

Every table has a stable id (:data:`STUDY_TABLE_IDS`), numeric cells carry their raw value in
``data-value`` and rows carry their configuration, policy and group in ``data-*`` attributes.
"""

from __future__ import annotations

import json
import math
from typing import Any

from twin.analysis import mean_ci
from twin.report.study.model import CKey, Key, Point, Study, entry_effect, name_list
from twin.report.study.names import better_direction, fmt_param, is_number, metric_title
from twin.report.style import (
    esc,
    fmt_duration,
    fmt_int,
    fmt_number,
    fmt_ratio,
    json_attr,
    num,
    section,
    swatch,
    td,
)
from twin.results.study_table import PARAM_PREFIX

STUDY_TABLE_IDS: tuple[str, ...] = (
    "table-study",
    "table-sensitivity",
    "table-pareto",
    "table-ci",
    "table-failures",
)


def _wbr(text: str) -> str:
    """Escape a dotted name and allow line breaks after its dots (not inside words)."""
    return esc(text).replace(".", ".<wbr>")


def table_html(
    table_id: str, headers: list[str], rows: list[str], caption: str, empty: str = "n/a"
) -> str:
    """A ``<table>`` with a stable id; ``rows`` are complete ``<tr>`` elements."""
    head = "".join(f"<th>{_wbr(h)}</th>" for h in headers)
    body = "".join(rows) or f'<tr class="empty"><td colspan="{len(headers)}">{esc(empty)}</td></tr>'
    return (
        f'<div class="table-wrap"><table id="{table_id}"><caption>{esc(caption)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )


def _param_cells(s: Study, c: CKey) -> str:
    """Table cells of a configuration's parameter values (numbers carry ``data-value``)."""
    cells = []
    for p in s.params:
        v = s.config_params[c][p]
        if is_number(v):
            cells.append(td(v, fmt_param))
        else:
            cells.append(f"<td>{esc(fmt_param(v))}</td>")
    return "".join(cells)


def _row_attrs(s: Study, c: CKey, key: Key) -> str:
    """Identifying ``data-*`` attributes of a (configuration, policy, group) table row."""
    return (
        f'data-config="{esc(json.dumps(s.config_id[c], default=str))}" '
        f'data-policy="{esc(key[0])}" data-group="{esc(key[1])}"'
    )


def _entry_cells(s: Study, key: Key) -> str:
    """Policy (with swatch) and group cells."""
    return f'<td class="policy">{swatch(s.colour(key))}{esc(key[0])}</td><td>{esc(key[1])}</td>'


# --------------------------------------------------------------------------- provenance


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


def section_study(s: Study) -> str:
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
        ("Parameters", _code_list(name_list(info.get("parameters")))),
        ("Metrics", _code_list(name_list(info.get("metrics")))),
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


# --------------------------------------------------------------------------- sensitivity


def _fmt_rho(v: Any) -> str:
    """Correlation with sign and two decimals."""
    x = num(v)
    return "n/a" if x is None else f"{x:+.2f}"


def sensitivity_table(s: Study) -> str:
    """Spearman correlation and main-effect range per (metric, parameter, policy, group)."""
    rows = []
    for metric in s.metrics:
        better = better_direction(metric)
        arrow = {"higher": "↑ higher", "lower": "↓ lower"}.get(better or "", "–")
        for param in s.params:
            ax = s.axes[param]
            for key in s.entries:
                eff = entry_effect(s, metric, param, key)
                rng = eff.range
                rel = (
                    100.0 * rng / abs(eff.overall_mean)
                    if rng is not None and math.isfinite(eff.overall_mean) and eff.overall_mean
                    else None
                )
                rows.append(
                    f'<tr data-metric="{esc(metric)}" data-param="{esc(param)}" '
                    f'data-policy="{esc(key[0])}" data-group="{esc(key[1])}">'
                    f"<td>{esc(metric_title(metric))}</td><td>{esc(arrow)}</td>"
                    f"<td><code>{_wbr(param)}</code></td><td>{esc(ax.kind)}</td>"
                    f'<td class="policy">{swatch(s.colour(key))}{esc(key[0])}</td>'
                    f"<td>{esc(key[1])}</td>"
                    f"{td(eff.rho, _fmt_rho)}{td(eff.pairs, fmt_int)}"
                    f"{td(rng, fmt_number)}{td(rel, fmt_number)}</tr>"
                )
    return table_html(
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


def pareto_table(s: Study, points: list[Point]) -> str:
    """The Pareto-optimal (configuration, policy, group), fastest first within each group."""
    front = [p for p in points if p.optimal]
    order = {g: i for i, g in enumerate(s.groups)}
    front.sort(key=lambda p: (order[p.key[1]], p.values[1]))
    rows = [
        f"<tr {_row_attrs(s, p.config, p.key)}>{td(s.config_id[p.config], fmt_param)}"
        f"{_entry_cells(s, p.key)}{_param_cells(s, p.config)}"
        f"{td(p.values[0], fmt_number)}{td(p.values[1], fmt_number)}"
        f"{td(p.values[2], fmt_ratio)}{td(p.seeds, fmt_int)}</tr>"
        for p in front
    ]
    return table_html(
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


def ci_table(s: Study) -> str:
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
                f"<tr {_row_attrs(s, c, key)}>{td(s.config_id[c], fmt_param)}"
                f"{_entry_cells(s, key)}{_param_cells(s, c)}{''.join(cells)}</tr>"
            )
    return table_html(
        "table-ci",
        ["Config", "Policy", "Group", *s.params, *(metric_title(m) for m in s.metrics)],
        rows,
        "Mean ± half-width of the 95 % Student-t confidence interval over seeds (number of "
        "seeds with a value in brackets).",
    )


def failures_table(s: Study) -> str:
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
            params.append(td(v, fmt_param) if is_number(v) else f"<td>{esc(fmt_param(v))}</td>")
        rows.append(
            f'<tr data-run="{esc(run)}"><td><code>{esc(run if run is not None else "n/a")}'
            f"</code></td>{td(r.get('config'), fmt_param)}{td(r.get('seed'), fmt_param)}"
            f'{"".join(params)}<td><pre class="error">{esc(r.get("error") or "n/a")}</pre></td>'
            "</tr>"
        )
    headers = ["Run", "Config", "Seed", *s.params, "Error"]
    return table_html(
        "table-failures",
        headers,
        rows,
        "Runs that raised; the study went on without them.",
        empty="none",
    )
