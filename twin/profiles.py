"""Device profiles: boards, radios, batteries and sensors, loaded from YAML with their sources.

Every figure in a profile file sits next to a ``<key>_source`` entry naming where it comes
from (datasheet, measurement log, paper). A figure without a source is rejected: the report
must be able to trace every number back to its origin.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from twin.errors import ScenarioError
from twin.physics import sensing
from twin.strict_yaml import parse, read_text

_META_KEYS = {"id", "kind", "name", "technology"}


def profile_dirs() -> list[Path]:
    """Directories searched for profiles: the source tree, then the copy bundled in the wheel."""
    pkg = Path(__file__).resolve().parent
    return [pkg.parent / "device_profiles", pkg / "_bundled" / "device_profiles"]


@dataclass(frozen=True)
class Board:
    """A microcontroller board: compute and power figures."""

    id: str
    name: str
    core: str
    clock_mhz: float
    sram_bytes: int
    flash_bytes: int
    supply_v: float
    active_current_a: float
    sleep_current_a: float
    default_runtime: str
    sources: Mapping[str, str]
    # The lowest voltage at the battery terminals the board keeps running at under load: its
    # brown-out reset threshold, or its regulator's minimum input [V]. Optional (None: not
    # known, and brown-outs under load are not checked for the board).
    min_supply_v: float | None = None
    # A cold boot after a reset: from reset release to the application running [s], at
    # boot_current_a (None: the active current) [A]. Optional (None: a reboot costs nothing).
    boot_s: float | None = None
    boot_current_a: float | None = None

    @property
    def clock_hz(self) -> float:
        """Core clock [Hz]."""
        return self.clock_mhz * 1e6


@dataclass(frozen=True)
class Runtime:
    """An inference engine: which cores it runs on and what it adds to flash and RAM."""

    id: str
    name: str
    cores: tuple[str, ...]
    flash_overhead_bytes: int
    ram_overhead_bytes: int
    overhead_s: float
    sources: Mapping[str, str]


@dataclass(frozen=True)
class Radio:
    """A LoRaWAN radio: per-state currents, PHY settings and class-A timing."""

    id: str
    name: str
    technology: str
    supply_v: float
    tx_current_a: float
    rx_current_a: float
    sleep_current_a: float
    wakeup_s: float
    bandwidth_hz: float
    coding_rate: int
    preamble_symbols: int
    mac_overhead_bytes: int
    max_payload_bytes: int
    duty_cycle: float
    uplink_channels: int
    rx1_delay_s: float
    rx2_delay_s: float
    rx2_spreading_factor: int
    rx_window_symbols: int
    tx_power_dbm: float
    noise_figure_db: float
    sources: Mapping[str, str]
    # Set by the scenario's region (twin.regions.resolve_radio); a profile may leave them out.
    downlink_bandwidth_hz: float | None = None  # RX1/RX2 bandwidth; None: bandwidth_hz
    max_spreading_factor: int = 12  # the slowest SF the region allows an uplink


@dataclass(frozen=True)
class BleRadio:
    """A Bluetooth Low Energy radio (connection-based, a phone relays to the cloud)."""

    id: str
    name: str
    technology: str
    supply_v: float
    tx_current_a: float
    rx_current_a: float
    sleep_current_a: float
    ramp_s: float
    connection_interval_s: float
    mac_overhead_bytes: int
    max_payload_bytes: int
    sources: Mapping[str, str]
    # After a reboot the peripheral advertises until its phone connects again: for this long
    # [s] at this mean current [A]. Optional (None: re-connecting costs nothing).
    reconnect_s: float | None = None
    advertising_current_a: float | None = None


@dataclass(frozen=True)
class WifiRadio:
    """A Wi-Fi station: deep sleep and associate per message, or stay associated (DTIM)."""

    id: str
    name: str
    technology: str
    supply_v: float
    boot_s: float
    boot_current_a: float
    associate_dhcp_s: float
    associate_static_s: float
    listen_current_a: float
    tx_current_a: float
    tx_per_message_s: float
    sleep_current_a: float
    publish_s: float
    phy_rate_bps: float
    mac_overhead_bytes: int
    max_payload_bytes: int
    light_sleep_current_a: float
    beacon_listen_s: float
    sources: Mapping[str, str]


@dataclass(frozen=True)
class CellularRadio:
    """An LTE-M or NB-IoT modem in power-saving mode between exchanges."""

    id: str
    name: str
    technology: str
    supply_v: float
    wake_s: float
    exchange_s: float
    connected_tail_s: float
    average_current_a: float
    sleep_current_a: float
    rai_tail_s: float
    exchange_bytes: int
    uplink_rate_bps: float
    mac_overhead_bytes: int
    max_payload_bytes: int
    paging_s: float
    paging_current_a: float
    sources: Mapping[str, str]
    # The highest current the modem draws in a burst (TX at full power) [A]: what sags the
    # cell. Optional (None: only the exchange's average current is known).
    peak_current_a: float | None = None
    # The lowest supply the modem runs at [V] (a modem on the cell's rail may need more than
    # the board's MCU). Optional (None: the board's minimum alone decides brown-outs).
    min_supply_v: float | None = None
    # How the measured currents reach the cell: "as_measured" (what the cell sees), or
    # "constant_power" (the modem's own DC/DC draws the same power whatever its supply, so at
    # the cell's voltage the current is measured x supply_v / cell voltage: twin.supply).
    power_path: str = "as_measured"
    # A full network attach after a reboot (the PSM context is gone with the modem's power),
    # at average_current_a [s]. Optional (None: re-attaching costs nothing).
    attach_s: float | None = None
    # Coverage enhancement (twin.physics.coverage), optional (None: no coverage classes): the
    # largest coupling loss served and the loss closed without repetitions [dB], the CE
    # level boundaries [dB], the repetition limits of data up, data down and the random
    # access preamble, one preamble's airtime [s], the TX (full power) and RX currents [A]
    # and the downlink rate [bit/s] of the measured exchange.
    max_coupling_loss_db: float | None = None
    ce0_loss_db: float | None = None
    ce_thresholds_db: tuple[float, ...] | None = None
    max_repetitions_ul: float | None = None
    max_repetitions_dl: float | None = None
    max_repetitions_rach: float | None = None
    preamble_s: float | None = None
    tx_current_a: float | None = None
    rx_current_a: float | None = None
    downlink_rate_bps: float | None = None


# How a cellular modem's measured currents reach the cell (CellularRadio.power_path).
POWER_PATHS = ("as_measured", "constant_power")

RADIO_CLASSES = {
    "wifi": WifiRadio,
    "ble": BleRadio,
    "lte-m": CellularRadio,
    "nb-iot": CellularRadio,
}


@dataclass(frozen=True)
class Battery:
    """A primary battery pack."""

    id: str
    name: str
    nominal_v: float
    cutoff_v: float
    capacity_mah: float
    rated_current_a: float
    peukert_exponent: float
    self_discharge_per_year: float
    max_pulse_current_a: float
    sources: Mapping[str, str]
    # How long the cell can be counted on whatever it delivers: the maker's shelf life of a
    # primary cell, the calendar life of a rechargeable one [years]. Optional so that a
    # user's own cell written before the field existed still loads; None states no limit
    # (its battery life is then charge-limited only, and the run says so in its warnings).
    shelf_life_years: float | None = None
    # Open-circuit (rest) voltage of the whole pack against state of charge: breakpoints of
    # a piecewise-linear curve (twin.physics.battery.open_circuit_v), soc from 0 (empty, at
    # cutoff_v) to 1 (full, fresh) [-] and the pack's voltage there [V]. Optional: a user's
    # cell without a curve still loads (None), and callers that need a voltage check for it.
    # Checked at load time by _check_ocv (rules in OCV_RULES).
    ocv_soc: tuple[float, ...] | None = None
    ocv_v: tuple[float, ...] | None = None
    # The pack's internal (DC) resistance at each breakpoint of ``ocv_soc`` [ohm]: under a
    # current I the terminals read ocv_v - I * R (twin.physics.battery.loaded_v). Optional
    # (None: no sag is modelled); needs the curve.
    internal_resistance_ohm: tuple[float, ...] | None = None
    # The Kinetic Battery Model's rate effect (twin.physics.kibam): the share of the charge in
    # the well the load draws from [-], and the rate k' at which the other refills it [1/s].
    # Optional: None, or kibam_c = 1 (no k' needed), is no rate effect; with KiBaM given the
    # Peukert exponent is not used.
    kibam_c: float | None = None
    kibam_k_per_s: float | None = None

    @property
    def has_kibam(self) -> bool:
        """Whether the profile gives a rate effect by KiBaM (``kibam_c`` < 1 with its k')."""
        return self.kibam_c is not None and self.kibam_c < 1.0

    @property
    def capacity_c(self) -> float:
        """Usable charge [C] (1 mAh = 3.6 C)."""
        return self.capacity_mah * 3.6

    @property
    def shelf_life_days(self) -> float | None:
        """The shelf (calendar) life in days (365.25 a year), None if the profile gives none."""
        return None if self.shelf_life_years is None else self.shelf_life_years * 365.25

    @property
    def has_ocv_curve(self) -> bool:
        """Whether the profile gives an open-circuit voltage curve (``ocv_soc``, ``ocv_v``)."""
        return self.ocv_soc is not None and self.ocv_v is not None


@dataclass(frozen=True)
class Sensor:
    """A sensor read once per sample, and how the firmware acquires the reading.

    ``continuous``: the MCU is awake for the whole acquisition. ``fifo``: the front end (or an
    MCU peripheral with DMA, drawing ``peripheral_current_a``) fills a buffer of
    ``fifo_samples`` while the CPU sleeps, and the CPU wakes for ``read_s`` per fill.
    ``one_shot``: the CPU starts one conversion, sleeps, and wakes once for ``read_s``.
    """

    id: str
    name: str
    current_a: float
    duration_s: float
    reading_bytes: int
    sources: Mapping[str, str]
    acquisition: str = "continuous"
    sample_rate_hz: float = 0.0
    fifo_samples: int = 0
    read_s: float = 0.0
    standby_current_a: float = 0.0
    peripheral_current_a: float = 0.0


@dataclass(frozen=True)
class Propagation:
    """A log-distance path-loss model with log-normal shadowing, from a measurement campaign."""

    id: str
    name: str
    path_loss_d0_db: float
    d0_m: float
    path_loss_exponent: float
    shadowing_sd_db: float
    sources: Mapping[str, str]


@dataclass(frozen=True)
class Server:
    """A cloud inference server: how long a batch of requests takes, and what it costs.

    A batch of ``b`` requests for a model of ``m`` multiply-accumulates takes
    ``call_overhead_s + b * (request_overhead_s + m / macs_per_s)`` on one worker.
    """

    id: str
    name: str
    call_overhead_s: float
    request_overhead_s: float
    macs_per_s: float
    price_per_million_requests_usd: float
    price_per_gb_usd: float
    price_per_worker_hour_usd: float
    sources: Mapping[str, str]


# A node on the grid: the ledger still counts every joule, but nothing runs out.
MAINS = Battery(
    id="mains", name="mains power supply", nominal_v=5.0, cutoff_v=0.0, capacity_mah=math.inf,
    rated_current_a=1.0, peukert_exponent=1.0, self_discharge_per_year=0.0,
    max_pulse_current_a=math.inf, sources=MappingProxyType({}),
)  # fmt: skip


_KINDS: dict[str, tuple[str, type]] = {
    "board": ("boards", Board),
    "radio": ("radios", Radio),
    "battery": ("batteries", Battery),
    "sensor": ("sensors", Sensor),
    "runtime": ("runtimes", Runtime),
    "propagation": ("propagation", Propagation),
    "server": ("servers", Server),
}


USER_DIR = "device_profiles"  # beside a scenario: the user's own profiles, searched first
_MAX_EXTENDS = 8


def search_dirs(base_dir: str | Path | None = None) -> tuple[Path, ...]:
    """Profile folders in search order: ``<base_dir>/device_profiles`` (if any), then twin's."""
    user = () if base_dir is None else (Path(base_dir).resolve() / USER_DIR,)
    return tuple(d for d in user if d.is_dir()) + tuple(profile_dirs())


def available(kind: str, base_dir: str | Path | None = None) -> list[str]:
    """Ids of the profiles of one kind, the user's (beside ``base_dir``) included."""
    sub = _KINDS[kind][0]
    ids: set[str] = set()
    for d in search_dirs(base_dir):
        ids.update(p.stem for p in (d / sub).glob("*.yaml"))
    return sorted(ids)


def is_profile_path(ref: str) -> bool:
    """A profile named by file (``boards/my-pcb.yaml``) rather than by id."""
    return ref.endswith((".yaml", ".yml"))


def find_profile(kind: str, ref: str, base_dir: str | Path | None = None) -> Path:
    """The file of a profile: by path (relative to ``base_dir``) or by id in search order.

    Raises
    ------
    ScenarioError
        If there is no such file or id (the ids there are are listed).
    """
    if is_profile_path(ref):
        path = Path(base_dir or ".") / ref
        if not path.is_file():
            raise ScenarioError(f"{kind} profile file not found: {path}")
        return path.resolve()
    sub = _KINDS[kind][0]
    for d in search_dirs(base_dir):
        if (d / sub / f"{ref}.yaml").is_file():
            return (d / sub / f"{ref}.yaml").resolve()
    ids = available(kind, base_dir)
    close = difflib.get_close_matches(ref, ids, n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    raise ScenarioError(
        f"unknown {kind} profile '{ref}'{hint} (available: {', '.join(ids) or 'none'})"
    )


def load_profile(kind: str, profile_id: str, base_dir: str | Path | None = None) -> Any:
    """Load one profile by kind and id (or path), checking units, sources and types.

    Parameters
    ----------
    kind : str
        ``board``, ``radio``, ``battery``, ``sensor``, ``runtime``, ``propagation``, ``server``.
    profile_id : str
        An id (``nano33ble``), looked up in ``<base_dir>/device_profiles/<kind>s/`` first and
        then in twin's profiles, or a ``.yaml`` path relative to ``base_dir``.
    base_dir : path, optional
        The scenario's folder.

    A profile may say ``extends: <id>``: it takes that profile's figures and sources and
    overrides some, each override with its own ``<key>_source``.

    Raises
    ------
    ScenarioError
        If the profile does not exist or a figure is missing, mistyped or unsourced.
    """
    path = find_profile(kind, profile_id, base_dir)
    st = path.stat()
    user = None if base_dir is None else Path(base_dir).resolve() / USER_DIR
    user_s = str(user) if user is not None and user.is_dir() else None
    return _load_file(kind, str(path), st.st_mtime_ns, st.st_size, user_s)


def _cache_clear() -> None:
    """Forget every loaded profile (tests that swap the profile folders call this)."""
    _load_file.cache_clear()


@cache
def _load_file(kind: str, path_s: str, mtime_ns: int, size: int, user: str | None) -> Any:
    # Keyed by the file's identity and mtime: a user who edits a profile between runs in one
    # process gets the new figures. (A parent's edit is not noticed: restart to see it.)
    path = Path(path_s)
    raw = _resolve_extends(kind, path, Path(user) if user is not None else None)
    expected_id = path.stem
    return _build(kind, raw, path, expected_id)


def _read_raw(path: Path) -> dict:
    try:
        # The scenario's rules: no duplicate keys (the second figure would win silently),
        # a size limit, aliases within bounds.
        raw, _ = parse(read_text(path, "profile file"), str(path))
    except ScenarioError as exc:
        message = exc.message.removeprefix("invalid YAML").removeprefix(": ")
        raise ScenarioError(
            f"cannot parse YAML{': ' if message[:1] != ' ' else ''}{message}",
            exc.file,
            exc.key_path,
            exc.line,
        ) from None
    if not isinstance(raw, dict):
        raise ScenarioError("expected a mapping of profile fields", file=str(path))
    return raw


def _resolve_extends(kind: str, path: Path, user: Path | None, depth: int = 0) -> dict:
    """The profile's fields, merged over the profile it extends (recursively)."""
    raw = _read_raw(path)
    parent_id = raw.pop("extends", None)
    raw.pop("extends_source", None)
    if parent_id is None:
        return raw
    if not isinstance(parent_id, str) or not parent_id:
        raise ScenarioError("expected the id of the profile this one extends", str(path), "extends")
    if depth >= _MAX_EXTENDS:
        raise ScenarioError(f"more than {_MAX_EXTENDS} levels of 'extends' (a cycle?)", str(path))
    for key in raw:  # an override carries its own source: it is not the parent's figure
        if not key.endswith("_source") and key not in _META_KEYS and key != "kind":
            if f"{key}_source" not in raw:
                raise ScenarioError(
                    f"overridden figure has no '{key}_source' beside it (say where your "
                    "figure comes from, e.g. 'measured on our rev-B board')",
                    str(path),
                    key,
                )
    sub = _KINDS[kind][0]
    # The parent: the user's folder first, then twin's, never the file itself.
    dirs = ([user] if user is not None else []) + list(profile_dirs())
    found = [d / sub / f"{parent_id}.yaml" for d in dirs]
    found = [f for f in found if f.is_file() and f.resolve() != path.resolve()]
    if not found:
        known = ", ".join(available(kind, user.parent if user else None)) or "none"
        raise ScenarioError(
            f"extends unknown {kind} profile '{parent_id}'; available: {known}",
            str(path),
            "extends",
        )
    merged = _resolve_extends(kind, found[0], user, depth + 1)
    merged.pop("id", None)
    merged.pop("name", None)
    if "ocv_soc" in raw and "internal_resistance_ohm" not in raw:
        # The parent's resistances sit at the parent's breakpoints: a new curve without its
        # own leaves the cell's sag unknown rather than misplaced.
        merged.pop("internal_resistance_ohm", None)
        merged.pop("internal_resistance_ohm_source", None)
    merged.update(raw)
    return merged


def _check_acquisition(values: dict, path: Path) -> None:
    """A sensor's acquisition mode, and the figures its mode needs."""
    mode = values.get("acquisition", "continuous")
    if mode not in sensing.ACQUISITIONS:
        raise ScenarioError(
            f"expected one of {', '.join(sensing.ACQUISITIONS)}, got '{mode}'",
            str(path), "acquisition",
        )  # fmt: skip
    needs = {"fifo": ("sample_rate_hz", "fifo_samples", "read_s"), "one_shot": ("read_s",)}
    for key in needs.get(mode, ()):
        if not values.get(key):
            raise ScenarioError(
                f"acquisition '{mode}' needs a positive {key} (with its {key}_source)",
                str(path), key,
            )  # fmt: skip


# The open-circuit voltage curve of a battery (Battery.ocv_soc / ocv_v), checked at load time:
OCV_MIN_POINTS = 2  # a line at least (the shipped profiles give 8-15 points)
# The curve's empty end must sit at the pack's cut-off voltage, within this much: the state of
# charge the engine counts down to 0 at cutoff_v is the same 0 the curve starts from. 0.15 V
# on the pack leaves room for a rest voltage read a little above the loaded cut-off (a
# curve's 0 % taken where its source puts it, e.g. 3.1 V for a LiPo cut off at 3.0 V).
OCV_CUTOFF_TOLERANCE_V = 0.15
OCV_RULES = (
    "ocv_soc and ocv_v come together, as lists of the same length "
    f"(at least {OCV_MIN_POINTS} points); ocv_soc rises strictly from 0 to 1; ocv_v does not "
    f"fall and starts within {OCV_CUTOFF_TOLERANCE_V} V of cutoff_v"
)


def _number_list(value: Any, path: Path, key: str) -> tuple[float, ...]:
    """A list of finite, non-negative numbers (a curve's breakpoints) as a tuple of floats."""
    if not isinstance(value, list) or not value:
        raise ScenarioError(f"expected a list of numbers, got {value!r}", str(path), key)
    for item in value:
        if not isinstance(item, (int, float)) or isinstance(item, bool):
            raise ScenarioError(f"expected a list of numbers, got {item!r} in it", str(path), key)
        if not math.isfinite(item) or item < 0:
            raise ScenarioError(
                f"expected finite, non-negative numbers, got {item!r} in it", str(path), key
            )
    return tuple(float(item) for item in value)


def _check_ocv(values: dict, path: Path) -> None:
    """A battery's open-circuit voltage curve, if it gives one (rules: OCV_RULES)."""
    soc, v = values.get("ocv_soc"), values.get("ocv_v")
    r = values.get("internal_resistance_ohm")
    if r is not None and soc is None:
        raise ScenarioError(
            "internal_resistance_ohm gives the pack's resistance at each point of ocv_soc: "
            "give the rest-voltage curve (ocv_soc, ocv_v) too",
            str(path), "internal_resistance_ohm",
        )  # fmt: skip
    if r is not None and len(r) != len(soc):
        raise ScenarioError(
            "internal_resistance_ohm gives the pack's resistance at each point of ocv_soc: "
            f"expected {len(soc)} values (one per ocv_soc point), got "
            f"{len(r)}",
            str(path), "internal_resistance_ohm",
        )  # fmt: skip
    if soc is None and v is None:
        return  # optional: a cell without a curve loads, its voltage is unknown
    if soc is None or v is None:
        given, absent = ("ocv_v", "ocv_soc") if soc is None else ("ocv_soc", "ocv_v")
        raise ScenarioError(f"'{given}' is given without '{absent}': {OCV_RULES}", str(path), given)
    if len(soc) != len(v):
        raise ScenarioError(
            f"ocv_soc has {len(soc)} points but ocv_v has {len(v)}: {OCV_RULES}", str(path), "ocv_v"
        )
    if len(soc) < OCV_MIN_POINTS:
        raise ScenarioError(
            f"the curve needs at least {OCV_MIN_POINTS} points", str(path), "ocv_soc"
        )
    if soc[0] != 0 or soc[-1] != 1:
        raise ScenarioError(
            f"ocv_soc must run from 0 (empty) to 1 (full), got {soc[0]:g} to {soc[-1]:g}",
            str(path), "ocv_soc",
        )  # fmt: skip
    for i in range(1, len(soc)):
        if soc[i] <= soc[i - 1]:
            raise ScenarioError(
                f"ocv_soc must rise strictly, but point {i} ({soc[i]:g}) follows {soc[i - 1]:g}",
                str(path), "ocv_soc",
            )  # fmt: skip
        if v[i] < v[i - 1]:
            raise ScenarioError(
                f"ocv_v must not fall as the state of charge rises, but point {i} ({v[i]:g} V) "
                f"follows {v[i - 1]:g} V",
                str(path), "ocv_v",
            )  # fmt: skip
    if v[-1] <= v[0]:
        raise ScenarioError(
            "ocv_v is flat from empty to full: the curve says nothing", str(path), "ocv_v"
        )
    cutoff = values.get("cutoff_v")
    if cutoff is not None and abs(v[0] - cutoff) > OCV_CUTOFF_TOLERANCE_V:
        raise ScenarioError(
            f"ocv_v starts at {v[0]:g} V but cutoff_v is {cutoff:g} V: the curve's empty end "
            f"(ocv_soc 0) must be within {OCV_CUTOFF_TOLERANCE_V} V of the pack's cut-off "
            "(a profile that changes cutoff_v gives its own curve)",
            str(path), "ocv_v",
        )  # fmt: skip


def _check_kibam(values: dict, path: Path) -> None:
    """KiBaM's well share in (0, 1], and its rate k' wherever the share is below 1."""
    c, k = values.get("kibam_c"), values.get("kibam_k_per_s")
    if c is None:
        if k is not None:
            raise ScenarioError(
                "kibam_k_per_s is the rate of KiBaM's bound well: give kibam_c too",
                str(path), "kibam_k_per_s",
            )  # fmt: skip
        return
    if not 0.0 < c <= 1.0:
        raise ScenarioError(
            f"kibam_c is the share of the charge the load draws from directly: expected a "
            f"number in (0, 1] (1: no rate effect), got {c:g}",
            str(path), "kibam_c",
        )  # fmt: skip
    if c < 1.0 and not k:
        raise ScenarioError(
            "kibam_c below 1 needs kibam_k_per_s, the rate k' = k / (c (1 - c)) at which the "
            "bound well refills the available one [1/s], with its source",
            str(path), "kibam_c",
        )  # fmt: skip


def _build(kind: str, raw: dict, path: Path, profile_id: str) -> Any:
    """Check a profile's fields (units, sources, types) and build its record."""
    cls = _KINDS[kind][1]
    if kind == "radio" and isinstance(raw, dict) and raw.get("technology") in RADIO_CLASSES:
        cls = RADIO_CLASSES[raw["technology"]]
    wanted = {f.name: f.type for f in fields(cls) if f.name != "sources"}
    # A field with a default may be left out (a newer figure old user profiles lack).
    optional = {f.name for f in fields(cls) if f.default is not MISSING}
    values: dict[str, Any] = {}
    sources: Mapping[str, str] = {}
    for key, value in raw.items():
        if key.endswith("_source"):
            continue
        if key == "kind" and value != kind:
            raise ScenarioError(f"file is a '{value}' profile, expected '{kind}'", str(path), key)
        if key not in wanted and key != "kind":
            raise ScenarioError(f"unknown field; expected one of {sorted(wanted)}", str(path), key)
        if key in _META_KEYS:
            if key in wanted:
                values[key] = str(value)
            continue
        src = raw.get(f"{key}_source")
        if not isinstance(src, str) or not src.strip():
            raise ScenarioError(f"figure has no '{key}_source' beside it", str(path), key)
        sources[key] = src
        expected = wanted[key]
        if expected in ("str", str):
            values[key] = str(value)
            continue
        if expected == "tuple[float, ...] | None":  # a curve's breakpoints (Battery.ocv_*, ...)
            values[key] = _number_list(value, path, key)
            continue
        if expected == "tuple[str, ...]":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ScenarioError(f"expected a list of names, got {value!r}", str(path), key)
            values[key] = tuple(value)
            continue
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ScenarioError(f"expected a number, got {value!r}", str(path), key)
        if not math.isfinite(value) or value < 0:
            raise ScenarioError(
                f"expected a finite, non-negative number, got {value!r}", str(path), key
            )
        if expected in ("int", int):
            if value != int(value):
                raise ScenarioError(f"expected a whole number, got {value!r}", str(path), key)
            value = int(value)
        values[key] = value if expected in ("int", int) else float(value)
    missing = sorted(set(wanted) - set(values) - optional)
    if missing:
        raise ScenarioError(f"missing fields {missing}", str(path))
    if values["id"] != profile_id:
        raise ScenarioError(f"id '{values['id']}' does not match file name", str(path), "id")
    if cls is Sensor:
        _check_acquisition(values, path)
    if values.get("power_path", POWER_PATHS[0]) not in POWER_PATHS:
        raise ScenarioError(
            f"expected one of {', '.join(POWER_PATHS)}, got '{values['power_path']}'",
            str(path), "power_path",
        )  # fmt: skip
    if cls is Battery:
        _check_ocv(values, path)
        _check_kibam(values, path)
    # Profiles are cached and shared: keep their sources read-only.
    return cls(**values, sources=MappingProxyType(sources))


load_profile.cache_clear = _cache_clear  # type: ignore[attr-defined]  # the old API
