"""The report's "Nodes at risk": a dated twin's nodes whose batteries end first.

Shown for a scenario with ``world.start_utc`` (a fleet calibrated from its telemetry starts at
the log's last record): each node's battery life becomes a date, and the nodes that end
first, under any policy, are listed first, so that the ones to visit are named.
"""

from __future__ import annotations

from twin.report.style import esc, fmt_days, get_path, section, table

SHOWN = 20  # nodes listed
HORIZONS_Y = (1, 2, 5)  # "nodes ending within" these many years


def section_at_risk(summary: dict, nodes: list[dict]) -> str:
    """The section, or "" when the run is not dated or its nodes carry no dates."""
    start = get_path(summary, "scenario.start_utc")
    dated = [n for n in nodes if n.get("end_of_life_utc")]
    if not start or not nodes:
        return ""
    policies = list(dict.fromkeys(n["policy"] for n in nodes))
    by_node: dict[tuple, dict] = {}
    for n in nodes:
        key = (n["group"], n.get("device") or n["node"])
        by_node.setdefault(key, {})[n["policy"]] = n
    # Earliest end under any policy first; nodes that do not end (no date) last.
    order = sorted(
        by_node.items(),
        key=lambda kv: min(r.get("battery_life_days") or float("inf") for r in kv[1].values()),
    )
    rows = []
    for (group, device), per in order[:SHOWN]:
        cells = f"<td>{esc(device)}</td><td>{esc(group)}</td>"
        first = next(iter(per.values()))
        cells += f"<td>{_pct(first.get('start_state_of_charge'))}</td>"
        for p in policies:
            r = per.get(p) or {}
            cells += f"<td>{_end(r)}</td>"
        rows.append(cells)
    counts = _within(dated, policies)
    intro = (
        f"<p>The twin starts at {esc(start)} (for a calibrated fleet: its telemetry's last "
        "record); each node's battery life is dated from there. "
        f"{counts} The {min(SHOWN, len(order))} nodes whose battery ends first, under any "
        "policy, are listed first. Lives are the charge-limited projection from the run's "
        "drain, capped at the cell's shelf life counted from this start (an upper bound for "
        "cells already in service).</p>"
    )
    headers = ["Device", "Group", "Charge at start"] + [f"End of life: {p}" for p in policies]
    return section(
        "sec-at-risk", "Nodes at risk",
        intro + table("table-at-risk", headers, rows, "Nodes whose batteries end first."),
    )  # fmt: skip


def _end(r: dict) -> str:
    """'2031-07-08 · 1,768 d', with the cap named when the shelf life is what ends it."""
    when, days = r.get("end_of_life_utc"), r.get("battery_life_days")
    if not when:
        return "does not end" if r else "-"
    cap = " (shelf life)" if r.get("life_limit") == "shelf life" else ""
    return f"{esc(when)} · {esc(fmt_days(days).split(' (')[0])}{cap}"


def _pct(v) -> str:
    return "-" if v is None else f"{100 * float(v):.0f} %"


def _within(dated: list[dict], policies: list[str]) -> str:
    """'Under cloud, 3 nodes end within 1 year, 9 within 2 years ...' per policy."""
    parts = []
    for p in policies:
        lives = [n["battery_life_days"] for n in dated if n["policy"] == p]
        counts = [sum(1 for d in lives if d <= 365.25 * y) for y in HORIZONS_Y]
        spans = ", ".join(f"{c} within {y} year{'s' if y > 1 else ''}"
                          for c, y in zip(counts, HORIZONS_Y, strict=True))  # fmt: skip
        parts.append(f"Under {esc(p)}: {spans}.")
    return " ".join(parts)
