"""The scenario: one validated builder behind YAML files and Python scripts alike.

``Scenario.model_validate(dict)`` (or :func:`twin.config.load_scenario` for a file) checks every
key, type and range; profile names and model files are resolved in :func:`resolve`, so a
scenario that validates can run.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    ConfigDict,
    Discriminator,
    Field,
    PositiveFloat,
    PositiveInt,
    PrivateAttr,
    Tag,
    field_validator,
    model_validator,
)

from twin.analysis.verdict import metric_names
from twin.config.links import Link, LoRaSettings
from twin.config.strict import _CONFIG, _Strict
from twin.regions import load_region
from twin.world.registry import world_kinds

POLICIES = ("on_device", "cloud")

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _name(value: str) -> str:
    # Profile ids and zoo names become file names under twin's own folders: a name with a
    # slash or a leading dot could read any file (board: ../../etc/x).
    if not _NAME.match(value):
        raise ValueError(
            "expected a name like 'nano33ble' (letters, digits, '_', '.', '-'), not a path"
        )
    return value


Name = Annotated[str, AfterValidator(_name)]


class Site(_Strict):
    """Rectangular site the nodes are spread over."""

    width_m: PositiveFloat = Field(description="East-west extent [m].")
    height_m: PositiveFloat = Field(description="North-south extent [m].")


def _known_world(kind: str) -> str:
    """A world kind the registry knows (built-in, registered, or an installed plug-in)."""
    kinds = world_kinds()
    if kind not in kinds:
        close = difflib.get_close_matches(kind, kinds, n=1, cutoff=0.6)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ValueError(f"unknown world '{kind}' (worlds: {', '.join(kinds)}){hint}")
    return kind


# A world kind: checked against the registry, so a new world module needs no schema edit;
# `twin schema` lists the kinds known when it runs.
WorldKind = Annotated[
    str,
    AfterValidator(_known_world),
    Field(json_schema_extra=lambda schema: schema.update(enum=list(world_kinds()))),
]


class World(_Strict):
    """What the sensors observe, where, for how long, from which seed."""

    kind: WorldKind = Field(
        "soil", description="World model producing the sensor signal (twin/world/<kind>.py)."
    )
    site: Site
    horizon_days: PositiveFloat = Field(
        le=36_500, description="Simulated time [days] (at most a century)."
    )
    seed: int = Field(0, ge=0, description="Run seed; every random stream derives from it.")
    start_utc: AwareDatetime | None = Field(
        None, strict=False, description="Date of t = 0 with zone (2026-06-01T00:00:00Z): "
        "telemetry, end-of-life dates count from it [default: none; telemetry 2026-01-01].",
    )  # fmt: skip
    # Free-form here: each world checks its own parameters when the scenario is compiled (the
    # trace world reads its recordings then), so a new world needs no schema edit.
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="Parameters of the world kind (trace: files, time_column, columns, "
        "label_column, ...; see docs/trace.md); checked by the world when compiled.",
    )


class ModelRef(_Strict):
    """The on-device model and its cloud counterpart: a zoo name, or ONNX files."""

    zoo: Name | None = Field(None, description="Name of a shipped model (e.g. soil_irrigation).")
    device_path: str | None = Field(
        None,
        description="Model file run on the device (.onnx or .tflite), int8 as deployed.",
    )
    cloud_path: str | None = Field(
        None,
        description="Model file run in the cloud (.onnx or .tflite; default: the device model).",
    )
    output: str = Field("probabilities", description="Output holding class scores, (N, classes).")
    positive_index: int = Field(1, ge=0)
    threshold: float = Field(0.5, gt=0.0, description="Decision threshold on the positive score.")
    reading_period_s: PositiveFloat | None = Field(
        None,
        description=(
            "Time between the readings of the model's input window [s], the rate it was trained "
            "on (a zoo model brings its own). Needed for a model file whose window holds more "
            "than one reading."
        ),
    )

    @model_validator(mode="after")
    def _one_source(self) -> ModelRef:
        if (self.zoo is None) == (self.device_path is None):
            raise ValueError("give either 'zoo' or 'device_path' (and optionally 'cloud_path')")
        return self


class Payloads(_Strict):
    """Application payloads per message type [bytes] (LoRaWAN MAC overhead is added)."""

    reading: PositiveInt = Field(4, description="Raw reading sent by the cloud policy.")
    decision: PositiveInt = Field(2, description="Decision change sent by the on-device policy.")
    heartbeat: PositiveInt = Field(4, description="Daily heartbeat of the on-device policy.")
    downlink: PositiveInt = Field(2, description="Decision sent back to the node by the cloud.")
    window: PositiveInt | None = Field(
        None,
        description="A whole model window escalated by the cascade policy; default: 2 bytes "
        "per value of the model input.",
    )


class Harvester(_Strict):
    """A small solar panel charging the node's (rechargeable) cell."""

    panel_area_cm2: PositiveFloat = Field(description="Panel area [cm2].")
    efficiency: float = Field(
        0.18, gt=0.0, le=1.0, description="Panel efficiency (assumption: mono-Si ~18 %)."
    )
    charge_efficiency: float = Field(
        0.85, gt=0.0, le=1.0, description="Charger and cell charge efficiency."
    )
    peak_irradiance_w_m2: PositiveFloat = Field(
        1000.0, description="Clear-sky noon irradiance [W/m2] (panel test condition: 1000)."
    )
    cloudy_day_factor_min: float = Field(
        0.2, ge=0.0, le=1.0, description="Each day's weather scales sunshine by U(min, 1)."
    )


class Group(_Strict):
    """Many nodes sharing one configuration."""

    count: PositiveInt = Field(description="Number of nodes.")
    world: WorldKind | None = Field(
        None, description="What this group senses, if not the scenario's world.kind (mixed fleets)."
    )
    board: Name = Field(description="Board profile id (device_profiles/boards).")
    runtime: Name | None = Field(
        None, description="Inference engine (device_profiles/runtimes); default: the board's."
    )
    radio: Name = Field(description="Radio profile id (device_profiles/radios).")
    battery: Name = Field(
        description="Battery profile id (device_profiles/batteries), or 'mains' for a node "
        "powered from the grid (energy still counted, no battery life)."
    )
    sensor: Name = Field(description="Sensor profile id (device_profiles/sensors).")
    sampling_period_s: PositiveFloat = Field(
        description=(
            "Time between decisions [s]: the node wakes, reads, decides or sends, sleeps. A model "
            "whose window is a history of readings keeps getting them at its own rate."
        )
    )
    spreading_factor: Annotated[int, Field(ge=7, le=12)] | Literal["auto"] = Field(
        "auto",
        description="LoRa spreading factor 7-12, or 'auto': the fastest one the node's best "
        "link allows with the ADR margin (what adaptive data rate converges to).",
    )
    tx_jitter_s: float = Field(
        0.0,
        ge=0.0,
        description="Random delay before each uplink, uniform in [0, tx_jitter_s] [s]: "
        "de-synchronises nodes that sample on the same period.",
    )
    heartbeat_period_s: PositiveFloat = Field(86_400.0, description="On-device heartbeat [s].")
    confirmed: bool = Field(
        False,
        description="LoRaWAN confirmed uplinks: the network acknowledges each in RX1/RX2 "
        "(spending gateway duty cycle); without an ACK the node retransmits after "
        "ACK_TIMEOUT (1-3 s) and its own duty-cycle wait.",
    )
    max_transmissions: Annotated[int, Field(ge=1, le=15)] = Field(
        8, description="Confirmed uplinks: transmissions per message, first one included."
    )
    actuation: bool = Field(
        False,
        description="Close the loop: the decision acting after each sample drives the "
        "world's actuator (soil: the irrigation valve at the day's irrigation hour; room: "
        "comfort or setback heating), so slow or wrong decisions change the outcome. "
        "Worlds without an actuator refuse it.",
    )
    model: ModelRef
    payload_bytes: Payloads = Payloads()
    harvester: Harvester | None = Field(None, description="Solar harvesting, if any.")
    link: Link = Link()
    store_and_forward: StoreAndForward | None = Field(
        None, description="LoRaWAN: buffer unsent messages in flash and forward them later."
    )
    nodes: str | None = Field(
        None, description="CSV of the group's own devices, one row per node (twin/nodes.py "
        "lists the columns), relative to the scenario's folder.",
    )  # fmt: skip
    lora: LoRaSettings = Field(
        LoRaSettings(),
        description="LoRa: channels, coding rate and preamble, if not the region's "
        "(channel.region).",
    )


class StoreAndForward(_Strict):
    """LoRaWAN store-and-forward: keep in flash what cannot be sent, forward it later.

    The node checks its link with uplinks that ask for an answer (LinkCheckReq; the ACK of
    a confirmed uplink): one at least every ``check_period_s``, every uplink after an
    unanswered one. After ``failed_checks`` unanswered checks in a row the node takes the
    link for down: it stores that check's message and every later one, and only probes,
    once per check period, with a frame of stored messages (the messages of the earlier
    unanswered checks count as sent: a busy gateway leaves checks unanswered too). Once the
    network answers, stored messages ride along in the next uplinks, oldest first, up to
    the radio's maximum payload. A full buffer drops its oldest messages.
    """

    buffer_bytes: PositiveInt = Field(
        description="Flash set aside for stored messages [bytes] (payload bytes are stored)."
    )
    check_period_s: PositiveFloat = Field(
        3_600.0,
        description="Check the link (LinkCheckReq) if no uplink did for this long [s].",
    )
    failed_checks: PositiveInt = Field(
        3,
        description="Consecutive unanswered checks before the node takes the link for down "
        "(a busy gateway leaves some checks unanswered too); after one, every uplink checks.",
    )


# A network or service delay is seconds; an hour is an outage (a fault, in twin's terms).
# Bounding delays keeps every time and nanosecond counter of the engine finite: a
# 1e308 s latency overflowed to inf and crashed the run.
MAX_DELAY_S = 3_600.0
# A lognormal's tail grows as (p95 / median) ** (z / 1.645): at 100x, the largest of a
# billion draws is ~2e7 medians; wider, the draws overflow.
MAX_DELAY_SPREAD = 100.0


class LatencyDistribution(_Strict):
    """A lognormal delay given by its median and 95th percentile [s]."""

    median_s: PositiveFloat = Field(le=MAX_DELAY_S)
    p95_s: PositiveFloat = Field(le=MAX_DELAY_S)

    @model_validator(mode="after")
    def _ordered(self) -> LatencyDistribution:
        if self.p95_s < self.median_s:
            raise ValueError("p95_s must be at least median_s")
        if self.p95_s > MAX_DELAY_SPREAD * self.median_s:
            raise ValueError(
                f"p95_s may be at most {MAX_DELAY_SPREAD:g} x median_s (got "
                f"{self.p95_s / self.median_s:.3g} x): a lognormal that wide draws delays of "
                "years; model rare long delays as a backhaul_spike fault"
            )
        return self


class Gateway(_Strict):
    """A LoRaWAN gateway at a position on the site."""

    id: str
    x_m: float = Field(ge=0.0)
    y_m: float = Field(ge=0.0)
    demodulators: PositiveInt = Field(
        8, description="Frames it can demodulate at once (SX1301-based gateways: 8)."
    )
    rx1_duty_cycle: Annotated[float, Field(gt=0.0, le=1.0)] | None = Field(
        None,
        description="Downlink duty cycle in RX1's sub-band; default: the region's (EU868 "
        "868.0-868.6 MHz: 1 %, ETSI EN 300 220; US915: none, 1.0).",
    )
    rx2_duty_cycle: Annotated[float, Field(gt=0.0, le=1.0)] | None = Field(
        None,
        description="Downlink duty cycle at the RX2 frequency; default: the region's (EU868 "
        "869.525 MHz: 10 %; US915 923.3 MHz: none, 1.0).",
    )


class Cloud(_Strict):
    """Backhaul and the cloud inference service."""

    uplink_latency: LatencyDistribution = Field(
        description="Gateway -> network server -> application delay."
    )
    downlink_latency: LatencyDistribution = Field(
        description="Application -> network server -> gateway delay."
    )
    workers: PositiveInt = Field(1, description="Parallel inference workers.")
    server: Name = Field(
        "cloud-cpu-worker",
        description="Server profile (device_profiles/servers): service time from the cloud "
        "model's MACs, and prices.",
    )
    service_time_s: Annotated[float, Field(gt=0, le=MAX_DELAY_S)] | None = Field(
        None,
        description="Fixed time one worker takes per request [s]; overrides the server's "
        "cost model (prices still come from the server).",
    )
    max_batch: PositiveInt = Field(
        1,
        description="A free worker takes up to this many waiting requests in one model call "
        "(the call overhead is paid once per batch).",
    )


class _FaultTiming(_Strict):
    """When a fault strikes: once (``start_h``, ``duration_h``) or at random (MTBF / MTTR)."""

    start_h: float | None = Field(None, ge=0.0, description="Scheduled start [h from t = 0].")
    duration_h: PositiveFloat | None = Field(None, description="Scheduled duration [h].")
    mtbf_h: PositiveFloat | None = Field(
        None, description="Random: mean time between failures [h] (exponential up times)."
    )
    mttr_h: PositiveFloat | None = Field(
        None, description="Random: mean time to repair [h] (exponential down times)."
    )

    @model_validator(mode="after")
    def _one_timing(self) -> _FaultTiming:
        scheduled = self.start_h is not None or self.duration_h is not None
        random = self.mtbf_h is not None or self.mttr_h is not None
        if scheduled == random:
            raise ValueError("give either 'start_h' and 'duration_h', or 'mtbf_h' and 'mttr_h'")
        if scheduled and (self.start_h is None or self.duration_h is None):
            raise ValueError("a scheduled fault needs both 'start_h' and 'duration_h'")
        if random and (self.mtbf_h is None or self.mttr_h is None):
            raise ValueError("a random fault needs both 'mtbf_h' and 'mttr_h'")
        return self


class GatewayOutage(_FaultTiming):
    """A LoRaWAN gateway hears and sends nothing (power cut, backhaul down)."""

    kind: Literal["gateway_outage"]
    gateway: str | None = Field(
        None, description="Gateway id; none: every gateway (each its own random outages)."
    )


class CloudOutage(_FaultTiming):
    """The cloud inference service is down: requests arriving are lost, queued ones wait."""

    kind: Literal["cloud_outage"]


class LossBurst(_FaultTiming):
    """Interference: each LoRa uplink frame is lost with a probability while it lasts."""

    kind: Literal["loss_burst"]
    loss_probability: float = Field(gt=0.0, le=1.0, description="Per-frame loss probability.")


class BackhaulSpike(_FaultTiming):
    """Backhaul congestion: extra delay on the gateway/hub <-> cloud path both ways."""

    kind: Literal["backhaul_spike"]
    extra_latency_s: PositiveFloat = Field(le=MAX_DELAY_S, description="Delay added each way [s].")


class Brownout(_Strict):
    """Nodes reset (supply dip, watchdog): off for a while, model window lost from RAM."""

    kind: Literal["brownout"]
    group: str | None = Field(None, description="Group name; none: every group.")
    start_h: float | None = Field(
        None, ge=0.0, description="Scheduled: every node of the group resets at this time [h]."
    )
    mtbf_h: PositiveFloat | None = Field(
        None, description="Random: each node resets on its own, this often on average [h]."
    )
    downtime_s: PositiveFloat = Field(
        description="Time from the reset until the node samples again [s]."
    )

    @model_validator(mode="after")
    def _one_timing(self) -> Brownout:
        if (self.start_h is None) == (self.mtbf_h is None):
            raise ValueError("give either 'start_h' (all nodes at once) or 'mtbf_h' (each node)")
        return self


class HubOutage(_FaultTiming):
    """A BLE, Wi-Fi or cellular node cannot reach its hub (phone, access point, cell).

    The phone is away or asleep, the access point down, no cell. Messages meanwhile are lost,
    or kept and forwarded when the hub is back if the group has ``store_and_forward``.
    """

    kind: Literal["hub_outage"]
    group: str | None = Field(None, description="Group name; none: every group with a hub.")
    every_h: PositiveFloat | None = Field(
        None, description="Scheduled: strike again every this many hours (24: nightly)."
    )
    probability: float = Field(
        1.0,
        gt=0.0,
        le=1.0,
        description="Scheduled: each node's hub is out at each strike with this probability "
        "(a wearer who leaves the phone behind some nights); random outages are per node.",
    )


Fault = Annotated[
    GatewayOutage | CloudOutage | LossBurst | BackhaulSpike | Brownout | HubOutage,
    Field(discriminator="kind"),
]


class Channel(_Strict):
    """How radio links and the shared channel behave."""

    propagation: Name = Field(
        "oulu-868", description="Path-loss model (device_profiles/propagation)."
    )
    capture_threshold_db: float = Field(
        6.0,
        ge=0.0,
        allow_inf_nan=True,  # .inf: no capture (NaN fails the ge check)
        description="A frame survives an overlapping one on its channel and SF when this much "
        "stronger (6 dB: Bor et al., MSWiM 2016, LoRaSim); .inf: no frame survives an overlap.",
    )
    adr_margin_db: float = Field(
        10.0, ge=0.0, description="Link margin kept by 'auto' spreading factors [dB]."
    )
    region: Literal["eu868", "us915"] = Field(
        "eu868",
        description="LoRaWAN regional plan (device_profiles/regions): channels, bandwidths, "
        "spreading factors, payload limits, duty cycle or dwell time, RX2 (docs/regions.md).",
    )
    sf_orthogonal: bool = Field(
        False,
        description="Take spreading factors as perfectly orthogonal (false: a frame is lost to "
        "an overlapping frame on another SF above the measured rejection, Croce et al. 2018).",
    )
    half_duplex: bool = Field(
        True,
        description="Gateways hear no uplink while they transmit a downlink, on any channel "
        "(a gateway has one radio front end; false: an idealised full-duplex gateway).",
    )


class Engine(_Strict):
    """Engine settings that change speed, never results."""

    batch_window_s: float | None = Field(
        None, ge=0.0, description="Batching window [s]; default: the largest exact window."
    )
    timeseries_interval_s: PositiveFloat = Field(21_600.0, description="Time-series step [s].")


BuiltinPolicy = Literal["on_device", "cloud", "cascade", "batched_upload"]


class PolicySpec(_Strict):
    """A policy with parameters: a built-in one (``kind``) or a class in a user's module."""

    model_config = ConfigDict(**_CONFIG, populate_by_name=True)

    name: str = Field(min_length=1, description="Name in results and the report.")
    kind: BuiltinPolicy | None = Field(None, description="A built-in policy.")
    module: str | None = Field(
        None, description="Python file (relative to the scenario) defining the policy class."
    )
    class_name: str | None = Field(None, alias="class", description="Policy class in module.")
    params: dict[str, Any] = Field(
        default_factory=dict, description="Keyword arguments of the policy class."
    )

    @field_validator("params")
    @classmethod
    def _finite_params(cls, params: dict[str, Any]) -> dict[str, Any]:
        # The policy class gets these as they are: a NaN threshold compares false with
        # everything and an infinite count overflows int().
        for key, value in _numbers(params):
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{key} must be a finite number, got {value}")
        return params

    @model_validator(mode="after")
    def _one_source(self) -> PolicySpec:
        if (self.kind is None) == (self.module is None):
            raise ValueError("give either 'kind' (a built-in policy) or 'module' and 'class'")
        if self.module is not None and not self.class_name:
            raise ValueError("a policy from a module needs 'class'")
        return self


def _policy_kind(value: Any) -> str:
    # Chosen by shape, so a bad mapping reports its own problem, not "should be 'on_device'".
    return "PolicySpec" if isinstance(value, (dict, PolicySpec)) else "builtin"


PolicyEntry = Annotated[
    Annotated[BuiltinPolicy, Tag("builtin")] | Annotated[PolicySpec, Tag("PolicySpec")],
    Discriminator(_policy_kind),
]


def _numbers(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Every leaf of nested dicts and lists, with its dotted path."""
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, (list, tuple)):
        items = enumerate(value)
    else:
        return [(prefix, value)]
    out = []
    for k, v in items:
        out.extend(_numbers(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


# The metrics the verdict compares (twin.analysis.verdict): what an objective may name.
ObjectiveMetric = Literal[metric_names()]


_FRACTIONS = {"delivered_fraction", "f1"}  # objective metrics that run from 0 to 1


class Bounds(_Strict):
    """Bounds on one metric for the policies an objective may recommend."""

    min: float | None = Field(None, description="Lowest acceptable value (in the metric's unit).")
    max: float | None = Field(None, description="Highest acceptable value.")

    @model_validator(mode="after")
    def _some_bound(self) -> Bounds:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min:g} is above max {self.max:g}")
        return self


class Objective(_Strict):
    """What the fleet is for: the metric to optimise, within bounds on others.

    The verdict recommends the best policy on ``minimise`` (or ``maximise``) among those that
    meet every bound in ``subject_to``; without an objective it recommends none.
    """

    minimise: ObjectiveMetric | None = Field(None, description="Metric to make as low as can be.")
    maximise: ObjectiveMetric | None = Field(None, description="Metric to make as high as can be.")
    subject_to: dict[ObjectiveMetric, Bounds] = Field(
        default_factory=dict,
        description="Bounds a recommended policy must meet, e.g. battery_life_days: {min: 1825}.",
    )

    @model_validator(mode="after")
    def _one_goal(self) -> Objective:
        if (self.minimise is None) == (self.maximise is None):
            raise ValueError("give exactly one of minimise or maximise")
        for name in _FRACTIONS & set(self.subject_to):
            b = self.subject_to[name]
            if any(v is not None and not 0 <= v <= 1 for v in (b.min, b.max)):
                raise ValueError(f"{name} is a fraction from 0 to 1 (0.95, not 95)")
        return self


class Scenario(_Strict):
    """A whole what-if: world, fleet groups, gateways, cloud and the policies to compare."""

    name: str = Field(min_length=1)
    description: str = ""
    world: World
    groups: Annotated[dict[str, Group], Field(min_length=1)]
    gateways: list[Gateway] = Field(
        default_factory=list, description="LoRaWAN gateways (needed when a group uses LoRa)."
    )
    cloud: Cloud
    channel: Channel = Channel()
    policies: Annotated[list[PolicyEntry], Field(min_length=1)]
    engine: Engine = Engine()
    faults: list[Fault] = Field(
        default_factory=list,
        description="Faults to inject: gateway and cloud outages, loss bursts, backhaul "
        "spikes, brown-outs (each scheduled, or random with MTBF / MTTR).",
    )
    objective: Objective | None = Field(
        None,
        description="What the fleet is for (minimise or maximise one metric, subject to "
        "bounds on others); the verdict then recommends a policy.",
    )
    # The file the scenario was read from: relative model and policy paths are resolved
    # against its folder, whichever way the scenario reaches the compile stage.
    _source: Path | None = PrivateAttr(default=None)  # as the user named it
    _base_dir: Path | None = PrivateAttr(default=None)  # its folder, absolute
    _lines: dict | None = PrivateAttr(default=None)  # key path -> line in the file

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        for name, g in self.groups.items():
            if g.tx_jitter_s >= g.sampling_period_s:
                raise ValueError(
                    f"groups.{name}.tx_jitter_s must be shorter than sampling_period_s"
                )
        if len(set(self.policy_names)) != len(self.policy_names):
            raise ValueError("policies are listed more than once (names must differ)")
        ids = [g.id for g in self.gateways]
        if len(set(ids)) != len(ids):
            raise ValueError("gateway ids must be unique")
        for gw in self.gateways:
            if gw.x_m > self.world.site.width_m or gw.y_m > self.world.site.height_m:
                raise ValueError(f"gateway '{gw.id}' lies outside the site")
        return self

    @property
    def source(self) -> Path | None:
        """The file this scenario was read from (None for one built in Python)."""
        return self._source

    @property
    def base_dir(self) -> Path:
        """Folder relative paths are resolved against: the file's, else the working one."""
        return self._base_dir if self._base_dir is not None else Path.cwd()

    def with_source(
        self, path: str | Path | None, base_dir: Path | None = None, lines: dict | None = None
    ) -> Scenario:
        """A copy that remembers the file it came from (its folder taken as absolute now).

        ``lines`` maps key paths (tuples) to the lines the YAML parser found them on, so that
        problems found after validation (an unknown profile, a model that does not fit) name
        the line too.
        """
        out = self.model_copy()
        out._lines = lines if lines is not None else self._lines
        out._source = Path(path) if path is not None else None
        out._base_dir = (
            base_dir if base_dir is not None else out._source.resolve().parent
        ) if path is not None else None  # fmt: skip
        return out

    @property
    def horizon_s(self) -> float:
        """Simulated time [s]."""
        return self.world.horizon_days * 86_400.0

    @property
    def policy_names(self) -> list[str]:
        """Names of the policies, in order."""
        return [p if isinstance(p, str) else p.name for p in self.policies]

    def gateway_duty_cycles(self) -> list[tuple[float, float]]:
        """Each gateway's RX1 and RX2 duty cycles: its own, else the region's."""
        region = load_region(self.channel.region)
        return [
            (
                region.rx1_duty_cycle if gw.rx1_duty_cycle is None else gw.rx1_duty_cycle,
                region.rx2_duty_cycle if gw.rx2_duty_cycle is None else gw.rx2_duty_cycle,
            )
            for gw in self.gateways
        ]

    def digest(self) -> str:
        """SHA-256 of the validated scenario (canonical JSON), for provenance."""
        data = self.model_dump(mode="json")
        for key in ("params", "start_utc"):
            if not data["world"][key]:
                # Scenarios without world params (or start date) keep the digest they had
                # before the key existed (a study resumes by it).
                del data["world"][key]
        if data["objective"] is None:
            del data["objective"]  # likewise for scenarios without an objective
        # Regional plans: the default region and the gateways' default duty cycles digest as
        # the EU868 scenarios written before regions did (a study resumes by the digest).
        if data["channel"]["region"] == "eu868":
            del data["channel"]["region"]
        for g in data["groups"].values():
            if all(v is None for v in g["lora"].values()):
                del g["lora"]
            if g["nodes"] is None:
                del g["nodes"]  # likewise for groups without a node table
            if g["link"]["access_point_stations"] == 1:
                del g["link"]["access_point_stations"]  # likewise for an unshared hub
            if g["link"]["coupling_loss_db"] is None:
                del g["link"]["coupling_loss_db"]  # likewise for good coverage
        for gw, default in zip(data["gateways"], self.gateway_duty_cycles(), strict=True):
            for key, value in zip(("rx1_duty_cycle", "rx2_duty_cycle"), default, strict=True):
                gw[key] = value
        blob = json.dumps(data, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()

    def with_overrides(self, overrides: dict[str, Any]) -> Scenario:
        """A copy with fields replaced by dotted path, validated like a scenario file.

        >>> farm.with_overrides({"groups.soil.sampling_period_s": 600})  # doctest: +SKIP

        Raises
        ------
        ScenarioError
            If a path does not exist or a value is invalid (the message names the path).
        """
        from twin.config.validation import validate
        from twin.errors import ScenarioError

        # Only what was set is carried over: defaults that depend on other keys (a zoo
        # model's own output and threshold) must stay defaults. The full dump says which
        # paths exist.
        data = self.model_dump(mode="json", exclude_unset=True, by_alias=True)
        full = self.model_dump(mode="json", exclude_unset=False, by_alias=True)
        for path, value in overrides.items():
            node: Any = data
            ref: Any = full
            keys = path.split(".")
            for i, key in enumerate(keys):
                last = i == len(keys) - 1
                if isinstance(ref, list):
                    if not key.isdigit() or int(key) >= len(ref):
                        raise ScenarioError(f"no item {key} in this list", None, path)
                    key = int(key)
                elif not isinstance(ref, dict) or (key not in ref and not last):
                    raise ScenarioError("no such key in the scenario", None, path)
                if last:
                    node[key] = value
                else:
                    if isinstance(node, dict) and key not in node:
                        node[key] = {} if isinstance(ref[key], dict) else ref[key]
                    node, ref = node[key], ref[key]
        return validate(Scenario, data).with_source(self._source, self._base_dir, self._lines)

    def with_seed(self, seed: int) -> Scenario:
        """A copy with another run seed.

        Raises
        ------
        ScenarioError
            If the seed is not a whole number >= 0 (``world.seed``'s own rule).
        """
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            from twin.errors import ScenarioError

            raise ScenarioError(
                f"seed must be a whole number >= 0, got {seed!r}", None, "world.seed"
            )
        out = self.model_copy(update={"world": self.world.model_copy(update={"seed": seed})})
        out._source, out._base_dir = self._source, self._base_dir
        return out
