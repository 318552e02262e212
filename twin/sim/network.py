"""The shared part of the fleet: channel, backhaul, cloud service and downlinks, wired.

Nodes meet only here, so this is where events are ordered across nodes. The engine calls
:meth:`Network.advance` with a time ``t`` once every sample before ``t`` has been taken; then
every transmission that *started* before ``t`` is known, which is all that is needed to
settle, exactly, every transmission that *ended* by ``t`` (:mod:`twin.sim.channel`), every
cloud request that arrived by ``t`` (:mod:`twin.sim.cloud`) and every receive window decided
by ``t`` (:mod:`twin.sim.downlink`). What that decides about a group's nodes comes back as
effects (:mod:`twin.sim.effects`) for the group to apply: the network never writes a group's
state.

Gateways are half-duplex: while one transmits a downlink it hears no uplink. Which frames a
gateway missed so depends on the downlinks it sent, which depend (through the cloud and the
receive windows) on the frames it heard earlier. Within one :meth:`Network.advance` the
network therefore iterates: each pass settles the channel assuming the previous pass's
transmissions, from the same starting state, until a pass reads the same frames with the
transmissions it decides itself. Every such dependency runs strictly forward in time (a
frame's fate depends only on transmissions that started before it ended, which depend on
frames that ended earlier still), so the earliest difference between passes moves later
with each pass: the iteration ends, at most a pass per frame, at the one causal outcome,
whatever the batching.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from twin.faults import FaultPlan
from twin.physics import lora
from twin.plan import ChannelPlan, CloudPlan, Gateway
from twin.policies import BATCH, READING, WINDOW
from twin.profiles import CellularRadio
from twin.rng import NodeStream
from twin.sim import effects
from twin.sim.channel import LoRaChannel
from twin.sim.cloud import CloudService, lognormal_s
from twin.sim.downlink import DownlinkScheduler
from twin.sim.lorawan import ACK_TIMEOUT_S
from twin.sim.stats import NetworkStats
from twin.sim.timebins import TimeBins
from twin.sim.uplink import PURPOSE_UP_LATENCY
from twin.sim.window import WindowBuffer

# Message kinds that ask the cloud for a decision.
_TO_CLOUD = (READING, WINDOW, BATCH)

# What one advance changes in the channel, the cloud and the downlinks (restored between the
# passes of a half-duplex fixed point). The channel's frames are replaced, never written in
# place, so a shallow copy holds them.
_STATE = {
    "channel": ("delivered", "lost", "lost_bins", "new", "pending"),
    "cloud": ("queue", "wait", "requests_bins", "wait_ns_bins", "wait_max_s_bins",
              "requests", "refused", "rings", "last_k", "_arrivals"),
    "downlink": ("_gw_free1", "_gw_free2", "downlinks", "downlink_airtime_ns",
                 "downlinks_blocked", "downlinks_blocked_outage", "acks", "unacknowledged",
                 "in_tail", "_tails", "rx_wait", "_direct_wait", "_pool", "out"),
}  # fmt: skip
# Lists of dicts (and dicts) the code replaces, never writes in place: a shallow copy holds.
_SHALLOW = {("channel", "new"), ("channel", "pending"), ("downlink", "rx_wait"),
            ("downlink", "_direct_wait"), ("downlink", "_pool"), ("downlink", "out"),
            ("cloud", "_arrivals")}  # fmt: skip


@dataclass(frozen=True)
class GroupPort:
    """What the shared network knows of a group: figures fixed at set-up, never its state."""

    index: int
    uplink: object  # LoRaWANUplink or HubUplink (read for link figures only)
    stream: NodeStream
    confirmed: bool
    stores: bool  # store-and-forward: the group hears how its link checks ended
    batch_readings: int
    message_features: int
    reading_count: int  # readings per READING message (those since the previous decision)
    history: WindowBuffer  # the nodes' model windows at t = 0 (the cloud's copy starts there)
    cloud_model: object  # a twin.ml.classifier.Classifier


def _grace_s(uplinks) -> np.ndarray:
    """Per group and SF 7..12, the preamble a frame can lose and still lock [s]."""
    out = np.zeros((len(uplinks), 6))
    for gi, u in enumerate(uplinks):
        if u.technology == "lorawan":
            r = u.radio
            out[gi] = lora.preamble_grace_s(np.arange(7, 13), r.preamble_symbols, r.bandwidth_hz)
    return out


class Network:
    """Uplink channel, cloud service and downlinks shared by all groups of one run.

    Parameters
    ----------
    ports : list of GroupPort
        The groups, in the plan's order.
    cloud : CloudPlan
        Backhaul delays and the cloud service.
    gateways : tuple of Gateway
        The LoRaWAN gateways.
    channel : ChannelPlan
        The shared channel's rules (capture threshold, inter-SF interference).
    bins : TimeBins
        Time-series steps.
    faults : FaultPlan, optional
        The run's faults.
    """

    def __init__(
        self,
        ports: list[GroupPort],
        cloud: CloudPlan,
        gateways: tuple[Gateway, ...],
        channel: ChannelPlan,
        bins: TimeBins,
        faults: FaultPlan | None = None,
    ) -> None:
        self.ports = ports
        self.cloud_plan = cloud
        self.faults = faults
        self.resolved_s = -np.inf
        uplinks = [p.uplink for p in ports]
        streams = [p.stream for p in ports]
        lora_radios = [u.radio for u in uplinks if u.technology == "lorawan"]
        self.channel = LoRaChannel(
            [u.rx_dbm for u in uplinks], streams, [gw.demodulators for gw in gateways],
            LoRaChannel.sensitivity_for(lora_radios[0]) if lora_radios else np.zeros(6),
            channel.capture_threshold_db, max(u.max_airtime_s for u in uplinks), bins, faults,
            sf_orthogonal=channel.sf_orthogonal, grace_s=_grace_s(uplinks),
            half_duplex=channel.half_duplex and bool(lora_radios),
        )  # fmt: skip
        self.cloud = CloudService(
            cloud, [p.cloud_model for p in ports], [p.history for p in ports],
            [p.batch_readings for p in ports], streams, bins, faults,
            [p.reading_count for p in ports],
        )  # fmt: skip
        self.downlink = DownlinkScheduler(
            uplinks, streams, [p.confirmed for p in ports], [p.stores for p in ports], gateways,
            faults,
        )  # fmt: skip
        # Hub deliveries (every message handed to a hub arrives) beside the channel's.
        self.hub_delivered = np.zeros(len(ports), dtype=np.int64)
        # Confirmed uplinks retry: the network must then wake on its own (see next_wake_s).
        self.confirmed = any(p.confirmed for p in ports)
        self.wake_event = None  # set by the engine's network process while it sleeps
        self._reading_width = max(p.message_features for p in ports)
        self.passes = self.passes_max = 0  # half-duplex fixed-point passes (all, most in one)

    # -- input -------------------------------------------------------------------------------
    def submit(
        self, gi, nodes, k, ts, start, toa, chan, sf, kind, phy, readings, confirmed,
        may_retry: bool, attempt=None, seen=None,
    ) -> None:  # fmt: skip
        """Put uplink frames of group ``gi`` on the channel (``attempt`` > 1: retransmissions)."""
        m = len(nodes)
        conf = np.asarray(confirmed, dtype=bool)
        self.channel.add(
            {
                "gid": np.full(m, gi, dtype=np.int64),
                "node": nodes.astype(np.int64),
                "k": k.astype(np.int64),
                "ts": ts,
                "start": start,
                "end": start + toa,
                "chan": chan.astype(np.int64),
                "sf": sf.astype(np.int64),
                "kind": kind.astype(np.int64),
                "phy": phy.astype(np.int64),
                "r": self._padded(readings, m),
                "done": np.zeros(m, dtype=bool),
                "conf": conf,
                "att": np.ones(m, dtype=np.int64) if attempt is None else attempt,
                "seen": np.zeros(m, dtype=bool) if seen is None else seen,
            }
        )
        if may_retry and conf.any() and self.wake_event is not None:
            if not self.wake_event.triggered:
                self.wake_event.succeed()  # the network process re-plans its next wake-up

    def submit_direct(self, gi, nodes, k, ts, hub_s, kind, readings, open_s, close_s) -> None:
        """Messages a BLE/Wi-Fi/cellular group handed to its hub (phone, AP, cell).

        The link layer retransmits until the hub has the message, so all are delivered. A
        group reachable only around its own messages opens a receive window
        ``[open_s, close_s]`` with each.
        """
        self.hub_delivered[gi] += len(nodes)
        link = self.ports[gi].uplink.link
        if link.period_s is None:
            self.downlink.direct_window(gi, nodes, open_s, close_s)
        elif isinstance(link.radio, CellularRadio):
            # An eDRX modem stays connected for its RRC tail after each message.
            self.downlink.rrc_tail(gi, nodes, k, open_s, close_s)
        up = np.isin(kind, _TO_CLOUD)
        if not up.any():
            return
        z = self.ports[gi].stream.normal(nodes[up], k[up].astype(np.uint64), PURPOSE_UP_LATENCY)
        self.cloud.arrive(
            {
                "gid": np.full(int(up.sum()), gi, dtype=np.int64),
                "node": nodes[up].astype(np.int64),
                "k": k[up].astype(np.int64),
                "ts": ts[up],
                "arrive": hub_s[up]
                + lognormal_s(self.cloud_plan.uplink_latency, z)
                + self.cloud.spike_s(hub_s[up]),
                "r": self._padded(readings[up], int(up.sum())),
                "kind": kind[up].astype(np.int64),
            }
        )

    def _padded(self, readings: np.ndarray | None, m: int) -> np.ndarray:
        """Readings padded to the widest group's channels, so groups share one array."""
        out = np.full((m, self._reading_width), np.nan, dtype=np.float32)
        if readings is not None:
            out[:, : readings.shape[1]] = readings
        return out

    # -- the clock ---------------------------------------------------------------------------
    def advance(self, t: float) -> list[effects.Effect] | None:
        """Settle everything that is decided by time ``t`` (all samples before ``t`` taken).

        Returns what that decided about the groups' nodes, in order (None: ``t`` was
        settled already).
        """
        if t <= self.resolved_s:
            return None
        ch = self.channel
        if ch.half_duplex and self._may_transmit():
            self._fixed_point(t)
        else:
            self._pass(t)
        if ch.half_duplex and ch.log is not None and ch.last_settled is not None:
            ch.log.add(*ch.last_settled)  # the pass that held
        self.resolved_s = t
        return self.downlink.take()

    def _pass(self, t: float) -> None:
        settled = self.channel.settle(t)
        if settled is not None:
            self._heard(*settled)
        for decided in self.cloud.serve(t):
            self.downlink.decisions_ready(*decided)
        self.downlink.open_windows(t)
        self.downlink.open_direct_windows(t)
        self.downlink.compact_pool(t)

    def _may_transmit(self) -> bool:
        """Whether a gateway may transmit in this advance (else one pass is exact).

        Only for a confirmed uplink (an ACK) or a cloud decision, which needs a request on
        its way, a decision waiting, or a frame that asks for one.
        """
        frames = self.channel.frames_in_flight() + self.downlink.rx_wait
        if any(f["conf"].any() for f in frames) or self.cloud.has_arrivals():
            return True
        pool = self.downlink.pool_size()
        return pool > 0 or any(np.isin(f["kind"], _TO_CLOUD).any() for f in frames)

    def _fixed_point(self, t: float) -> None:
        """Passes until the gateways' transmissions assumed are those the pass decides."""
        ch = self.channel
        start = self._snapshot()
        n = 0
        while True:
            n += 1
            self._pass(t)
            made = self.downlink.take_tx()
            if ch.consistent(made):
                break
            self._restore(start)
            ch.assumed_tx = made
        self.passes += n
        self.passes_max = max(self.passes_max, n)
        ch.commit_tx(made, t)

    def _copy(self, key: tuple[str, str], value):
        if key in _SHALLOW:
            return copy.copy(value)
        if key == ("cloud", "rings"):
            return [w.copy() for w in value]
        # The plans and faults the state refers to are shared, not copied.
        memo = {id(self.cloud.bins): self.cloud.bins, id(self.faults): self.faults}
        return copy.deepcopy(value, memo)

    def _snapshot(self) -> dict:
        return {
            (name, f): self._copy((name, f), getattr(getattr(self, name), f))
            for name, fields in _STATE.items()
            for f in fields
        }

    def _restore(self, snap: dict) -> None:
        for (name, f), v in snap.items():
            setattr(getattr(self, name), f, self._copy((name, f), v))

    def _heard(self, fin: dict, ok: np.ndarray) -> None:
        """Frames the channel settled: receive windows open; heard requests go to the cloud."""
        self.downlink.frames_heard(fin, ok)
        # The network server drops a retransmission of a frame it already has (same counter).
        up = ok & np.isin(fin["kind"], _TO_CLOUD) & ~fin["seen"]
        if not up.any():
            return
        arrive = np.empty(int(up.sum()))
        gid = fin["gid"][up]
        for gi, port in enumerate(self.ports):
            m = gid == gi
            if m.any():
                z = port.stream.normal(
                    fin["node"][up][m], fin["k"][up][m].astype(np.uint64), PURPOSE_UP_LATENCY
                )
                end_m = fin["end"][up][m]
                arrive[m] = (
                    end_m
                    + lognormal_s(self.cloud_plan.uplink_latency, z)
                    + self.cloud.spike_s(end_m)
                )
        self.cloud.arrive(
            {
                "gid": gid,
                "node": fin["node"][up],
                "k": fin["k"][up],
                "ts": fin["ts"][up],
                "arrive": arrive,
                "r": fin["r"][up],
                "kind": fin["kind"][up],
            }
        )

    def unsettled_frames(self) -> bool:
        """Whether frames went on air since the channel last settled (retransmissions)."""
        return bool(self.channel.new)

    def reopen(self) -> None:
        """Let the next :meth:`advance` settle again (new frames at the end of the run)."""
        self.resolved_s = -np.inf

    def next_wake_s(self) -> float:
        """When the network must run on its own (``inf``: never).

        One ACK_TIMEOUT after a confirmed uplink's receive windows are decided: before its
        retransmission can start, so that the channel knows it in time.
        """
        if not self.confirmed:
            return np.inf
        max_tx, rx2 = self.downlink.max_tx, self.downlink.rx2_delay_s
        # Only frames that may be retransmitted (a link check without a retry never is).
        retry = lambda x: x["conf"] & (x["att"] < max_tx[x["gid"]])  # noqa: E731
        ends = [
            p["end"][retry(p) & ~p["done"]] + rx2[p["gid"][retry(p) & ~p["done"]]]
            for p in self.channel.frames_in_flight()
        ]
        ends += [w["decide"][retry(w)] for w in self.downlink.rx_wait]
        ends = [e for e in ends if len(e)]
        if not ends:
            return np.inf
        return float(min(e.min() for e in ends)) + ACK_TIMEOUT_S[0]

    # -- results -----------------------------------------------------------------------------
    def stats(self) -> NetworkStats:
        """The network's counters at the end of the run, for the results."""
        ch, cl, dl = self.channel, self.cloud, self.downlink
        return NetworkStats(
            delivered=ch.delivered + self.hub_delivered,
            lost={code: v.copy() for code, v in ch.lost.items()},
            lost_bins=ch.lost_bins,
            cloud_requests=cl.requests,
            cloud_refused=cl.refused,
            requests_bins=cl.requests_bins,
            wait_ns_bins=cl.wait_ns_bins,
            wait_max_s_bins=cl.wait_max_s_bins,
            busy_ns_bins=cl.queue.busy_ns_bins,
            cloud_busy_s=cl.queue.busy_ns / 1e9,
            cloud_calls=cl.queue.calls,
            cloud_wait_p95_s=cl.wait.quantile(0.95),
            server=self.cloud_plan.server,
            downlinks=dl.downlinks,
            downlink_airtime_s=dl.downlink_airtime_ns / 1e9,
            downlinks_blocked=dl.downlinks_blocked,
            downlinks_blocked_outage=dl.downlinks_blocked_outage,
            acks=dl.acks,
            downlinks_in_rrc_tail=dl.in_tail,
            unacknowledged=dl.unacknowledged,
        )
