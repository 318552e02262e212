"""The energy ledger of a group's nodes: charge drawn by state, the cell, harvest, death.

Charge is booked per node and state above the sleep floor (sensing, compute, radio TX, RX
and idle); the floor (sleep currents, link upkeep, self-discharge) is a steady current
counted from time alive. A node dies when the net charge taken from its cell reaches the
cell's capacity, or, if its bursts brown it out earlier (:mod:`twin.supply`), the charge
down to that state of charge. Battery quantiles per time-series step are taken as snapshots,
kept open until every late correction that falls before them (a downlink replacing empty receive
windows, a retransmission booked ahead) is in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin.physics import battery, kibam, solar
from twin.plan import GroupPlan

# Charge ledger columns (coulombs above the sleep floor); sleep is derived from time alive, and
# so is the part of radio_idle that keeps a link up between messages (a steady current).
SENSE, COMPUTE, RADIO_TX, RADIO_RX, RADIO_IDLE = range(5)
STATES = ("sense", "compute", "radio_tx", "radio_rx", "radio_idle")


@dataclass
class Snapshot:
    """Battery state at a time-series step, kept open until late RX corrections are in."""

    time_s: float
    charge_c: np.ndarray
    harvest_c: np.ndarray | None = None


class EnergyLedger:
    """Charge per node and state, the cell it drains and the panel that refills it.

    Parameters
    ----------
    plan : GroupPlan
        The group (board, radio, battery and harvester figures).
    idle_current_a : float
        Steady current keeping the link up between messages (BLE events, DTIM beacons,
        eDRX paging) [A].
    times_s : numpy.ndarray
        Ends of the time-series steps (battery snapshots are taken there) [s].
    horizon_s : float
        Simulated time [s].
    weather_rng : numpy.random.Generator
        Stream of each day's weather (harvesting groups only).
    """

    def __init__(
        self,
        plan: GroupPlan,
        idle_current_a: float,
        times_s: np.ndarray,
        horizon_s: float,
        weather_rng: np.random.Generator,
    ) -> None:
        n = self.n = plan.count
        board, radio, bat = plan.board, plan.radio, plan.battery
        # The sensor's standby (or an always-on sensor such as a PIR) joins the sleep floor.
        self.sleep_current_a = (
            board.sleep_current_a + radio.sleep_current_a + plan.sensor.standby_current_a
        )
        self.idle_current_a = idle_current_a
        # The battery also loses charge by itself: a fixed fraction of capacity per year,
        # counted like a constant current (it drains the cell, not the device ledger).
        self.mains = not np.isfinite(bat.capacity_c)
        self.self_discharge_a = (
            0.0
            if self.mains
            else battery.self_discharge_c(bat.capacity_c, bat.self_discharge_per_year, 1.0).item()
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
            self.day_factors = weather_rng.uniform(h.cloudy_day_factor_min, 1.0, n_days)
            self.harvest_c_per_j_m2 = (
                h.panel_area_cm2 * 1e-4 * h.efficiency * h.charge_efficiency / bat.nominal_v
            )
        self.capacity_c = bat.capacity_c
        # Charge in each cell at t = 0: full, unless the group's node table says otherwise (a
        # deployed fleet's cells). A harvest refills it up to full.
        soc = plan.fleet.state_of_charge if plan.fleet is not None else None
        self.start_c = np.full(n, self.capacity_c) if soc is None else soc * self.capacity_c
        # Charge a burst can no longer be drawn from (twin.supply): the node browns out with
        # it still in the cell. 0 when the cell empties first.
        bo = plan.supply.brownout_soc if plan.supply is not None else 0.0
        self.reserve_c = 0.0 if self.mains else bo * self.capacity_c
        self._rate_setup(plan)
        self.charge_c = np.zeros((n, len(STATES)))
        self.alive = np.ones(n, dtype=bool)
        self.death_s = np.full(n, np.inf)
        # Charge booked ahead of its time (retransmissions the network schedules).
        self._future: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.times_s = times_s
        self.snapshot_next = 0
        self.open_snapshots: list[Snapshot] = []
        q0 = (
            np.ones(3)
            if self.mains
            else np.quantile(self.start_c / self.capacity_c, [0.05, 0.5, 0.95])
        )
        self.soc_rows: list[tuple[float, float, float, float]] = [(0.0, *map(float, q0))]

    # -- the cell ----------------------------------------------------------------------------
    def used_c(self, nodes: np.ndarray, t: np.ndarray | float) -> np.ndarray:
        """Net charge taken from the cell of ``nodes`` by time ``t`` [C].

        Events plus the sleep floor and self-discharge, minus what the panel stored. A full
        cell cannot store more: surplus sunshine is lost, so the net use never goes below 0.
        """
        alive_until = np.minimum(t, self.death_s[nodes])
        base = self.charge_c[nodes].sum(axis=1) + self.floor_a * alive_until - self.credit_c[nodes]
        if self.harvester is None:
            return base
        # A full cell stores no more: a part-empty one (a node table's) refills up to full.
        floor_c = self.start_c[nodes] - self.capacity_c
        return np.maximum(base - self._harvest_since_c(nodes, alive_until), floor_c)

    def _harvest_since_c(self, nodes: np.ndarray, t: np.ndarray | float) -> np.ndarray:
        """Charge the panel delivered since each node's last committed event [C]."""
        h = self.harvester
        now = solar.insolation_j_m2(t, h.peak_irradiance_w_m2, self.day_factors)
        then = solar.insolation_j_m2(
            self.t_credit_s[nodes], h.peak_irradiance_w_m2, self.day_factors
        )
        return np.maximum(now - then, 0.0) * self.harvest_c_per_j_m2

    def commit_harvest(self, nodes: np.ndarray, t: np.ndarray | float) -> None:
        """Store the harvest up to ``t`` (called at each node's own events: batching-free)."""
        if self.harvester is None or nodes.size == 0:
            return
        t = np.minimum(np.broadcast_to(t, nodes.shape), self.death_s[nodes])
        gross = self.charge_c[nodes].sum(axis=1) + self.floor_a * t
        self.credit_c[nodes] = gross - self.used_c(nodes, t)
        self.t_credit_s[nodes] = t

    def _rate_setup(self, plan: GroupPlan) -> None:
        """The cell's rate effect (KiBaM), if its profile gives one: one gap per node.

        The profile's capacity is what the cell delivers at its rated current; KiBaM's total
        charge is a little more (``slack_c``), which a load at the rated current strands in
        the bound well. A heavier load strands more and gets less than the rating; a lighter
        one is held to the rating (as Peukert's law is: the fit says nothing below the rated
        current, so no gain is extrapolated).
        """
        bat = plan.battery
        self.kibam = None if self.mains or not bat.has_kibam else (bat.kibam_c, bat.kibam_k_per_s)
        if self.kibam is None:
            return
        total = kibam.total_capacity_c(self.capacity_c, bat.rated_current_a, *self.kibam)
        self.slack_c = float(total) - self.capacity_c
        self.gap_c = np.zeros(self.n)  # (1 - c) x the wells' height difference [C]
        self.gap_t_s = np.zeros(self.n)
        # Charge of the node's own events since its last gap update (network corrections and
        # charge booked ahead are left out: when they are booked depends on the batching).
        self.gap_own_c = np.zeros(self.n)

    def _rate_reserve_c(self, nodes: np.ndarray, t, used: np.ndarray) -> np.ndarray:
        """Charge the rate effect keeps from ``nodes`` at ``t`` [C]; advances their gaps.

        Called at each node's own events, in its time order: between two of them the node's
        draw is taken as steady (its mean over the stretch), for which the gap has a closed
        form (:func:`twin.physics.kibam.well_gap_c`); so the gap does not depend on batching.
        """
        t = np.broadcast_to(np.asarray(t, dtype=float), nodes.shape)
        dt = np.maximum(t - self.gap_t_s[nodes], 0.0)
        # The stretch's draw: the node's own events and the floor without self-discharge (the
        # cell's own loss is no load); a panel's charge does not narrow the gap.
        q = self.gap_own_c[nodes] + (self.floor_a - self.self_discharge_a) * dt
        with np.errstate(divide="ignore", invalid="ignore"):
            i_a = np.where(dt > 0, q / dt, 0.0)
        gap = kibam.well_gap_c(i_a, dt, *self.kibam, self.gap_c[nodes])
        self.gap_c[nodes], self.gap_t_s[nodes] = gap, t
        self.gap_own_c[nodes] = 0.0
        return np.maximum(gap - self.slack_c, 0.0)

    def retire_empty(self, nodes: np.ndarray, t: np.ndarray | float) -> np.ndarray:
        """Mark nodes whose cell is empty by ``t`` dead (at the moment it emptied).

        Empty is down to the brown-out level (``reserve_c``) and, with a rate effect, less
        what the load strands in the bound well. Returns the mask of ``nodes`` still alive.
        """
        used = self.used_c(nodes, t)
        remaining = self.start_c[nodes] - used - self.reserve_c
        if self.kibam is not None:
            remaining = remaining - self._rate_reserve_c(nodes, t, used)
        dying = remaining <= 0
        if dying.any():
            d = nodes[dying]
            at = np.broadcast_to(t, nodes.shape)[dying]
            # Not before the start: a node table's cell may begin under the brown-out level.
            self.death_s[d] = np.maximum(at + remaining[dying] / self.floor_a, 0.0)
            self.alive[d] = False
        return ~dying

    # -- booking -----------------------------------------------------------------------------
    def charge(self, nodes: np.ndarray, column: int, delta_c) -> None:
        """Book charge of the nodes' own events (sensing, compute, their uplinks) [C]."""
        self.charge_c[nodes, column] += delta_c
        if self.kibam is not None:
            self.gap_own_c[nodes] += delta_c

    def book_ahead(self, nodes: np.ndarray, column: int, delta_c, event_s: np.ndarray) -> None:
        """Book charge for events the network schedules (retransmissions) at ``event_s``."""
        delta_c = np.broadcast_to(np.asarray(delta_c, dtype=float), nodes.shape)
        np.add.at(self.charge_c[:, column], nodes, delta_c)
        for snap in self.open_snapshots:
            mask = event_s <= snap.time_s
            np.add.at(snap.charge_c, nodes[mask], delta_c[mask])
        self._future.append((nodes.copy(), delta_c.copy(), np.asarray(event_s, dtype=float)))

    def correct_rx(self, nodes: np.ndarray, delta_c: np.ndarray, event_s: np.ndarray) -> None:
        """Apply a late RX charge correction (a downlink replaced the empty receive windows).

        The network can decide a delivery before a time-series step whose snapshot is not
        taken yet and that the delivery falls after (an eDRX paging occasion, a BLE event):
        such charge is remembered as booked ahead, so the snapshot leaves it out whenever it
        is taken (else the step would count it or not depending on the batching).
        """
        np.add.at(self.charge_c[:, RADIO_RX], nodes, delta_c)
        for snap in self.open_snapshots:
            mask = event_s <= snap.time_s
            np.add.at(snap.charge_c, nodes[mask], delta_c[mask])
        ahead = event_s > self.next_snapshot_s()
        if ahead.any():
            self._future.append((nodes[ahead], delta_c[ahead], event_s[ahead]))

    # -- battery over time -------------------------------------------------------------------
    def next_snapshot_s(self) -> float:
        """Time of the next time-series step not yet taken."""
        if self.snapshot_next < len(self.times_s):
            return float(self.times_s[self.snapshot_next])
        return np.inf

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

    def close_snapshots(self, resolved_s: float, feedback_s: float) -> None:
        """Finish snapshots whose late corrections (within ``feedback_s``) have all arrived."""
        # Charge missing at t = 0 (0 unless the node table says): the same sums as before.
        missing_c = 0.0 if self.mains else self.capacity_c - self.start_c
        while self.open_snapshots and self.open_snapshots[0].time_s + feedback_s <= resolved_s:
            snap = self.open_snapshots.pop(0)
            used = snap.charge_c + self.floor_a * np.minimum(snap.time_s, self.death_s)
            if snap.harvest_c is not None:
                used = np.maximum(used - snap.harvest_c, self.start_c - self.capacity_c)
            soc = (
                np.ones(self.n)
                if self.mains
                else np.clip(1.0 - (used + missing_c) / self.capacity_c, 0.0, 1.0)
            )
            q = np.quantile(soc, [0.05, 0.5, 0.95])
            self.soc_rows.append((snap.time_s, float(q[0]), float(q[1]), float(q[2])))

    def finish(self, horizon_s: float) -> None:
        """End of run: nodes that emptied after their last sample, and the last harvest."""
        nodes = np.flatnonzero(self.alive)
        used = self.used_c(nodes, horizon_s)
        remaining = self.start_c[nodes] - used - self.reserve_c
        if self.kibam is not None:
            remaining = remaining - self._rate_reserve_c(nodes, horizon_s, used)
        dying = remaining <= 0
        d = nodes[dying]
        self.death_s[d] = np.maximum(horizon_s + remaining[dying] / self.floor_a, 0.0)
        self.alive[d] = False
        self.commit_harvest(np.flatnonzero(self.alive), horizon_s)
