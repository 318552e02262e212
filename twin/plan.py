"""The run plan: a scenario with everything resolved, as immutable typed records.

:func:`twin.compile.compile_scenario` builds a :class:`RunPlan` from a validated scenario:
profiles loaded, model files read and priced, the policy classes imported, faults drawn,
every cross-check made. The engine (:mod:`twin.sim`) reads only the plan, never the YAML
schema, so a scenario that compiles is a scenario that runs.

The small settings records below mirror the schema's sections field for field (same names,
same units); the schema validates what a user wrote, these carry it to the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twin.analysis.verdict import Objective
from twin.faults import FaultPlan
from twin.ml.classifier import Classifier
from twin.nodes import NodeTable
from twin.physics.compute import InferenceCost
from twin.policies import PolicyPlan
from twin.profiles import Battery, Board, Propagation, Runtime, Sensor, Server
from twin.supply import Supply


@dataclass(frozen=True)
class Payloads:
    """Application payloads per message type [bytes] (LoRaWAN MAC overhead is added)."""

    reading: int
    decision: int
    heartbeat: int
    downlink: int
    window: int | None


@dataclass(frozen=True)
class LinkSettings:
    """How a BLE, Wi-Fi or cellular node keeps (or drops) its link between messages."""

    stay_connected: bool
    dhcp: bool
    dtim_interval_s: float
    response_wait_s: float
    release_assistance: bool
    edrx_cycle_s: float | None
    connection_interval_s: float | None
    access_point_stations: int = 1  # Wi-Fi: stations contending for the access point
    # Cellular: the nodes' coupling loss to their cell, median and spread [dB] (None: good).
    coupling_loss_db: tuple[float, float] | None = None


@dataclass(frozen=True)
class Harvester:
    """A small solar panel charging the node's cell."""

    panel_area_cm2: float
    efficiency: float
    charge_efficiency: float
    peak_irradiance_w_m2: float
    cloudy_day_factor_min: float


@dataclass(frozen=True)
class StoreAndForward:
    """LoRaWAN store-and-forward: flash for stored messages and the link-check rule."""

    buffer_bytes: int
    check_period_s: float
    failed_checks: int


@dataclass(frozen=True)
class Delay:
    """A lognormal delay given by its median and 95th percentile [s]."""

    median_s: float
    p95_s: float


@dataclass(frozen=True)
class Gateway:
    """A LoRaWAN gateway at a position on the site."""

    id: str
    x_m: float
    y_m: float
    demodulators: int
    rx1_duty_cycle: float
    rx2_duty_cycle: float


@dataclass(frozen=True)
class CloudPlan:
    """Backhaul delays and the cloud inference service."""

    uplink_latency: Delay
    downlink_latency: Delay
    workers: int
    server: Server
    service_time_s: float | None
    max_batch: int


@dataclass(frozen=True)
class ChannelPlan:
    """Radio propagation and the shared LoRa channel's rules."""

    propagation: Propagation
    capture_threshold_db: float
    adr_margin_db: float
    sf_orthogonal: bool = False  # False: inter-SF interference (twin.physics.lora.SIR_DB)
    region: str = "eu868"  # the LoRaWAN regional plan (twin.regions), already in the radios
    half_duplex: bool = True  # a gateway transmitting a downlink hears no uplink


@dataclass(frozen=True)
class Models:
    """The on-device and cloud models of one group (loaded once per plan)."""

    device: Classifier
    cloud: Classifier


@dataclass(frozen=True)
class GroupPlan:
    """One fleet group, resolved: its settings, profiles, world and models.

    Attributes
    ----------
    name : str
        The group's name in the scenario (its random streams are keyed by it).
    index : int
        Position in the scenario's ``groups`` (orders shared events between groups).
    world : str
        The world kind this group senses.
    world_params : object
        That world's parameters (its parameter class; ``world.params`` of the scenario).
    channels : tuple of str
        The world's sensor channels, in the order the model reads them.
    sampling_period_s : float
        How often each node decides (runs its model or hands over to the cloud) [s].
    reading_period_s : float
        How often each node reads its sensor [s]: the engine's sample period. The sampling
        period, unless the model's window is a history of readings at another rate.
    decide_every : int
        Readings per decision (``sampling_period_s / reading_period_s``, >= 1).
    window_stride : int
        Readings from one model-window entry to the next (``model rate / reading rate``).
    window_samples : int
        Readings per model window.
    inference : InferenceCost
        One on-device inference on this group's board and runtime.
    fleet : NodeTable or None
        The group's own devices, in phase order (:mod:`twin.nodes`); None: drawn from the seed.
    """

    name: str
    index: int
    count: int
    world: str
    world_params: Any
    board: Board
    radio: Any  # Radio, BleRadio, WifiRadio or CellularRadio
    battery: Battery
    sensor: Sensor
    runtime: Runtime
    sampling_period_s: float
    spreading_factor: int | str
    tx_jitter_s: float
    heartbeat_period_s: float
    confirmed: bool
    max_transmissions: int
    actuation: bool
    payload_bytes: Payloads
    harvester: Harvester | None
    link: LinkSettings
    store_and_forward: StoreAndForward | None
    models: Models
    channels: tuple[str, ...]
    window_samples: int
    frontend_ops: float
    inference: InferenceCost
    reading_period_s: float
    decide_every: int
    window_stride: int
    warnings: tuple[str, ...] = ()  # settings that are valid but probably not what was meant
    fleet: NodeTable | None = None  # the group's own devices (groups.<g>.nodes), if given
    # The cell under the node's bursts (twin.supply); None: not decided (a plan built by hand).
    supply: Supply | None = None

    @property
    def device_model_path(self) -> Path:
        """The on-device model file."""
        return self.models.device.path


@dataclass(frozen=True)
class RunPlan:
    """Everything one run needs, resolved and cross-checked.

    Attributes
    ----------
    name, file, digest : str
        The scenario's name, the file it came from (None for one built in Python) and the
        SHA-256 of its validated content.
    seed : int
        The run seed; every random stream derives from it.
    horizon_s : float
        Simulated time [s].
    site_m : tuple of float
        Site width and height [m].
    groups : tuple of GroupPlan
        The fleet groups, in the scenario's order.
    policies : tuple of PolicyPlan
        The policies to compare, each run over the same world.
    faults : FaultPlan
        Every fault as intervals, drawn from the seed.
    batch_window_s : float or None
        Requested batching window (None: the largest exact one).
    """

    name: str
    file: str | None
    digest: str
    seed: int
    horizon_s: float
    site_m: tuple[float, float]
    groups: tuple[GroupPlan, ...]
    gateways: tuple[Gateway, ...]
    cloud: CloudPlan
    channel: ChannelPlan
    policies: tuple[PolicyPlan, ...]
    faults: FaultPlan
    batch_window_s: float | None
    timeseries_interval_s: float
    objective: Objective | None = None  # what the verdict recommends by (None: nothing)
    start_utc_s: float | None = None  # calendar time of t = 0 [s since 1970 UTC] (None: unset)

    @property
    def policy_names(self) -> list[str]:
        """Names of the policies, in order."""
        return [p.name for p in self.policies]

    @property
    def nodes(self) -> int:
        """Nodes over all groups."""
        return sum(g.count for g in self.groups)

    def group(self, name: str) -> GroupPlan:
        """The group called ``name``."""
        for g in self.groups:
            if g.name == name:
                return g
        raise KeyError(name)
