"""A fleet group: many nodes of one configuration, held as arrays.

Nodes are rows, not objects. Node ``i`` reads its sensor at ``phase_s[i] + k * period_s``
(``period_s`` is the plan's reading period) and decides on every ``decide_every``-th reading,
at a per-node offset so that decisions spread over the sampling period; phases are
sorted, so the global sample sequence ``g -> (node = g % N, k = g // N)`` is in time order and
a batch of due samples is a contiguous range of ``g``. One call of :meth:`FleetGroup.process`
senses, infers (one onnxruntime call for the whole batch), decides and hands the batch's
messages to its uplink, with numpy.

The group holds its rooms: the world it senses, the model window, the energy ledger, the
store-and-forward buffer, the uplink and the decision timeline. What the shared network
decides about its nodes comes back as effects (:mod:`twin.sim.effects`) that the group
applies; the network never writes the group's state.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin.faults import FaultPlan
from twin.physics import battery, sensing
from twin.plan import GroupPlan
from twin.policies import BATCH, DECISION, HEARTBEAT, NONE, READING, WINDOW, Batch, OnDevice, Policy
from twin.profiles import Radio
from twin.rng import NodeStream
from twin.sim import effects
from twin.sim.access import DirectLink
from twin.sim.decisions import DecisionTimeline
from twin.sim.hub import HubAvailability
from twin.sim.ledger import COMPUTE, SENSE, EnergyLedger
from twin.sim.lorawan import LinkSetup, LoRaWANUplink
from twin.sim.metrics import LatencyHistogram
from twin.sim.network import GroupPort
from twin.sim.stats import GroupStats
from twin.sim.store import BACKLOG, MessageStore
from twin.sim.timebins import TimeBins
from twin.sim.uplink import HubUplink, Traffic
from twin.sim.window import WindowBuffer
from twin.supply import peak_current_a
from twin.world.registry import world_spec

# Message kinds on the uplink (defined with the policies that send them), and one of the
# fleet's own: a frame that only forwards stored messages (store-and-forward).
KINDS = (READING, DECISION, HEARTBEAT, WINDOW, BATCH, BACKLOG)


@dataclass(frozen=True)
class GroupStreams:
    """The random streams of one group, each keyed by the group's name and its purpose."""

    setup: np.random.Generator  # positions, phases, the world's set-up, link phases
    node: NodeStream  # per node-sample draws of the radio and the network
    world: NodeStream  # per node-sample draws of the world (sensor noise, events)
    link: np.random.Generator  # shadowing of each link
    weather: np.random.Generator  # each day's sunshine (harvesting)


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
    streams : GroupStreams
        The group's random streams.
    batch_window_s : float or None
        Requested batching window; capped at the exact bound.
    bins : TimeBins
        Time-series steps.
    link : LinkSetup
        Gateways, propagation model and ADR margin (LoRa groups).
    faults : FaultPlan, optional
        The run's faults (brown-outs of this group's nodes).
    """

    def __init__(
        self,
        plan: GroupPlan,
        policy: Policy,
        horizon_s: float,
        site_m: tuple[float, float],
        streams: GroupStreams,
        batch_window_s: float | None,
        bins: TimeBins,
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
        self.stream = streams.node
        self.model = plan.models.device
        n = self.n = plan.count
        self.period_s = plan.reading_period_s
        self.decide_every = plan.decide_every  # readings per decision
        self.bins = bins
        # Draw order from the set-up stream is part of the results: positions, phases, the
        # world, then the link's own phases.
        rng = streams.setup
        self.x_m = rng.uniform(0, site_m[0], n)
        self.y_m = rng.uniform(0, site_m[1], n)
        self.phase_s = np.sort(rng.uniform(0, self.period_s, n))
        fleet = plan.fleet
        if fleet is not None:  # the group's own devices, where the table gives them
            if fleet.x_m is not None:
                self.x_m, self.y_m = fleet.x_m.copy(), fleet.y_m.copy()
            if fleet.phase_s is not None:
                self.phase_s = fleet.phase_s.copy()  # in phase order already
        self._world_setup(plan, horizon_s, rng, streams.world)
        self._traffic_setup(plan, policy)
        # LoRa nodes share the channel (twin.sim.network); the others have their own link.
        direct = (
            None
            if isinstance(plan.radio, Radio)
            else DirectLink(
                plan.radio,
                plan.link,
                n,
                self.payload,
                plan.payload_bytes.downlink,
                rng,
                message_rate_hz=1.0 / plan.sampling_period_s,
            )  # fmt: skip
        )
        idle_a = direct.idle_current_a if direct is not None else 0.0
        self.ledger = EnergyLedger(plan, idle_a, bins.times_s, horizon_s, streams.weather)
        self.store = (
            MessageStore(
                plan.store_and_forward, n, self.payload_arr, plan.radio.max_payload_bytes, bins
            )
            if plan.store_and_forward is not None and direct is None
            else None
        )
        if direct is not None:
            self.uplink = HubUplink(
                self.index, plan, self.stream, self.ledger, self.traffic, direct,
                _hub(plan, faults, horizon_s),
            )  # fmt: skip
        else:
            self.uplink = LoRaWANUplink(
                self.index, plan, self.stream, self.ledger, self.traffic, KINDS,
                policy.sends_windows, self.store, self.x_m, self.y_m, link,
            )  # fmt: skip
        self._costs_setup(plan, batch_window_s)
        self.decisions = DecisionTimeline(n)
        self.prev_truth = np.full(n, -1, dtype=np.int8)
        self.samples = np.zeros(n, dtype=np.int64)
        self.inferences_device = 0
        self.decisions_taken = 0
        self.latency = LatencyHistogram()
        # Per-sample records for events.csv (small runs only; None: not kept).
        self.event_log: list[dict] | None = None
        # Brown-outs: samples each node misses, and where it restarts with an empty window.
        self.resets = faults.resets_for(self.name, self.phase_s, self.period_s) if faults else None
        self.skipped_reset = 0
        # Global sample cursor.
        self.g_next = 0
        self.g_end = self._first_g(horizon_s)
        # Which reading of each node's cycle it decides on (drawn last: a plan that decides
        # on every reading draws nothing, and its results stay those of before).
        self.decide_offset = (
            rng.integers(0, self.decide_every, n) if self.decide_every > 1 else np.zeros(n, int)
        )

    def _world_setup(self, plan: GroupPlan, horizon_s: float, rng, world_stream) -> None:
        """The world the nodes sense, and each node's model window filled with history."""
        channels = len(plan.channels)
        self.window = plan.window_samples or self.model.input_features // channels
        self.window_features = self.window * channels
        # The readings the model window spans (more than the window with a stride).
        self.ring = WindowBuffer(self.n, self.window, channels, plan.window_stride)
        span = self.ring.window
        spec = world_spec(plan.world)
        world_cls = spec.world
        # Closed loop: the decision acting after each sample drives the world's actuator.
        self.actuation = bool(plan.actuation)
        self.world = world_cls(
            plan.world_params, self.n, self.period_s, self.phase_s, horizon_s, rng, world_stream,
            history_samples=span, **({"actuation": True} if self.actuation else {}),
        )  # fmt: skip
        # Readings taken before t = 0 fill each node's model window (nodes deploy with history).
        all_nodes = np.arange(self.n)
        for k in range(-span, 0):
            readings, _ = self.world.sample(all_nodes)
            self.ring.write(all_nodes, np.full(self.n, k), readings)
        self.history = self.ring.copy()

    def _traffic_setup(self, plan: GroupPlan, policy: Policy) -> None:
        """Payload of each message kind, and the widest data a message carries."""
        channels = len(plan.channels)
        # A message's readings are those since the node's previous decision: one, or all the
        # readings a history model needs between decisions (the cloud's window needs them).
        self.batch_readings = policy.readings_per_message * self.decide_every
        self.payload = {
            READING: self.decide_every * plan.payload_bytes.reading,
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
            self.decide_every * channels,
            self.window_features if policy.sends_windows else 0,
            self.batch_readings * channels,
        )
        self.traffic = Traffic(self.n, self.payload_arr, self.bins)

    def _costs_setup(self, plan: GroupPlan, batch_window_s: float | None) -> None:
        """Per-sample charges, the battery's pulse warning, and the exact batching bound."""
        board, radio, sensor = plan.board, plan.radio, plan.sensor
        warning = battery.pulse_warning(
            plan.battery.id, plan.battery.max_pulse_current_a, peak_current_a(board, radio, sensor)
        )
        self.warnings = [warning] if warning else []
        # Per-sample costs from the profiles (charges above the sleep floor) [C].
        self.sense_s = sensor.duration_s
        # What the firmware draws for a reading: the CPU awake throughout, or asleep while a
        # FIFO or DMA buffer fills (twin.physics.sensing); the standby is in the floor.
        self.sense_c = sensing.reading_cost(
            sensor.acquisition, sensor.duration_s,
            max(sensor.current_a - sensor.standby_current_a, 0.0), board.active_current_a,
            board.sleep_current_a, sensor.sample_rate_hz, sensor.fifo_samples, sensor.read_s,
            sensor.peripheral_current_a,
        ).total_c  # fmt: skip
        self.inference = plan.inference
        self.infer_s = self.inference.latency_s
        self.infer_c = (board.active_current_a - board.sleep_current_a) * self.infer_s
        # A cold boot after a reset, at the boot current (the active one unless the board
        # says), above the sleep floor; 0 when the board gives no boot time.
        boot_a = (
            board.boot_current_a if board.boot_current_a is not None else board.active_current_a
        )
        self.boot_c = (boot_a - board.sleep_current_a) * (board.boot_s or 0.0)
        self.reboots = 0
        self.reboot_c = np.zeros(plan.count)
        # Exactness bound: everything a node's sample causes on the shared network (uplink, RX
        # windows, downlink) is over within `feedback_s`; a batch window up to
        # period - feedback_s cannot reorder anything a node depends on.
        self.feedback_s = self.sense_s + self.infer_s + plan.tx_jitter_s + self.uplink.link_s + 1e-3
        exact = max(self.period_s - self.feedback_s, 0.0)
        self.batch_window_s = exact if batch_window_s is None else min(batch_window_s, exact)

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
        return self.ledger.next_snapshot_s()

    def take_snapshot(self) -> None:
        """Open a battery snapshot at the next time-series step (all earlier samples done)."""
        self.ledger.take_snapshot()

    def batch_end(self, now: float) -> int:
        """End (exclusive) of the batch starting at the next sample."""
        if self.batch_window_s <= 0:
            return self.g_next + 1
        limit = min(now + self.batch_window_s, self.next_snapshot_s(), self.horizon_s)
        return min(max(self._first_g(limit), self.g_next + 1), self.g_end)

    # -- what the network decided ------------------------------------------------------------
    def apply(self, effect: effects.Effect, network) -> None:
        """Carry out one thing the shared network decided about this group's nodes."""
        if isinstance(effect, effects.Delivery):
            self.decisions.deliver(effect.nodes, effect.at_s, effect.k, effect.decision)
            self.latency.add(effect.at_s - effect.sample_s, effect.cloud_stages_s)
        elif isinstance(effect, effects.RxCorrection):
            self.ledger.correct_rx(effect.nodes, effect.delta_c, effect.at_s)
        elif isinstance(effect, effects.LinkAnswered):
            self.store.acked(effect.nodes, effect.at_s)
        elif isinstance(effect, effects.LinkUnanswered):
            self.store.failed(effect.nodes, effect.kind, effect.sample_s, effect.at_s)
        elif isinstance(effect, effects.Retransmission):
            self.uplink.retransmit(
                network, effect.nodes, effect.k, effect.sample_s, effect.kind, effect.data,
                effect.attempt, effect.seen, effect.not_before_s,
            )  # fmt: skip
        else:  # pragma: no cover - every effect type is handled above
            raise TypeError(f"unknown effect {type(effect).__name__}")

    def settled(self, t: float) -> None:
        """The network has settled everything up to ``t``: close what that makes final."""
        self.ledger.close_snapshots(t, self.feedback_s)
        self.decisions.resolve(t - self.uplink.decision_lag_s)

    # -- what the network and the results read -----------------------------------------------
    def port(self) -> GroupPort:
        """What the shared network needs to know of this group (fixed at set-up)."""
        return GroupPort(
            index=self.index,
            uplink=self.uplink,
            stream=self.stream,
            confirmed=bool(self.plan.confirmed),
            stores=self.store is not None,
            batch_readings=self.batch_readings,
            message_features=self.message_features,
            reading_count=self.decide_every,
            history=self.history,
            cloud_model=self.plan.models.cloud,
        )

    def stats(self, horizon_s: float) -> GroupStats:
        """The group's counters at the end of the run (after :meth:`finish`)."""
        led, up, d = self.ledger, self.uplink, self.decisions
        store = None
        if self.store is not None:
            s = self.store
            store = {
                "buffer_bytes": int(s.buffer_bytes),
                "stored": int(s.stored),
                "forwarded": int(s.forwarded),
                "dropped_overflow": int(s.dropped_overflow),
                "buffered_at_end": int(s.backlog().sum()),
                # From the sample to the network's answer to the frame that carried it [s].
                "forward_delay_s": s.forward_delay.summary(),
            }
        bins = self.store if self.store is not None else None
        outcome = (
            {"actuator": self.world.actuator, "totals": self.world.outcomes()}
            if self.actuation
            else None
        )
        return GroupStats(
            plan=self.plan,
            runs_device_model=self.policy.runs_device_model,
            x_m=self.x_m,
            y_m=self.y_m,
            scheduled=int(self.g_end),
            samples=self.samples,
            skipped_reset=int(self.skipped_reset),
            resets=0 if self.resets is None else int(self.resets.resets),
            reboots=int(self.reboots),
            reboot_c=float(self.reboot_c.sum()),
            inferences_device=int(self.inferences_device),
            decisions_taken=int(self.decisions_taken),
            charge_c=led.charge_c,
            death_s=led.death_s,
            used_at_end_c=led.used_c(np.arange(self.n), horizon_s),
            start_c=led.start_c,
            credit_c=led.credit_c,
            sleep_current_a=led.sleep_current_a,
            idle_current_a=led.idle_current_a,
            self_discharge_a=led.self_discharge_a,
            mains=led.mains,
            soc_rows=led.soc_rows,
            warnings=list(self.warnings),
            inference=self.inference,
            uplinks=self.traffic.uplinks,
            uplink_bytes=self.traffic.uplink_bytes,
            payload_bytes_sent=int(self.traffic.payload_bytes_sent),
            retransmissions=int(up.retransmissions),
            lost_busy=int(up.lost_busy),
            lost_busy_reason=up.lost_busy_reason,
            bytes_bins=self.traffic.bytes_bins,
            airtime_ns_bins=self.traffic.airtime_ns_bins,
            store=store,
            stored_bins=bins.stored_bins if bins else self.bins.zeros(),
            forwarded_bins=bins.forwarded_bins if bins else self.bins.zeros(),
            dropped_bins=bins.dropped_bins if bins else self.bins.zeros(),
            latency=self.latency,
            confusion=d.confusion,
            events={
                "episodes": int(d.episodes),
                "detected": int(d.detected),
                "missed": int(d.missed),
                "detection_delay_s": d.detection_delay.summary(),
                "false_alarms": int(d.false_alarms),
            },
            outcome=outcome,
            event_log=self.event_log,
            decision_log=d.log,
            link=up.link_budget(),
            contention=getattr(getattr(up, "link", None), "contention", None),
            hub_outage=up.hub.summary() if getattr(up, "hub", None) is not None else None,
            coverage=(
                up.link.coverage_summary(up.lost_coverage) if isinstance(up, HubUplink) else None
            ),
        )

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
        self.ledger.finish(horizon_s)
        self.score(np.arange(self.n), horizon_s)
        self.decisions.resolve(horizon_s, inclusive=True)
        self.decisions.close()

    # -- the batch ---------------------------------------------------------------------------
    def _due(self, g1: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Samples ``g_next .. g1 - 1`` of nodes alive and switched on: nodes, k, times."""
        g = np.arange(self.g_next, g1)
        self.g_next = g1
        nodes = g % self.n
        k = g // self.n
        t = self.phase_s[nodes] + k * self.period_s
        alive = self.ledger.alive[nodes]
        nodes, k, t = nodes[alive], k[alive], t[alive]
        self.score(nodes, t)
        keep = self.ledger.retire_empty(nodes, t)
        if not keep.all():
            nodes, k, t = nodes[keep], k[keep], t[keep]
        if self.resets is not None:
            # Nodes off after a reset miss their samples (no energy beyond the sleep floor).
            off = self.resets.skipped(nodes, k)
            if off.any():
                self.skipped_reset += int(off.sum())
                nodes, k, t = nodes[~off], k[~off], t[~off]
        return nodes, k, t

    def _sense(self, nodes: np.ndarray, k: np.ndarray, t: np.ndarray) -> tuple:
        """Read the world (through the actuator's state in a closed loop); fill the windows."""
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
                for back in range(1, self.ring.window):
                    self.ring.fill_from(rn, rk, rk - back)
                self._reboot(rn)
        self.prev_truth[nodes] = truth
        self.decisions.observe(nodes, t, truth)
        self.samples[nodes] += 1
        self.ledger.charge(nodes, SENSE, self.sense_c)
        return readings, truth

    def _reboot(self, nodes: np.ndarray) -> None:
        """Charge what a reset costs when the node comes back: cold boot and radio re-join.

        Booked at the node's first sample after the reset (its own event: batching-free).
        """
        self.ledger.charge(nodes, COMPUTE, self.boot_c)
        self.reboot_c[nodes] += self.boot_c  # per node, in its own time order: batching-free
        for column, charge in self.uplink.rejoin_c(nodes).items():
            self.ledger.charge(nodes, column, charge)
            self.reboot_c[nodes] += charge
        self.reboots += len(nodes)

    def process(self, g1: int, network) -> None:
        """Handle samples ``g_next .. g1 - 1``: sense, infer, decide, transmit, account."""
        nodes, k, t = self._due(g1)
        if nodes.size == 0:
            return
        self.ledger.commit_harvest(nodes, t)
        readings, truth = self._sense(nodes, k, t)
        ready_s = t + self.sense_s
        kd = k
        if self.decide_every > 1:
            # Only the readings a node decides on go further; the others were sensed only
            # (the actuator still reads the decision acting, once per reading).
            kd, phase = np.divmod(k + self.decide_offset[nodes], self.decide_every)
            due = phase == 0
            if self.actuation:
                self.decisions.control(nodes[~due], ready_s[~due])
            nodes, k, t, ready_s, kd = nodes[due], k[due], t[due], ready_s[due], kd[due]
            readings, truth = readings[due], truth[due]
            if nodes.size == 0:
                return
        self.decisions_taken += len(nodes)

        x = score = decision = None
        if self.policy.runs_device_model:
            x = self.ring.windows(nodes, k)
            score, positive = self.model.predict(x)
            decision = positive.astype(np.int8)
            self.inferences_device += len(nodes)
            self.ledger.charge(nodes, COMPUTE, self.infer_c)
            ready_s = ready_s + self.infer_s
        # Policies count decisions, not readings (a batch of n decisions' readings).
        batch = Batch(nodes, kd, t, score, decision)
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
        self._act(nodes, k, t, ready_s, act, decision)
        send = np.broadcast_to(send, nodes.shape)
        self._send(network, batch, actions, nodes, k, t, ready_s, send, readings, x)

    def _act(self, nodes, k, t, ready_s, act, decision) -> None:
        """The device's own decisions act at once where the policy says so."""
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

    def _send(self, network, batch, actions, nodes, k, t, ready_s, send, readings, x) -> None:
        """Hand the batch's messages to the uplink (through flash when the link is down)."""
        m = send != NONE
        on_air = np.zeros(len(nodes), dtype=bool)
        held = np.zeros(len(nodes), dtype=bool)
        if self.store is not None:
            send, m, held = self.store.route(nodes, t, send, m)
        if m.any():
            kind = send[m].astype(np.int64)
            xm = x[m] if x is not None else None
            data = self._message_data(nodes[m], k[m], kind, readings[m], xm)
            on_air[m] = self.uplink.transmit(network, nodes[m], k[m], t[m], ready_s[m], kind, data)
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
        if self.decide_every == 1:
            out[r, :c] = readings[r]
        elif r.any():
            out[r, : self.decide_every * c] = self.ring.recent(nodes[r], k[r], self.decide_every)
        w = kind == WINDOW
        if w.any():
            xw = x[w] if x is not None else self.ring.windows(nodes[w], k[w])
            out[w, : self.window_features] = xw.reshape(int(w.sum()), -1)
        b = kind == BATCH
        if b.any():
            last = self.ring.recent(nodes[b], k[b], self.batch_readings)
            out[b, : self.batch_readings * c] = last
        return out


def _hub(plan: GroupPlan, faults: FaultPlan | None, horizon_s: float) -> HubAvailability | None:
    """The group's hub outages and its nodes' buffers (None: the hubs are always there)."""
    spans = faults.hub_down_for(plan.name, plan.count) if faults is not None else None
    if spans is None:
        return None
    sf = plan.store_and_forward
    return HubAvailability(spans, plan.count, sf.buffer_bytes if sf else None, horizon_s)
