"""What a network server would have logged: every LoRa uplink frame some gateway decoded.

Kept only when asked for (``twin run --telemetry``): the channel hands each settled batch to
an :class:`UplinkLog`, which after the run becomes an :class:`twin.telemetry.uplinks.Uplinks`
table, one row per frame and gateway that decoded it, as ChirpStack or The Things Stack would
list the frame's receptions.

What the rows say, and what they rest on:

* ``fcnt`` counts the node's frames in the order it sent them, lost ones included (so frame
  counter gaps are the channel's losses); a retransmission keeps its frame's counter, and
  the network server logs a frame once (a retransmission it already has is dropped).
* ``rssi_dbm`` is the received power the channel decoded the frame against (path loss and
  the link's fixed shadowing: the model has no per-frame fading), ``snr_db`` the same over
  the receiver's noise floor.
* ``time_s`` is the frame's end on air, from ``world.start_utc`` (the network server's own
  delay is not added).
* ``battery_v`` is the pack's open-circuit voltage at the node's state of charge then, taken
  on the node's mean drain over the run (the ledger keeps no per-frame charge), in whole
  millivolts; NaN for a battery profile without a voltage curve.
"""

from __future__ import annotations

import zlib

import numpy as np

from twin.physics import battery as battery_physics
from twin.physics import lora
from twin.regions import uplink_frequency_hz
from twin.telemetry.uplinks import Uplinks

# Calendar time of t = 0 when a scenario gives no world.start_utc: 2026-01-01T00:00:00Z.
DEFAULT_START_UTC_S = 1_767_225_600.0

_KEEP = ("gid", "node", "k", "att", "seen", "start", "end", "sf", "chan")


class UplinkLog:
    """Frames the channel decided, with the gateways that decoded each."""

    def __init__(self) -> None:
        self._parts: list[dict] = []
        self.rx_dbm: list[np.ndarray] = []

    def attach(self, channel) -> None:
        """Log what ``channel`` settles from now on."""
        channel.log = self
        self.rx_dbm = channel.rx_dbm

    def add(self, fin: dict, ok: np.ndarray, decoded: np.ndarray) -> None:
        """One settled batch: its frames, which were delivered, and by which gateways."""
        part = {f: fin[f].copy() for f in _KEEP}
        part["decoded"] = decoded & ok[:, None]
        self._parts.append(part)

    def frames(self) -> dict:
        """Every frame decided, in the order the nodes sent them, with its frame counter."""
        if not self._parts:
            return {f: np.empty(0) for f in (*_KEEP, "decoded", "fcnt")}
        p = {f: np.concatenate([q[f] for q in self._parts]) for f in (*_KEEP, "decoded")}
        order = np.lexsort((p["att"], p["k"], p["start"], p["node"], p["gid"]))
        p = {f: v[order] for f, v in p.items()}
        # The counter steps with each new frame, not with a retransmission of one.
        first = (p["att"] == 1).astype(np.int64)
        count = np.cumsum(first)
        node_key = p["gid"] * (int(p["node"].max()) + 1) + p["node"]
        starts = np.flatnonzero(np.r_[True, node_key[1:] != node_key[:-1]])
        before = np.repeat(count[starts] - first[starts], np.diff(np.r_[starts, len(count)]))
        p["fcnt"] = count - before - 1
        return p

    def uplinks(self, plan, groups: list, start_utc_s: float) -> Uplinks:
        """The log as an uplink table (``groups``: each group's end-of-run stats)."""
        p = self.frames()
        logged = p["decoded"].any(axis=1) & ~p["seen"].astype(bool) if len(p["gid"]) else None
        if logged is None or not logged.any():
            return Uplinks.empty()
        p = {f: v[logged] for f, v in p.items()}
        frame, gw = np.nonzero(p["decoded"])
        gid, node = p["gid"][frame], p["node"][frame]
        rssi = np.empty(len(frame))
        names = np.empty(len(frame), dtype=object)
        eui = np.empty(len(frame), dtype=object)
        bat_v = np.full(len(frame), np.nan)
        bw = np.empty(len(frame))
        freq = np.empty(len(frame))
        snr = np.empty(len(frame))
        for gi, gp in enumerate(plan.groups):
            m = gid == gi
            if not m.any():
                continue
            radio = gp.radio
            rssi[m] = self.rx_dbm[gi][node[m], gw[m]]
            # The noise floor the channel's sensitivities rest on (as the link budget's SNR).
            noise_dbm = float(lora.sensitivity_dbm(7, radio.bandwidth_hz, radio.noise_figure_db))
            snr[m] = rssi[m] - (noise_dbm - lora.SNR_LIMIT_DB[7])
            bw[m] = radio.bandwidth_hz
            freq[m] = uplink_frequency_hz(plan.channel.region, p["chan"][frame][m])
            ids, euis = device_ids(gp)
            names[m], eui[m] = ids[node[m]], euis[node[m]]
            bat_v[m] = _battery_v(gp, groups[gi], node[m], p["end"][frame][m], plan.horizon_s)
        return Uplinks(
            device=names, dev_eui=eui, time_s=start_utc_s + p["end"][frame],
            fcnt=p["fcnt"][frame], sf=p["sf"][frame], bandwidth_hz=bw, frequency_hz=freq,
            gateway=np.array([g.id for g in plan.gateways], dtype=object)[gw],
            rssi_dbm=rssi, snr_db=snr, battery_v=bat_v,
        ).sorted()  # fmt: skip


def device_ids(gp) -> tuple[np.ndarray, np.ndarray]:
    """Each node's device name and DevEUI: the fleet table's, else made from the group's name.

    A made-up DevEUI is 16 hex digits: six from a checksum of the group's name, ten from the
    node's index, so that every node of a run has its own.
    """
    n = gp.count
    fleet = getattr(gp, "fleet", None)
    if fleet is not None and fleet.device is not None:
        names = np.asarray(fleet.device, dtype=object)
    else:
        names = np.array([f"{gp.name}-{i:05d}" for i in range(n)], dtype=object)
    if fleet is not None and fleet.dev_eui is not None:
        return names, np.asarray(fleet.dev_eui, dtype=object)
    prefix = f"{zlib.crc32(gp.name.encode()) & 0xFFFFFF:06X}"
    return names, np.array([f"{prefix}{i:010X}" for i in range(n)], dtype=object)


def _battery_v(gp, stats, nodes: np.ndarray, t_s: np.ndarray, horizon_s: float) -> np.ndarray:
    """Open-circuit voltage of each node's pack at ``t_s``, on its mean drain [V, whole mV]."""
    bat = gp.battery
    if not bat.has_ocv_curve or not np.isfinite(bat.capacity_c):
        return np.full(len(nodes), np.nan)
    used = stats.used_at_end_c[nodes] * np.minimum(t_s, horizon_s) / horizon_s
    soc = np.clip((stats.start_c[nodes] - used) / bat.capacity_c, 0.0, 1.0)
    v = battery_physics.open_circuit_v(soc, bat.ocv_soc, bat.ocv_v)
    return np.round(v, 3)
