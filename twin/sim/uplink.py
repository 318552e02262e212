"""How a node's messages leave it: one interface, a LoRaWAN and a direct-hub implementation.

An uplink takes the messages a batch of samples wants to send, decides when each can start
(the radio may still be busy, or waiting out its duty cycle), charges the radio's states to
the energy ledger, counts the traffic, and hands the frames to the shared network. Two
implementations: :class:`twin.sim.lorawan.LoRaWANUplink` (a shared channel, class-A receive
windows) and :class:`HubUplink` (BLE, Wi-Fi, LTE-M/NB-IoT: a scheduled link to the node's
own hub, see :mod:`twin.sim.access`).
"""

from __future__ import annotations

import numpy as np

from twin.plan import GroupPlan
from twin.rng import NodeStream
from twin.sim.access import DirectLink
from twin.sim.hub import HubAvailability
from twin.sim.ledger import RADIO_IDLE, RADIO_RX, RADIO_TX, STATES, EnergyLedger
from twin.sim.timebins import TimeBins

# Purposes of the per-node counter stream used by the uplinks and the network.
PURPOSE_CHANNEL = 11
PURPOSE_UP_LATENCY = 12
PURPOSE_DOWN_LATENCY = 13
PURPOSE_TX_JITTER = 14
PURPOSE_RETRY_CHANNEL = 15
PURPOSE_ACK_TIMEOUT = 16
PURPOSE_LOSS_BURST = 17


class Traffic:
    """What a group's nodes put on air: messages, bytes and air time, per node and step."""

    def __init__(self, n: int, payload_arr: np.ndarray, bins: TimeBins) -> None:
        self.payload_arr = payload_arr
        self.bins = bins
        self.uplinks = np.zeros(n, dtype=np.int64)
        self.uplink_bytes = np.zeros(n, dtype=np.int64)
        self.payload_bytes_sent = 0
        self.bytes_bins = bins.zeros()
        # Integer nanoseconds: the sum cannot depend on the order frames were booked in.
        self.airtime_ns_bins = bins.zeros()

    def count(self, nodes, kind, start, airtime_s, on_air) -> None:
        """Count frames of ``on_air`` bytes starting at ``start`` [s]."""
        self.uplinks[nodes] += 1
        self.uplink_bytes[nodes] += on_air
        self.payload_bytes_sent += int(self.payload_arr[kind].sum())
        b = self.bins.of(start)
        np.add.at(self.bytes_bins, b, on_air)
        np.add.at(self.airtime_ns_bins, b, np.round(airtime_s * 1e9).astype(np.int64))


class Uplink:
    """What every uplink shares: a busy radio, jitter, and the traffic it counts.

    Subclasses set ``link_s`` (everything a message causes on the network is over this long
    after it is ready), ``decision_lag_s``, ``max_transmissions``, ``max_airtime_s``,
    ``idle_current_a`` and ``lost_busy_reason``, and implement ``_start_s`` and ``_send``.
    """

    technology = "uplink"
    idle_current_a = 0.0

    def __init__(
        self,
        index: int,
        plan: GroupPlan,
        stream: NodeStream,
        ledger: EnergyLedger,
        traffic: Traffic,
    ) -> None:
        self.index = index
        self.plan = plan
        self.radio = plan.radio
        self.stream = stream
        self.ledger = ledger
        self.traffic = traffic
        self.payload_arr = traffic.payload_arr
        self.radio_free_s = np.full(plan.count, -np.inf)
        self.lost_busy = 0  # messages not sent: the radio was busy (or waiting out its duty)
        self.retransmissions = 0

    def transmit(self, network, nodes, k, t, ready_s, kind, data) -> np.ndarray:
        """Send uplinks if the radio is free; charge them. Returns the mask of those sent."""
        if self.plan.tx_jitter_s > 0:
            u = self.stream.uniform(nodes, k.astype(np.uint64), PURPOSE_TX_JITTER)
            ready_s = ready_s + self.plan.tx_jitter_s * u
        start = self._start_s(nodes, ready_s)
        # Still on air, or (LoRa) waiting out the duty cycle: the message is not sent.
        ok = start >= self.radio_free_s[nodes]
        self.lost_busy += int((~ok).sum())
        if ok.any():
            self._send(network, nodes[ok], k[ok], t[ok], start[ok], kind[ok],
                       data[ok] if data is not None else None)  # fmt: skip
        return ok

    def link_budget(self):
        """Spreading factors and best links of the nodes (None: not on a shared channel)."""
        return None

    def rejoin_c(self, nodes: np.ndarray) -> dict[int, np.ndarray]:
        """Charge of joining the network again after a reboot, by ledger column [C]."""
        return {}

    def _start_s(self, nodes: np.ndarray, ready_s: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _send(self, network, nodes, k, t, start, kind, data) -> None:
        raise NotImplementedError


class HubUplink(Uplink):
    """BLE, Wi-Fi, cellular: each message's radio phases, delivered to the node's own hub.

    The link layer retransmits until the hub has the message; what differs between
    technologies (when a message can leave, when a cloud decision can come back) is in
    :class:`twin.sim.access.DirectLink`.
    """

    technology = "hub"
    max_transmissions = 1
    max_airtime_s = 0.0
    decision_lag_s = 0.0  # every downlink is known before it arrives
    lost_busy_reason = "radio_busy"

    def __init__(
        self, index, plan, stream, ledger, traffic, link: DirectLink,
        hub: HubAvailability | None = None,
    ) -> None:  # fmt: skip
        super().__init__(index, plan, stream, ledger, traffic)
        self.link = link
        self.hub = hub  # outages of the nodes' hubs (None: always reachable)
        self.idle_current_a = self.link.idle_current_a
        # A message waits at most for its first opportunity, then keeps the radio busy.
        self.link_s = self.link.first_wait_max_s + self.link.longest_s
        self.sf = np.zeros(plan.count, dtype=np.int64)
        self.rx_dbm = np.zeros((plan.count, 0))
        self.lost_coverage = 0  # messages of nodes out of coverage

    def _start_s(self, nodes: np.ndarray, ready_s: np.ndarray) -> np.ndarray:
        return self.link.send_start_s(nodes, ready_s)

    def rejoin_c(self, nodes: np.ndarray) -> dict[int, np.ndarray]:
        """Re-connecting to the hub after a reboot (:meth:`DirectLink.rejoin_c`)."""
        state, charge = self.link.rejoin_c()
        return {STATES.index(state): np.full(len(nodes), charge)} if charge > 0 else {}

    def _send(self, network, nodes, k, t, start, kind, data) -> None:
        c, link = self.link.cost, self.link
        self.radio_free_s[nodes] = start + c("busy_s", kind) + link.coverage_extra("s", nodes, kind)
        if link.coverage is not None:
            reach = link.coverage["served"][nodes]
            if not reach.all():
                # Out of coverage: the modem wakes, finds no cell it can close and gives up
                # (charged as one exchange at good coverage, an assumption); the message is lost.
                lost = ~reach
                self._charge(nodes[lost], kind[lost])
                self.lost_coverage += int(lost.sum())
                nodes, k, t, kind, start = (
                    nodes[reach],
                    k[reach],
                    t[reach],
                    kind[reach],
                    start[reach],
                )
                data = None if data is None else data[reach]
        if self.hub is not None:
            # A message due while the hub is out leaves when it is back, or not at all.
            wait, goes = self.hub.route(nodes, start, self.payload_arr[kind])
            if not goes.all():
                nodes, k, t, kind, wait = nodes[goes], k[goes], t[goes], kind[goes], wait[goes]
                start, data = start[goes], None if data is None else data[goes]
            start = start + wait
        self._charge(nodes, kind)
        x = link.coverage_extra
        self.ledger.charge(nodes, RADIO_TX, x("tx_c", nodes, kind))
        self.ledger.charge(nodes, RADIO_RX, x("rx_c", nodes, kind))
        airtime = c("airtime_s", kind) + x("tx_s", nodes, kind)
        self.traffic.count(nodes, kind, start, airtime, c("bytes_on_air", kind))
        later = x("s", nodes, kind)  # repetitions: the hub has it later, the window moves
        network.submit_direct(
            self.index, nodes, k, t, start + c("hub_s", kind) + later, kind, data,
            start + c("open_s", kind) + later, start + c("close_s", kind) + later,
        )  # fmt: skip

    def _charge(self, nodes: np.ndarray, kind: np.ndarray) -> None:
        """A message's radio charge at good coverage."""
        c = self.link.cost
        self.ledger.charge(nodes, RADIO_TX, c("tx_c", kind))
        self.ledger.charge(nodes, RADIO_RX, c("rx_c", kind))
        self.ledger.charge(nodes, RADIO_IDLE, c("idle_c", kind))
