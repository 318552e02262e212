"""The LoRaWAN uplink of a group: link budgets, spreading factors, frames and class-A windows.

Every node's received power at every gateway is fixed at set-up (log-distance path loss with
log-normal shadowing per link); ``spreading_factor: auto`` gives each node the fastest SF its
best link clears with the ADR margin. A frame's air time follows Semtech's formula
(:func:`twin.physics.lora.time_on_air_s`); after it the node opens its two receive windows
(charged as empty until a downlink replaces them) and waits out its duty cycle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin.physics import lora
from twin.plan import GroupPlan
from twin.policies import WINDOW
from twin.sim.ledger import RADIO_RX, RADIO_TX
from twin.sim.stats import LinkBudget
from twin.sim.store import BACKLOG, MessageStore
from twin.sim.uplink import PURPOSE_CHANNEL, PURPOSE_RETRY_CHANNEL, Uplink

# LoRaWAN 1.0 ACK_TIMEOUT: a confirmed uplink without an ACK is retried 2 +/- 1 s after RX2.
ACK_TIMEOUT_S = (1.0, 3.0)
# An OTAA join after a reboot (the session keys were in RAM), PHY payloads [bytes]: the
# join-request is MHDR 1 + JoinEUI 8 + DevEUI 8 + DevNonce 2 + MIC 4; the join-accept MHDR 1
# + JoinNonce 3 + NetID 3 + DevAddr 4 + DLSettings 1 + RxDelay 1 + MIC 4, plus the 16-byte
# CFList EU868 and US915 networks send (LoRaWAN 1.0.3 specification, sections 6.2.4-6.2.5).
JOIN_REQUEST_BYTES, JOIN_ACCEPT_BYTES = 23, 33


@dataclass(frozen=True)
class LinkSetup:
    """What a group needs to compute its nodes' link budgets."""

    gateways: tuple
    propagation: object
    adr_margin_db: float
    rng: np.random.Generator


class LoRaWANUplink(Uplink):
    """Class-A LoRaWAN nodes of one group on the shared channel.

    Parameters
    ----------
    index, plan, stream, ledger, traffic
        See :class:`twin.sim.uplink.Uplink`.
    kinds : tuple of int
        Message kinds, in the order of the traffic's payload table.
    sends_windows : bool
        Whether the policy escalates whole windows (the longest frame it can send).
    store : MessageStore or None
        Store-and-forward, if the group has it.
    x_m, y_m : numpy.ndarray
        Node positions [m].
    link : LinkSetup
        Gateways, propagation model, ADR margin and the stream of shadowing draws.
    """

    technology = "lorawan"
    decision_lag_s = 0.0
    lost_busy_reason = "duty_cycle"

    def __init__(
        self, index, plan: GroupPlan, stream, ledger, traffic, kinds, sends_windows: bool,
        store: MessageStore | None, x_m: np.ndarray, y_m: np.ndarray, link: LinkSetup,
    ) -> None:  # fmt: skip
        super().__init__(index, plan, stream, ledger, traffic)
        self.n = plan.count
        self.store = store
        radio = self.radio
        self._link_budget(x_m, y_m, link)

        def toa(pl: int, sf: int, bandwidth_hz: float = radio.bandwidth_hz) -> float:
            return float(
                lora.time_on_air_s(
                    pl + radio.mac_overhead_bytes,
                    sf,
                    bandwidth_hz,
                    radio.coding_rate,
                    radio.preamble_symbols,
                )  # fmt: skip
            )

        sfs = np.arange(7, 13)
        payload = self.payload_arr
        # Air time per (message kind, spreading factor); a node's frames index it by its SF.
        self.toa_table_s = np.array([[toa(int(payload[i]), sf) for sf in sfs]
                                     for i in range(len(kinds))])  # fmt: skip
        # The longest frame this policy can send (a window only if it escalates windows).
        sendable = [i for i, kind in enumerate(kinds) if kind != WINDOW or sends_windows]
        self.max_airtime_s = float(self.toa_table_s[sendable][:, self.sf - 7].max())
        if store is not None:
            # Stored messages ride along up to the radio's maximum payload.
            full = toa(radio.max_payload_bytes, int(self.sf.max()))
            self.max_airtime_s = max(self.max_airtime_s, full)
        self._windows(plan, toa, sfs)

    def rejoin_c(self, nodes: np.ndarray) -> dict[int, np.ndarray]:
        """An OTAA join after a reboot: the join-request on air, the join-accept in RX1 [C].

        Taken to succeed at the first attempt, at the node's spreading factor, and off the
        shared channel (the join frames are not among the channel's frames).
        """
        r, sf = self.radio, self.sf[nodes]
        bw = r.downlink_bandwidth_hz or r.bandwidth_hz
        req = lora.time_on_air_s(JOIN_REQUEST_BYTES, sf, r.bandwidth_hz, r.coding_rate,
                                 r.preamble_symbols)  # fmt: skip
        acc = lora.time_on_air_s(JOIN_ACCEPT_BYTES, sf, bw, r.coding_rate, r.preamble_symbols)
        return {RADIO_TX: req * self.tx_current_a, RADIO_RX: acc * self.rx_current_a}

    def _windows(self, plan: GroupPlan, toa, sfs: np.ndarray) -> None:
        """Class-A receive windows, downlink and ACK air times, and the exactness bound.

        Downlinks go at the region's downlink bandwidth (US915: 500 kHz; RX1 at the uplink's
        SF, RX1DROffset 0), which sets the receive windows' length too.
        """
        radio = self.radio
        bw = radio.downlink_bandwidth_hz or radio.bandwidth_hz
        self.rx1_window_s = lora.rx_window_s(self.sf, radio.rx_window_symbols, bw)
        self.rx2_window_s = float(
            lora.rx_window_s(radio.rx2_spreading_factor, radio.rx_window_symbols, bw)
        )
        downlink = plan.payload_bytes.downlink
        self.dl_toa_rx1_s = np.array([toa(downlink, sf, bw) for sf in sfs])[self.sf - 7]
        self.dl_toa_rx2_s = toa(downlink, radio.rx2_spreading_factor, bw)
        self.nominal_rx_s = self.rx1_window_s + self.rx2_window_s
        self.rx_current_a = radio.rx_current_a - radio.sleep_current_a
        self.tx_current_a = radio.tx_current_a - radio.sleep_current_a

        def ack(sf: int) -> float:  # an ACK-only downlink: MAC header only
            return toa(0, sf, bw)

        self.ack_toa_rx1_s = np.array([ack(sf) for sf in sfs])[self.sf - 7]
        self.ack_toa_rx2_s = ack(radio.rx2_spreading_factor)
        # Uplink on air, RX windows and any downlink are over this long after the sample.
        attempt_s = (
            radio.wakeup_s
            + self.max_airtime_s
            + radio.rx2_delay_s
            + max(self.rx2_window_s, self.dl_toa_rx2_s)
        )
        self.link_s = attempt_s
        # Transmissions per frame that asks for an answer: confirmed uplinks retry; a link
        # check of store-and-forward (LinkCheckReq) is answered in RX1/RX2 or not at all.
        self.max_transmissions = plan.max_transmissions if plan.confirmed else 1
        if plan.confirmed:
            # Every retransmission waits for ACK_TIMEOUT or the duty cycle, whichever is later.
            off_s = float(lora.duty_cycle_off_time_s(self.max_airtime_s, radio.duty_cycle))
            retry_s = max(attempt_s + ACK_TIMEOUT_S[1], self.max_airtime_s + off_s + attempt_s)
            self.link_s = attempt_s + (plan.max_transmissions - 1) * retry_s
        # A class-A downlink is known once its window is decided (RX2 opening) but acts from
        # its arrival, which can be as early as RX1: decisions are resolved this far behind.
        self.decision_lag_s = radio.rx2_delay_s - radio.rx1_delay_s

    def _link_budget(self, x_m: np.ndarray, y_m: np.ndarray, link: LinkSetup) -> None:
        """Received power at every gateway, and each node's spreading factor.

        ``rx_dbm[node, gateway] = tx_power - PL(distance) - shadowing`` with log-normal
        shadowing fixed per link (nodes and gateways do not move). ``spreading_factor: auto``
        gives each node the fastest SF that clears the best gateway's sensitivity by the ADR
        margin, as LoRaWAN's adaptive data rate converges to for static nodes.
        """
        radio, prop = self.radio, link.propagation
        gx = np.array([gw.x_m for gw in link.gateways])
        gy = np.array([gw.y_m for gw in link.gateways])
        dist = np.hypot(x_m[:, None] - gx[None, :], y_m[:, None] - gy[None, :])
        loss = lora.log_distance_path_loss_db(
            dist, prop.path_loss_d0_db, prop.d0_m, prop.path_loss_exponent
        )
        shadow = link.rng.normal(0.0, prop.shadowing_sd_db, dist.shape)
        self.rx_dbm = radio.tx_power_dbm - loss - shadow
        fleet = self.plan.fleet
        if fleet is not None and fleet.rx_dbm is not None:
            # Measured links (a deployed fleet's telemetry): -inf where a gateway never heard.
            self.rx_dbm = fleet.rx_dbm.copy()
        self.best_gateway = np.argmax(self.rx_dbm, axis=1)
        self.gateway_ids = np.array([gw.id for gw in link.gateways], dtype=object)
        if self.plan.spreading_factor == "auto":
            # Only the SFs the region allows (US915 uplinks: SF7-SF10): a link too weak for
            # the slowest gets it anyway, and mostly fails to reach a gateway.
            self.sf = np.minimum(
                lora.assign_spreading_factor(
                    self.rx_dbm.max(axis=1), link.adr_margin_db, radio.bandwidth_hz,
                    radio.noise_figure_db,
                ),
                radio.max_spreading_factor,
            )  # fmt: skip
        else:
            self.sf = np.full(self.n, int(self.plan.spreading_factor), dtype=np.int64)
        if fleet is not None and fleet.spreading_factor is not None:
            own = fleet.spreading_factor > 0  # 0: the group's setting
            self.sf[own] = np.minimum(fleet.spreading_factor[own], radio.max_spreading_factor)

    def link_budget(self) -> LinkBudget:
        """Each node's spreading factor, strongest gateway and link budget there."""
        radio = self.radio
        rssi_dbm = self.rx_dbm[np.arange(self.n), self.best_gateway]
        # The noise floor the channel's sensitivities are built on: sensitivity less the SNR
        # the demodulator needs (the same at every SF), so SNR and sensitivity cannot disagree.
        noise_dbm = float(lora.sensitivity_dbm(7, radio.bandwidth_hz, radio.noise_figure_db))
        noise_dbm -= lora.SNR_LIMIT_DB[7]
        return LinkBudget(
            spreading_factor=self.sf.copy(),
            best_gateway=self.gateway_ids[self.best_gateway],
            rssi_dbm=rssi_dbm,
            snr_db=rssi_dbm - noise_dbm,
        )

    def _toa(self, kind: np.ndarray, nodes: np.ndarray, phy: np.ndarray) -> np.ndarray:
        """Air time of frames: from the table, or computed when stored messages ride along."""
        if self.store is None:
            return self.toa_table_s[kind, self.sf[nodes] - 7]
        r = self.radio
        return lora.time_on_air_s(
            phy, self.sf[nodes], r.bandwidth_hz, r.coding_rate, r.preamble_symbols
        )

    def _start_s(self, nodes: np.ndarray, ready_s: np.ndarray) -> np.ndarray:
        return ready_s + self.radio.wakeup_s

    def _send(self, network, nodes, k, t, start, kind, data) -> None:
        """LoRa uplinks: charge TX and the empty class-A RX windows, put them on the channel."""
        radio = self.radio
        phy = self.payload_arr[kind] + radio.mac_overhead_bytes
        confirmed = np.full(len(nodes), bool(self.plan.confirmed))
        if self.store is not None:
            phy, confirmed, extra = self.store.frames(nodes, t, kind, phy, confirmed)
            self.traffic.payload_bytes_sent += extra
        toa = self._toa(kind, nodes, phy)
        self.radio_free_s[nodes] = start + toa + lora.duty_cycle_off_time_s(toa, radio.duty_cycle)
        self.ledger.charge(nodes, RADIO_TX, self.tx_current_a * toa)
        self.ledger.charge(nodes, RADIO_RX, self.rx_current_a * self.nominal_rx_s[nodes])
        self.traffic.count(nodes, kind, start, toa, phy)
        channel = self.stream.integers(
            nodes, k.astype(np.uint64), PURPOSE_CHANNEL, radio.uplink_channels
        )
        network.submit(
            self.index, nodes, k, t, start, toa, channel, self.sf[nodes], kind, phy, data,
            confirmed=confirmed, may_retry=self.max_transmissions > 1,
        )  # fmt: skip

    def retransmit(self, network, nodes, k, ts, kind, data, attempt, seen, not_before_s):
        """Retransmit unacknowledged confirmed uplinks, after the duty-cycle wait."""
        radio = self.radio
        inflight = self.store.inflight_bytes[nodes] if self.store is not None else 0
        start = np.maximum(not_before_s + radio.wakeup_s, self.radio_free_s[nodes])
        phy = self.payload_arr[kind] + radio.mac_overhead_bytes + inflight
        toa = self._toa(kind, nodes, phy)
        self.radio_free_s[nodes] = start + toa + lora.duty_cycle_off_time_s(toa, radio.duty_cycle)
        self.ledger.book_ahead(nodes, RADIO_TX, self.tx_current_a * toa, start)
        self.ledger.book_ahead(nodes, RADIO_RX, self.rx_current_a * self.nominal_rx_s[nodes], start)
        self.traffic.count(nodes, kind, start, toa, phy)
        self.traffic.payload_bytes_sent += int(np.sum(inflight))
        self.retransmissions += len(nodes)
        counter = (k.astype(np.uint64) << np.uint64(4)) + attempt.astype(np.uint64)
        channel = self.stream.integers(nodes, counter, PURPOSE_RETRY_CHANNEL, radio.uplink_channels)
        network.submit(
            self.index, nodes, k, ts, start, toa, channel, self.sf[nodes], kind, phy, data,
            attempt=attempt, seen=seen, confirmed=np.ones(len(nodes), dtype=bool),
            may_retry=self.max_transmissions > 1,
        )  # fmt: skip


__all__ = ["ACK_TIMEOUT_S", "BACKLOG", "LinkSetup", "LoRaWANUplink"]
