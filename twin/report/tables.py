"""The run report's tables and the sections built around them.

Every table has a stable id (:data:`TABLE_IDS`) and every numeric cell carries its raw value in
``data-value``; every headline metric is a ``.card-metric`` element with ``data-policy``,
``data-group``, ``data-metric``, ``data-value`` and ``data-best``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twin.report.records import FAULT_LABELS, Key, RunContext, model_entries
from twin.report.style import (
    DAY_S,
    esc,
    fmt_bytes,
    fmt_days,
    fmt_duration,
    fmt_energy,
    fmt_int,
    fmt_number,
    fmt_pct,
    fmt_ratio,
    get_path,
    json_attr,
    num,
    ratio,
    section,
    swatch,
    table,
    td,
)
from twin.report.verdict_section import verdicts

TABLE_IDS: tuple[str, ...] = (
    "table-cost",
    "table-latency-stages",
    "table-comparison",
    "table-traffic",
    "table-faults",
    "table-confusion",
    "table-events",
    "table-outcome",
    "table-model",
    "table-provenance",
    "table-versions",
)


def _policy_cell(ctx: RunContext, key: Key) -> str:
    """Table cells for policy (with swatch) and group."""
    return f'<td class="policy">{swatch(ctx.colour(key))}{esc(key[0])}</td><td>{esc(key[1])}</td>'


# --------------------------------------------------------------------------- headline


# (dotted metric path, label, "higher"/"lower" is better, formatter); _card shows battery
# life with the limit that binds it (_fmt_life).
_HEADLINE: tuple[tuple[str, str, str, Callable[[Any], str]], ...] = (
    ("battery_life_days.median", "Battery life (median)", "higher", fmt_days),
    ("latency_s.p95", "Decision latency p95", "lower", fmt_duration),
    ("bytes_per_node_day", "Uplink per node-day", "lower", fmt_bytes),
    ("decision.f1", "F1 score", "higher", fmt_ratio),
)


# Each headline metric as the verdict names it: the verdict says who leads (by more than 2 %).
_VERDICT_NAME = {
    "battery_life_days.median": "battery_life_days",
    "latency_s.p95": "latency_p95_s",
    "bytes_per_node_day": "uplink_bytes_per_node_day",
    "decision.f1": "f1",
}


def _leaders(ctx: RunContext) -> dict[tuple[str, str], str | None]:
    """(group, headline metric path) -> the policy the verdict says leads on it."""
    out: dict[tuple[str, str], str | None] = {}
    for v in verdicts(ctx):
        by_name = {m["name"]: m.get("leader") for m in v.get("metrics", [])}
        for path, name in _VERDICT_NAME.items():
            out[(v["group"], path)] = by_name.get(name)
    return out


# The ``limited_by`` keys as the report words them.
_LIMIT_WORDS = {"charge": "charge", "shelf_life": "shelf life", "sustained": "sustained"}


def _fmt_life(b: Any) -> str:
    """A ``battery_life_days`` block's median with the limit that sets it.

    "3,652 d (10.0 y, shelf life)", "480 d (charge)"; a solar node that lasted the horizon
    is "sustained", with its cell's calendar life (what ends it) when the profile gives one.
    Results written before the limits were recorded show the bare median.
    """
    b = b if isinstance(b, dict) else {}
    median, limit, shelf = b.get("median"), b.get("limit"), num(b.get("shelf_life_days"))
    if median is None and limit == "mains":
        return "mains"
    if median is None and limit == "sustained":
        return "sustained" + ("" if shelf is None else f" (cell life {shelf / 365.25:.1f} y)")
    text = fmt_days(median)
    if median is None or not isinstance(limit, str):
        return text
    return f"{text[:-1]}, {limit})" if text.endswith(")") else f"{text} ({limit})"


def _limit_text(b: Any) -> str:
    """Which limit binds how many nodes: "shelf life", or "charge 9, shelf life 491"."""
    counts = (b.get("limited_by") if isinstance(b, dict) else None) or {}
    parts = {_LIMIT_WORDS.get(k, k): v for k, v in counts.items() if num(v)}
    if len(parts) == 1:
        return next(iter(parts))
    return ", ".join(f"{k} {fmt_int(v)}" for k, v in parts.items()) or "n/a"


def _metric_note(r: dict, path: str) -> str:
    """Small context line under a headline value."""
    if path == "battery_life_days.median":
        parts = [f"p05 {fmt_days(get_path(r, 'battery_life_days.p05'))}"]
        parts.append(f"{fmt_int(get_path(r, 'battery_life_days.dead_nodes'))} dead")
        if get_path(r, "battery_life_days.projected"):
            parts.append("projected")
        if get_path(r, "battery_life_days.limited_by.shelf_life"):
            # The cap hides how far the charge alone would go: keep that in view.
            uncapped = get_path(r, "battery_life_days.charge_limited_median")
            parts.append(f"charge alone {fmt_days(uncapped)}")
        return " · ".join(parts)
    if path == "latency_s.p95":
        p50, n = get_path(r, "latency_s.p50"), get_path(r, "latency_s.count")
        return f"p50 {fmt_duration(p50)} · n = {fmt_int(n)}"
    if path == "bytes_per_node_day":
        return f"{fmt_int(r.get('uplink_messages'))} messages in total"
    precision, recall = get_path(r, "decision.precision"), get_path(r, "decision.recall")
    return f"P {fmt_ratio(precision)} · R {fmt_ratio(recall)}"


def _card(ctx: RunContext, key: Key, leaders: dict[tuple[str, str], str | None]) -> str:
    """Headline card of one (policy, group) entry with one element per metric."""
    r = ctx.result(key)
    pol, grp = esc(key[0]), esc(key[1])
    items = []
    for path, label, better, fmt in _HEADLINE:
        raw = get_path(r, path)
        is_best = leaders.get((key[1], path)) == key[0]
        badge = '<span class="badge">leads</span>' if is_best else ""
        # Battery life says which limit binds (charge or shelf life), not just the days.
        shown = _fmt_life(r.get("battery_life_days")) if path.startswith("battery_") else fmt(raw)
        items.append(
            f'<div class="card-metric{" best" if is_best else ""}" data-policy="{pol}" '
            f'data-group="{grp}" data-metric="{path}" data-value="{esc(json_attr(raw))}" '
            f'data-best="{"true" if is_best else "false"}" data-better="{better}">'
            f'<div class="metric-label">{esc(label)}</div>'
            f'<div class="metric-value">{esc(shown)}{badge}</div>'
            f'<div class="metric-note">{esc(_metric_note(r, path))}</div></div>'
        )
    return (
        f'<div class="card" data-policy="{pol}" data-group="{grp}" '
        f'style="border-top-color:{ctx.colour(key)}">'
        f"<h3>{swatch(ctx.colour(key))}{pol}</h3>"
        f'<div class="card-group">group {grp} · {fmt_int(r.get("nodes"))} nodes</div>'
        f"{''.join(items)}</div>"
    )


def section_headline(ctx: RunContext) -> str:
    """Headline cards, one row per group; the policy that leads on a metric is marked."""
    rows = []
    leaders = _leaders(ctx)
    for group in ctx.groups:
        keys = [k for k in ctx.entries if k[1] == group and k in ctx.results]
        if not keys:
            continue
        title = f"<h3>Group {esc(group)}</h3>" if len(ctx.groups) > 1 else ""
        rows.append(
            f'{title}<div class="cards">{"".join(_card(ctx, k, leaders) for k in keys)}</div>'
        )
    note = (
        "The policy that leads on a metric by more than 2 % is marked (closer is a tie): "
        "longer battery life and higher F1 are better, lower latency and fewer bytes are "
        "better. No single metric decides: see the verdict above. Battery life is projected from "
        "the horizon's drain and is at most the cell's shelf (calendar) life; the limit that "
        "binds is named beside it."
    )
    body = "".join(rows) or "<p>No results.</p>"
    return section("sec-headline", "Headline", f'{body}<p class="note">{esc(note)}</p>')


# --------------------------------------------------------------------------- comparison


def _comparison_rows(ctx: RunContext) -> list[str]:
    """Rows of the main comparison table."""
    rows = []
    for key in [k for k in ctx.entries if k in ctx.results]:
        r = ctx.result(key)
        delivery = ratio(r.get("uplink_delivered"), r.get("uplink_messages"))
        cells = [
            td(r.get("nodes"), fmt_int),
            td(get_path(r, "battery_life_days.median"), fmt_number),
            td(get_path(r, "battery_life_days.p05"), fmt_number),
            f"<td>{esc(_limit_text(r.get('battery_life_days')) + _brownout_text(r))}</td>",
            td(get_path(r, "battery_life_days.charge_limited_median"), fmt_number),
            td(get_path(r, "battery_life_days.dead_nodes"), fmt_int),
            td(r.get("energy_per_node_day_j"), fmt_number),
            td(get_path(r, "latency_s.p50"), fmt_number),
            td(get_path(r, "latency_s.p95"), fmt_number),
            td(get_path(r, "latency_s.p99"), fmt_number),
            td(r.get("bytes_per_node_day"), fmt_number),
            td(None if delivery is None else 100 * delivery, fmt_number),
            td(get_path(r, "decision.precision"), fmt_ratio),
            td(get_path(r, "decision.recall"), fmt_ratio),
            td(get_path(r, "decision.f1"), fmt_ratio),
        ]
        rows.append(_policy_cell(ctx, key) + "".join(cells))
    return rows


def _traffic_rows(ctx: RunContext) -> list[str]:
    """Rows of the traffic and cloud detail table."""
    rows = []
    for key in [k for k in ctx.entries if k in ctx.results]:
        r = ctx.result(key)
        phy, payload = r.get("uplink_bytes"), r.get("uplink_payload_bytes")
        both = num(phy) is not None and num(payload) is not None
        overhead = ratio(num(phy) - num(payload), phy) if both else None
        util = num(get_path(r, "cloud.utilisation"))
        cells = [
            td(r.get("samples"), fmt_int),
            td(r.get("samples_skipped"), fmt_int),
            td(r.get("inferences_device"), fmt_int),
            td(r.get("inferences_cloud"), fmt_int),
            td(r.get("uplink_messages"), fmt_int),
            td(r.get("uplink_delivered"), fmt_int),
            td(get_path(r, "uplink_lost.collision"), fmt_int),
            td(get_path(r, "uplink_lost.half_duplex"), fmt_int),
            td(get_path(r, "uplink_lost.duty_cycle"), fmt_int),
            td(phy, fmt_int),
            td(payload, fmt_int),
            td(None if overhead is None else 100 * overhead, fmt_number),
            td(r.get("downlink_messages"), fmt_int),
            td(r.get("airtime_s"), fmt_number),
            td(get_path(r, "cloud.requests"), fmt_int),
            td(None if util is None else 100 * util, fmt_number),
            td(get_path(r, "cloud.wait_p95_s"), fmt_number),
        ]
        rows.append(_policy_cell(ctx, key) + "".join(cells))
    return rows


def _brownout_text(r: dict) -> str:
    """Where the node's bursts brown it out, when that comes before the cell is empty."""
    soc = num(get_path(r, "battery.brownout.state_of_charge"))
    return "" if soc is None else f"; browns out at {100 * soc:.1f} % charge"


def section_comparison(ctx: RunContext) -> str:
    """Policy comparison table plus the traffic detail table."""
    main = table(
        "table-comparison",
        [
            "Policy",
            "Group",
            "Nodes",
            "Battery life median [d]",
            "Battery life p05 [d]",
            "Life limited by",
            "Charge-limited median [d]",
            "Dead nodes",
            "Energy [J/node·day]",
            "Latency p50 [s]",
            "Latency p95 [s]",
            "Latency p99 [s]",
            "Uplink [B/node·day]",
            "Delivered [%]",
            "Precision",
            "Recall",
            "F1",
        ],
        _comparison_rows(ctx),
        "Policy comparison (one row per policy and group). A node's battery life is the "
        "charge-limited one capped at the cell's shelf life (died nodes: when they died); "
        "'Life limited by' counts the nodes each limit binds (and where a burst sags the cell "
        "under the board's or modem's minimum, the charge the nodes brown out at: the rest is "
        "stranded), 'Charge-limited median' is the median without the cap.",
    )
    traffic = table(
        "table-traffic",
        [
            "Policy",
            "Group",
            "Samples",
            "Skipped",
            "Inferences device",
            "Inferences cloud",
            "Uplink msgs",
            "Delivered",
            "Lost: collision",
            "Lost: gateway transmitting",
            "Lost: duty cycle",
            "Uplink PHY [B]",
            "Uplink payload [B]",
            "Protocol overhead [%]",
            "Downlink msgs",
            "Airtime [s]",
            "Cloud requests",
            "Cloud utilisation [%]",
            "Cloud wait p95 [s]",
        ],
        _traffic_rows(ctx),
        "Traffic, radio and cloud totals over the whole horizon.",
    )
    return section("sec-comparison", "Policy comparison", main + traffic)


# --------------------------------------------------------------------------- decisions, model


def confusion_table(ctx: RunContext) -> str:
    """Confusion counts per policy/group."""
    rows = []
    for key in [k for k in ctx.entries if k in ctx.results]:
        d = ctx.result(key).get("decision") or {}
        cells = "".join(td(d.get(c), fmt_int) for c in ("tp", "fp", "fn", "tn"))
        rows.append(_policy_cell(ctx, key) + cells)
    return table(
        "table-confusion",
        [
            "Policy",
            "Group",
            "True positives",
            "False positives",
            "False negatives",
            "True negatives",
        ],
        rows,
        "Confusion counts of the delivered decisions against ground truth.",
    )


def events_table(ctx: RunContext) -> str:
    """Episodes of positive truth per policy/group: caught, missed, how fast; false alarms."""
    rows = []
    for key in [k for k in ctx.entries if k in ctx.results]:
        d = ctx.result(key).get("decision") or {}
        delay = d.get("detection_delay_s") or {}
        cells = (
            td(d.get("events"), fmt_int)
            + td(d.get("events_detected"), fmt_int)
            + td(d.get("events_missed"), fmt_int)
            + td(delay.get("p50"), fmt_duration)
            + td(delay.get("p95"), fmt_duration)
            + td(d.get("false_alarms_per_node_day"), fmt_number)
        )
        rows.append(_policy_cell(ctx, key) + cells)
    return table(
        "table-events",
        [
            "Policy",
            "Group",
            "Events",
            "Detected",
            "Missed",
            "Detection delay p50",
            "Detection delay p95",
            "False alarms per node-day",
        ],
        rows,
        "An event is a run of samples with positive ground truth; its detection delay runs "
        "from its first sample to the moment a positive decision acts.",
    )


# Closed-loop outcomes (summary "outcome" keys, per node-day) and how to read them.
_OUTCOME_LABELS: dict[str, str] = {
    "water_applied_mm_per_node_day": "Water applied [mm per zone-day]",
    "water_drained_mm_per_node_day": "Water drained past field capacity [mm per zone-day]",
    "irrigations_per_node_day": "Irrigations [per zone-day]",
    "water_stress_h_per_node_day": "Crop water stress, Ks < 1 [h per zone-day]",
    "cold_occupied_h_per_node_day": "Occupied and cold [h per room-day]",
    "comfort_heating_h_per_node_day": "Heating to comfort [h per room-day]",
    "heat_loss_degree_h_per_node_day": "Heat loss, indoor-outdoor [K h per room-day]",
    "cold_occupied_program_h_per_node_day": "Fixed program: occupied and cold [h per room-day]",
    "heat_loss_program_degree_h_per_node_day": "Fixed program: heat loss [K h per room-day]",
}


def outcome_table(ctx: RunContext) -> str:
    """What acting on the decisions did to the world (groups that close the loop)."""
    rows = []
    for key in [k for k in ctx.entries if k in ctx.results]:
        out = ctx.result(key).get("outcome") or {}
        for name, value in out.items():
            if name == "actuator":
                continue
            rows.append(
                _policy_cell(ctx, key)
                + f"<td>{esc(out.get('actuator', ''))}</td>"
                + f"<td>{esc(_OUTCOME_LABELS.get(name, name))}</td>"
                + td(value, fmt_number)
            )
    return table(
        "table-outcome",
        ["Policy", "Group", "Actuator", "Outcome", "Value"],
        rows,
        "Closed loop (groups with actuation): the decision acting after each sample drives "
        "the actuator, so late or wrong decisions show here. n/a: no group closes the loop.",
    )


def _faults_text(intervals: list[dict]) -> str:
    """Each fault kind: how many intervals on how many targets, and the time any was on.

    Two gateways down together for 6 h are "2 intervals on 2 gateways, 6 h" (the time at
    least one was down), not 12 h.
    """
    by_kind: dict[str, list[dict]] = {}
    for f in intervals:
        by_kind.setdefault(str(f.get("kind")), []).append(f)
    parts = []
    for kind, rows in by_kind.items():
        spans = sorted(((num(f.get("start_s")) or 0.0), (num(f.get("end_s")) or 0.0)) for f in rows)
        union_s, end = 0.0, -float("inf")
        for a, b in spans:  # length of the union of the intervals
            if b > end:
                union_s += b - max(a, end)
                end = b
        targets = len({f.get("target") for f in rows})
        on = f" on {targets} targets" if targets > 1 else ""
        n = len(rows)
        parts.append(
            f"{FAULT_LABELS.get(kind, kind)}: {n} interval{'s' if n > 1 else ''}{on}, "
            f"{union_s / 3600:.3g} h in all"
        )
    return "; ".join(parts)


def faults_table(ctx: RunContext) -> str:
    """What the faults cost each policy and group: readings lost, buffered, forwarded."""
    rows = []
    for key in [k for k in ctx.entries if k in ctx.results]:
        r = ctx.result(key)
        sf = r.get("store_and_forward") or {}
        hub = r.get("hub_outage") or {}
        if hub.get("store_and_forward"):  # a direct link's store: kept through hub outages
            sf = {"stored": hub["messages_stored"], "forwarded": hub["messages_stored"],
                  "dropped_overflow": hub["messages_dropped_buffer_full"]}  # fmt: skip
        reboots = r.get("reboots") or {}
        cells = (
            (hub.get("messages_lost"), fmt_int),
            (hub.get("stored_wait_mean_s"), fmt_duration),
            (get_path(r, "uplink_lost.out_of_coverage"), fmt_int),
            (get_path(r, "uplink_lost.outage"), fmt_int),
            (get_path(r, "uplink_lost.interference"), fmt_int),
            (get_path(r, "messages_lost.retries_exhausted"), fmt_int),
            (get_path(r, "messages_lost.cloud_outage"), fmt_int),
            (get_path(r, "samples_skipped_by_reason.reset"), fmt_int),
            (reboots.get("charge_c") if reboots.get("count") else None, fmt_number),
            (sf.get("stored"), fmt_int),
            (sf.get("forwarded"), fmt_int),
            (sf.get("dropped_overflow"), fmt_int),
            (sf.get("buffered_at_end"), fmt_int),
            (get_path(sf, "forward_delay_s.p50"), fmt_duration),
        )
        rows.append(_policy_cell(ctx, key) + "".join(td(v, f) for v, f in cells))
    what = _faults_text(get_path(ctx.summary, "faults.intervals") or [])
    what = "; ".join(w for w in (what, _hub_text(ctx), _reset_text(ctx)) if w)
    return table(
        "table-faults",
        ["Policy", "Group", "Messages lost: hub out", "Hub wait, mean",
         "Messages lost: out of coverage", "Frames lost: outage", "Frames lost: loss burst",
         "Messages given up", "Requests lost: cloud down", "Samples missed: reset",
         "Reboots: charge [C]", "Stored", "Forwarded", "Dropped: buffer full", "Still stored",
         "Forward delay p50"],
        rows,
        f"Faults in this run: {what or 'none'}. Frames: uplink frames no gateway heard "
        "because every gateway in reach was down, or lost to a loss burst. Store-and-forward "
        "nodes keep what they could not send in flash and forward it, oldest first, once the "
        "network answers again; a BLE, Wi-Fi or cellular node keeps what is due while its hub "
        "is out and sends it when the hub is back (hub wait: how long, on average). A cellular "
        "node beyond its radio's maximum coupling loss loses its messages. A node back from a "
        "reset pays a cold boot and its network re-join (reboots). n/a: the group does not "
        "store, its hub never goes out, it has no coupling loss, or it never reset.",
    )  # fmt: skip


def _reset_text(ctx: RunContext) -> str:
    """Brown-out resets per group: how many nodes came back, and what rebooting drew."""
    seen, parts = set(), []
    for key in [k for k in ctx.entries if k in ctx.results]:
        r = ctx.result(key)
        group, reboots = r.get("group"), r.get("reboots") or {}
        if reboots.get("count") and group not in seen:
            seen.add(group)
            parts.append(f"resets of {group}: {r.get('resets', 0):,}")
    return "; ".join(parts)


def _hub_text(ctx: RunContext) -> str:
    """Hub outages per group (each node its own intervals): how many, and the time out."""
    seen, parts = set(), []
    for key in [k for k in ctx.entries if k in ctx.results]:
        r = ctx.result(key)
        hub, group = r.get("hub_outage"), r.get("group")
        if hub and group not in seen:
            seen.add(group)
            parts.append(
                f"hub outages of {group}: {hub['outages']} on its nodes, "
                f"{hub['down_fraction']:.1%} of node-time"
            )
    return "; ".join(parts)


def model_table(ctx: RunContext) -> str:
    """Model details: size, memory use against the board, cost per inference."""
    rows = []
    for key, m in model_entries(ctx):
        cells = [
            f"<td>{esc(m.get('name') or 'n/a')}</td><td>{esc(m.get('variant') or 'n/a')}</td>",
            td(m.get("macs"), fmt_int),
            td(m.get("flash_bytes"), fmt_int),
            td(m.get("board_flash_bytes"), fmt_int),
            td(ratio(m.get("flash_bytes"), m.get("board_flash_bytes")), fmt_pct),
            td(m.get("ram_bytes"), fmt_int),
            td(m.get("board_ram_bytes"), fmt_int),
            td(ratio(m.get("ram_bytes"), m.get("board_ram_bytes")), fmt_pct),
            td(m.get("latency_s"), fmt_duration),
            td(m.get("energy_j"), fmt_energy),
        ]
        rows.append(_policy_cell(ctx, key) + "".join(cells))
    return table(
        "table-model",
        [
            "Policy",
            "Group",
            "Model",
            "Variant",
            "MACs",
            "Flash [B]",
            "Board flash [B]",
            "Flash used",
            "RAM [B]",
            "Board RAM [B]",
            "RAM used",
            "Latency / inference",
            "Energy / inference",
        ],
        rows,
        "The model run on the device, per policy and group.",
    )


# --------------------------------------------------------------------------- provenance


def section_provenance(summary: dict) -> str:
    """Scenario, seed, horizon, versions and timing of the run."""
    sc = summary.get("scenario") or {}
    horizon = num(sc.get("horizon_s"))
    horizon_txt = "n/a" if horizon is None else f"{fmt_number(horizon)} s ({horizon / DAY_S:.2f} d)"
    items = [
        ("Scenario", esc(sc.get("name") or "n/a")),
        ("Scenario file", f"<code>{esc(sc.get('file') or 'n/a')}</code>"),
        ("Scenario SHA-256", f"<code>{esc(sc.get('hash') or 'n/a')}</code>"),
        ("Seed", esc("n/a" if sc.get("seed") is None else sc.get("seed"))),
        ("Horizon", esc(horizon_txt)),
        ("Wall time", esc(fmt_duration(summary.get("wall_time_s")))),
        ("Created (UTC)", esc(summary.get("created_utc") or "n/a")),
    ]
    prov = "".join(f"<tr><th>{esc(k)}</th><td>{v}</td></tr>" for k, v in items)
    versions = summary.get("versions") or {}
    ver = (
        "".join(
            f"<tr><th>{esc(k)}</th><td><code>{esc('n/a' if v is None else v)}</code></td></tr>"
            for k, v in versions.items()
        )
        or '<tr><td colspan="2">n/a</td></tr>'
    )
    runs = summary.get("runs") or []
    runs_html = ""
    if runs:  # a comparison (twin compare): where each labelled run came from
        rows = [
            f"<td>{esc(r.get('label'))}</td><td>{esc(r.get('name') or 'n/a')}</td>"
            f"<td><code>{esc(r.get('file') or 'n/a')}</code></td>"
            f"<td><code>{esc((r.get('hash') or 'n/a')[:12])}</code></td>"
            f"<td>{esc('n/a' if r.get('seed') is None else r.get('seed'))}</td>"
            for r in runs
        ]
        runs_html = table(
            "table-runs",
            ["Label", "Scenario", "File", "SHA-256 (first 12)", "Seed"],
            rows,
            "Runs compared; their policies appear as label/policy.",
        )
    inputs = summary.get("inputs") or []
    inputs_html = ""
    if inputs:  # models and recordings: the scenario's hash does not cover their contents
        inputs_html = table(
            "table-inputs",
            ["Role", "File", "SHA-256 (first 12)"],
            [
                f"<td>{esc(f.get('role'))}</td><td><code>{esc(f.get('path'))}</code></td>"
                f"<td><code>{esc((f.get('sha256') or 'n/a')[:12])}</code></td>"
                for f in inputs
            ],
            "Files the run read besides the scenario.",
        )
    run_html = (
        f'<div class="table-wrap"><table id="table-provenance" class="kv"><caption>Run'
        f"</caption><tbody>{prov}</tbody></table></div>"
        f'<div class="table-wrap"><table id="table-versions" class="kv"><caption>Software '
        f"versions</caption><tbody>{ver}</tbody></table></div>"
    )
    body = runs_html + run_html + inputs_html
    return section("sec-provenance", "Provenance", body)


# The stages of summary "latency_breakdown_s", as the report names them.
_STAGE_LABELS = (
    ("on_device", "On the device"),
    ("uplink", "To the cloud (waits, air, backhaul)"),
    ("cloud_queue", "Cloud queue"),
    ("cloud_service", "Cloud service"),
    ("downlink_backhaul", "Backhaul down"),
    ("rx_window_wait", "Receive-window wait + downlink"),
)


def latency_stages_table(ctx: RunContext) -> str:
    """Where a delivered decision's time goes, on average, per (policy, group)."""
    keys = [k for k in ctx.entries if k in ctx.results]
    if not any(ctx.result(k).get("latency_breakdown_s") for k in keys):
        return ""  # results written before the stages were recorded
    rows = []
    for key in keys:
        r = ctx.result(key)
        stages = r.get("latency_breakdown_s") or {}
        mean = num(get_path(r, "latency_s.mean"))
        cells = [_policy_cell(ctx, key), f'<td class="num">{esc(fmt_duration(mean))}</td>']
        for name, _ in _STAGE_LABELS:
            v = num(stages.get(name))
            share = "" if v is None or not mean else f" ({100 * v / mean:.0f} %)"
            cells.append(
                f'<td class="num" data-stage="{name}" data-value="{esc(json_attr(v))}">'
                f"{esc(fmt_duration(v))}{share}</td>"
            )
        rows.append("".join(cells))
    return table(
        "table-latency-stages",
        ["Policy", "Group", "Mean", *[label for _, label in _STAGE_LABELS]],
        rows,
        "Mean decision latency of the delivered decisions, split by where the time went; the "
        "stages add up to the mean. To the cloud: from the sample to the request reaching the "
        "cloud (a cascade's own inference, a store-and-forward node's buffering, tx jitter, "
        "air and backhaul). Answers that never reached a node are not in it.",
    )
