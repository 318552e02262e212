"""Flat result records built from the final state of a run.

One summary entry per (policy, group), one row per node and policy, one time-series row per
step, one latency histogram per (policy, group). Everything the report shows comes from here,
and everything here comes from the engine's stats (:mod:`twin.sim.stats`).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

import numpy as np

from twin.physics import cloud as cloud_cost
from twin.sim.ledger import RADIO_IDLE, STATES
from twin.sim.metrics import confusion_summary
from twin.sim.stats import GroupStats, NetworkStats
from twin.sim.uplink_log import device_ids
from twin.supply import BROWNOUT_SAID_SOC, rate_capacity_c

DAY_S = 86_400.0


def _energy_by_state_j(g: GroupStats, horizon_s: float) -> tuple[dict[str, float], np.ndarray]:
    """Energy per state for the group [J] and total per node [J]."""
    board, radio = g.plan.board, g.plan.radio
    alive_s = np.minimum(horizon_s, g.death_s)
    # The sensor's standby is on the board's rail.
    board_sleep_a = board.sleep_current_a + g.plan.sensor.standby_current_a
    sleep_node = alive_s * (board_sleep_a * board.supply_v + radio.sleep_current_a * radio.supply_v)
    volts = np.array([board.supply_v, board.supply_v] + [radio.supply_v] * 3)
    per_state_node = g.charge_c * volts
    # Keeping the link up (BLE events, DTIM beacons, eDRX paging) is a steady radio current.
    per_state_node[:, RADIO_IDLE] += alive_s * g.idle_current_a * radio.supply_v
    energy = {"sleep": float(sleep_node.sum())}
    for i, s in enumerate(STATES):
        energy[s] = float(per_state_node[:, i].sum())
    energy["total"] = float(sum(energy.values()))
    return energy, sleep_node + per_state_node.sum(axis=1)


def _charge_by_state_c(g: GroupStats, alive_s: np.ndarray) -> dict[str, float]:
    """Charge drawn from the cell per ledger state [C]."""
    out = {"sleep": float(g.sleep_current_a * alive_s.sum())}
    for i, state in enumerate(STATES):
        out[state] = float(g.charge_c[:, i].sum())
    out["radio_idle"] += float(g.idle_current_a * alive_s.sum())
    return out


# What sets a node's battery life (a node row's ``life_limit``; ``limited_by`` counts them).
LIFE_LIMITS: dict[str, str] = {
    "charge": "charge",  # the cell runs dry: died in the horizon, or projected to
    "shelf_life": "shelf life",  # it would outlast its rated shelf (calendar) life
    "sustained": "sustained",  # harvesting kept it going: no projection is made
    "mains": "mains",  # nothing runs out
}


@dataclass(frozen=True)
class BatteryLife:
    """Per-node battery life [days] of one group, and what limits it.

    ``days`` is what is reported: a node that died has its simulated depletion time; a live
    node is projected from its mean drain over the horizon, at most to the cell's shelf life.
    ``charge_days`` is the same without that cap (the charge-limited figure).
    """

    days: np.ndarray
    charge_days: np.ndarray
    projected: np.ndarray
    limit: np.ndarray  # one of LIFE_LIMITS' values per node
    shelf_life_days: float | None


def battery_life(g: GroupStats, horizon_s: float) -> BatteryLife:
    """Battery life per node, charge-limited and capped at the cell's shelf life.

    A projection from the horizon's mean drain can run for decades on a primary cell; no
    cell lasts past its shelf life, so a projected life is min(charge-limited, shelf life).
    The shelf life counts from deployment (a fresh cell): an upper bound for cells that sat
    in a store first. Nodes that died within the horizon are simulated, not projected, and
    are not capped. A harvesting node that lasted the horizon stays "sustained" (no
    projection, no cap): what ends it is the cell's calendar life, given beside it as
    ``shelf_life_days``, not a figure the horizon can measure.
    """
    n = g.n
    if g.mains:
        inf = np.full(n, np.inf)
        return BatteryLife(inf, inf, np.ones(n, dtype=bool), np.full(n, "mains"), None)
    died = ~np.isinf(g.death_s)
    bat = g.plan.battery
    charge_s = np.where(died, g.death_s, _charge_limited_s(g, horizon_s))
    limit = np.where(np.isinf(charge_s), "sustained", "charge").astype(object)
    shelf_days = bat.shelf_life_days
    life_s = charge_s
    if shelf_days is not None:
        shelf_s = shelf_days * DAY_S
        capped = ~died & np.isfinite(charge_s) & (charge_s > shelf_s)
        if g.plan.harvester is None:
            # A non-harvesting node that draws nothing (used == 0) is not sustained: its
            # cell still ages out.
            capped |= ~died & np.isinf(charge_s)
        life_s = np.where(capped, shelf_s, charge_s)
        limit[capped] = "shelf life"
    return BatteryLife(life_s / DAY_S, charge_s / DAY_S, ~died, limit, shelf_days)


def _charge_limited_s(g: GroupStats, horizon_s: float) -> np.ndarray:
    """Projected life of every node [s] from its mean drain (inf: sustained, or no drain)."""
    used = g.used_at_end_c
    if g.plan.harvester is not None:
        # A harvesting node's drain is not steady (it refills by day): a node that lasted the
        # horizon is reported as sustained (no projection) rather than extrapolated.
        return np.full(g.n, np.inf)
    # Projection at the node's mean current, with the capacity the cell gives at that current
    # (at or below the rated current the rated capacity).
    bat = g.plan.battery
    mean_a = used / horizon_s
    capacity_c = rate_capacity_c(bat, mean_a)
    # A cell that started part-empty (a deployed fleet's) has that share of it left, down to
    # where the node's bursts brown it out (twin.supply; 0 when the cell empties first).
    capacity_c = capacity_c * np.maximum(g.start_c / bat.capacity_c - _brownout_soc(g), 0.0)
    with np.errstate(divide="ignore"):
        return np.where(used > 0, capacity_c / mean_a, np.inf)


def _rate_record(g: GroupStats, horizon_s: float) -> dict:
    """Which rate effect the cell has, and the share of its rating the nodes' mean draw gets."""
    bat = g.plan.battery
    if g.mains:
        return {}
    model = "kibam" if bat.has_kibam else "peukert" if bat.peukert_exponent != 1 else "none"
    mean_a = g.used_at_end_c / np.maximum(np.minimum(horizon_s, g.death_s), 1e-9)  # alive
    share = rate_capacity_c(bat, mean_a) / bat.capacity_c
    return {"rate_effect": {"model": model, "usable_share_median": float(np.median(share))}}


def _brownout_soc(g: GroupStats) -> float:
    """The state of charge the group's nodes brown out at (0: they empty the cell)."""
    return g.plan.supply.brownout_soc if g.plan.supply is not None else 0.0


def battery_life_days(g: GroupStats, horizon_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Battery life per node [days] (capped at the shelf life) and whether it is projected."""
    life = battery_life(g, horizon_s)
    return life.days, life.projected


def _life_record(g: GroupStats, life: BatteryLife) -> dict:
    """The ``battery_life_days`` block: medians, what limits them, the uncapped figures."""
    counts = {key: int((life.limit == label).sum()) for key, label in LIFE_LIMITS.items()}
    # The limit that binds more than half the nodes (so it sets the median), else "mixed".
    majority = [LIFE_LIMITS[k] for k, count in counts.items() if 2 * count > g.n]
    return {
        "median": _finite_or_none(_quantile(life.days, 0.5)),
        "p05": _finite_or_none(_quantile(life.days, 0.05)),
        # Nodes that lasted the horizon on harvested energy (no projection is made).
        "energy_neutral_nodes": counts["sustained"],
        "projected": bool(np.median(life.projected.astype(float)) >= 0.5),
        "dead_nodes": int((~life.projected).sum()),
        "limit": majority[0] if majority else "mixed",
        "limited_by": counts,
        # Without the shelf-life cap: what the charge alone would give (kept, not lost).
        "charge_limited_median": _finite_or_none(_quantile(life.charge_days, 0.5)),
        "charge_limited_p05": _finite_or_none(_quantile(life.charge_days, 0.05)),
        "shelf_life_days": life.shelf_life_days,
    }


# Beyond this share of airtime taken by the other stations the light-load DCF model no longer
# holds (queues build and backoff freezes dominate): the run says so.
CONTENTION_WARN_BUSY = 0.5


def _contention_warnings(g: GroupStats) -> list[str]:
    """An access point loaded past what the light-load contention model covers."""
    c = g.contention
    if c is None or c["channel_busy_fraction"] <= CONTENTION_WARN_BUSY:
        return []
    return [
        f"the other {c['stations'] - 1} stations on group '{g.name}''s access point keep it "
        f"{c['channel_busy_fraction']:.0%} busy: past what the light-load contention model "
        "holds for, so its retries and waits are a lower bound (fewer stations per access "
        "point, or a faster PHY rate)"
    ]


def _coverage_warnings(g: GroupStats) -> list[str]:
    """Nodes out of coverage, and deep-coverage repetitions, said where the user looks."""
    c = g.coverage
    if c is None:
        return []
    out = []
    if c["nodes_out_of_coverage"]:
        limit = g.plan.radio.max_coupling_loss_db
        lost = c["messages_lost_out_of_coverage"]
        out.append(
            f"{c['nodes_out_of_coverage']} of {g.n} nodes of group '{g.name}' are beyond the "
            f"radio's {limit:g} dB maximum coupling loss: their {lost:,} messages were lost "
            "(move them, or give them an external antenna)"
        )
    if (c["repetitions_ul_max"] or 0) > 1:
        out.append(
            f"group '{g.name}': coverage repetitions up to {c['repetitions_ul_max']}x (median "
            f"{c['repetitions_ul_median']:g}x) at ideal combining, a lower bound on their "
            "airtime and energy"
        )
    return out


def _out_of_coverage(g: GroupStats) -> int:
    """Messages of cellular nodes beyond the maximum coupling loss (never sent)."""
    return 0 if g.coverage is None else g.coverage["messages_lost_out_of_coverage"]


def _hub_not_sent(g: GroupStats) -> int:
    """Messages a hub outage kept from leaving: lost, or dropped from a full store."""
    h = g.hub_outage
    return 0 if h is None else h["messages_lost"] + h["messages_dropped_buffer_full"]


def _brownout_record(g: GroupStats) -> dict:
    """Where the node's bursts brown it out (only when that comes before the cell is empty)."""
    soc, sup = _brownout_soc(g), g.plan.supply
    if g.mains or soc < BROWNOUT_SAID_SOC:
        return {}
    return {
        "brownout": {
            "peak_current_a": sup.peak_current_a,
            "min_supply_v": sup.min_supply_v,
            "full_loaded_v": sup.full_loaded_v,
            # The state of charge the node resets at under a burst: that share of the cell's
            # capacity is stranded, and the battery life ends there.
            "state_of_charge": soc,
        }
    }


def _modem_record(g: GroupStats) -> dict:
    """A bench-measured modem drawn from the cell at constant power (twin.supply.ModemScale).

    An assumption with a range: the conversion depends on the cell's voltage.
    """
    m = g.plan.supply.modem_scale if g.plan.supply is not None else None
    if m is None:
        return {}
    return {
        "modem_current_scale": {
            "measured_at_v": m.measured_v,
            "cell_v": m.cell_v,
            "scale": m.scale,
            "range": [m.scale_full, m.scale_empty],
        }
    }


def _life_warnings(g: GroupStats) -> list[str]:
    """A cell without a shelf life: say that its life is charge-limited only."""
    bat = g.plan.battery
    if g.mains or bat.shelf_life_days is not None:
        return []
    return [
        f"battery '{bat.id}' gives no shelf_life_years: its battery life is charge-limited "
        "only and may exceed what the cell lasts on a shelf (add shelf_life_years with its "
        "_source to the profile)"
    ]


BLOCKED_WARN_FRACTION = 0.05  # share of the cloud's answers blocked by duty cycle worth a warning


def _delivery_warnings(g: GroupStats, net: NetworkStats) -> list[str]:
    """Answers the cloud computed but the gateways could not send (their duty cycle was spent)."""
    gi = g.index
    blocked, sent = int(net.downlinks_blocked[gi]), int(net.downlinks[gi])
    if not blocked or blocked < BLOCKED_WARN_FRACTION * (blocked + sent):
        return []
    share = blocked / (blocked + sent)
    return [
        f"{share:.0%} of the cloud's answers to group '{g.name}' ({blocked:,}) were never "
        "sent: the gateways' downlink duty cycle was used up, so the decisions they carried "
        "never acted (fewer downlinks, e.g. deciding on the device, or more gateways would "
        "deliver them)"
    ]


def _quantile(x: np.ndarray, q: float) -> float:
    """Quantile that tolerates infinite entries (no interpolation between inf and inf)."""
    return float(np.quantile(x, q, method="lower" if np.isinf(x).any() else "linear"))


def _finite_or_none(x: float) -> float | None:
    """JSON has no infinity: an energy-neutral node's battery life is reported as None."""
    return float(x) if np.isfinite(x) else None


def _cloud_cost(g: GroupStats, net: NetworkStats, horizon_s: float, workers: int) -> dict:
    """What this group's traffic costs in the cloud at the server profile's list prices [USD].

    Messaging is billed per message: the profile's price per request covers two (the uplink
    and its answer), so every delivered uplink and every downlink costs half of it, whatever
    the policy. Transfer is billed on the answers leaving the cloud. The workers are paid
    for the whole horizon when the policy uses the cloud at all, apportioned to groups by
    their share of requests.
    """
    gi = g.index
    messages = int(net.delivered[gi] + net.downlinks[gi])
    out_gb = int(net.downlinks[gi]) * g.plan.payload_bytes.downlink / 1e9
    total_requests = int(net.cloud_requests.sum())
    share = net.cloud_requests[gi] / total_requests if total_requests else 0.0
    hours = workers * horizon_s / 3600.0 * share
    cost = cloud_cost.cost_usd(messages / 2, out_gb, hours, net.server)
    return {k: float(v) for k, v in cost.items()}


def _event_summary(g: GroupStats, days: float) -> dict:
    """Episodes of positive truth: how many were caught, how fast, and false alarms."""
    d = g.events
    return {
        "events": d["episodes"],
        "events_detected": d["detected"],
        "events_missed": d["missed"],
        # From the first sample of an episode to the moment a positive decision acts.
        "detection_delay_s": d["detection_delay_s"],
        "false_alarms": d["false_alarms"],
        "false_alarms_per_node_day": float(d["false_alarms"] / g.n / days),
    }


def _outcome(g: GroupStats, days: float) -> dict | None:
    """What the decisions did to the world (closed-loop groups only), per node-day."""
    if g.outcome is None:
        return None
    totals = g.outcome["totals"]
    return {
        "actuator": g.outcome["actuator"],
        **{f"{name}_per_node_day": float(v.sum() / g.n / days) for name, v in totals.items()},
    }


def group_record(
    policy: str, g: GroupStats, net: NetworkStats, horizon_s: float, workers: int
) -> dict:
    """The summary entry of one (policy, group)."""
    gi = g.index
    energy, _ = _energy_by_state_j(g, horizon_s)
    life = battery_life(g, horizon_s)
    alive_s = np.minimum(horizon_s, g.death_s)
    tp, fp, fn, tn = (int(v) for v in g.confusion.sum(axis=0))
    days = horizon_s / DAY_S
    sent = int(g.uplinks.sum())
    scheduled = g.scheduled
    est = g.inference
    return {
        "policy": policy,
        "group": g.name,
        "nodes": g.n,
        "samples": int(g.samples.sum()),
        "samples_skipped": scheduled - int(g.samples.sum()),
        # Why: the battery ran dry, or the node was off after a reset (brown-out).
        "samples_skipped_by_reason": {
            "battery": scheduled - int(g.samples.sum()) - int(g.skipped_reset),
            "reset": int(g.skipped_reset),
        },
        "resets": g.resets,
        # Nodes back from a reset, and the charge of their cold boots and network re-joins.
        "reboots": {"count": g.reboots, "charge_c": g.reboot_c},
        # Readings the nodes decided on (fewer than samples when a node reads its sensor
        # more often than it decides: a history model's rate between decisions).
        "decisions_taken": int(g.decisions_taken),
        "inferences_device": int(g.inferences_device),
        "inferences_cloud": int(net.cloud_requests[gi]),
        # Messages the nodes had to send: sent, not sent (radio busy), and those a hub outage
        # kept from leaving (lost, or dropped from a full store).
        "uplink_messages": sent + g.lost_busy + _hub_not_sent(g) + _out_of_coverage(g),
        "uplink_delivered": int(net.delivered[gi]),
        "uplink_lost": {
            **{reason: int(count[gi]) for reason, count in net.lost.items()},
            g.lost_busy_reason: g.lost_busy,
            **({"hub_outage": _hub_not_sent(g)} if g.hub_outage is not None else {}),
            **({"out_of_coverage": _out_of_coverage(g)} if g.coverage is not None else {}),
        },
        "uplink_bytes": int(g.uplink_bytes.sum()),
        "uplink_payload_bytes": int(g.payload_bytes_sent),
        "downlink_messages": int(net.downlinks[gi]),
        # Confirmed uplinks: frames sent again for want of an ACK (counted in uplink_messages),
        # ACK-only downlinks, and messages given up after the last transmission.
        "retransmissions": int(g.retransmissions),
        "acks": int(net.acks[gi]),
        "unacknowledged": int(net.unacknowledged[gi]),
        # Messages that never reached the application, beyond frames lost on the channel:
        # confirmed ones given up, stored ones dropped from a full buffer, requests that
        # reached the cloud while it was down.
        "messages_lost": {
            "retries_exhausted": int(net.unacknowledged[gi]),
            "buffer_overflow": g.store["dropped_overflow"] if g.store else 0,
            "cloud_outage": int(net.cloud_refused[gi]),
        },
        "store_and_forward": g.store,
        "downlink_airtime_s": float(net.downlink_airtime_s[gi]),
        # Receive windows with a decision ready that the gateway's duty cycle could not serve.
        "downlinks_blocked_duty_cycle": int(net.downlinks_blocked[gi]),
        # ... and those no gateway in reach could serve because all were down.
        "downlinks_blocked_outage": int(net.downlinks_blocked_outage[gi]),
        "downlinks_in_rrc_tail": int(net.downlinks_in_rrc_tail[gi]),
        **({"wifi_contention": g.contention} if g.contention is not None else {}),
        **({"hub_outage": g.hub_outage} if g.hub_outage is not None else {}),
        **({"coverage": g.coverage} if g.coverage is not None else {}),
        "airtime_s": float(g.airtime_ns_bins.sum() / 1e9),
        "bytes_per_node_day": float(g.uplink_bytes.sum() / g.n / days),
        "latency_s": g.latency.summary(),
        # Where a delivered decision's time goes, on average: on the device, or uplink,
        # cloud queue, service, backhaul down and the wait for a receive window.
        "latency_breakdown_s": g.latency.breakdown(),
        "energy_j": energy,
        "energy_per_node_day_j": energy["total"] / g.n / days,
        "battery_life_days": _life_record(g, life),
        "decision": {
            **confusion_summary(tp, fp, fn, tn),
            **_event_summary(g, days),
        },
        # Closed loop (groups.X.actuation): water used, crop stress, comfort, heating; else None.
        "outcome": _outcome(g, days),
        "battery": {
            "id": g.plan.battery.id,
            "capacity_mah": None if g.mains else g.plan.battery.capacity_mah,
            "mains": bool(g.mains),
            "drawn_c": float(
                g.charge_c.sum() + (g.sleep_current_a + g.idle_current_a) * alive_s.sum()
            ),
            # The same charge by state: the ledger the energies above are made of.
            "drawn_by_state_c": _charge_by_state_c(g, alive_s),
            "self_discharge_c": float(g.self_discharge_a * alive_s.sum()),
            # Stored by the panel (after losses, and only what the cell had room for).
            "harvested_c": float(g.credit_c.sum()),
            **_brownout_record(g),
            **_modem_record(g),
            **_rate_record(g, horizon_s),
        },
        # The plan's (settings that probably distort results), then the run's own.
        "warnings": list(g.plan.warnings)
        + list(g.warnings)
        + _life_warnings(g)
        + _contention_warnings(g)
        + _coverage_warnings(g)
        + _delivery_warnings(g, net),
        "cloud": {
            "requests": int(net.cloud_requests[gi]),
            "cost_usd": _cloud_cost(g, net, horizon_s, workers),
            # One cloud service serves every group of a run: its utilisation is shared.
            "utilisation": float(net.cloud_busy_s / (workers * horizon_s)),
            "wait_p95_s": net.cloud_wait_p95_s,
            # Model calls of the whole (shared) service: fewer than requests when it batches.
            "service_calls": int(net.cloud_calls),
        },
        "model": {
            "name": g.plan.device_model_path.stem,
            "variant": "int8",
            "board": est.board,
            "runtime": est.runtime,
            "macs": int(est.macs),
            "flash_bytes": int(est.flash_bytes),
            "ram_bytes": int(est.ram_bytes),
            "board_flash_bytes": int(est.board_flash_bytes),
            "board_ram_bytes": int(est.board_ram_bytes),
            "latency_s": float(est.latency_s),
            # Where the time goes: conv, depthwise, pointwise, fully connected, element-wise...
            "latency_by_op_class_s": {k: float(v) for k, v in est.latency_by_class_s.items()},
            "energy_j": float(est.energy_j),
        },
    }


# A node row's radio facts where the group has no shared channel (BLE, Wi-Fi, cellular).
_NO_LINK = {"spreading_factor": None, "best_gateway": None, "rssi_dbm": None, "snr_db": None}


def _link_cells(g: GroupStats, i: int) -> dict:
    """Node ``i``'s spreading factor, strongest gateway and mean link budget there."""
    link = g.link
    if link is None:
        return _NO_LINK
    heard = bool(np.isfinite(link.rssi_dbm[i]))  # a measured table's node no gateway hears
    return {
        "spreading_factor": int(link.spreading_factor[i]),
        "best_gateway": str(link.best_gateway[i]) if heard else None,
        # 0.01 dB is far below the model's own accuracy (shadowing alone is several dB).
        "rssi_dbm": round(float(link.rssi_dbm[i]), 2) if heard else None,
        "snr_db": round(float(link.snr_db[i]), 2) if heard else None,
    }


def node_rows(
    policy: str, g: GroupStats, horizon_s: float, start_utc_s: float | None = None
) -> list[dict]:
    """One row per node; new columns go at the end (readers may rely on the order).

    With ``start_utc_s`` (a scenario's ``world.start_utc``) a last column, ``end_of_life_utc``,
    dates each node's battery life from it (None where it does not end: mains, sustained).
    """
    _, energy = _energy_by_state_j(g, horizon_s)
    life = battery_life(g, horizon_s)
    devices, _ = device_ids(g.plan)
    with np.errstate(invalid="ignore"):  # mains: inf / inf
        start_soc = np.where(g.mains, 1.0, g.start_c / g.plan.battery.capacity_c)
    rows = []
    for i in range(g.n):
        tp, fp, fn, tn = (int(v) for v in g.confusion[i])
        rows.append(
            {
                "policy": policy,
                "group": g.name,
                "node": i,
                "x_m": round(float(g.x_m[i]), 3),
                "y_m": round(float(g.y_m[i]), 3),
                "samples": int(g.samples[i]),
                "uplink_messages": int(g.uplinks[i]),
                "uplink_bytes": int(g.uplink_bytes[i]),
                "energy_j": float(energy[i]),
                "battery_life_days": float(life.days[i]),
                "projected": bool(life.projected[i]),
                # What limits it: "charge", "shelf life", "sustained" or "mains".
                "life_limit": str(life.limit[i]),
                "tp": tp,
                "fp": fp,
                "fn": fn,
                "tn": tn,
                # LoRa: the SF used (after auto/ADR) and the link to the strongest gateway.
                **_link_cells(g, i),
                # The device's name (the group's node table's, else made up), the life its
                # charge gives without the shelf-life cap, and its state of charge at t = 0.
                "device": str(devices[i]),
                "charge_life_days": float(life.charge_days[i]),
                "start_state_of_charge": float(start_soc[i]),
                # A dated run (world.start_utc) dates each node's end of life.
                **(
                    {}
                    if start_utc_s is None
                    else {"end_of_life_utc": _date(start_utc_s, life.days[i])}
                ),
            }
        )
    return rows


def _date(start_utc_s: float | None, days: float) -> str | None:
    """The calendar date ``days`` after ``start_utc_s`` (ISO, UTC), or None."""
    if start_utc_s is None or not np.isfinite(days) or days > 36_500:
        return None
    when = _dt.datetime.fromtimestamp(start_utc_s + days * DAY_S, _dt.UTC)
    return when.strftime("%Y-%m-%d")


def event_rows(policy: str, g: GroupStats) -> list[dict]:
    """Every sample taken and every decision reaching its actuator, in time order.

    ``event`` is ``sample`` (``truth``, the device's ``decision`` if it ran its model, and the
    ``message`` the policy sent) or ``decision`` (a decision about ``sample`` starts acting at
    ``time_s``). On-device decisions equal to the one acting are not delivered again.
    """
    from twin.policies import KIND_NAMES

    rows = []
    for e in g.event_log or []:
        dec = e["decision"]
        for j in range(len(e["node"])):
            send = int(e["send"][j])
            rows.append(
                {
                    "policy": policy, "group": g.name, "time_s": float(e["t"][j]),
                    "node": int(e["node"][j]), "sample": int(e["k"][j]), "event": "sample",
                    "truth": int(e["truth"][j]),
                    "decision": None if dec is None else int(dec[j]),
                    "message": KIND_NAMES.get(send, ""),
                }
            )  # fmt: skip
    for e in g.decision_log or []:
        for j in range(len(e["node"])):
            rows.append(
                {
                    "policy": policy, "group": g.name, "time_s": float(e["t"][j]),
                    "node": int(e["node"][j]), "sample": int(e["k"][j]), "event": "decision",
                    "truth": None, "decision": int(e["v"][j]), "message": "",
                }
            )  # fmt: skip
    rows.sort(key=lambda r: (r["time_s"], r["node"], r["event"] != "sample", r["sample"]))
    return rows


def timeseries_rows(policy: str, g: GroupStats, net: NetworkStats, workers: int) -> list[dict]:
    """Battery quantiles, traffic and the cloud per time-series step.

    ``cloud_requests`` are this group's requests arriving in the step; the wait and the
    utilisation are the whole cloud service's (shared by every group of the run).
    """
    rows = []
    prev_t = 0.0
    requests = net.requests_bins[g.index]
    all_requests = net.requests_bins.sum(axis=0)
    for i, (t, p05, p50, p95) in enumerate(g.soc_rows):
        b = i - 1
        interval = float(t - prev_t)
        n_req = int(all_requests[b]) if b >= 0 else 0
        cloud = {
            "cloud_requests": int(requests[b]) if b >= 0 else 0,
            "cloud_wait_mean_s": float(net.wait_ns_bins[b] / 1e9 / n_req) if n_req else 0.0,
            "cloud_wait_max_s": float(net.wait_max_s_bins[b]) if b >= 0 else 0.0,
            "cloud_utilisation": (
                float(net.busy_ns_bins[b] / 1e9 / (workers * interval))
                if b >= 0 and interval
                else 0.0
            ),
        }
        rows.append(
            {
                "policy": policy,
                "group": g.name,
                "time_s": float(t),
                "battery_soc_p05": p05,
                "battery_soc_p50": p50,
                "battery_soc_p95": p95,
                "uplink_bytes": int(g.bytes_bins[b]) if b >= 0 else 0,
                "airtime_s": float(g.airtime_ns_bins[b] / 1e9) if b >= 0 else 0.0,
                "interval_s": interval,
                **cloud,
                # Faults: frames lost on the channel (any reason, by the frame's end), and
                # store-and-forward messages stored, forwarded and dropped in the step.
                "uplink_lost": int(net.lost_bins[g.index][b]) if b >= 0 else 0,
                "messages_stored": int(g.stored_bins[b]) if b >= 0 else 0,
                "messages_forwarded": int(g.forwarded_bins[b]) if b >= 0 else 0,
                "messages_dropped": int(g.dropped_bins[b]) if b >= 0 else 0,
            }
        )
        prev_t = t
    return rows


def latency_rows(policy: str, g: GroupStats) -> dict:
    """The latency histogram of one (policy, group)."""
    return {"policy": policy, "group": g.name, **g.latency.trimmed()}
