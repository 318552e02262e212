"""What a run leaves behind: the counters the results are built from, not the engine itself.

:func:`twin.sim.engine.simulate` returns one :class:`GroupStats` per group and one
:class:`NetworkStats`; :mod:`twin.results.records` reads only these.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin.physics.compute import InferenceCost
from twin.plan import GroupPlan
from twin.profiles import Server
from twin.sim.metrics import LatencyHistogram


@dataclass(frozen=True)
class LinkBudget:
    """Per node of a LoRa group: its spreading factor and its link to the strongest gateway.

    ``rssi_dbm`` is the received power the channel decodes every frame against (path loss and
    the link's fixed shadowing; the model has no per-frame fading), ``snr_db`` the same over
    the receiver's noise floor.
    """

    spreading_factor: np.ndarray
    best_gateway: np.ndarray  # gateway ids
    rssi_dbm: np.ndarray
    snr_db: np.ndarray


@dataclass(frozen=True)
class GroupStats:
    """One group's nodes at the end of a run under one policy.

    Per-node arrays have one entry per node; ``*_bins`` one per time-series step. Charges are
    in coulombs above the sleep floor, by ledger state (``STATES``); the floor is the steady
    ``sleep_current_a + idle_current_a`` over each node's time alive.
    """

    plan: GroupPlan
    runs_device_model: bool
    x_m: np.ndarray
    y_m: np.ndarray
    scheduled: int  # samples due over the horizon
    samples: np.ndarray
    skipped_reset: int
    resets: int
    reboots: int  # nodes that came back from a reset within the horizon
    reboot_c: float  # what their boots and re-joins drew [C]
    inferences_device: int
    decisions_taken: int  # readings a node decided on (all of them unless decide_every > 1)
    # Energy and the cell.
    charge_c: np.ndarray
    death_s: np.ndarray
    used_at_end_c: np.ndarray  # net charge taken from each cell by the horizon
    start_c: np.ndarray  # charge in each cell at t = 0 (the capacity unless a table says)
    credit_c: np.ndarray  # harvested charge stored
    sleep_current_a: float
    idle_current_a: float
    self_discharge_a: float
    mains: bool
    soc_rows: list
    warnings: list
    inference: InferenceCost
    # Traffic.
    uplinks: np.ndarray
    uplink_bytes: np.ndarray
    payload_bytes_sent: int
    retransmissions: int
    lost_busy: int
    lost_busy_reason: str
    bytes_bins: np.ndarray
    airtime_ns_bins: np.ndarray
    # Store-and-forward (None: the group has none).
    store: dict | None
    stored_bins: np.ndarray
    forwarded_bins: np.ndarray
    dropped_bins: np.ndarray
    # Decisions.
    latency: LatencyHistogram
    confusion: np.ndarray  # per node: tp, fp, fn, tn
    events: dict  # episodes, detected, missed, detection_delay_s, false_alarms
    outcome: dict | None  # closed loop: what the decisions did to the world
    event_log: list | None
    decision_log: list | None
    # LoRa groups: spreading factor and best gateway per node (None: no shared channel).
    link: LinkBudget | None = None
    # Wi-Fi groups sharing an access point: the DCF contention a reading meets (None: none).
    contention: dict | None = None
    # BLE, Wi-Fi or cellular groups whose hubs go out: what the nodes kept and lost.
    hub_outage: dict | None = None
    # Cellular groups given a coupling loss: CE levels, repetitions, messages out of coverage.
    coverage: dict | None = None

    @property
    def name(self) -> str:
        """The group's name."""
        return self.plan.name

    @property
    def n(self) -> int:
        """Number of nodes."""
        return self.plan.count

    @property
    def index(self) -> int:
        """Position of the group in the plan."""
        return self.plan.index


@dataclass(frozen=True)
class NetworkStats:
    """The shared network at the end of a run: per group (arrays over groups) and shared."""

    delivered: np.ndarray
    lost: dict[str, np.ndarray]
    lost_bins: np.ndarray  # (groups, steps)
    cloud_requests: np.ndarray
    cloud_refused: np.ndarray
    requests_bins: np.ndarray  # (groups, steps)
    wait_ns_bins: np.ndarray
    wait_max_s_bins: np.ndarray
    busy_ns_bins: np.ndarray
    cloud_busy_s: float
    cloud_calls: int
    cloud_wait_p95_s: float | None
    server: Server
    downlinks: np.ndarray
    downlink_airtime_s: np.ndarray
    downlinks_blocked: np.ndarray
    downlinks_blocked_outage: np.ndarray
    acks: np.ndarray
    downlinks_in_rrc_tail: np.ndarray  # eDRX decisions received while still connected
    unacknowledged: np.ndarray
