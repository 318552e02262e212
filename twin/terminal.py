"""What ``twin run`` prints: the metric table, the verdict and the warnings, fitted to the terminal.

The table has one column per (policy, group) and one row per metric. When the columns do
not fit the terminal (80 columns in a CI log or a split screen), they are printed in blocks
of as many as fit, each block with the metric names, rather than cut (rich would shorten
``1,431,729`` to ``1,43…``). The verdict sentence is the one in ``summary.json``, wrapped at
spaces, so no number is split. Everything is a pure function of the summary.
"""

from __future__ import annotations

import re
import shutil
import textwrap
from collections.abc import Callable

from twin.analysis.verdict import tied
from twin.report.harvest import mah_per_node_day

__all__ = ["print_summary", "print_warnings", "printable", "terminal_width", "wrap"]

MAX_WIDTH = 120  # prose wider than this is hard to read even on a wide terminal


def printable(text: str) -> str:
    r"""Text from a scenario or a parser, made safe for a terminal, on one line.

    Runs of spaces, tabs and newlines become one space (parsers' messages span lines);
    every other control or format character (an escape sequence that would recolour or
    clear the terminal, a bidirectional override that would reorder the line) is shown
    escaped, as ``\x1b`` or ``\u202e``.
    """
    text = re.sub(r"[ \t\n\r]+", " ", text)
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def terminal_width() -> int:
    """Columns of the terminal (``COLUMNS`` when set; 80 when not a terminal)."""
    return shutil.get_terminal_size((80, 24)).columns


# A number and the unit after it stay on one line ("50.9 %", "1,826 d", "20.7 ms").
_UNIT_GAP = re.compile(r"(?<=\d) (?=[^\d\s(]+)(?!vs\b|and\b|of\b|to\b|in\b|at\b)")
_NBSP = "\u00a0"


def wrap(text: str, width: int | None = None, first: str = "") -> str:
    """Text wrapped to the terminal at spaces: a number, id or path is never split."""
    width = min(width or terminal_width(), MAX_WIDTH)
    glued = _UNIT_GAP.sub(_NBSP, text)
    lines = textwrap.wrap(glued, width, initial_indent=first, subsequent_indent="  ",
                          break_long_words=False, break_on_hyphens=False)  # fmt: skip
    return "\n".join(lines).replace(_NBSP, " ")


def _fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def _years(days: float | None) -> str:
    return "" if days is None else f" ({days / 365.25:.1f} y)"


def _life(r: dict) -> str:
    b = r["battery_life_days"]
    if r.get("battery", {}).get("mains"):
        return "mains"
    if b["median"] is None and b.get("energy_neutral_nodes"):
        return "sustained (solar)"
    return _fmt(b["median"], ",.0f") + (" (proj.)" if b["projected"] else "")


def _limit(r: dict) -> str:
    """Which limit sets the median: the charge, or the cell's shelf (calendar) life."""
    b = r["battery_life_days"]
    shelf, counts = b.get("shelf_life_days"), b.get("limited_by") or {}
    if r.get("battery", {}).get("mains") or "limit" not in b:
        return "-"
    if b["limit"] == "shelf life":
        return "shelf life" + _years(shelf)
    if b["limit"] == "sustained":  # what ends a solar node is its cell's calendar life
        return "cell life" + _years(shelf)
    if b["limit"] == "mixed":
        return ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in counts.items() if v)
    return str(b["limit"])


def _charge_alone(r: dict) -> str:
    b = r["battery_life_days"]
    return "-" if "limit" not in b else _fmt(b.get("charge_limited_median"), ",.0f")


# Rows that show the verdict's own figures (summary["verdict"]), so the table and the
# sentence under it cannot disagree: (verdict metric, label).
_VERDICT_ROWS = (
    ("delivered_fraction", "answers delivered"),
    ("cost_usd_per_month", "cloud cost"),
    ("water_stress_h_per_node_day", "crop water stress"),
    ("water_applied_mm_per_node_day", "water applied"),
    ("cold_occupied_h_per_node_day", "occupied and cold"),
    ("heat_loss_degree_h_per_node_day", "heat loss"),
)


def _verdict_cells(summary: dict) -> list[tuple[str, Callable[[dict], str]]]:
    shown: dict[str, dict[tuple[str, str], str | None]] = {}
    for v in summary.get("verdict") or []:
        for m in v["metrics"]:
            for policy, text in m["shown"].items():
                shown.setdefault(m["name"], {})[(policy, v["group"])] = text
    return [
        (label, lambda r, cells=shown[name]: cells.get((r["policy"], r["group"])) or "-")
        for name, label in _VERDICT_ROWS
        if name in shown and any(shown[name].values())
    ]


def _harvest_rows(summary: dict) -> list[tuple[str, Callable[[dict], str]]]:
    days = (summary["scenario"].get("horizon_s") or 0.0) / 86_400.0

    def per_node_day(key: str) -> Callable[[dict], str]:
        def cell(r: dict) -> str:
            mah = mah_per_node_day((r.get("battery") or {}).get(key), r["nodes"], days)
            return "n/a" if mah is None else f"{mah:,.2f}"

        return cell

    return [
        ("  drawn [mAh/node-day]", per_node_day("drawn_c")),
        ("  harvested [mAh/node-day]", per_node_day("harvested_c")),
    ]


def _rows(summary: dict) -> list[tuple[str, Callable[[dict], str]]]:
    results = summary["results"]
    capped = any(r["battery_life_days"].get("limited_by", {}).get("shelf_life") for r in results)
    harvests = any((r.get("battery") or {}).get("harvested_c") for r in results)
    return [
        ("nodes", lambda r: str(r["nodes"])),
        ("decision latency p50 [s]", lambda r: _fmt(r["latency_s"]["p50"], ".3g")),
        ("decision latency p95 [s]", lambda r: _fmt(r["latency_s"]["p95"], ".3g")),
        ("uplink bytes per node-day", lambda r: _fmt(r["bytes_per_node_day"], ",.0f")),
        ("air time [s]", lambda r: _fmt(r["airtime_s"], ",.0f")),
        ("uplinks lost to collisions", lambda r: f"{r['uplink_lost']['collision']:,}"),
        *([("uplinks lost to half-duplex", _half_duplex)] if _any_half_duplex(results) else []),
        ("energy per node-day [J]", lambda r: _fmt(r["energy_per_node_day_j"], ".3g")),
        ("battery life, median [days]", _life),
        ("  limited by", _limit),
        # The projection before the shelf-life cap, so a capped median loses nothing.
        *([("  charge alone, median [days]", _charge_alone)] if capped else []),
        # Harvesting nodes: what they drew against what the harvester put back.
        *(_harvest_rows(summary) if harvests else []),
        ("cloud inferences", lambda r: f"{r['inferences_cloud']:,}"),
        ("decision F1", lambda r: _fmt(r["decision"]["f1"], ".3f")),
        *_verdict_cells(summary),
    ]


def _half_duplex(r: dict) -> str:
    n = r["uplink_lost"].get("half_duplex")
    return "n/a" if n is None else f"{n:,}"


def _any_half_duplex(results: list[dict]) -> bool:
    """Whether any gateway missed an uplink while transmitting (half-duplex)."""
    return any(r["uplink_lost"].get("half_duplex") for r in results)


def _table(title: str | None, results: list[dict], rows: list):
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=None if title is None else escape(title))
    table.add_column("metric", no_wrap=True)
    for r in results:
        policy, group = printable(str(r["policy"])), printable(str(r["group"]))
        table.add_column(escape(f"{policy}\n{group}"), justify="right", no_wrap=True)
    for label, cell in rows:
        table.add_row(escape(label), *(escape(cell(r)) for r in results))
    return table


def _rendered_width(table) -> int:
    """Columns the table takes when nothing constrains it (rich's measure() can be short)."""
    import io

    from rich.console import Console

    probe = Console(width=10_000, file=io.StringIO(), color_system=None)
    probe.print(table)
    return max(len(line.rstrip()) for line in probe.file.getvalue().splitlines())


def _blocks(console, title: str, results: list[dict], rows: list) -> list:
    """Tables of as many columns as fit the console, in order (at least one column each)."""
    width = console.width
    blocks, start = [], 0
    while start < len(results):
        end = start + 1
        while end < len(results):
            trial = _table(title, results[start : end + 1], rows)
            if _rendered_width(trial) > width:
                break
            end += 1
        blocks.append(_table(title if not blocks else None, results[start:end], rows))
        start = end
    return blocks


def _print_list(console, block, results: list[dict], rows: list) -> None:
    """The block's entries as "metric: value" lines, for a column no terminal width holds."""
    names = {str(c.header) for c in block.columns[1:]}
    if block.title:
        console.print(str(block.title), markup=False, highlight=False)
    for r in results:
        policy, group = printable(str(r["policy"])), printable(str(r["group"]))
        if f"{policy}\n{group}" not in names:
            continue
        console.print(wrap(f"{policy} ({group})"), markup=False, highlight=False)
        for label, cell in rows:
            console.print(wrap(f"{label.strip()}: {cell(r)}", first="  "), markup=False,
                          highlight=False)  # fmt: skip


def print_summary(summary: dict) -> None:
    """The metric table (in blocks that fit the terminal), then each group's verdict."""
    from rich.console import Console

    console = Console()
    seed = summary["scenario"].get("seed")
    name = printable(str(summary["scenario"]["name"]))
    title = f"twin: {name}" + ("" if seed is None else f" (seed {seed})")
    rows = _rows(summary)
    for block in _blocks(console, title, summary["results"], rows):
        if _rendered_width(block) <= console.width:
            console.print(block)
        else:  # one column is still too wide (a long policy name): a list cuts nothing
            _print_list(console, block, summary["results"], rows)
    width = min(console.width, MAX_WIDTH)
    for line in deltas(summary):
        console.print(wrap(printable(line), width, "change: "), markup=False, highlight=False)
    for v in summary.get("verdict") or []:
        head = "verdict" + (f" ({v['group']})" if len(summary["verdict"]) > 1 else "") + ": "
        text = printable(v["sentence"])
        console.print(wrap(text, width, head), markup=False, highlight=False, soft_wrap=True)


def deltas(summary: dict) -> list[str]:
    """A comparison's changes: each later run's policy against the first run's same policy.

    One line per (run, policy, group) of ``twin compare``'s summary, e.g. ``b/on_device vs
    a/on_device (soil): energy -12.0 %, battery life +8.1 %``; metrics within the verdict's
    2 % are left out. Empty for a single run.
    """
    runs = [r["label"] for r in summary.get("runs") or []]
    if len(runs) < 2:
        return []
    lines = []
    for v in summary.get("verdict") or []:
        for label in runs[1:]:
            for name in [p for p in _policies(v) if p.startswith(label + "/")]:
                ref = f"{runs[0]}/{name.split('/', 1)[1]}"
                changes = [c for m in v["metrics"] if (c := _change(m, name, ref))]
                what = ", ".join(changes) or "all within 2 %"
                lines.append(f"{name} vs {ref} ({v['group']}): {what}")
    return lines


def _policies(v: dict) -> list[str]:
    return list(v["metrics"][0]["values"]) if v.get("metrics") else []


def _change(m: dict, name: str, ref: str) -> str | None:
    a, b = m["values"].get(name), m["values"].get(ref)
    if a is None or b is None or not b or tied(a, b):
        return None
    return f"{m['label']} {100 * (a - b) / abs(b):+.1f} %"


def print_warnings(summary: dict, echo: Callable[[str], None]) -> None:
    """Each distinct warning once (it repeats per policy), wrapped to the terminal."""
    width = min(terminal_width(), 100)
    seen: dict[str, None] = {}
    for r in summary.get("results", []):
        for w in r.get("warnings", []):
            seen.setdefault(w, None)
    for w in seen:
        echo(wrap(printable(w), width, "warning: "))
