"""The shared part of the fleet: LoRa channel, backhaul, cloud inference service, downlinks.

Nodes meet only here, so this is where events are ordered across nodes. The engine calls
:meth:`LoRaNetwork.advance` with a time ``t`` once every sample before ``t`` has been taken;
then every transmission that *started* before ``t`` is known, which is all that is needed to
settle, exactly, every transmission that *ended* by ``t`` (collisions), every cloud request that
arrived by ``t`` (FIFO queue) and every class-A receive window decided by ``t``. Work is done
on sorted arrays, not one event per message.

Model limits (see README): spreading factors are taken as orthogonal, gateways are not
half-duplex-limited and downlinks do not occupy the uplink channels.
"""

from __future__ import annotations

import numpy as np

from twin.faults import FaultPlan
from twin.ml.runner import OnnxModel
from twin.physics import lora
from twin.plan import CloudPlan, Delay, Gateway
from twin.policies import BATCH, READING, WINDOW
from twin.sim.fleet import (
    ACK_TIMEOUT_S,
    BACKLOG,
    PURPOSE_ACK_TIMEOUT,
    PURPOSE_DOWN_LATENCY,
    PURPOSE_LOSS_BURST,
    PURPOSE_UP_LATENCY,
    FleetGroup,
)
from twin.sim.fleet import rounds_of as _rounds
from twin.sim.metrics import LatencyHistogram

# Message kinds that ask the cloud for a decision.
_TO_CLOUD = (READING, WINDOW, BATCH)

_Z95 = 1.6448536269514722  # standard normal 95th percentile


def _key(gid: np.ndarray, node: np.ndarray) -> np.ndarray:
    """One integer per (group, node)."""
    return np.asarray(gid, dtype=np.int64) * (1 << 32) + np.asarray(node, dtype=np.int64)


def lognormal_s(dist: Delay, z: np.ndarray) -> np.ndarray:
    """Delays [s] of a lognormal given by median and p95, from standard normal draws ``z``."""
    sigma = np.log(dist.p95_s / dist.median_s) / _Z95
    return dist.median_s * np.exp(sigma * z)


_TX_FIELDS = ("gid", "node", "k", "ts", "start", "end", "chan", "sf", "kind", "phy", "r", "done",
              "conf", "att", "seen")  # fmt: skip

# Why an uplink frame was lost on the channel: drowned by an overlapping frame, too weak for
# every gateway, no demodulator free, no gateway in reach up (outage), or a loss burst.
LOST_COLLISION, LOST_OUT_OF_RANGE, LOST_GATEWAY_BUSY = "collision", "out_of_range", "gateway_busy"
LOST_OUTAGE, LOST_INTERFERENCE = "outage", "interference"
LOST_REASONS = (LOST_COLLISION, LOST_OUT_OF_RANGE, LOST_GATEWAY_BUSY, LOST_OUTAGE,
                LOST_INTERFERENCE)  # fmt: skip


class LoRaNetwork:
    """Uplink channel, cloud service and downlinks shared by all groups of one run."""

    faults: FaultPlan | None = None  # no faults unless the engine hands a plan over

    def __init__(
        self,
        groups: list[FleetGroup],
        cloud: CloudPlan,
        cloud_models: list[OnnxModel],
        gateways: tuple[Gateway, ...],
        capture_db: float,
        faults: FaultPlan | None = None,
    ):
        self.groups = groups
        self.faults = faults
        self.cloud = cloud
        self.cloud_models = cloud_models
        n = len(groups)
        self.resolved_s = -np.inf
        self._batches: list[dict] = []
        self._pending: dict | None = None
        self._arrivals: list[dict] = []
        self._rx_wait: list[dict] = []
        self._pool: dict | None = None  # decisions waiting for a receive window
        # Cloud FIFO with k identical workers. A request costs the call overhead (once per
        # model call) plus its own part: a fixed service time, or the server's per-request
        # overhead and the group's cloud model MACs at the server's rate.
        self.server = cloud.server
        if cloud.service_time_s is not None:
            self.call_s, self.request_s = 0.0, np.full(n, cloud.service_time_s)
        else:
            self.call_s = self.server.call_overhead_s
            self.request_s = np.array([
                self.server.request_overhead_s + m.cost.macs / self.server.macs_per_s
                for m in cloud_models
            ])  # fmt: skip
        self._last_starts = np.full(cloud.workers, -np.inf)
        self._worker_free = np.full(cloud.workers, -np.inf)
        self._jobs = 0
        self._calls = 0
        self._busy_ns = 0
        self.cloud_wait = LatencyHistogram()
        n = len(groups)
        # The cloud over time, on the groups' time-series steps: requests arriving (per group),
        # their queueing wait, and worker busy time (a call counts in the step it starts in;
        # calls last milliseconds). Integer nanoseconds keep sums independent of batching.
        self.bin_s = groups[0].ts_interval_s
        n_bins = len(groups[0].ts_times_s)
        self.requests_bins = np.zeros((n, n_bins), dtype=np.int64)
        self.wait_ns_bins = np.zeros(n_bins, dtype=np.int64)
        self.wait_max_s_bins = np.zeros(n_bins)
        self.busy_ns_bins = np.zeros(n_bins, dtype=np.int64)
        self.delivered = np.zeros(n, dtype=np.int64)
        self.lost = {code: np.zeros(n, dtype=np.int64) for code in LOST_REASONS}
        # Frames lost per group and time-series step (by the frame's end).
        self.lost_bins = np.zeros((n, n_bins), dtype=np.int64)
        # Requests that reached the cloud while it was down (lost with their decision).
        self.cloud_refused = np.zeros(n, dtype=np.int64)
        # Receive windows whose node no gateway in reach could serve (all down).
        self.downlinks_blocked_outage = np.zeros(n, dtype=np.int64)
        self.n_gateways = len(gateways)
        self.demodulators = np.array([gw.demodulators for gw in gateways])
        self.rx1_duty_cycle = np.array([gw.rx1_duty_cycle for gw in gateways])
        self.rx2_duty_cycle = np.array([gw.rx2_duty_cycle for gw in gateways])
        self._gw_free1 = np.full(len(gateways), -np.inf)
        self._gw_free2 = np.full(len(gateways), -np.inf)
        self.downlinks_blocked = np.zeros(len(groups), dtype=np.int64)
        self.acks = np.zeros(len(groups), dtype=np.int64)
        self.unacknowledged = np.zeros(len(groups), dtype=np.int64)
        # Store-and-forward nodes confirm some uplinks (link checks) even when the group does not.
        self.confirmed = any(g.plan.confirmed for g in groups)
        self._max_tx = np.array([g.max_transmissions for g in groups])
        self.wake_event = None  # set by the engine's network process while it sleeps
        self.capture_db = capture_db
        lora_radios = [g.plan.radio for g in groups if g.link is None]
        self.sensitivity_dbm = (
            lora.sensitivity_dbm(
                np.arange(7, 13), lora_radios[0].bandwidth_hz, lora_radios[0].noise_figure_db
            )
            if lora_radios
            else np.zeros(6)
        )
        self._direct_wait: list[dict] = []
        self._reading_width = max(g.message_features for g in groups)
        # Class-A receive delays per group (LoRa groups only; the others have none).
        self._rx1_delay_s, self._rx2_delay_s = (
            np.array([getattr(g.plan.radio, f, 0.0) for g in groups])
            for f in ("rx1_delay_s", "rx2_delay_s")
        )
        self.max_airtime_s = max(g.max_airtime_s for g in groups)
        self.cloud_requests = np.zeros(n, dtype=np.int64)
        self.downlinks = np.zeros(n, dtype=np.int64)
        self.downlink_airtime_ns = np.zeros(n, dtype=np.int64)
        self.cloud_rings = [g.history.copy() for g in groups]
        self.cloud_last_k = [np.full(g.n, -1, dtype=np.int64) for g in groups]

    @property
    def downlink_airtime_s(self) -> np.ndarray:
        """Downlink air time per group [s]."""
        return self.downlink_airtime_ns / 1e9

    @property
    def cloud_busy_s(self) -> float:
        """Total worker busy time [s] (summed in integer nanoseconds: exact for any batching)."""
        return self._busy_ns / 1e9

    @property
    def cloud_calls(self) -> int:
        """Model calls the cloud made (fewer than requests when it batches)."""
        return self._calls

    # -- input -------------------------------------------------------------------------------
    def submit(
        self, group, nodes, k, ts, start, toa, chan, kind, phy, readings, attempt=None, seen=None,
        confirmed=None,
    ) -> None:  # fmt: skip
        """Queue uplinks that a group just put on air (``attempt`` > 1: retransmissions)."""
        m = len(nodes)
        r = self._padded(readings, m)
        conf = (
            np.full(m, bool(group.plan.confirmed)) if confirmed is None
            else np.asarray(confirmed, dtype=bool)
        )  # fmt: skip
        self._batches.append(
            {
                "gid": np.full(m, group.index, dtype=np.int64),
                "node": nodes.astype(np.int64),
                "k": k.astype(np.int64),
                "ts": ts,
                "start": start,
                "end": start + toa,
                "chan": chan.astype(np.int64),
                "sf": group.sf[nodes].astype(np.int64),
                "kind": kind.astype(np.int64),
                "phy": phy.astype(np.int64),
                "r": r,
                "done": np.zeros(m, dtype=bool),
                "conf": conf,
                "att": np.ones(m, dtype=np.int64) if attempt is None else attempt,
                "seen": np.zeros(m, dtype=bool) if seen is None else seen,
            }
        )
        may_retry = group.max_transmissions > 1 and conf.any()
        if may_retry and self.wake_event is not None and not self.wake_event.triggered:
            self.wake_event.succeed()  # the network process re-plans its next wake-up

    def submit_direct(self, group, nodes, k, ts, hub_s, kind, readings, open_s, close_s) -> None:
        """Queue messages a BLE/Wi-Fi/cellular group handed to its hub (phone, AP, cell).

        The link layer retransmits until the hub has the message, so all are delivered. A
        group reachable only around its own messages opens a receive window
        ``[open_s, close_s]`` with each.
        """
        gi = group.index
        self.delivered[gi] += len(nodes)
        if group.link.period_s is None:
            self._direct_wait.append(
                {"gid": np.full(len(nodes), gi), "node": nodes.astype(np.int64),
                 "open": open_s, "close": close_s}
            )  # fmt: skip
        up = np.isin(kind, _TO_CLOUD)
        if not up.any():
            return
        z = group.stream.normal(nodes[up], k[up].astype(np.uint64), PURPOSE_UP_LATENCY)
        self._arrivals.append(
            {
                "gid": np.full(int(up.sum()), gi, dtype=np.int64),
                "node": nodes[up].astype(np.int64),
                "k": k[up].astype(np.int64),
                "ts": ts[up],
                "arrive": hub_s[up]
                + lognormal_s(self.cloud.uplink_latency, z)
                + self._spike_s(hub_s[up]),
                "r": self._padded(readings[up], int(up.sum())),
                "kind": kind[up].astype(np.int64),
            }
        )

    def _spike_s(self, t_s: np.ndarray) -> np.ndarray | float:
        """Extra backhaul delay at ``t_s`` (0 without backhaul spikes)."""
        if self.faults is None or not self.faults.has_spikes:
            return 0.0
        return self.faults.extra_latency_s(t_s)

    def _padded(self, readings: np.ndarray | None, m: int) -> np.ndarray:
        """Readings padded to the widest group's channels, so groups share one array."""
        out = np.full((m, self._reading_width), np.nan, dtype=np.float32)
        if readings is not None:
            out[:, : readings.shape[1]] = readings
        return out

    def _take_pending(self) -> dict | None:
        parts = ([self._pending] if self._pending is not None else []) + self._batches
        self._batches = []
        parts = [p for p in parts if len(p["node"])]
        if not parts:
            return None
        return {f: np.concatenate([p[f] for p in parts]) for f in _TX_FIELDS}

    # -- the clock ---------------------------------------------------------------------------
    def advance(self, t: float) -> None:
        """Settle everything that is decided by time ``t`` (all samples before ``t`` taken)."""
        if t <= self.resolved_s:
            return
        self._settle_channel(t)
        self._serve_cloud(t)
        self._open_windows(t)
        self._open_direct_windows(t)
        self._compact_pool(t)
        self.resolved_s = t
        for g in self.groups:
            g.close_snapshots(t)
            g.decisions.resolve(t - g.decision_lag_s)

    def flush(self) -> None:
        """Settle everything (end of run), including retransmissions scheduled meanwhile."""
        while True:
            self.advance(np.inf)
            if not self._batches:
                return
            self.resolved_s = -np.inf  # retransmissions were queued: settle them too

    def next_wake_s(self) -> float:
        """When the network must run on its own (``inf``: never).

        One ACK_TIMEOUT after a confirmed uplink's receive windows are decided: before its
        retransmission can start, so that the channel knows it in time.
        """
        if not self.confirmed:
            return np.inf
        # Only frames that may be retransmitted (a link check without a retry never is).
        retry = lambda x: x["conf"] & (x["att"] < self._max_tx[x["gid"]])  # noqa: E731
        ends = [
            p["end"][retry(p) & ~p["done"]] + self._rx2_of(p["gid"][retry(p) & ~p["done"]])
            for p in ([self._pending] if self._pending is not None else []) + self._batches
        ]
        ends += [w["decide"][retry(w)] for w in self._rx_wait]
        ends = [e for e in ends if len(e)]
        if not ends:
            return np.inf
        return float(min(e.min() for e in ends)) + ACK_TIMEOUT_S[0]

    def _rx2_of(self, gid: np.ndarray) -> np.ndarray:
        return self._rx2_delay_s[gid]

    # -- channel -----------------------------------------------------------------------------
    def _settle_channel(self, t: float) -> None:
        """Decide every frame that ended by ``t``: heard, captured, demodulated, or lost.

        At each gateway a frame is *heard* when its received power clears the sensitivity of
        its spreading factor, *survives* a collision when it is at least the capture
        threshold stronger than every overlapping frame on its channel and spreading factor
        (other spreading factors are taken as orthogonal), and is *demodulated* when fewer
        than the gateway's demodulators are already locked on frames heard earlier. It is
        delivered when any gateway decodes it. Frames that ended long enough ago to overlap
        nothing new are dropped from the working set.
        """
        p = self._take_pending()
        if p is None:
            self._pending = None
            return
        order = np.lexsort((p["k"], p["node"], p["gid"], p["start"]))
        p = {f: v[order] for f, v in p.items()}
        start, end = p["start"], p["end"]
        final = (end <= t) & ~p["done"]
        if final.any():
            power = np.empty((len(start), self.n_gateways))
            for gi, g in enumerate(self.groups):
                m = p["gid"] == gi
                if m.any():
                    power[m] = g.rx_dbm[p["node"][m]]
            in_reach = heard = power >= self.sensitivity_dbm[p["sf"] - 7][:, None]
            if self.faults is not None and self.faults.any_gateway_down:
                # A gateway down at any time during the frame hears none of it.
                heard = in_reach & ~self.faults.gateways_down(start, end)
            strongest_other = np.full(power.shape, -np.inf)
            busy = np.zeros(power.shape, dtype=np.int64)
            for d in range(1, len(start)):
                i = np.arange(len(start) - d)
                j = i + d
                overlap = start[j] < end[i]
                if not overlap.any():
                    break  # starts are sorted: no later pair can overlap either
                i, j = i[overlap], j[overlap]
                same = (p["chan"][i] == p["chan"][j]) & (p["sf"][i] == p["sf"][j])
                si, sj = i[same], j[same]
                np.maximum.at(strongest_other, si, power[sj])
                np.maximum.at(strongest_other, sj, power[si])
                # A demodulator locks on every preamble it detects, decodable or not.
                np.add.at(busy, j, heard[i])
            captured = power >= strongest_other + self.capture_db
            free = busy < self.demodulators[None, :]
            decoded = heard & captured & free
            fin_idx = np.flatnonzero(final)
            ok = decoded[fin_idx].any(axis=1)
            burst = self._burst_lost(p, fin_idx)
            reason = np.where(
                ~heard[fin_idx].any(axis=1),
                np.where(in_reach[fin_idx].any(axis=1), LOST_OUTAGE, LOST_OUT_OF_RANGE),
                np.where(
                    (heard & captured)[fin_idx].any(axis=1), LOST_GATEWAY_BUSY, LOST_COLLISION
                ),
            )
            reason = np.where(ok & burst, LOST_INTERFERENCE, reason)
            ok &= ~burst
            p["done"] = p["done"] | final
        # Keep frames that may still overlap frames not yet settled.
        keep = ~p["done"] | (end > t - self.max_airtime_s)
        self._pending = {f: v[keep] for f, v in p.items()}
        if not final.any():
            return
        fin = {f: v[fin_idx] for f, v in p.items()}
        n = len(self.groups)
        for code in LOST_REASONS:
            lost = (~ok) & (reason == code)
            self.lost[code] += np.bincount(fin["gid"][lost], minlength=n)
        np.add.at(self.lost_bins, (fin["gid"][~ok], self._bin(fin["end"][~ok])), 1)
        self.delivered += np.bincount(fin["gid"][ok], minlength=n)
        rx2 = self._rx2_delay_s[fin["gid"]]
        self._rx_wait.append(
            {
                "gid": fin["gid"],
                "node": fin["node"],
                "end": fin["end"],
                "decide": fin["end"] + rx2,
                "ok": ok,
                "k": fin["k"],
                "ts": fin["ts"],
                "kind": fin["kind"],
                "r": fin["r"],
                "conf": fin["conf"],
                "att": fin["att"],
                "seen": fin["seen"] | ok,
            }
        )
        # The network server drops a retransmission of a frame it already has (same counter).
        up = ok & np.isin(fin["kind"], _TO_CLOUD) & ~fin["seen"]
        if up.any():
            arrive = np.empty(int(up.sum()))
            gid = fin["gid"][up]
            for gi, g in enumerate(self.groups):
                m = gid == gi
                if m.any():
                    z = g.stream.normal(
                        fin["node"][up][m], fin["k"][up][m].astype(np.uint64), PURPOSE_UP_LATENCY
                    )
                    end_m = fin["end"][up][m]
                    arrive[m] = (
                        end_m + lognormal_s(self.cloud.uplink_latency, z) + self._spike_s(end_m)
                    )
            self._arrivals.append(
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

    def _burst_lost(self, p: dict, idx: np.ndarray) -> np.ndarray:
        """Which frames ``idx`` a loss burst takes (a draw per frame and transmission)."""
        lost = np.zeros(len(idx), dtype=bool)
        if self.faults is None or not self.faults.has_bursts:
            return lost
        prob = self.faults.loss_probability(p["start"][idx])
        hit = np.flatnonzero(prob > 0)
        for gi, g in enumerate(self.groups):
            m = hit[p["gid"][idx[hit]] == gi]
            if len(m):
                f = idx[m]
                counter = (p["k"][f].astype(np.uint64) << np.uint64(4)) + p["att"][f].astype(
                    np.uint64
                )
                lost[m] = g.stream.uniform(p["node"][f], counter, PURPOSE_LOSS_BURST) < prob[m]
        return lost

    # -- cloud -------------------------------------------------------------------------------
    def _serve_cloud(self, t: float) -> None:
        if not self._arrivals:
            return
        a = {f: np.concatenate([x[f] for x in self._arrivals]) for f in self._arrivals[0]}
        cloud_down = self.faults is not None and len(self.faults.cloud_down) > 0
        if cloud_down:
            # Requests reaching a cloud that is down are lost (integrations do not retry).
            refused = self.faults.cloud_is_down(a["arrive"])
            if refused.any():
                self.cloud_refused += np.bincount(a["gid"][refused], minlength=len(self.groups))
                a = {f: v[~refused] for f, v in a.items()}
        order = np.lexsort((a["k"], a["node"], a["gid"], a["arrive"]))
        a = {f: v[order] for f, v in a.items()}
        service = self.call_s + self.request_s[a["gid"]]
        if self.cloud.max_batch == 1 and len(np.unique(self.request_s)) == 1 and not cloud_down:
            n_due = int(np.searchsorted(a["arrive"], t, side="right"))
            start = self._fifo_equal(a["arrive"][:n_due], float(service[0]))
            done = start + service[:n_due]
        else:
            start, done = self._fifo_batched(a["arrive"], a["gid"], t)
            n_due = len(start)
        rest = {f: v[n_due:] for f, v in a.items()}
        self._arrivals = [rest] if len(rest["node"]) else []
        if n_due == 0:
            return
        a = {f: v[:n_due] for f, v in a.items()}
        arrive = a["arrive"]
        self.cloud_wait.add(start - arrive)
        arrive_bin = self._bin(arrive)
        np.add.at(self.wait_ns_bins, arrive_bin, np.round((start - arrive) * 1e9).astype(np.int64))
        np.maximum.at(self.wait_max_s_bins, arrive_bin, start - arrive)
        for gi, g in enumerate(self.groups):
            m = a["gid"] == gi
            if not m.any():
                continue
            self.cloud_requests[gi] += int(m.sum())
            np.add.at(self.requests_bins[gi], arrive_bin[m], 1)
            decision = self._cloud_decide(gi, a["node"][m], a["k"][m], a["r"][m], a["kind"][m])
            z = g.stream.normal(a["node"][m], a["k"][m].astype(np.uint64), PURPOSE_DOWN_LATENCY)
            ready = done[m] + lognormal_s(self.cloud.downlink_latency, z) + self._spike_s(done[m])
            if g.link is not None and g.link.period_s is not None:
                self._deliver_periodic(g, a["node"][m], a["k"][m], a["ts"][m], ready, decision)
            else:
                self._add_to_pool(gi, a["node"][m], a["k"][m], a["ts"][m], ready, decision)

    def _deliver_periodic(self, g, nodes, k, ts, ready, decision) -> None:
        """A node that listens periodically gets each decision at its next occasion."""
        link = g.link
        at = link.next_occasion_s(nodes, ready) + link.downlink_s
        g.decisions.deliver(nodes, at, k, decision)
        g.add_rx_charge(nodes, np.full(len(nodes), link.downlink_rx_c), at)
        g.latency.add(at - ts)
        self.downlinks[g.index] += len(nodes)

    def _open_direct_windows(self, t: float) -> None:
        """Serve the receive windows of window-reachable direct links that closed by ``t``.

        The newest decision ready by the window's end is delivered, at the window's start if
        it was waiting, else when it arrives; a Wi-Fi node that was listening for it stops.
        """
        if not self._direct_wait:
            return
        w = {f: np.concatenate([x[f] for x in self._direct_wait]) for f in self._direct_wait[0]}
        due = w["close"] <= t
        self._direct_wait = [{f: v[~due] for f, v in w.items()}] if (~due).any() else []
        w = {f: v[due] for f, v in w.items()}
        if not len(w["node"]) or self._pool is None or not len(self._pool["node"]):
            return
        order = np.lexsort((w["node"], w["gid"], w["close"]))
        w = {f: v[order] for f, v in w.items()}
        key = _key(w["gid"], w["node"])
        has = np.isin(key, self._pool["key"])
        w, key = {f: v[has] for f, v in w.items()}, key[has]
        for r in _rounds(key) if len(key) else []:
            self._serve_direct_round({f: v[r] for f, v in w.items()}, key[r])

    def _compact_pool(self, t: float) -> None:
        """Forget pooled decisions that no receive window can carry any more.

        Every window still to be served opens after ``t - lag`` (RX1 opens at most ``lag``
        before its RX2 is decided; a direct link's window closes after ``t``), and a window
        carries the newest decision ready when it opens. So once a node has a decision ready
        by ``t - lag``, its older ones can never be chosen. Without this, nodes whose windows
        the gateways' duty cycle keeps blocking piled up decisions for the whole horizon.
        """
        pool = self._pool
        if pool is None or len(pool["key"]) < 2:
            return
        lag = float((self._rx2_delay_s - self._rx1_delay_s).max())
        settled = pool["ready"] <= t - lag
        if not settled.any():
            return
        _, inv = np.unique(pool["key"], return_inverse=True)
        newest = np.full(int(inv.max()) + 1, -1, dtype=np.int64)
        np.maximum.at(newest, inv[settled], pool["k"][settled])
        keep = pool["k"] >= newest[inv]
        if not keep.all():
            self._pool = {f: v[keep] for f, v in pool.items()}

    def _pool_entries(self, key: np.ndarray) -> np.ndarray:
        """For each pooled decision, the window (index into ``key``) of its node, or -1."""
        pool_key = self._pool["key"]
        srt = np.argsort(key)
        pos = np.minimum(np.searchsorted(key[srt], pool_key), len(key) - 1)
        return np.where(key[srt][pos] == pool_key, srt[pos], -1)

    def _serve_direct_round(self, w: dict, key: np.ndarray) -> None:
        pool = self._pool
        entry = self._pool_entries(key)
        ready = (entry >= 0) & (pool["ready"] <= w["close"][np.maximum(entry, 0)])
        rows = np.flatnonzero(ready)
        if not len(rows):
            return
        e = entry[rows]
        best = np.full(len(key), -1, dtype=np.int64)
        np.maximum.at(best, e, pool["k"][rows])  # the newest decision wins
        pick = rows[pool["k"][rows] == best[e]]
        gone = np.zeros(len(pool["node"]), dtype=bool)
        gone[rows] = pool["k"][rows] <= best[e]
        pe = entry[pick]
        for gi, g in enumerate(self.groups):
            m = w["gid"][pe] == gi
            if not m.any():
                continue
            rowsel, ent = pick[m], pe[m]
            nodes, link = w["node"][ent], g.link
            at = np.maximum(pool["ready"][rowsel], w["open"][ent]) + link.downlink_s
            g.decisions.deliver(nodes, at, pool["k"][rowsel], pool["dec"][rowsel])
            g.latency.add(at - pool["ts"][rowsel])
            self.downlinks[gi] += len(nodes)
            if link.early_stop_s > 0:
                # The node stops listening once the decision is in (never before its own
                # message is through).
                listen_from = w["close"][ent] - link.early_stop_s
                saved_s = w["close"][ent] - np.maximum(at, listen_from)
                g.add_rx_charge(nodes, -saved_s * link.radio.listen_current_a, at)
        self._pool = {f: v[~gone] for f, v in pool.items()}

    def _bin(self, t_s: np.ndarray) -> np.ndarray:
        """Time-series step holding each time (the last step takes the horizon's end)."""
        return np.minimum(
            (np.asarray(t_s) // self.bin_s).astype(np.int64), len(self.busy_ns_bins) - 1
        )

    def _fifo_equal(self, arrive: np.ndarray, s: float) -> np.ndarray:
        """Start times of one-request calls of equal length ``s`` on k FIFO workers."""
        w = self.cloud.workers
        start = np.empty_like(arrive)
        # Residue class r of the global job counter runs on "its" worker; within a class the
        # single-server recursion start_j = max(a_j, start_{j-1} + s) is a running maximum.
        jobs = self._jobs + np.arange(len(arrive))
        for r in range(w):
            m = jobs % w == r
            if not m.any():
                continue
            j = np.arange(int(m.sum()))
            b = np.maximum.accumulate(arrive[m] - s * j)
            start[m] = s * j + np.maximum(b, self._last_starts[r] + s)
            self._last_starts[r] = start[m][-1]
        self._jobs += len(arrive)
        self._calls += len(arrive)
        self._busy_ns += len(arrive) * int(round(s * 1e9))
        np.add.at(self.busy_ns_bins, self._bin(start), int(round(s * 1e9)))
        return start

    def _fifo_batched(self, arrive: np.ndarray, gid: np.ndarray, t: float):
        """Greedy batching on k FIFO workers: a worker that frees takes what is waiting.

        A call starts when a worker is free and a request waits, and takes every waiting
        request up to ``max_batch``. Only calls that start by ``t`` are formed (a later call
        could still take requests that have not arrived yet), so the schedule does not depend
        on how time was cut. Returns start and done times of the requests served, a prefix of
        ``arrive``. Also used when groups' requests differ in cost (unequal service times
        break the residue-class shortcut of :meth:`_fifo_equal`).
        """
        free = self._worker_free
        cap = self.cloud.max_batch
        start = np.empty(len(arrive))
        done = np.empty(len(arrive))
        i, n = 0, len(arrive)
        while i < n:
            w = int(np.argmin(free))
            begin = max(free[w], arrive[i])
            if self.faults is not None and len(self.faults.cloud_down):
                begin = self.faults.cloud_resumes_s(begin)  # queued requests wait it out
            if begin > t:
                break
            j = min(int(np.searchsorted(arrive, begin, side="right")), i + cap)
            dur = self.call_s + float(self.request_s[gid[i:j]].sum())
            start[i:j] = begin
            done[i:j] = begin + dur
            free[w] = begin + dur
            self._calls += 1
            self._busy_ns += int(round(dur * 1e9))
            self.busy_ns_bins[self._bin(np.array([begin]))[0]] += int(round(dur * 1e9))
            i = j
        self._jobs += i
        return start[:i], done[:i]

    def _add_to_pool(self, gi, nodes, k, ts, ready, decision) -> None:
        """Queue decisions at the network server until a receive window can carry them."""
        new = {
            "key": _key(np.full(len(nodes), gi), nodes), "gid": np.full(len(nodes), gi),
            "node": nodes, "k": k, "ts": ts, "ready": ready, "dec": decision,
        }  # fmt: skip
        if self._pool is None:
            self._pool = new
        else:
            self._pool = {f: np.concatenate([self._pool[f], new[f]]) for f in new}

    def _cloud_decide(
        self, gi: int, nodes: np.ndarray, k: np.ndarray, r: np.ndarray, kind: np.ndarray
    ) -> np.ndarray:
        """Run the cloud model on each request's window.

        An escalated window is decided as sent. Readings (one, or a batch ending at sample
        ``k``) update the cloud's copy of the node's window first.
        """
        g = self.groups[gi]
        ring, last = self.cloud_rings[gi], self.cloud_last_k[gi]
        win, c = ring.window, ring.buf.shape[2]
        # Model input rows in whatever order is cheapest to build; `at` maps them back.
        at, xs = [], []
        w = np.flatnonzero(kind == WINDOW)
        if len(w):
            at.append(w)
            xs.append(r[w, : win * c])
        rest = np.flatnonzero(kind != WINDOW)
        if len(rest):
            pos, x = self._update_cloud_windows(
                ring, last, nodes[rest], k[rest], r[rest],
                np.where(kind[rest] == BATCH, g.batch_readings, 1),
            )  # fmt: skip
            at.append(rest[pos])
            xs.append(x)
        _, positive = self.cloud_models[gi].predict(xs[0] if len(xs) == 1 else np.concatenate(xs))
        decision = np.empty(len(nodes), dtype=np.int8)
        decision[np.concatenate(at)] = positive
        return decision

    @staticmethod
    def _update_cloud_windows(ring, last, nodes, k, r, count) -> tuple[np.ndarray, np.ndarray]:
        """Write ``count`` readings ending at ``k`` into the cloud's copy; return the windows.

        Returns ``(pos, windows)``: row ``i`` of ``windows`` is the window of request
        ``pos[i]`` (requests are taken in node order, round by round).
        """
        win, c = ring.window, ring.buf.shape[2]
        # Rounds: a node appears at most once per round, so its window is updated in order.
        srt = np.argsort(nodes, kind="stable")
        first = np.r_[0, np.flatnonzero(np.diff(nodes[srt])) + 1]
        rank = np.empty(len(nodes), dtype=np.int64)
        rank[srt] = np.arange(len(nodes)) - np.repeat(first, np.diff(np.r_[first, len(nodes)]))
        pos, xs = [], []
        rank_sorted = rank[srt]
        for rr in range(int(rank.max()) + 1):
            # This round's requests in node order (nodes are independent within a round):
            # runs of consecutive nodes let the ring read and write slices, not gathers.
            m = srt[rank_sorted == rr]
            n_, k_, cnt = nodes[m], k[m], count[m]
            lk = last[n_]
            gap = (k_ - cnt + 1) - lk - 1
            # Lost readings: the cloud carries the last value it received forward.
            for d in range(1, int(min(max(gap.max(initial=0), 0), win)) + 1):
                f = gap >= d
                ring.fill_from(n_[f], lk[f], lk[f] + d)
            rm = r[m]
            for j in range(int(cnt.max()) - 1, -1, -1):  # oldest reading of the batch first
                kj = k_ - j
                f = (cnt > j) & (kj > lk - win)
                if cnt.max() == 1:  # single readings (the usual case): the first columns
                    vals = rm[f, :c] if not f.all() else rm[:, :c]
                else:
                    col = (cnt[f] - 1 - j) * c  # reading j before the newest sits here
                    idx = col[:, None] + np.arange(c)[None, :]
                    vals = np.take_along_axis(rm[f], idx, axis=1)
                ring.write(n_[f], kj[f], vals)
            last[n_] = np.maximum(lk, k_)
            pos.append(m)
            xs.append(ring.windows(n_, k_))
        if len(xs) == 1:
            return pos[0], xs[0]
        return np.concatenate(pos), np.concatenate(xs)

    # -- class-A receive windows ---------------------------------------------------------------
    def _open_windows(self, t: float) -> None:
        """Deliver decisions and ACKs in the receive windows decided by ``t``; retry the rest.

        A class-A node listens only after its own uplink: in RX1 (same SF) then RX2 (SF12).
        The network server sends the newest decision ready at the gateway when a window opens
        (older ones are superseded), and acknowledges a confirmed uplink it heard (with the
        decision, or alone); a decision that misses both windows waits for the next uplink
        the server hears. A confirmed uplink left without an ACK (not heard, or the
        gateway's duty cycle had no room) is retransmitted after ACK_TIMEOUT, up to the
        group's transmissions. Vectorised in rounds so that each node appears once per round
        and its windows are served in time order.
        """
        if not self._rx_wait:
            return
        w = {f: np.concatenate([x[f] for x in self._rx_wait]) for f in self._rx_wait[0]}
        due = w["decide"] <= t
        self._rx_wait = [{f: v[~due] for f, v in w.items()}] if (~due).any() else []
        w = {f: v[due] for f, v in w.items()}
        if not len(w["node"]):
            return
        order = np.lexsort((w["node"], w["gid"], w["decide"]))
        w = {f: v[order] for f, v in w.items()}
        key = _key(w["gid"], w["node"])
        pool_keys = self._pool["key"] if self._pool is not None else np.empty(0, np.int64)
        # No uplink heard, no downlink; heard: a decision to send, or an ACK owed.
        need = w["ok"] & (np.isin(key, pool_keys) | w["conf"])
        acked = np.zeros(len(key), dtype=bool)
        idx = np.flatnonzero(need)
        if len(idx):
            for r in _rounds(key[idx]):
                sel = idx[r]
                served = self._serve_round({f: v[sel] for f, v in w.items()}, key[sel])
                acked[sel] = served
        retry = w["conf"] & ~acked
        self._link_news(w, w["conf"] & acked, retry & (w["att"] >= self._max_tx[w["gid"]]))
        if retry.any():
            self._retransmit({f: v[retry] for f, v in w.items()})

    def _link_news(self, w: dict, acked: np.ndarray, failed: np.ndarray) -> None:
        """Tell store-and-forward nodes how their confirmed uplinks ended, in time order.

        ``w`` is sorted by decision time; rounds keep each node's events in that order.
        """
        for gi, g in enumerate(self.groups):
            if g.store is None:
                continue
            idx = np.flatnonzero((acked | failed) & (w["gid"] == gi))
            for r in _rounds(w["node"][idx]) if len(idx) else []:
                e = idx[r]
                a, f = e[acked[e]], e[failed[e]]
                if len(a):
                    g.link_acked(w["node"][a], w["decide"][a])
                if len(f):
                    g.link_failed(w["node"][f], w["kind"][f], w["ts"][f], w["decide"][f])

    def _retransmit(self, w: dict) -> None:
        """Schedule retransmissions of unacknowledged confirmed uplinks (or give up)."""
        for gi, g in enumerate(self.groups):
            m = w["gid"] == gi
            if not m.any():
                continue
            give_up = m & (w["att"] >= g.max_transmissions)
            # Confirmed messages given up (a store-and-forward link check that goes unanswered
            # is not one: its message is stored; a frame only forwarding stored ones neither).
            if g.plan.confirmed:
                self.unacknowledged[gi] += int((give_up & (w["kind"] != BACKLOG)).sum())
            m &= ~give_up
            if not m.any():
                continue
            nodes, k, att = w["node"][m], w["k"][m], w["att"][m]
            counter = (k.astype(np.uint64) << np.uint64(4)) + att.astype(np.uint64)
            u = g.stream.uniform(nodes, counter, PURPOSE_ACK_TIMEOUT)
            lo, hi = ACK_TIMEOUT_S
            # The node gives up on RX2 once its preamble timeout passes, then waits ACK_TIMEOUT.
            not_before = w["decide"][m] + g.rx2_window_s + lo + (hi - lo) * u
            g.retransmit(
                self, nodes, k, w["ts"][m], w["kind"][m], w["r"][m], att + 1, w["seen"][m],
                not_before,
            )  # fmt: skip

    def _gateway_airtime(self, w, best1, best2, rx1, rx2) -> tuple[np.ndarray, np.ndarray]:
        """Pick RX1 or RX2 for each window, within the serving gateway's duty-cycle budget.

        EU868 gateways may transmit 1 % of the time in the uplink sub-band (RX1) and 10 % at
        869.525 MHz (RX2); after a downlink of air time T the band is off for T (1/dc - 1).
        The network server answers through the gateway that heard the node best; windows are
        served in the order they open, so the budget is spent first come, first served.
        Returns, per window, the sample index of the decision sent (-2: an ACK alone, -1:
        nothing) and the window used (1 or 2).
        """
        conf = w["conf"]
        chosen = np.full(len(best1), -1, dtype=np.int64)
        window = np.zeros(len(best1), dtype=np.int64)
        order = np.flatnonzero((best2 >= 0) | conf)
        if not len(order):
            return chosen, window
        order = order[np.argsort(rx1[order], kind="stable")]
        gw = np.empty(len(order), dtype=np.int64)
        no_gateway = np.zeros(len(order), dtype=bool)
        toa1 = np.empty(len(order))
        toa2 = np.empty(len(order))
        for gi, g in enumerate(self.groups):
            m = w["gid"][order] == gi
            if not m.any():
                continue
            nodes = w["node"][order][m]
            gw[m] = g.best_gateway[nodes]
            if self.faults is not None and self.faults.any_gateway_down:
                # The network server answers through the best gateway that is up.
                down = self.faults.gateways_down_at(rx1[order][m])
                gw[m] = np.argmax(np.where(down, -np.inf, g.rx_dbm[nodes]), axis=1)
                no_gateway[m] = down.all(axis=1)
            # An ACK without a decision is a MAC-only frame: shorter on air.
            dec1, dec2 = best1[order][m] >= 0, best2[order][m] >= 0
            toa1[m] = np.where(dec1, g.dl_toa_rx1_s[nodes], g.ack_toa_rx1_s[nodes])
            toa2[m] = np.where(dec2, g.dl_toa_rx2_s, g.ack_toa_rx2_s)
        # Sequential (each send spends the budget), on Python floats: indexing numpy
        # scalars in the loop cost more than the loop. Same IEEE operations, same results.
        off1 = (toa1 / self.rx1_duty_cycle[gw]).tolist()
        off2 = (toa2 / self.rx2_duty_cycle[gw]).tolist()
        b1, b2, c = best1[order], best2[order], conf[order]
        r1, r2 = rx1[order].tolist(), rx2[order].tolist()
        wants1 = ((b1 >= 0) | c).tolist()
        free1, free2 = self._gw_free1.tolist(), self._gw_free2.tolist()
        used = [0] * len(order)
        for pos, (g_, skip) in enumerate(zip(gw.tolist(), no_gateway.tolist(), strict=True)):
            if skip:
                continue
            if wants1[pos] and free1[g_] <= r1[pos]:
                free1[g_] = r1[pos] + off1[pos]
                used[pos] = 1
            elif free2[g_] <= r2[pos]:
                free2[g_] = r2[pos] + off2[pos]
                used[pos] = 2
        self._gw_free1[:] = free1
        self._gw_free2[:] = free2
        used = np.array(used, dtype=np.int64)
        best = np.where(used == 1, b1, b2)
        chosen[order] = np.where(used == 0, -1, np.where(best >= 0, best, -2))
        window[order] = used
        n = len(self.groups)
        gid = w["gid"][order]
        self.downlinks_blocked_outage += np.bincount(gid[no_gateway], minlength=n)
        self.downlinks_blocked += np.bincount(gid[(used == 0) & ~no_gateway], minlength=n)
        return chosen, window

    def _serve_round(self, w: dict, key: np.ndarray) -> np.ndarray:
        """Serve one round of windows (each node once); returns which windows got a downlink."""
        pool = self._pool
        rx1 = self._rx1_delay_s[w["gid"]] + w["end"]
        rx2 = self._rx2_delay_s[w["gid"]] + w["end"]
        best = [np.full(len(key), -1, dtype=np.int64) for _ in range(2)]
        rows = entry = e = np.empty(0, dtype=np.int64)
        if pool is not None and len(pool["node"]):
            entry = self._pool_entries(key)  # the window each pool row is for
            rows = np.flatnonzero(entry >= 0)
            e = entry[rows]
            for b, opens in zip(best, (rx1, rx2), strict=True):
                ready = pool["ready"][rows] <= opens[e]
                np.maximum.at(b, e[ready], pool["k"][rows][ready])  # the newest decision wins
        chosen, window = self._gateway_airtime(w, best[0], best[1], rx1, rx2)
        served = chosen != -1
        if not served.any():
            return served
        ack_only = np.flatnonzero(chosen == -2)
        if len(ack_only):
            self._charge_downlinks(w, ack_only, window, rx1, rx2, ack=True)
        if not len(rows) or not (chosen >= 0).any():
            return served
        # The pool row of each chosen decision, and every row it supersedes.
        pick = rows[(pool["k"][rows] == chosen[e]) & (chosen[e] >= 0)]
        pick_entry = entry[pick]
        gone = np.zeros(len(pool["node"]), dtype=bool)
        gone[rows] = (chosen[e] >= 0) & (pool["k"][rows] <= chosen[e])
        at = self._charge_downlinks(w, pick_entry, window, rx1, rx2, ack=False)
        for gi, g in enumerate(self.groups):
            m = w["gid"][pick_entry] == gi
            if m.any():
                g.decisions.deliver(
                    w["node"][pick_entry][m], at[m], pool["k"][pick][m], pool["dec"][pick][m]
                )
                g.latency.add(at[m] - pool["ts"][pick][m])
        self._pool = {f: v[~gone] for f, v in pool.items()}
        return served

    def _charge_downlinks(self, w, ent, window, rx1, rx2, ack: bool) -> np.ndarray:
        """Receive charge, air time and counts of downlinks sent in windows ``ent``.

        The node's RX charge was booked for two empty windows; a downlink replaces that with
        the frame's air time. Returns each downlink's arrival time at the node.
        """
        at = np.empty(len(ent))
        for gi, g in enumerate(self.groups):
            m = w["gid"][ent] == gi
            if not m.any():
                continue
            sel = ent[m]
            nodes = w["node"][sel]
            in_rx1 = window[sel] == 1
            opens = np.where(in_rx1, rx1[sel], rx2[sel])
            toa1 = g.ack_toa_rx1_s[nodes] if ack else g.dl_toa_rx1_s[nodes]
            toa2 = g.ack_toa_rx2_s if ack else g.dl_toa_rx2_s
            toa = np.where(in_rx1, toa1, toa2)
            delta_s = np.where(in_rx1, toa1 - g.nominal_rx_s[nodes], toa2 - g.rx2_window_s)
            g.add_rx_charge(nodes, g.rx_current_a * delta_s, opens)
            at[m] = opens + toa
            if ack:
                self.acks[gi] += len(nodes)
            else:
                self.downlinks[gi] += len(nodes)
            # Integer nanoseconds: exact sums, whatever the batching.
            self.downlink_airtime_ns[gi] += int(np.round(toa * 1e9).astype(np.int64).sum())
        return at
