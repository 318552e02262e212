"""A fleet group: many nodes of one configuration, held as arrays.

Nodes are rows, not objects. Node ``i`` samples at ``phase_s[i] + k * period_s``; phases are
sorted, so the global sample sequence ``g -> (node = g % N, k = g // N)`` is in time order and
a batch of due samples is a contiguous range of ``g``. One call of :meth:`FleetGroup.process`
senses, infers (one onnxruntime call for the whole batch), decides and accounts energy for
every node in the batch with numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin.faults import FaultPlan
from twin.physics import battery, lora, solar
from twin.plan import GroupPlan
from twin.policies import (
    BATCH,
    DECISION,
    HEARTBEAT,
    NONE,
    READING,
    WINDOW,
    Batch,
    OnDevice,
    Policy,
)
from twin.profiles import Radio
from twin.rng import NodeStream
from twin.sim.access import DirectLink
from twin.sim.decisions import DecisionTimeline
from twin.sim.metrics import LatencyHistogram
from twin.sim.window import WindowBuffer


def _world_classes(kind: str) -> tuple[type, type]:
    """The world class and its parameter class for a scenario's ``world.kind``."""
    import importlib

    module, name = {
        "soil": ("twin.world.soil", "Soil"),
        "room": ("twin.world.room", "Room"),
        "heart": ("twin.world.heart", "Heart"),
        "audio": ("twin.world.audio", "Audio"),
        "camera": ("twin.world.camera", "Camera"),
        "vibration": ("twin.world.vibration", "Vibration"),
    }[kind]
    mod = importlib.import_module(module)
    return getattr(mod, f"{name}World"), getattr(mod, f"{name}Params")


# Charge ledger columns (coulombs above the sleep floor); sleep is derived from time alive, and
# so is the part of radio_idle that keeps a link up between messages (a steady current).
SENSE, COMPUTE, RADIO_TX, RADIO_RX, RADIO_IDLE = range(5)
STATES = ("sense", "compute", "radio_tx", "radio_rx", "radio_idle")

# Message kinds on the uplink (defined with the policies that send them), and one of the
# fleet's own: a frame that only forwards stored messages (store-and-forward).
BACKLOG = 5
KINDS = (READING, DECISION, HEARTBEAT, WINDOW, BATCH, BACKLOG)

# Purposes of the per-node counter stream used by the fleet and the network.
PURPOSE_CHANNEL = 11
PURPOSE_UP_LATENCY = 12
PURPOSE_DOWN_LATENCY = 13
PURPOSE_TX_JITTER = 14
PURPOSE_RETRY_CHANNEL = 15
PURPOSE_ACK_TIMEOUT = 16
PURPOSE_LOSS_BURST = 17

# LoRaWAN 1.0 ACK_TIMEOUT: a confirmed uplink without an ACK is retried 2 +/- 1 s after RX2.
ACK_TIMEOUT_S = (1.0, 3.0)


def rounds_of(key: np.ndarray) -> list[np.ndarray]:
    """Split positions into rounds in which each key appears once, keeping their order."""
    srt = np.argsort(key, kind="stable")
    first = np.r_[0, np.flatnonzero(np.diff(key[srt])) + 1]
    rank = np.empty(len(key), dtype=np.int64)
    rank[srt] = np.arange(len(key)) - np.repeat(first, np.diff(np.r_[first, len(key)]))
    return [np.flatnonzero(rank == r) for r in range(int(rank.max(initial=-1)) + 1)]


@dataclass(frozen=True)
class LinkSetup:
    """What a group needs to compute its nodes' link budgets."""

    gateways: list
    propagation: object
    adr_margin_db: float
    rng: np.random.Generator
    rng_weather: np.random.Generator | None = None


@dataclass
class Snapshot:
    """Battery state at a time-series step, kept open until late RX corrections are in."""

    time_s: float
    charge_c: np.ndarray
    harvest_c: np.ndarray | None = None


class FleetGroup:
    """State and per-sample behaviour of one fleet group under one policy.

    Parameters
    ----------
    plan : GroupPlan
        The group's settings, profiles, world and models, resolved by the compile stage
        (its ``index`` orders shared events between groups).
    policy : Policy
        A fresh policy object for this group (it keeps per-node state).
    horizon_s : float
        Simulated time [s].
    site_m : tuple of float
        Site width and height [m].
    setup_rng : numpy.random.Generator
        Set-up stream of this group (positions, phases, world).
    stream : NodeStream
        Counter-based per-node stream.
    batch_window_s : float or None
        Requested batching window; capped at the exact bound.
    timeseries_interval_s : float
        Time-series step [s].
    link : LinkSetup
        Gateways, propagation model, ADR margin and the stream for shadowing.
    """

    def __init__(
        self,
        plan: GroupPlan,
        policy: Policy,
        horizon_s: float,
        site_m: tuple[float, float],
        setup_rng: np.random.Generator,
        stream: NodeStream,
        world_stream: NodeStream,
        batch_window_s: float | None,
        timeseries_interval_s: float,
        link: LinkSetup,
        faults: FaultPlan | None = None,
    ) -> None:
        self.index = plan.index
        self.name = plan.name
        self.plan = plan
        self.policy = policy
        policy.setup(plan.count, plan.heartbeat_period_s)
        # The built-in on-device policy never hands a decision to the cloud.
        self._only_local = type(policy) is OnDevice
        self._last_local = np.zeros(plan.count, dtype=np.int8)  # the timeline starts at 0
        self.horizon_s = horizon_s
        self.stream = stream
        self.model = device_model = plan.models.device
        n = self.n = plan.count
        self.period_s = plan.sampling_period_s
        board, radio, sensor = plan.board, plan.radio, plan.sensor

        self.x_m = setup_rng.uniform(0, site_m[0], n)
        self.y_m = setup_rng.uniform(0, site_m[1], n)
        self.phase_s = np.sort(setup_rng.uniform(0, self.period_s, n))

        channels = len(plan.channels)
        self.window = plan.window_samples or device_model.input_features // channels
        self.window_features = self.window * channels
        world_cls, params_cls = _world_classes(plan.world)
        # Closed loop: the decision acting after each sample drives the world's actuator.
        self.actuation = bool(plan.actuation)
        self.world = world_cls(
            params_cls(),
            n,
            self.period_s,
            self.phase_s,
            horizon_s,
            setup_rng,
            world_stream,
            history_samples=self.window,
            **({"actuation": True} if self.actuation else {}),
        )
        # Readings taken before t = 0 fill each node's model window (nodes deploy with history).
        self.ring = WindowBuffer(n, self.window, len(plan.channels))
        all_nodes = np.arange(n)
        for k in range(-self.window, 0):
            readings, _ = self.world.sample(all_nodes)
            self.ring.write(all_nodes, np.full(n, k), readings)
        self.history = self.ring.copy()

        self.batch_readings = policy.readings_per_message
        self.payload = {
            READING: plan.payload_bytes.reading,
            DECISION: plan.payload_bytes.decision,
            HEARTBEAT: plan.payload_bytes.heartbeat,
            # An escalated window: 2 bytes per value unless the scenario says otherwise.
            WINDOW: plan.payload_bytes.window or 2 * self.window_features,
            BATCH: self.batch_readings * plan.payload_bytes.reading,
            BACKLOG: 0,  # only the stored messages it forwards
        }
        self.payload_arr = np.array([self.payload[j] for j in KINDS])
        # Widest data a message of this group carries (readings, a batch, or a window).
        self.message_features = max(
            channels,
            self.window_features if policy.sends_windows else 0,
            self.batch_readings * channels,
        )
        # LoRa nodes share the channel (twin.sim.network); the others have their own link.
        self.link = (
            None
            if isinstance(radio, Radio)
            else DirectLink(
                radio, plan.link, n, self.payload, plan.payload_bytes.downlink, setup_rng
            )  # fmt: skip
        )
        # Per-sample costs from the profiles (charges above the sleep floor) [C].
        self.sleep_current_a = board.sleep_current_a + radio.sleep_current_a
        # Keeping the link up between messages (BLE events, DTIM beacons, eDRX paging) [A].
        self.idle_current_a = self.link.idle_current_a if self.link is not None else 0.0
        # The battery also loses charge by itself: a fixed fraction of capacity per year,
        # counted like a constant current (it drains the cell, not the device ledger).
        self.mains = not np.isfinite(plan.battery.capacity_c)
        self.self_discharge_a = (
            0.0
            if self.mains
            else battery.self_discharge_c(
                plan.battery.capacity_c, plan.battery.self_discharge_per_year, 1.0
            ).item()
        )
        self.floor_a = self.sleep_current_a + self.idle_current_a + self.self_discharge_a
        # Solar harvesting: charge put into the cell per J/m2 of insolation, and each day's
        # weather. `credit_c` is the harvested charge stored up to each node's last event.
        self.harvester = plan.harvester
        self.credit_c = np.zeros(n)
        self.t_credit_s = np.zeros(n)
        if self.harvester is not None:
            h = self.harvester
            n_days = int(np.ceil(horizon_s / solar.DAY_S)) + 2
            self.day_factors = link.rng_weather.uniform(h.cloudy_day_factor_min, 1.0, n_days)
            self.harvest_c_per_j_m2 = (
                h.panel_area_cm2 * 1e-4 * h.efficiency * h.charge_efficiency
                / plan.battery.nominal_v
            )  # fmt: skip
        radio_peak_a = getattr(radio, "tx_current_a", None) or radio.average_current_a
        peak_a = max(radio_peak_a, sensor.current_a + board.active_current_a)
        warning = battery.pulse_warning(
            plan.battery.id, plan.battery.max_pulse_current_a, peak_a + board.sleep_current_a
        )
        self.warnings = [warning] if warning else []
        self.sense_s = sensor.duration_s
        self.sense_c = (
            sensor.current_a + board.active_current_a - board.sleep_current_a
        ) * self.sense_s
        self.inference = plan.inference
        self.infer_s = self.inference.latency_s
        self.infer_c = (board.active_current_a - board.sleep_current_a) * self.infer_s
        if self.link is None:
            self._lora_setup(plan, radio, link)
        else:
            self._direct_setup()
        # Exactness bound: everything a node's sample causes on the shared network (uplink, RX
        # windows, downlink) is over within `feedback_s`; a batch window up to
        # period - feedback_s cannot reorder anything a node depends on.
        self.feedback_s = self.sense_s + self.infer_s + plan.tx_jitter_s + self.link_s + 1e-3
        exact = max(self.period_s - self.feedback_s, 0.0)
        self.batch_window_s = exact if batch_window_s is None else min(batch_window_s, exact)

        # Node state.
        self.charge_c = np.zeros((n, len(STATES)))
        self.alive = np.ones(n, dtype=bool)
        self.death_s = np.full(n, np.inf)
        self.decision_sent = np.full(n, -1, dtype=np.int8)
        self.last_heartbeat_s = np.full(n, -np.inf)
        self.radio_free_s = np.full(n, -np.inf)
        self.decisions = DecisionTimeline(n)
        self.prev_truth = np.full(n, -1, dtype=np.int8)
        self.samples = np.zeros(n, dtype=np.int64)
        self.uplinks = np.zeros(n, dtype=np.int64)
        self.uplink_bytes = np.zeros(n, dtype=np.int64)
        self.payload_bytes_sent = 0
        self.retransmissions = 0
        self._future: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.lost_duty_cycle = 0
        self.inferences_device = 0
        self.latency = LatencyHistogram()
        # Per-sample records for events.csv (small runs only; None: not kept).
        self.event_log: list[dict] | None = None
        # Brown-outs: samples each node misses, and where it restarts with an empty window.
        self.resets = faults.resets_for(self.name, self.phase_s, self.period_s) if faults else None
        self.skipped_reset = 0
        self._store_setup(plan)

        # Global sample cursor and time series.
        self.g_next = 0
        self.g_end = self._first_g(horizon_s)
        self.ts_interval_s = timeseries_interval_s
        n_bins = int(np.ceil(horizon_s / timeseries_interval_s))
        self.ts_times_s = np.minimum(np.arange(1, n_bins + 1) * timeseries_interval_s, horizon_s)
        self.bytes_bins = np.zeros(n_bins, dtype=np.int64)
        # Integer nanoseconds: the sum cannot depend on the order frames were booked in.
        self.airtime_ns_bins = np.zeros(n_bins, dtype=np.int64)
        self.stored_bins = np.zeros(n_bins, dtype=np.int64)
        self.forwarded_bins = np.zeros(n_bins, dtype=np.int64)
        self.dropped_bins = np.zeros(n_bins, dtype=np.int64)
        self.snapshot_next = 0
        self.open_snapshots: list[Snapshot] = []
        self.soc_rows: list[tuple[float, float, float, float]] = [(0.0, 1.0, 1.0, 1.0)]
        self.capacity_c = plan.battery.capacity_c

    def _store_setup(self, plan: GroupPlan) -> None:
        """Store-and-forward state: link belief, and a FIFO of stored messages per node.

        Each node that ever stores gets a row of a growable table (most never do): the
        payload size and sample time of each stored message, oldest at ``_head``.
        """
        n = self.n
        sf = self.store = plan.store_and_forward
        self.link_up = np.ones(n, dtype=bool)
        self.unanswered = np.zeros(n, dtype=np.int64)  # consecutive unanswered checks
        self.last_check_s = np.zeros(n)
        # Stored messages riding in a confirmed frame not yet acknowledged (one per node:
        # the batch bound settles a node's frame before its next sample).
        self._inflight = np.zeros(n, dtype=np.int64)
        self._inflight_bytes = np.zeros(n, dtype=np.int64)
        self.stored = self.forwarded = self.dropped_overflow = 0
        self.forward_delay = LatencyHistogram()
        if sf is None:
            return
        self.store_capacity = int(sf.buffer_bytes // max(int(self.payload_arr[:BACKLOG].min()), 1))
        self._row = np.full(n, -1, dtype=np.int64)
        self._size = np.zeros((0, self.store_capacity), dtype=np.int32)
        self._t = np.zeros((0, self.store_capacity))
        self._head = np.zeros(0, dtype=np.int64)
        self._len = np.zeros(0, dtype=np.int64)
        self.backlog_bytes = np.zeros(n, dtype=np.int64)

    def backlog(self) -> np.ndarray:
        """Messages each node holds in flash."""
        out = np.zeros(self.n, dtype=np.int64)
        if self.store is not None:
            has = self._row >= 0
            out[has] = self._len[self._row[has]]
        return out

    def _rows_for(self, nodes: np.ndarray) -> np.ndarray:
        """Table rows of ``nodes``, allocating rows for nodes storing for the first time."""
        new = nodes[self._row[nodes] < 0]
        if len(new):
            first = len(self._head)
            self._row[new] = first + np.arange(len(new))
            c = self.store_capacity
            self._size = np.concatenate([self._size, np.zeros((len(new), c), np.int32)])
            self._t = np.concatenate([self._t, np.zeros((len(new), c))])
            self._head = np.r_[self._head, np.zeros(len(new), np.int64)]
            self._len = np.r_[self._len, np.zeros(len(new), np.int64)]
        return self._row[nodes]

    def store_messages(self, nodes, sizes, t_sample, t_now) -> None:
        """Keep messages that could not be sent; a full buffer drops its oldest ones.

        ``nodes`` may repeat: each node's messages are stored in the order given.
        """
        cap_bytes, c = self.store.buffer_bytes, self.store_capacity
        t_now = np.broadcast_to(np.asarray(t_now, dtype=float), nodes.shape)
        for r in rounds_of(nodes):
            nd, size, ts = nodes[r], sizes[r].astype(np.int64), t_sample[r]
            row = self._rows_for(nd)
            # A message larger than the whole buffer cannot be kept.
            fits = size <= cap_bytes
            if not fits.all():
                big = int((~fits).sum())
                self.stored += big
                self.dropped_overflow += big
                np.add.at(self.dropped_bins, self._bin_of(t_now[r][~fits]), 1)
                np.add.at(self.stored_bins, self._bin_of(t_now[r][~fits]), 1)
            nd, size, ts, row, now = nd[fits], size[fits], ts[fits], row[fits], t_now[r][fits]
            while True:  # drop oldest until the new message fits (bytes and entries)
                full = (self.backlog_bytes[nd] + size > cap_bytes) | (self._len[row] >= c)
                if not full.any():
                    break
                fr, fn = row[full], nd[full]
                self.backlog_bytes[fn] -= self._size[fr, self._head[fr] % c]
                self._head[fr] += 1
                self._len[fr] -= 1
                self.dropped_overflow += len(fr)
                np.add.at(self.dropped_bins, self._bin_of(now[full]), 1)
            slot = (self._head[row] + self._len[row]) % c
            self._size[row, slot] = size
            self._t[row, slot] = ts
            self._len[row] += 1
            self.backlog_bytes[nd] += size
            self.stored += len(nd)
            np.add.at(self.stored_bins, self._bin_of(now), 1)

    def _bin_of(self, t_s: np.ndarray) -> np.ndarray:
        return np.minimum((np.asarray(t_s) // self.ts_interval_s).astype(np.int64),
                          len(self.bytes_bins) - 1)  # fmt: skip

    def _carry(self, nodes: np.ndarray, room_bytes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """How many of their oldest stored messages fit in ``room_bytes``, and their bytes."""
        count = np.zeros(len(nodes), dtype=np.int64)
        total = np.zeros(len(nodes), dtype=np.int64)
        rows = self._row[nodes]
        has = rows >= 0
        c = self.store_capacity
        idx = np.flatnonzero(has)
        while len(idx):
            r = rows[idx]
            more = count[idx] < self._len[r]
            idx, r = idx[more], r[more]
            size = self._size[r, (self._head[r] + count[idx]) % c]
            fits = total[idx] + size <= room_bytes[idx]
            idx, size = idx[fits], size[fits]
            count[idx] += 1
            total[idx] += size
        return count, total

    def link_acked(self, nodes: np.ndarray, t_s: np.ndarray) -> None:
        """A confirmed uplink was acknowledged: the link is up; what it carried is through."""
        if self.store is None:
            return
        self.link_up[nodes] = True
        self.unanswered[nodes] = 0
        carried = nodes[self._inflight[nodes] > 0]
        if len(carried):
            rows, c = self._row[carried], self.store_capacity
            count = self._inflight[carried]
            t_ack = np.asarray(t_s)[self._inflight[nodes] > 0]
            for j in range(int(count.max())):  # oldest first
                m = count > j
                slot = (self._head[rows[m]] + j) % c
                self.forward_delay.add(t_ack[m] - self._t[rows[m], slot])
            self.backlog_bytes[carried] -= self._inflight_bytes[carried]
            self._head[rows] += count
            self._len[rows] -= count
            self.forwarded += int(count.sum())
            np.add.at(self.forwarded_bins, self._bin_of(t_ack), count)
        self._inflight[nodes] = 0
        self._inflight_bytes[nodes] = 0

    def link_failed(self, nodes, kind, t_sample, t_s) -> None:
        """A check went unanswered (a confirmed uplink: after its last transmission).

        After ``failed_checks`` in a row the node takes the link for down and stores the
        message of the last one; before that, the message counts as sent (it may well have
        arrived: a busy gateway leaves checks unanswered too). Stored messages the frame
        carried stay stored.
        """
        if self.store is None:
            return
        self.unanswered[nodes] += 1
        self.link_up[nodes] &= self.unanswered[nodes] < self.store.failed_checks
        down = ~self.link_up[nodes]
        nodes, kind, t_sample, t_s = nodes[down], kind[down], t_sample[down], t_s[down]
        self._inflight[nodes] = 0
        self._inflight_bytes[nodes] = 0
        own = kind != BACKLOG
        if own.any():
            self.store_messages(nodes[own], self.payload_arr[kind[own]], t_sample[own], t_s[own])

    def _lora_setup(self, plan: GroupPlan, radio: Radio, link: LinkSetup) -> None:
        """LoRaWAN: link budget, spreading factors, air times and class-A windows."""
        self._link_budget(link)
        toa = lambda pl, sf: float(  # noqa: E731
            lora.time_on_air_s(
                pl + radio.mac_overhead_bytes,
                sf,
                radio.bandwidth_hz,
                radio.coding_rate,
                radio.preamble_symbols,
            )
        )
        sfs = np.arange(7, 13)
        # Air time per (message kind, spreading factor); a node's frames index it by its SF.
        self.toa_table_s = np.array([[toa(self.payload[kind], sf) for sf in sfs]
                                     for kind in KINDS])  # fmt: skip
        # The longest frame this policy can send (a window only if it escalates windows).
        windows = self.policy.sends_windows
        sendable = [i for i, kind in enumerate(KINDS) if kind != WINDOW or windows]
        self.max_airtime_s = float(self.toa_table_s[sendable][:, self.sf - 7].max())
        if plan.store_and_forward is not None:
            # Stored messages ride along up to the radio's maximum payload.
            full = toa(radio.max_payload_bytes, int(self.sf.max()))
            self.max_airtime_s = max(self.max_airtime_s, full)
        self.rx1_window_s = lora.rx_window_s(self.sf, radio.rx_window_symbols, radio.bandwidth_hz)
        self.rx2_window_s = float(
            lora.rx_window_s(
                radio.rx2_spreading_factor, radio.rx_window_symbols, radio.bandwidth_hz
            )
        )
        self.dl_toa_rx1_s = np.array([toa(plan.payload_bytes.downlink, sf) for sf in sfs])[
            self.sf - 7
        ]
        self.dl_toa_rx2_s = toa(plan.payload_bytes.downlink, radio.rx2_spreading_factor)
        self.nominal_rx_s = self.rx1_window_s + self.rx2_window_s
        self.rx_current_a = radio.rx_current_a - radio.sleep_current_a
        self.tx_current_a = radio.tx_current_a - radio.sleep_current_a

        ack = lambda sf: toa(0, sf)  # noqa: E731  (an ACK-only downlink: MAC header only)
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
        self.lost_busy_reason = "duty_cycle"

    def _direct_setup(self) -> None:
        """BLE, Wi-Fi, cellular: no shared channel; everything the network code reads is empty."""
        self.max_transmissions = 1
        self.sf = np.zeros(self.n, dtype=np.int64)
        self.max_airtime_s = 0.0
        self.rx_dbm = np.zeros((self.n, 0))
        # A message waits at most for its first opportunity, then keeps the radio busy.
        self.link_s = self.link.first_wait_max_s + self.link.longest_s
        self.decision_lag_s = 0.0  # every downlink is known before it arrives
        self.lost_busy_reason = "radio_busy"

    def _link_budget(self, link: LinkSetup) -> None:
        """Received power at every gateway, and each node's spreading factor.

        ``rx_dbm[node, gateway] = tx_power - PL(distance) - shadowing`` with log-normal
        shadowing fixed per link (nodes and gateways do not move). ``spreading_factor: auto``
        gives each node the fastest SF that clears the best gateway's sensitivity by the ADR
        margin, as LoRaWAN's adaptive data rate converges to for static nodes.
        """
        radio, prop = self.plan.radio, link.propagation
        gx = np.array([gw.x_m for gw in link.gateways])
        gy = np.array([gw.y_m for gw in link.gateways])
        dist = np.hypot(self.x_m[:, None] - gx[None, :], self.y_m[:, None] - gy[None, :])
        loss = lora.log_distance_path_loss_db(
            dist, prop.path_loss_d0_db, prop.d0_m, prop.path_loss_exponent
        )
        shadow = link.rng.normal(0.0, prop.shadowing_sd_db, dist.shape)
        self.rx_dbm = radio.tx_power_dbm - loss - shadow
        self.best_gateway = np.argmax(self.rx_dbm, axis=1)
        if self.plan.spreading_factor == "auto":
            self.sf = lora.assign_spreading_factor(
                self.rx_dbm.max(axis=1), link.adr_margin_db, radio.bandwidth_hz,
                radio.noise_figure_db,
            )  # fmt: skip
        else:
            self.sf = np.full(self.n, int(self.plan.spreading_factor), dtype=np.int64)

    # -- schedule ----------------------------------------------------------------------------
    def _first_g(self, t: float) -> int:
        """Smallest global sample index whose time is >= t."""
        k = int(np.floor(t / self.period_s))
        rank = int(np.searchsorted(self.phase_s, t - k * self.period_s, side="left"))
        return k * self.n + rank

    def time_of(self, g: int) -> float:
        """Time of global sample ``g`` [s]."""
        return float(self.phase_s[g % self.n] + (g // self.n) * self.period_s)

    def next_time(self) -> float | None:
        """Time of the next sample to process, or None when the horizon is reached."""
        return self.time_of(self.g_next) if self.g_next < self.g_end else None

    def next_snapshot_s(self) -> float:
        """Time of the next time-series step not yet taken."""
        if self.snapshot_next < len(self.ts_times_s):
            return float(self.ts_times_s[self.snapshot_next])
        return np.inf

    def batch_end(self, now: float) -> int:
        """End (exclusive) of the batch starting at the next sample."""
        if self.batch_window_s <= 0:
            return self.g_next + 1
        limit = min(now + self.batch_window_s, self.next_snapshot_s(), self.horizon_s)
        return min(max(self._first_g(limit), self.g_next + 1), self.g_end)

    # -- battery -----------------------------------------------------------------------------
    def used_c(self, nodes: np.ndarray, t: np.ndarray | float) -> np.ndarray:
        """Net charge taken from the cell of ``nodes`` by time ``t`` [C].

        Events plus the sleep floor and self-discharge, minus what the panel stored. A full
        cell cannot store more: surplus sunshine is lost, so the net use never goes below 0.
        """
        alive_until = np.minimum(t, self.death_s[nodes])
        base = self.charge_c[nodes].sum(axis=1) + self.floor_a * alive_until - self.credit_c[nodes]
        if self.harvester is None:
            return base
        return np.maximum(base - self._harvest_since_c(nodes, alive_until), 0.0)

    def _harvest_since_c(self, nodes: np.ndarray, t: np.ndarray | float) -> np.ndarray:
        """Charge the panel delivered since each node's last committed event [C]."""
        h = self.harvester
        now = solar.insolation_j_m2(t, h.peak_irradiance_w_m2, self.day_factors)
        then = solar.insolation_j_m2(
            self.t_credit_s[nodes], h.peak_irradiance_w_m2, self.day_factors
        )
        return np.maximum(now - then, 0.0) * self.harvest_c_per_j_m2

    def _commit_harvest(self, nodes: np.ndarray, t: np.ndarray | float) -> None:
        """Store the harvest up to ``t`` (called at each node's own events: batching-free)."""
        if self.harvester is None or nodes.size == 0:
            return
        t = np.minimum(np.broadcast_to(t, nodes.shape), self.death_s[nodes])
        gross = self.charge_c[nodes].sum(axis=1) + self.floor_a * t
        self.credit_c[nodes] = gross - self.used_c(nodes, t)
        self.t_credit_s[nodes] = t

    def take_snapshot(self) -> None:
        """Open a battery snapshot at the next time-series step (all earlier samples done)."""
        t = self.next_snapshot_s()
        nodes = np.arange(self.n)
        harvest = (
            self._harvest_since_c(nodes, np.minimum(t, self.death_s))
            if self.harvester is not None
            else None
        )
        charge = self.charge_c.sum(axis=1) - self.credit_c
        # Retransmissions are booked when the network schedules them, possibly before the
        # step they fall after: leave those out.
        for nodes_f, delta_f, event_f in self._future:
            later = event_f > t
            np.subtract.at(charge, nodes_f[later], delta_f[later])
        self._future = [(a, b, e) for a, b, e in self._future if (e > t).any()]
        self.open_snapshots.append(Snapshot(t, charge, harvest))
        self.snapshot_next += 1

    def book_charge(self, nodes: np.ndarray, column: int, delta_c, event_s: np.ndarray) -> None:
        """Book charge for events the network schedules (retransmissions) at ``event_s``."""
        delta_c = np.broadcast_to(np.asarray(delta_c, dtype=float), nodes.shape)
        np.add.at(self.charge_c[:, column], nodes, delta_c)
        for snap in self.open_snapshots:
            mask = event_s <= snap.time_s
            np.add.at(snap.charge_c, nodes[mask], delta_c[mask])
        self._future.append((nodes.copy(), delta_c.copy(), np.asarray(event_s, dtype=float)))

    def close_snapshots(self, resolved_s: float) -> None:
        """Finish snapshots whose late RX corrections have all arrived."""
        while self.open_snapshots and self.open_snapshots[0].time_s + self.feedback_s <= resolved_s:
            snap = self.open_snapshots.pop(0)
            used = snap.charge_c + self.floor_a * np.minimum(snap.time_s, self.death_s)
            if snap.harvest_c is not None:
                used = np.maximum(used - snap.harvest_c, 0.0)
            soc = np.clip(1.0 - used / self.capacity_c, 0.0, 1.0)
            q = np.quantile(soc, [0.05, 0.5, 0.95])
            self.soc_rows.append((snap.time_s, float(q[0]), float(q[1]), float(q[2])))

    def add_rx_charge(self, nodes: np.ndarray, delta_c: np.ndarray, event_s: np.ndarray) -> None:
        """Apply a late RX charge correction (a downlink replaced the empty receive windows)."""
        np.add.at(self.charge_c[:, RADIO_RX], nodes, delta_c)
        for snap in self.open_snapshots:
            mask = event_s <= snap.time_s
            np.add.at(snap.charge_c, nodes[mask], delta_c[mask])
        ahead = event_s > self.next_snapshot_s()
        if ahead.any():
            self._future.append((nodes[ahead], delta_c[ahead], event_s[ahead]))

    # -- quality -----------------------------------------------------------------------------
    @property
    def confusion(self) -> np.ndarray:
        """Per-node counts of true/false positives/negatives (columns tp, fp, fn, tn)."""
        return self.decisions.confusion

    def score(self, nodes: np.ndarray, t_s: np.ndarray | float) -> None:
        """Score the previous sample of ``nodes``: truth then vs the decision acting at ``t_s``."""
        prev = self.prev_truth[nodes]
        has = prev >= 0
        t_s = np.broadcast_to(t_s, nodes.shape)[has]
        self.decisions.query(nodes[has], t_s, prev[has])
        self.prev_truth[nodes] = -1

    def finish(self, horizon_s: float) -> None:
        """End of run: detect nodes that died after their last sample, score last samples."""
        nodes = np.flatnonzero(self.alive)
        remaining = self.capacity_c - self.used_c(nodes, horizon_s)
        dying = remaining <= 0
        d = nodes[dying]
        self.death_s[d] = horizon_s + remaining[dying] / self.floor_a
        self.alive[d] = False
        self._commit_harvest(np.flatnonzero(self.alive), horizon_s)
        self.score(np.arange(self.n), horizon_s)
        self.decisions.resolve(horizon_s, inclusive=True)
        self.decisions.close()

    # -- the batch ---------------------------------------------------------------------------
    def process(self, g1: int, network) -> None:
        """Handle samples ``g_next .. g1 - 1``: sense, infer, decide, transmit, account."""
        g = np.arange(self.g_next, g1)
        self.g_next = g1
        nodes = g % self.n
        k = g // self.n
        t = self.phase_s[nodes] + k * self.period_s

        alive = self.alive[nodes]
        nodes, k, t = nodes[alive], k[alive], t[alive]
        self.score(nodes, t)
        remaining = self.capacity_c - self.used_c(nodes, t)
        dying = remaining <= 0
        if dying.any():
            d = nodes[dying]
            self.death_s[d] = t[dying] + remaining[dying] / self.floor_a
            self.alive[d] = False
            nodes, k, t = nodes[~dying], k[~dying], t[~dying]
        if self.resets is not None:
            # Nodes off after a reset miss their samples (no energy beyond the sleep floor).
            off = self.resets.skipped(nodes, k)
            if off.any():
                self.skipped_reset += int(off.sum())
                nodes, k, t = nodes[~off], k[~off], t[~off]
        if nodes.size == 0:
            return
        self._commit_harvest(nodes, t)

        if self.actuation:
            # The read after each node's previous sample is final: the batch bound keeps a
            # node's next sample out until the network has resolved past it.
            if self.decisions.control_pending[nodes].any():
                raise RuntimeError("actuator read not resolved before the next sample")
            readings, truth = self.world.sample(nodes, self.decisions.control_value[nodes])
        else:
            readings, truth = self.world.sample(nodes)
        self.ring.write(nodes, k, readings)
        if self.resets is not None:
            restart = self.resets.restarting(nodes, k)
            if restart.any():
                # The window lived in RAM: a restarted node fills it with its first reading.
                rn, rk = nodes[restart], k[restart]
                for back in range(1, self.window):
                    self.ring.fill_from(rn, rk, rk - back)
        self.prev_truth[nodes] = truth
        self.decisions.observe(nodes, t, truth)
        self.samples[nodes] += 1
        self.charge_c[nodes, SENSE] += self.sense_c
        ready_s = t + self.sense_s

        x = score = decision = None
        if self.policy.runs_device_model:
            x = self.ring.windows(nodes, k)
            score, positive = self.model.predict(x)
            decision = positive.astype(np.int8)
            self.inferences_device += len(nodes)
            self.charge_c[nodes, COMPUTE] += self.infer_c
            ready_s = ready_s + self.infer_s
        batch = Batch(nodes, k, t, score, decision)
        actions = self.policy.act(batch)
        act, send = np.asarray(actions.act, dtype=bool), np.asarray(actions.send)
        if self.event_log is not None:
            self.event_log.append(
                {
                    "node": nodes.copy(), "k": k.copy(), "t": t.copy(), "truth": truth.copy(),
                    "decision": None if decision is None else decision.copy(),
                    "send": np.broadcast_to(send, nodes.shape).copy(),
                }
            )  # fmt: skip
        if act.any():
            if decision is None:
                raise RuntimeError(f"policy '{self.policy.name}' acts without the device model")
            sel = act
            if self._only_local:
                # Only the device changes what acts: an unchanged decision changes nothing,
                # and skipping it keeps the timeline short (one entry per change).
                sel = act & (decision != self._last_local[nodes])
                self._last_local[nodes[sel]] = decision[sel]
            self.decisions.deliver(nodes[sel], ready_s[sel], k[sel], decision[sel])
            self.latency.add(ready_s[act] - t[act])
        if self.actuation:
            # The actuator reads the decision acting once this sample's own is ready (an
            # on-device decision at that instant counts; a cloud one comes later).
            self.decisions.control(nodes, ready_s)
        send = np.broadcast_to(send, nodes.shape)
        m = send != NONE
        on_air = np.zeros(len(nodes), dtype=bool)
        held = np.zeros(len(nodes), dtype=bool)
        if self.store is not None:
            # A node that believes its link down keeps its messages in flash (handed over,
            # as far as the policy is concerned) and only probes, once per check period,
            # with a frame of stored messages; while the link works, stored messages go
            # out even when the policy has nothing to say.
            held = m & ~self.link_up[nodes]
            if held.any():
                self.store_messages(nodes[held], self.payload_arr[send[held]], t[held], t[held])
                m = m & ~held
            check_due = t - self.last_check_s[nodes] >= self.store.check_period_s
            drain = ~m & (self.link_up[nodes] | check_due) & (self.backlog_bytes[nodes] > 0)
            if drain.any():
                send = np.where(drain, BACKLOG, send)
                m = m | drain
        if m.any():
            kind = send[m].astype(np.int64)
            xm = x[m] if x is not None else None
            data = self._message_data(nodes[m], k[m], kind, readings[m], xm)
            on_air[m] = self.transmit(network, nodes[m], k[m], t[m], ready_s[m], kind, data)
            if self.store is not None:
                on_air &= send != BACKLOG
        self.policy.sent(batch, actions, on_air | held)

    def _message_data(self, nodes, k, kind, readings, x) -> np.ndarray | None:
        """What each message carries for the cloud: a reading, a batch of readings, a window."""
        data_kinds = (kind == READING) | (kind == WINDOW) | (kind == BATCH)
        if not data_kinds.any():
            return None
        out = np.full((len(nodes), self.message_features), np.nan, dtype=np.float32)
        c = readings.shape[1]
        r = kind == READING
        out[r, :c] = readings[r]
        w = kind == WINDOW
        if w.any():
            xw = x[w] if x is not None else self.ring.windows(nodes[w], k[w])
            out[w, : self.window_features] = xw.reshape(int(w.sum()), -1)
        b = kind == BATCH
        if b.any():
            last = self.ring.windows(nodes[b], k[b]).reshape(int(b.sum()), -1)
            out[b, : self.batch_readings * c] = last[:, -self.batch_readings * c :]
        return out

    @property
    def airtime_bins(self) -> np.ndarray:
        """Uplink air time per time-series step [s]."""
        return self.airtime_ns_bins / 1e9

    def _count_traffic(self, nodes, kind, start, airtime_s, on_air) -> None:
        self.uplinks[nodes] += 1
        self.uplink_bytes[nodes] += on_air
        self.payload_bytes_sent += int(self.payload_arr[kind].sum())
        b = np.minimum((start // self.ts_interval_s).astype(np.int64), len(self.bytes_bins) - 1)
        np.add.at(self.bytes_bins, b, on_air)
        np.add.at(self.airtime_ns_bins, b, np.round(airtime_s * 1e9).astype(np.int64))

    def transmit(self, network, nodes, k, t, ready_s, kind, readings) -> np.ndarray:
        """Send uplinks if the radio is free; charge them. Returns the mask of those sent."""
        if self.plan.tx_jitter_s > 0:
            u = self.stream.uniform(nodes, k.astype(np.uint64), PURPOSE_TX_JITTER)
            ready_s = ready_s + self.plan.tx_jitter_s * u
        if self.link is not None:
            start = self.link.send_start_s(nodes, ready_s)
        else:
            start = ready_s + self.plan.radio.wakeup_s
        # Still on air, or (LoRa) waiting out the duty cycle: the message is not sent.
        ok = start >= self.radio_free_s[nodes]
        self.lost_duty_cycle += int((~ok).sum())
        if ok.any():
            send = self._send_direct if self.link is not None else self._send_lora
            send(network, nodes[ok], k[ok], t[ok], start[ok], kind[ok],
                 readings[ok] if readings is not None else None)  # fmt: skip
        return ok

    def _send_direct(self, network, nodes, k, t, start, kind, readings) -> None:
        """BLE, Wi-Fi, cellular: the message's radio phases, delivered to the hub."""
        c = self.link.cost
        self.radio_free_s[nodes] = start + c("busy_s", kind)
        self.charge_c[nodes, RADIO_TX] += c("tx_c", kind)
        self.charge_c[nodes, RADIO_RX] += c("rx_c", kind)
        self.charge_c[nodes, RADIO_IDLE] += c("idle_c", kind)
        self._count_traffic(nodes, kind, start, c("airtime_s", kind), c("bytes_on_air", kind))
        network.submit_direct(
            self, nodes, k, t, start + c("hub_s", kind), kind, readings,
            start + c("open_s", kind), start + c("close_s", kind),
        )  # fmt: skip

    def retransmit(self, network, nodes, k, ts, kind, readings, attempt, seen, not_before_s):
        """Retransmit unacknowledged confirmed uplinks (LoRa), after the duty-cycle wait."""
        radio = self.plan.radio
        start = np.maximum(not_before_s + radio.wakeup_s, self.radio_free_s[nodes])
        phy = self.payload_arr[kind] + radio.mac_overhead_bytes + self._inflight_bytes[nodes]
        toa = self._toa(kind, nodes, phy)
        self.radio_free_s[nodes] = start + toa + lora.duty_cycle_off_time_s(toa, radio.duty_cycle)
        self.book_charge(nodes, RADIO_TX, self.tx_current_a * toa, start)
        self.book_charge(nodes, RADIO_RX, self.rx_current_a * self.nominal_rx_s[nodes], start)
        self._count_traffic(nodes, kind, start, toa, phy)
        self.payload_bytes_sent += int(self._inflight_bytes[nodes].sum())
        self.retransmissions += len(nodes)
        counter = (k.astype(np.uint64) << np.uint64(4)) + attempt.astype(np.uint64)
        channel = self.stream.integers(nodes, counter, PURPOSE_RETRY_CHANNEL, radio.uplink_channels)
        network.submit(
            self, nodes, k, ts, start, toa, channel, kind, phy, readings,
            attempt=attempt, seen=seen, confirmed=np.ones(len(nodes), dtype=bool),
        )  # fmt: skip

    def _toa(self, kind: np.ndarray, nodes: np.ndarray, phy: np.ndarray) -> np.ndarray:
        """Air time of frames: from the table, or computed when stored messages ride along."""
        if self.store is None:
            return self.toa_table_s[kind, self.sf[nodes] - 7]
        r = self.plan.radio
        return lora.time_on_air_s(
            phy, self.sf[nodes], r.bandwidth_hz, r.coding_rate, r.preamble_symbols
        )

    def _send_lora(self, network, nodes, k, t, start, kind, readings) -> None:
        """LoRa uplinks: charge TX and the empty class-A RX windows, put them on the channel."""
        radio = self.plan.radio
        phy = self.payload_arr[kind] + radio.mac_overhead_bytes
        confirmed = np.full(len(nodes), bool(self.plan.confirmed))
        if self.store is not None:
            phy, confirmed = self._store_and_forward_frames(nodes, t, kind, phy, confirmed)
        toa = self._toa(kind, nodes, phy)
        self.radio_free_s[nodes] = start + toa + lora.duty_cycle_off_time_s(toa, radio.duty_cycle)
        self.charge_c[nodes, RADIO_TX] += self.tx_current_a * toa
        self.charge_c[nodes, RADIO_RX] += self.rx_current_a * self.nominal_rx_s[nodes]
        self._count_traffic(nodes, kind, start, toa, phy)
        channel = self.stream.integers(
            nodes, k.astype(np.uint64), PURPOSE_CHANNEL, radio.uplink_channels
        )
        network.submit(
            self, nodes, k, t, start, toa, channel, kind, phy, readings, confirmed=confirmed
        )

    def _store_and_forward_frames(self, nodes, t, kind, phy, confirmed):
        """Stored messages ride along while the link is up; some frames check the link.

        A frame asks for an answer (LinkCheckReq, or the ACK of a confirmed uplink) when it
        carries stored messages (they leave flash only once the network has answered), when
        the node believes the link down (every uplink probes it), or when none asked for
        ``check_period_s``. An unanswered check means the link is down.
        """
        up = self.link_up[nodes]
        room = self.plan.radio.max_payload_bytes - self.payload_arr[kind]
        count, extra = self._carry(nodes, np.maximum(room, 0))
        self._inflight[nodes] = count
        self._inflight_bytes[nodes] = extra
        due = t - self.last_check_s[nodes] >= self.store.check_period_s
        doubt = self.unanswered[nodes] > 0
        confirmed = confirmed | (count > 0) | ~up | due | doubt
        self.last_check_s[nodes[confirmed]] = t[confirmed]
        self.payload_bytes_sent += int(extra.sum())
        return phy + extra, confirmed
