"""The run's result records, sorted out for the run report's figures and tables.

Every record (a summary result, a time-series row, a latency histogram, a node) belongs to a
(policy, group) *entry*. :func:`run_context` collects the entries in order of appearance and
gives each a label, the colour of its policy and the line dash of its group; the functions
below reduce records to what a figure plots.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from twin.report.style import DAY_S, GROUP_DASHES, get_path, num, policy_colours, ptext

Key = tuple[str, str]


@dataclass
class RunContext:
    """Everything the figure and table builders share: entries, labels and colours."""

    summary: dict
    entries: list[Key]
    results: dict[Key, dict]
    colours: dict[str, str]
    groups: list[str]
    horizon_s: float | None = None
    labels: dict[Key, str] = field(default_factory=dict)

    def label(self, key: Key) -> str:
        """Display label of a (policy, group) entry."""
        return self.labels[key]

    def colour(self, key: Key) -> str:
        """Colour of the entry's policy."""
        return self.colours[key[0]]

    def dash(self, key: Key) -> str:
        """Line dash of the entry's group."""
        return GROUP_DASHES[self.groups.index(key[1]) % len(GROUP_DASHES)]

    def result(self, key: Key) -> dict:
        """Return the summary result of the entry (empty if the summary has none)."""
        return self.results.get(key, {})


def entry_key(row: dict) -> Key:
    """(policy, group) of a record, as strings."""
    group = row.get("group")
    return str(row.get("policy")), "" if group is None else str(group)


def run_context(summary: dict, *records: list[dict]) -> RunContext:
    """Collect entries in order of appearance (summary first) and assign labels/colours."""
    results: dict[Key, dict] = {}
    entries: list[Key] = []
    for r in summary.get("results") or []:
        k = entry_key(r)
        results.setdefault(k, r)
        if k not in entries:
            entries.append(k)
    for rows in records:
        for row in rows:
            k = entry_key(row)
            if k not in entries:
                entries.append(k)
    groups = list(dict.fromkeys(g for _, g in entries))
    ctx = RunContext(
        summary=summary,
        entries=entries,
        results=results,
        colours=policy_colours(p for p, _ in entries),
        groups=groups,
        horizon_s=num(get_path(summary, "scenario.horizon_s")),
    )
    single = len(groups) <= 1
    ctx.labels = {k: k[0] if single else f"{k[0]} / {k[1]}" for k in entries}
    return ctx


def by_entry(rows: list[dict]) -> dict[Key, list[dict]]:
    """Group records by (policy, group), keeping their order."""
    out: dict[Key, list[dict]] = {}
    for row in rows:
        out.setdefault(entry_key(row), []).append(row)
    return out


def policy_ticks(ctx: RunContext, keys: list[Key]) -> dict:
    """Category tick labels with a swatch in the policy colour."""
    return {
        "tickmode": "array",
        "tickvals": [ptext(ctx.label(k)) for k in keys],
        "ticktext": [
            f"<span style='color:{ctx.colour(k)}'>■</span> {ptext(ctx.label(k))}" for k in keys
        ],
    }


def model_entries(ctx: RunContext) -> list[tuple[Key, dict]]:
    """Entries whose summary carries an (at least partly filled) model record."""
    out = []
    for key in ctx.entries:
        m = ctx.result(key).get("model")
        if isinstance(m, dict) and any(num(v) is not None for v in m.values()):
            out.append((key, m))
    return out


FAULT_LABELS = {
    "gateway_outage": "gateway outage",
    "cloud_outage": "cloud outage",
    "loss_burst": "loss burst",
    "backhaul_spike": "backhaul spike",
}


# --------------------------------------------------------------------------- reductions


def histogram_cdf(edges: list, counts: list) -> tuple[list[float], list[float], int]:
    """Points of the empirical CDF (in %) at the bin edges, and the number of samples."""
    c = np.asarray([num(v) or 0.0 for v in counts], dtype=float)
    e = np.asarray([num(v) for v in edges], dtype=float)
    total = float(c.sum())
    if total <= 0 or len(e) != len(c) + 1:
        return [], [], int(total)
    cdf = np.concatenate([[0.0], np.cumsum(c) / total * 100.0])
    keep = np.isfinite(e) & (e > 0)  # a log axis cannot show 0
    return e[keep].tolist(), cdf[keep].tolist(), int(total)


def life_points(rows: list[dict]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Finite per-node battery lives, their projected flags and hover texts."""
    life, projected, text = [], [], []
    for r in rows:
        d = num(r.get("battery_life_days"))
        if d is None or not math.isfinite(d):
            continue
        life.append(d)
        projected.append(bool(r.get("projected")))
        state = "projected" if projected[-1] else "died"
        if r.get("life_limit") == "shelf life":  # capped: the cell's shelf life, not its charge
            state += ", shelf life"
        text.append(f"node {ptext(r.get('node'))}: {d:.1f} d ({state})")
    return np.asarray(life, dtype=float), np.asarray(projected, dtype=bool), text


def daily_totals(rows: list[dict], column: str) -> tuple[list[float], list[float | None]]:
    """Per-day totals of an interval column; partial days are scaled to a full day."""
    acc: dict[int, list[float]] = {}
    prev = 0.0
    for r in sorted(rows, key=lambda r: num(r.get("time_s")) or 0.0):
        t = num(r.get("time_s")) or 0.0
        dt = num(r.get("interval_s"))
        dt = t - prev if dt is None else dt
        prev = t
        day = math.floor(max(t - dt / 2.0, 0.0) / DAY_S)
        a = acc.setdefault(day, [0.0, 0.0, 0.0])  # sum, covered seconds, valid rows
        v = num(r.get(column))
        if v is not None:
            a[0] += v
            a[2] += 1
        a[1] += max(dt, 0.0)
    days = sorted(acc)
    vals = [
        None if not acc[d][2] else acc[d][0] * (DAY_S / acc[d][1] if acc[d][1] > 0 else 1.0)
        for d in days
    ]
    return [d + 0.5 for d in days], vals
