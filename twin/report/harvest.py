"""Harvest against draw, for groups with a harvester (solar): where "sustained" comes from.

A harvesting node's battery life is "sustained" when it lasts the horizon (its drain refills
by day, so none is projected from it). This table gives what it drew, what the cell lost to
self-discharge and what the harvester put back, per node-day, so the "sustained" of the
terminal, ``summary.json`` and the headline can be checked against the charge that moved.
"""

from __future__ import annotations

from typing import Any

from twin.report.records import RunContext
from twin.report.style import DAY_S, esc, get_path, num, swatch, table, td

__all__ = ["harvest_table", "mah_per_node_day"]

_LIMIT_TEXT = {"sustained": "sustained", "charge": "runs down", "shelf_life": "shelf life"}


def mah_per_node_day(charge_c: Any, nodes: Any, days: float) -> float | None:
    """Charge [C] over a group's nodes and days as mAh per node-day (None if undefined)."""
    c, n = num(charge_c), num(nodes)
    return None if c is None or not n or not days else c / n / days / 3.6


def _two_places(v: float | None) -> str:
    return "n/a" if v is None else f"{v:,.2f}"


def harvest_table(ctx: RunContext) -> str:
    """Per (policy, group) that harvests: drawn, self-discharge, harvested [mAh per node-day]."""
    days = (ctx.horizon_s or 0.0) / DAY_S
    rows = []
    for key in [k for k in ctx.entries if k in ctx.results]:
        r = ctx.result(key)
        bat = r.get("battery") or {}
        if not num(bat.get("harvested_c")):
            continue
        values = [
            mah_per_node_day(bat.get(k), r.get("nodes"), days)
            for k in ("drawn_c", "self_discharge_c", "harvested_c")
        ]
        net = None if None in values else values[2] - values[0] - values[1]
        limit = get_path(r, "battery_life_days.limit")
        cells = [
            f'<td class="policy">{swatch(ctx.colour(key))}{esc(key[0])}</td><td>{esc(key[1])}</td>'
        ]
        cells += [td(v, _two_places) for v in [*values, net]]
        sustained = get_path(r, "battery_life_days.limited_by.sustained") or 0
        word = _LIMIT_TEXT.get(limit, limit or "n/a")
        verdict = f"{word} ({sustained:,} of {r.get('nodes')} nodes sustained)"
        cells.append(f'<td data-limit="{esc(limit or "")}">{esc(verdict)}</td>')
        rows.append("".join(cells))
    if not rows:
        return ""
    return table(
        "table-harvest",
        ["Policy", "Group", "Drawn", "Self-discharge", "Harvested", "Net", "Battery life"],
        rows,
        "Harvest against draw, mAh per node-day over the horizon. Harvested is the charge that "
        "went into the cell (none while it is full). A harvesting node that lasts the horizon "
        "is 'sustained': its drain refills by day, so no life is projected from it; a negative "
        "net over a short horizon says the margin is thin.",
    )
