"""A node's own link to its hub: BLE to a phone, Wi-Fi to an access point, LTE-M/NB-IoT to a cell.

Unlike LoRa, these links are scheduled (BLE connection events, Wi-Fi association, an LTE
connection) and retransmit at the link layer, so each message costs a known sequence of radio
states and is delivered to the hub. A phone serves one wearable and IoT traffic is a small
share of a cell; Wi-Fi stations that share an access point (``link.access_point_stations``)
pay the 802.11 DCF's expected retries and backoff (:meth:`DirectLink._contention`).

What differs between technologies is when a message can leave and when a cloud decision can
come back:

* **periodic** reachability: the node listens at regular occasions between its own messages
  and a waiting decision is delivered at the next one (BLE connection events, Wi-Fi DTIM
  beacons when staying associated, LTE paging with eDRX); keeping it costs a steady idle
  current;
* **window** reachability: the node is reachable only around its own message (Wi-Fi that
  deep-sleeps between messages, LTE in PSM), so a decision that misses the window waits at the
  server for the next one.

Message costs come from :mod:`twin.physics.radios` (protocol phases x per-state currents).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin.physics import coverage as cov
from twin.physics import radios
from twin.physics import wifi_contention as wifi
from twin.plan import LinkSettings
from twin.policies import READING
from twin.profiles import BleRadio, CellularRadio, WifiRadio

# The largest Ethernet-sized frame a message is cut into on Wi-Fi (IP MTU 1500 B) [bytes].
WIFI_MTU_BYTES = 1500
# 802.11b's DSSS/CCK rates (IEEE 802.11 clauses 15-16): these back off in 20 us slots [bit/s].
DSSS_RATES_BPS = (1e6, 2e6, 5.5e6, 11e6)

# Where a message's charge goes in the ledger.
TX, RX, IDLE = "radio_tx", "radio_rx", "radio_idle"


@dataclass(frozen=True)
class MessageCost:
    """Timing [s, from the moment the radio starts] and charge [C] of one uplink message."""

    hub_s: float  # the hub has the message
    busy_s: float  # the radio is free again (end of any listening that follows)
    open_s: float  # a waiting cloud decision can be received from here ...
    close_s: float  # ... until here (window reachability)
    tx_c: float
    rx_c: float
    idle_c: float
    airtime_s: float
    bytes_on_air: int


class DirectLink:
    """Per-group link model for BLE, Wi-Fi and cellular nodes.

    Parameters
    ----------
    radio : BleRadio, WifiRadio or CellularRadio
        The radio profile.
    cfg : LinkSettings
        The group's link settings.
    n : int
        Number of nodes.
    payloads : dict
        Application payload per uplink message kind [bytes].
    downlink_bytes : int
        Payload of a cloud decision sent back [bytes].
    rng : numpy.random.Generator
        Set-up stream (phases of each node's periodic occasions).
    """

    def __init__(
        self,
        radio: BleRadio | WifiRadio | CellularRadio,
        cfg: LinkSettings,
        n: int,
        payloads: dict[int, int],
        downlink_bytes: int,
        rng: np.random.Generator,
        message_rate_hz: float = 0.0,
    ) -> None:
        self.radio = radio
        self.cfg = cfg
        self.message_rate_hz = message_rate_hz
        self.contention: dict | None = None  # Wi-Fi on a shared access point (a reading's)
        self._channel: dict | None = None  # the shared channel's figures (Wi-Fi, shared)
        self.technology = radio.technology
        self.downlink_bytes = downlink_bytes
        self.period_s: float | None = None  # periodic reachability
        self.idle_current_a = 0.0
        self.first_wait_max_s = 0.0  # longest wait for the first send opportunity
        self.early_stop_s = 0.0  # listening after a message that a downlink ends early
        if isinstance(radio, BleRadio):
            self.period_s = cfg.connection_interval_s or radio.connection_interval_s
            self.idle_current_a = radios.ble_idle_current_a(
                self.period_s, radio.tx_current_a, radio.rx_current_a, radio.ramp_s
            )
            self.first_wait_max_s = self.period_s
            self.costs = {kind: self._ble(b) for kind, b in payloads.items()}
        elif isinstance(radio, WifiRadio):
            if cfg.stay_connected:
                self.period_s = cfg.dtim_interval_s
                self.idle_current_a = radios.wifi_dtim_idle_current_a(
                    cfg.dtim_interval_s, radio.beacon_listen_s, radio.listen_current_a,
                    radio.light_sleep_current_a, radio.sleep_current_a,
                )  # fmt: skip
            else:
                self.early_stop_s = cfg.response_wait_s
            shared = cfg.access_point_stations > 1
            self._channel = self._shared_channel(payloads[READING]) if shared else None
            self.costs = {kind: self._wifi(b) for kind, b in payloads.items()}
            if shared:  # the shared channel's figures, and what they cost one reading
                said = ("stations", "collision_probability", "attempts_per_frame",
                        "channel_busy_fraction")  # fmt: skip
                self.contention = {
                    **{k: self._channel[k] for k in said},
                    **self._contention(payloads[READING]),
                }
        elif isinstance(radio, CellularRadio):
            if cfg.edrx_cycle_s is not None:
                self.period_s = cfg.edrx_cycle_s
                self.idle_current_a = radios.cellular_paging_current_a(
                    cfg.edrx_cycle_s, radio.paging_s, radio.paging_current_a
                )
            self.costs = {kind: self._cellular(b) for kind, b in payloads.items()}
        else:  # pragma: no cover - the loader only builds links for these three
            raise TypeError(f"no direct link model for {type(radio).__name__}")
        self.phase_s = (
            rng.uniform(0.0, self.period_s, n) if self.period_s is not None else np.zeros(n)
        )
        kinds = sorted(self.costs)
        self._table = {
            f: np.array([getattr(self.costs[k], f) for k in kinds])
            for f in MessageCost.__dataclass_fields__
        }
        self.longest_s = max(c.busy_s for c in self.costs.values())
        self.downlink_rx_c, self.downlink_s = self._downlink()
        # Drawn after the phases: a group without coverage classes draws what it did.
        self.coverage = self._coverage(rng, n, payloads)
        if self.coverage is not None:
            self.longest_s += float(np.nanmax(self.coverage["extra"]["s"], initial=0.0))

    # -- message costs -------------------------------------------------------------------------
    def _ble(self, payload: int) -> MessageCost:
        r = self.radio
        ev = radios.ble_connection_event(payload, r.tx_current_a, r.rx_current_a, r.ramp_s)
        empty = radios.ble_connection_event(0, r.tx_current_a, r.rx_current_a, r.ramp_s, False)
        packets = max(1, -(-payload // radios.BLE_MAX_PAYLOAD_BYTES))
        # The empty event is paid by the idle current anyway: a message costs the difference.
        return MessageCost(
            hub_s=ev.time_s, busy_s=ev.time_s, open_s=0.0, close_s=0.0,
            tx_c=(ev.tx_s - empty.tx_s) * r.tx_current_a,
            rx_c=(ev.rx_s - empty.rx_s) * r.rx_current_a, idle_c=0.0,
            airtime_s=ev.tx_s, bytes_on_air=payload + packets * r.mac_overhead_bytes,
        )  # fmt: skip

    def _shared_channel(self, reading: int) -> dict:
        """The access point's channel, as every station's readings load it.

        Every station is taken to send one reading per sampling period (the cloud policy's
        load, an upper bound for the others), cut into frames of at most one MTU. An attempt
        collides with probability p (:func:`twin.physics.wifi_contention.collision_probability`
        at the PHY's DCF timing, for frames of the readings' mean length), and the other
        stations keep the medium busy for their share U of the time (their airtime, retries
        included). The light-load model holds while U is well under 1 (the results warn
        above 0.5). Each group is its own access point: groups do not contend with each other.
        """
        r = self.radio
        on_air = reading + r.mac_overhead_bytes
        frames = max(1, -(-on_air // WIFI_MTU_BYTES))
        frame_s = 8.0 * on_air / frames / r.phy_rate_bps  # the readings' mean frame
        n = self.cfg.access_point_stations
        # 802.11b's DSSS rates back off in 20 us slots from CW 31; the OFDM rates of
        # 802.11g/n (6 Mbit/s and up) in 9 us slots from CW 15.
        dsss = r.phy_rate_bps in DSSS_RATES_BPS
        dcf = {
            "cw_min": wifi.CW_MIN_DSSS if dsss else wifi.CW_MIN_OFDM,
            "cw_max": wifi.CW_MAX_DSSS if dsss else wifi.CW_MAX_OFDM,
            "slot_s": wifi.SLOT_DSSS_S if dsss else wifi.SLOT_OFDM_S,
        }
        p = float(wifi.collision_probability(n, self.message_rate_hz * frames, frame_s, **dcf))
        attempts = float(wifi.expected_attempts(p))
        busy = (n - 1) * self.message_rate_hz * frames * attempts * frame_s
        return {
            "stations": n, "collision_probability": p, "attempts_per_frame": attempts,
            "channel_busy_fraction": min(busy, 1.0), "frame_s": frame_s,
            "drop_per_frame": float(wifi.drop_probability(p)),
            "backoff_per_frame_s": float(wifi.mean_backoff_s(p, **dcf)),
        }  # fmt: skip

    def _contention(self, payload: int) -> dict:
        """What the shared channel costs one message of ``payload`` bytes.

        Each of its frames is retried as often as collisions make it (the retried airtime
        at the TX current), backs off, and defers to the others' frames: it finds the medium
        busy with probability U and then waits half of one of their frames on average (the
        residual of a busy frame, first order in U), listening meanwhile. A frame dropped at
        the retry limit is resent by TCP: its expected share is reported, its resend not
        charged (negligible at the light loads the model holds for). Association and
        downlink frames meet no contention here.
        """
        ch, r = self._channel, self.radio
        on_air = payload + r.mac_overhead_bytes
        frames = max(1, -(-on_air // WIFI_MTU_BYTES))
        attempts, busy = ch["attempts_per_frame"], ch["channel_busy_fraction"]
        return {
            "frames_dropped_per_message": frames * ch["drop_per_frame"],
            "extra_tx_s": (attempts - 1.0) * 8.0 * on_air / r.phy_rate_bps,
            "backoff_s": frames * ch["backoff_per_frame_s"],
            "defer_s": frames * attempts * busy * ch["frame_s"] / 2.0,
        }

    def _wifi(self, payload: int) -> MessageCost:
        r, cfg = self.radio, self.cfg
        on_air = payload + r.mac_overhead_bytes
        data_s = 8.0 * on_air / r.phy_rate_bps
        retry_s = backoff_s = 0.0
        if self._channel is not None:
            c = self._contention(payload)
            retry_s, backoff_s = c["extra_tx_s"], c["backoff_s"] + c["defer_s"]
        if cfg.stay_connected:
            # Already associated: wake from light sleep, send, wait for the broker's ack.
            send_s = data_s + retry_s + backoff_s
            return MessageCost(
                hub_s=send_s, busy_s=send_s + r.publish_s, open_s=0.0, close_s=0.0,
                tx_c=(data_s + retry_s) * r.tx_current_a,
                rx_c=(r.publish_s + backoff_s) * r.listen_current_a, idle_c=0.0,
                airtime_s=data_s + retry_s, bytes_on_air=on_air,
            )  # fmt: skip
        assoc = r.associate_dhcp_s if cfg.dhcp else r.associate_static_s
        cost = radios.wifi_wake_and_send(
            r.boot_s, assoc, r.publish_s + data_s + retry_s + backoff_s, r.boot_current_a,
            r.listen_current_a, r.tx_current_a, r.tx_per_message_s + data_s + retry_s,
        )  # fmt: skip
        connected = r.boot_s + assoc
        wait = cfg.response_wait_s
        return MessageCost(
            hub_s=cost.time_s, busy_s=cost.time_s + wait, open_s=connected,
            close_s=cost.time_s + wait, tx_c=cost.tx_s * r.tx_current_a,
            rx_c=(cost.rx_s + wait) * r.listen_current_a, idle_c=r.boot_s * r.boot_current_a,
            airtime_s=cost.tx_s, bytes_on_air=on_air,
        )  # fmt: skip

    def _cellular(self, payload: int) -> MessageCost:
        r, cfg = self.radio, self.cfg
        on_air = payload + r.mac_overhead_bytes
        extra_s = 8.0 * max(on_air - r.exchange_bytes, 0) / r.uplink_rate_bps
        exchange_s = r.exchange_s + extra_s
        tail_s = r.rai_tail_s if cfg.release_assistance else r.connected_tail_s
        cost = radios.cellular_exchange(r.wake_s, exchange_s, tail_s, r.average_current_a)
        # The measured figure is one average current: the exchange is booked as TX, the PSM
        # wake-up (re-attach) and the connected tail as idle radio time.
        return MessageCost(
            hub_s=r.wake_s + exchange_s, busy_s=cost.time_s, open_s=r.wake_s,
            close_s=cost.time_s, tx_c=exchange_s * r.average_current_a, rx_c=0.0,
            idle_c=(r.wake_s + tail_s) * r.average_current_a, airtime_s=exchange_s,
            bytes_on_air=on_air,
        )  # fmt: skip

    def _coverage(self, rng: np.random.Generator, n: int, payloads: dict) -> dict | None:
        """Each cellular node's coupling loss, CE level and repetitions, and what they add.

        The loss is the group's median plus a normal spread per node. Past the radio's CE0
        loss every copy of the message's data, its response (headers only) and the random
        access preamble is repeated as often as ideal combining needs
        (:func:`twin.physics.coverage.repetitions`), each copy at full TX power or at the RX
        current; the network's timers stay as measured. Past the maximum coupling loss the
        node is out of coverage. None: no coupling loss given (every node at CE0).
        """
        r, loss_cfg = self.radio, self.cfg.coupling_loss_db
        if not isinstance(r, CellularRadio) or loss_cfg is None:
            return None
        median, sd = loss_cfg
        loss = median + sd * rng.standard_normal(n) if sd > 0 else np.full(n, float(median))
        level = cov.ce_level(loss, r.ce_thresholds_db, r.max_coupling_loss_db)
        reps = {
            d: cov.repetitions(loss, r.ce0_loss_db, cov.powers_of_two(int(m)))
            for d, m in (("ul", r.max_repetitions_ul), ("dl", r.max_repetitions_dl),
                         ("rach", r.max_repetitions_rach))
        }  # fmt: skip
        served = (level != cov.OUT_OF_COVERAGE) & np.all([v > 0 for v in reps.values()], axis=0)
        one = {d: np.where(served, v, 1) for d, v in reps.items()}  # the lost pay CE0

        def extra(up_bytes: float, down_bytes: float) -> cov.CoverageCost:
            return cov.exchange_cost(
                up_bytes, down_bytes, one["ul"], one["dl"], one["rach"], r.uplink_rate_bps,
                r.downlink_rate_bps, r.preamble_s, r.tx_current_a, r.rx_current_a,
            )  # fmt: skip

        size = max(payloads) + 1
        table = {f: np.zeros((size, n)) for f in ("s", "tx_c", "rx_c", "tx_s")}
        for kind, payload in payloads.items():
            e = extra(payload + r.mac_overhead_bytes, r.mac_overhead_bytes)
            table["s"][kind], table["tx_s"][kind] = e.extra_s, e.extra_tx_s
            table["tx_c"][kind] = e.extra_tx_s * r.tx_current_a
            table["rx_c"][kind] = e.extra_rx_s * r.rx_current_a
        # A decision paged to the node: its random access, its request and the decision.
        d = extra(r.mac_overhead_bytes, self.downlink_bytes + r.mac_overhead_bytes)
        return {
            "loss_db": loss, "level": level, "served": served, "repetitions": reps,
            "extra": table, "downlink_s": d.extra_s, "downlink_c": d.extra_charge_c,
        }  # fmt: skip

    def coverage_extra(self, field: str, nodes: np.ndarray, kind: np.ndarray) -> np.ndarray:
        """What coverage repetitions add to each message's ``field`` (s, tx_c, rx_c, tx_s)."""
        if self.coverage is None:
            return np.zeros(len(nodes))
        return self.coverage["extra"][field][kind, nodes]

    def downlink_extra(self, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Time [s] and charge [C] repetitions add to a decision paged to each node."""
        if self.coverage is None:
            z = np.zeros(len(nodes))
            return z, z
        return self.coverage["downlink_s"][nodes], self.coverage["downlink_c"][nodes]

    def coverage_summary(self, lost: int) -> dict | None:
        """Nodes per CE level, their repetitions, and the messages out of coverage lost."""
        c = self.coverage
        if c is None:
            return None
        served = c["served"]
        levels = {f"ce{i}": int(((c["level"] == i) & served).sum()) for i in range(3)}
        if self.technology == "lte-m":  # CE mode A and B
            levels = {"mode_a": levels["ce0"], "mode_b": levels["ce1"]}
        ul = c["repetitions"]["ul"][served]
        return {
            "nodes_by_level": levels,
            "nodes_out_of_coverage": int((~served).sum()),
            "coupling_loss_db_median": float(np.median(c["loss_db"])),
            "repetitions_ul_median": float(np.median(ul)) if len(ul) else None,
            "repetitions_ul_max": int(ul.max()) if len(ul) else None,
            "messages_lost_out_of_coverage": int(lost),
        }

    def _downlink(self) -> tuple[float, float]:
        """Charge [C] and time [s] of receiving one decision at a periodic occasion."""
        r, b = self.radio, self.downlink_bytes
        if isinstance(r, BleRadio):
            # The central's empty packet becomes a data packet.
            dt = radios.ble_packet_s(b, encrypted=True) - radios.ble_packet_s(0)
            return dt * r.rx_current_a, radios.ble_packet_s(b, encrypted=True)
        if isinstance(r, WifiRadio):
            dt = 8.0 * (b + r.mac_overhead_bytes) / r.phy_rate_bps
            return dt * r.listen_current_a, dt
        # Paged: the modem connects for an exchange and its tail to fetch the decision.
        tail = r.rai_tail_s if self.cfg.release_assistance else r.connected_tail_s
        t = r.exchange_s + tail
        return t * r.average_current_a, r.exchange_s

    def rejoin_c(self) -> tuple[str, float]:
        """Where and how much charge re-connecting after a reboot costs [C].

        A BLE peripheral advertises until its bonded phone connects again; a Wi-Fi station
        associates and asks DHCP for a lease (the one it had was in RAM); a modem attaches
        to the network afresh (its PSM context is gone). A profile without the figure says
        nothing (0).
        """
        r = self.radio
        if isinstance(r, BleRadio):
            if r.reconnect_s is None or r.advertising_current_a is None:
                return TX, 0.0
            return TX, r.reconnect_s * r.advertising_current_a
        if isinstance(r, WifiRadio):
            if not self.cfg.stay_connected:
                return RX, 0.0  # it associates for every message anyway
            assoc = r.associate_dhcp_s if self.cfg.dhcp else r.associate_static_s
            return RX, assoc * (r.listen_current_a - r.sleep_current_a)
        return IDLE, (r.attach_s or 0.0) * r.average_current_a

    # -- schedule --------------------------------------------------------------------------------
    def cost(self, field: str, kind: np.ndarray) -> np.ndarray:
        """One :class:`MessageCost` field for each message of ``kind``."""
        return self._table[field][kind]

    def next_occasion_s(self, nodes: np.ndarray, t_s: np.ndarray) -> np.ndarray:
        """First periodic occasion of each node at or after ``t_s``."""
        phase = self.phase_s[nodes]
        j = np.ceil((t_s - phase) / self.period_s)
        return phase + np.maximum(j, 0.0) * self.period_s

    def send_start_s(self, nodes: np.ndarray, ready_s: np.ndarray) -> np.ndarray:
        """When a message ready at ``ready_s`` goes out (BLE waits for a connection event)."""
        if isinstance(self.radio, BleRadio):
            return self.next_occasion_s(nodes, ready_s)
        return ready_s
