"""The report's first screen: each group's verdict, every metric side by side, and the money.

The sentence and the values are those of ``summary["verdict"]`` (the terminal prints the
same), so the report cannot tell a different story. Results written before the verdict
existed get one computed from their entries, without an objective.
"""

from __future__ import annotations

from twin.analysis.verdict import usd_per_month, verdict
from twin.report.records import RunContext
from twin.report.style import DAY_S, esc, get_path, json_attr, num, section, swatch, table, td

__all__ = ["section_verdict", "verdicts"]


def verdicts(ctx: RunContext) -> list[dict]:
    """``summary["verdict"]``, or the verdict of the summary's entries when it has none."""
    given = ctx.summary.get("verdict")
    if isinstance(given, list):
        return given
    out = []
    for group in ctx.groups:
        entries = {k[0]: ctx.result(k) for k in ctx.entries if k[1] == group and k in ctx.results}
        if entries:
            out.append({"group": group, **verdict(entries, ctx.horizon_s or 0.0)})
    return out


def _metric_rows(ctx: RunContext, v: dict, policies: list[str]) -> list[str]:
    rows = []
    for m in v["metrics"]:
        cells = [f"<td>{esc(m['label'])}</td>"]
        for p in policies:
            leads = m.get("leader") == p
            shown = m["shown"].get(p)
            cells.append(
                f'<td class="num{" leads" if leads else ""}" data-metric="{esc(m["name"])}" '
                f'data-policy="{esc(p)}" data-group="{esc(v["group"])}" '
                f'data-value="{esc(json_attr(m["values"].get(p)))}" '
                f'data-leader="{"true" if leads else "false"}">'
                f"{esc(shown or 'n/a')}{' ◆' if leads else ''}</td>"
            )
        better = "higher" if m["better"] == "higher" else "lower"
        cells.append(f'<td class="muted">{better} is better</td>')
        rows.append("".join(cells))
    return rows


def _head(ctx: RunContext, v: dict, policies: list[str]) -> list[str]:
    def name(p: str) -> str:
        key = (p, v["group"])
        mark = " (recommended)" if v.get("recommended") == p else ""
        colour = swatch(ctx.colour(key)) if key in ctx.results else ""
        return f"{colour}{esc(p)}{mark}"

    return ["Metric", *[name(p) for p in policies], ""]


def _group_block(ctx: RunContext, v: dict) -> str:
    policies = list(next(iter(v["metrics"]), {}).get("shown", {})) if v["metrics"] else []
    rec = v.get("recommended")
    cls = "verdict recommended" if rec else "verdict"
    objective = v.get("objective")
    # The sentence opens with the objective when there is one: say only when there is none.
    lead = (
        ""
        if objective
        else '<p class="verdict-objective">No objective declared (<code>objective:</code> in '
        "the scenario): the verdict compares, it does not choose.</p>"
    )
    sentence = (
        f'<div class="{cls}" data-group="{esc(v["group"])}" '
        f'data-recommended="{esc(rec or "")}"><p class="verdict-sentence">'
        f"{esc(v['sentence'])}</p>{lead}</div>"
    )
    head = _head(ctx, v, policies)
    head_html = "".join(f"<th>{h}</th>" for h in head)
    body = "".join(f"<tr>{r}</tr>" for r in _metric_rows(ctx, v, policies))
    grid = (
        f'<div class="table-wrap"><table id="table-verdict-{esc(v["group"])}" '
        f'class="table-verdict"><caption>Every metric the choice rests on; ◆ leads by more '
        f"than 2 % (closer is a tie).</caption><thead><tr>{head_html}</tr></thead>"
        f"<tbody>{body}</tbody></table></div>"
    )
    title = f"<h3>Group {esc(v['group'])}</h3>" if len(ctx.groups) > 1 else ""
    return title + sentence + grid


def _dollars(x: float | None) -> str:
    return "n/a" if x is None else f"${x:,.2f}"


def _money_table(ctx: RunContext) -> str:
    """What the cloud side costs per policy: over the horizon and per month."""
    days = (ctx.horizon_s or 0.0) / DAY_S
    rows = []
    for key in [k for k in ctx.entries if k in ctx.results]:
        c = get_path(ctx.result(key), "cloud.cost_usd") or {}
        total, month = num(c.get("total_usd")), usd_per_month(c.get("total_usd"), days)
        cells = [
            f'<td class="policy">{swatch(ctx.colour(key))}{esc(key[0])}</td><td>{esc(key[1])}</td>'
        ]
        for v in (c.get("requests_usd"), c.get("transfer_usd"), c.get("compute_usd"), total, month):
            cells.append(td(num(v), _dollars))
        rows.append("".join(cells))
    return table(
        "table-cost",
        ["Policy", "Group", "Requests", "Transfer", "Compute", "Total (horizon)", "Per month"],
        rows,
        "Cloud cost in US dollars: messages billed per request, answers per GB out, workers "
        "per hour while the policy uses the cloud (the server profile's prices).",
    )


def section_verdict(ctx: RunContext) -> str:
    """The verdict of every group, then the cloud's cost."""
    blocks = "".join(_group_block(ctx, v) for v in verdicts(ctx) if v.get("metrics"))
    body = (blocks or "<p>No results to compare.</p>") + _money_table(ctx)
    return section("sec-verdict", "Verdict", body)
