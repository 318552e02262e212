"""What twin can simulate: every profile, world and zoo model, with its key figures.

:func:`catalog` lists boards, radios, batteries, sensors, runtimes, propagation models,
servers, worlds and zoo models as flat records, the user's own profiles included (a
``device_profiles/`` folder beside a scenario is searched before twin's, as when a scenario
is compiled). Figures are formatted for people (``1.5 µA``, ``256 KiB``); each comes with the
source its profile gives for it. ``twin profiles`` renders these records.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from twin.errors import ScenarioError, TwinError
from twin.profiles import USER_DIR, available, find_profile, load_profile, profile_dirs
from twin.strict_yaml import parse, read_text

__all__ = ["KINDS", "CatalogEntry", "catalog", "kind_of"]

# Singular kind -> plural (the folder under device_profiles/, and the table's title).
KINDS: Mapping[str, str] = MappingProxyType({
    "board": "boards", "radio": "radios", "battery": "batteries", "sensor": "sensors",
    "runtime": "runtimes", "propagation": "propagation", "server": "servers",
    "region": "regions", "world": "worlds", "zoo": "zoo models",
})  # fmt: skip
# Other names people type for a kind.
_ALIASES = {"propagations": "propagation", "models": "zoo", "model": "zoo", "zoo-models": "zoo"}


@dataclass(frozen=True)
class CatalogEntry:
    """One profile, world or zoo model and its key figures.

    Attributes
    ----------
    kind : str
        Singular kind (``board``, ..., ``world``, ``zoo``).
    id : str
        What a scenario names it by.
    name : str
        Its long name (a world's description, a zoo model's task).
    origin : str
        ``twin`` (shipped), ``yours`` (a ``device_profiles/`` beside the scenario) or
        ``plug-in`` (a world from another package).
    folder : str
        Where it was found: a profile folder, or a world's module.
    extends : str or None
        The profile this one takes its other figures from (``extends:``).
    replaces_shipped : bool
        A user profile with the id of one of twin's: scenarios get the user's.
    summary : mapping of str to str
        Label -> formatted figure, in display order.
    sources : mapping of str to str
        Label -> where that figure comes from (the profile's ``<key>_source``).
    error : str or None
        Why the entry could not be read (its summary is then empty).
    """

    kind: str
    id: str
    name: str
    origin: str
    folder: str
    extends: str | None = None
    replaces_shipped: bool = False
    summary: Mapping[str, str] = field(default_factory=dict)
    sources: Mapping[str, str] = field(default_factory=dict)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The record as plain JSON types."""
        return {
            "kind": self.kind, "id": self.id, "name": self.name, "origin": self.origin,
            "folder": self.folder, "extends": self.extends,
            "replaces_shipped": self.replaces_shipped, "summary": dict(self.summary),
            "sources": dict(self.sources), "error": self.error,
        }  # fmt: skip


def kind_of(name: str) -> str:
    """The singular kind a user's word names (``boards`` -> ``board``).

    Raises
    ------
    ScenarioError
        An unknown kind: the known kinds are listed, with the closest one suggested.
    """
    word = name.strip().lower()
    plural_to_kind = {plural: kind for kind, plural in KINDS.items()}
    found = word if word in KINDS else plural_to_kind.get(word) or _ALIASES.get(word)
    if found is not None:
        return found
    words = sorted({*KINDS, *plural_to_kind, *_ALIASES})
    close = difflib.get_close_matches(word, words, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    known = ", ".join("zoo" if k == "zoo" else p for k, p in KINDS.items())
    raise ScenarioError(f"unknown kind '{name}'{hint}; known kinds: {known}")


def catalog(kind: str | None = None, base_dir: Path | None = None) -> list[CatalogEntry]:
    """Every profile, world and zoo model of one kind (or of all kinds), sorted by id.

    Parameters
    ----------
    kind : str, optional
        ``board`` or ``boards``, ``radio``, ..., ``world``, ``zoo``; None for every kind.
    base_dir : path, optional
        A scenario's folder: its ``device_profiles/`` is listed too, before twin's.

    Returns
    -------
    list of CatalogEntry
        In the order of :data:`KINDS`, then by id. A profile that cannot be read (a user's
        file with a mistake) is an entry with ``error`` set, not an exception.

    Raises
    ------
    ScenarioError
        An unknown kind.
    """
    kinds = list(KINDS) if kind is None else [kind_of(kind)]
    out: list[CatalogEntry] = []
    for k in kinds:
        if k == "world":
            out += _worlds()
        elif k == "region":
            out += _regions()
        elif k == "zoo":
            out += _zoo()
        else:
            out += [_profile_entry(k, pid, base_dir) for pid in available(k, base_dir)]
    return out


# -- formatting -------------------------------------------------------------------------------


def _num(x: float) -> str:
    """Three significant figures, never an exponent (250,000 rather than 2.5e+05)."""
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.3g}"


def _scaled(x: float, unit: str) -> str:
    """A current or a time with the prefix that keeps it readable (1.5 µA, 250 mA, 12 s)."""
    for prefix, size in (("", 1.0), ("m", 1e-3)):
        if x >= size:
            return f"{_num(x / size)} {prefix}{unit}"
    return f"{_num(x * 1e6)} µ{unit}"


def _amps(a: float) -> str:
    return _scaled(a, "A")


def _or_dash(fmt: Callable[[Any], str]) -> Callable[[Any], str]:
    """An optional figure: its format, or a dash when the profile leaves it out."""
    return lambda x: "—" if x is None else fmt(x)


def _ohms(r: tuple[float, ...]) -> str:
    """A pack's resistance from full to empty (one figure if it does not change)."""
    full, empty = r[-1], r[0]
    return f"{_num(full)} Ω" if full == empty else f"{_num(full)}–{_num(empty)} Ω"


def _secs(s: float) -> str:
    return _scaled(s, "s")


def _memory(n: float) -> str:
    """Binary units, as datasheets give SRAM and flash (256 KiB, 1.5 MiB)."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{_num(n / size)} {unit}"
    return f"{n:,.0f} B"


# -- profiles ---------------------------------------------------------------------------------

# Per kind: (label, profile field, format) of the figures that tell profiles apart.
Figure = tuple[str, str, Callable[[Any], str]]


def _radio_figures(r: Any) -> list[Figure]:
    # Cellular modems publish one average current over an exchange, not a TX current.
    tx = ("tx", "tx_current_a", _amps) if hasattr(r, "tx_current_a") else (
        "tx", "average_current_a", lambda a: f"{_amps(a)} avg")  # fmt: skip
    peak = [("peak", "peak_current_a", _or_dash(_amps))] if hasattr(r, "peak_current_a") else []
    return [
        ("technology", "technology", str), tx, *peak, ("sleep", "sleep_current_a", _amps),
        ("max payload", "max_payload_bytes", lambda n: f"{n:,} B"),
        ("supply", "supply_v", lambda v: f"{_num(v)} V"),
    ]  # fmt: skip


_FIGURES: dict[str, Callable[[Any], list[Figure]]] = {
    "board": lambda b: [
        ("core", "core", str),
        ("clock", "clock_mhz", lambda f: f"{_num(f)} MHz"),
        ("SRAM", "sram_bytes", _memory),
        ("flash", "flash_bytes", _memory),
        ("active", "active_current_a", _amps),
        ("sleep", "sleep_current_a", _amps),
        ("min supply", "min_supply_v", _or_dash(lambda v: f"{_num(v)} V")),
        ("runtime", "default_runtime", str),
    ],
    "radio": _radio_figures,
    "battery": lambda b: [
        ("capacity", "capacity_mah", lambda c: f"{_num(c)} mAh"),
        ("nominal", "nominal_v", lambda v: f"{_num(v)} V"),
        ("cutoff", "cutoff_v", lambda v: f"{_num(v)} V"),
        ("self-discharge", "self_discharge_per_year", lambda f: f"{_num(f * 100)} %/yr"),
        ("shelf life", "shelf_life_years", lambda y: f"{_num(y)} y"),
        ("max pulse", "max_pulse_current_a", _amps),
        ("resistance", "internal_resistance_ohm", _or_dash(_ohms)),
    ],
    "sensor": lambda s: [
        ("current", "current_a", _amps),
        ("duration", "duration_s", _secs),
        ("reading", "reading_bytes", lambda n: f"{n:,} B"),
        ("acquisition", "acquisition", str),
    ],
    "runtime": lambda r: [
        ("runs on", "cores", ", ".join),
        ("flash overhead", "flash_overhead_bytes", _memory),
        ("RAM overhead", "ram_overhead_bytes", _memory),
    ],
    "propagation": lambda p: [
        ("exponent", "path_loss_exponent", _num),
        ("loss at d0", "path_loss_d0_db", lambda d: f"{_num(d)} dB"),
        ("d0", "d0_m", lambda d: f"{_num(d)} m"),
        ("shadowing σ", "shadowing_sd_db", lambda d: f"{_num(d)} dB"),
    ],
    "server": lambda s: [
        ("per call", "call_overhead_s", _secs),
        ("per request", "request_overhead_s", _secs),
        ("speed", "macs_per_s", lambda m: f"{_num(m / 1e9)} GMAC/s"),
        ("per M requests", "price_per_million_requests_usd", lambda p: f"${_num(p)}"),
        ("per GB", "price_per_gb_usd", lambda p: f"${_num(p)}"),
        ("per worker-hour", "price_per_worker_hour_usd", lambda p: f"${_num(p)}"),
    ],
}


def _summary(kind: str, profile: Any) -> tuple[dict[str, str], dict[str, str]]:
    summary, sources = {}, {}
    for label, key, fmt in _FIGURES[kind](profile):
        summary[label] = fmt(getattr(profile, key))
        if key in profile.sources:
            sources[label] = profile.sources[key]
    if kind == "sensor":  # the charge a reading costs, which the energy ledger adds up
        summary["charge"] = f"{_num(profile.current_a * profile.duration_s * 1e6)} µC"
    return summary, sources


def _extends(path: Path) -> str | None:
    raw, _ = parse(read_text(path, "profile file"), str(path))
    parent = raw.get("extends") if isinstance(raw, dict) else None
    return None if parent is None else str(parent)


def _twin_dirs() -> set[Path]:
    return {d.resolve() for d in profile_dirs()}


def _message(exc: TwinError) -> str:
    # With its file and line when the error has them: the user's file to fix.
    plain = isinstance(exc, ScenarioError) and exc.file is None
    return exc.message if plain else str(exc)


def _profile_entry(kind: str, pid: str, base_dir: Path | None) -> CatalogEntry:
    """One profile's entry; a profile that does not load becomes an error entry."""
    user = None if base_dir is None else (Path(base_dir) / USER_DIR).resolve()
    if user in _twin_dirs():
        user = None  # run in twin's own checkout, ./device_profiles is twin's: none is yours
    try:
        path = find_profile(kind, pid, base_dir)
    except TwinError as exc:  # a file name find_profile reads as a path (x.yaml.yaml)
        return CatalogEntry(kind, pid, "", "yours", str(user), error=_message(exc))
    mine = user is not None and path.is_relative_to(user)
    origin, folder = ("yours" if mine else "twin"), str(path.parent.parent)
    replaces = mine and any((d / KINDS[kind] / path.name).is_file() for d in profile_dirs())
    parent = None  # still shown when the profile does not load: the parent may be why
    try:
        parent = _extends(path)
        profile = load_profile(kind, pid, base_dir)
    except TwinError as exc:
        return CatalogEntry(kind, pid, "", origin, folder, parent, replaces, error=_message(exc))
    summary, sources = _summary(kind, profile)
    return CatalogEntry(kind, pid, profile.name, origin, folder, parent, replaces, summary, sources)


# -- regions, worlds and zoo models -----------------------------------------------------------


def _regions() -> list[CatalogEntry]:
    """The LoRaWAN regional plans (twin's own: a scenario picks one by channel.region)."""
    from twin.regions import REGIONS, load_region, region_dirs

    out = []
    for rid in REGIONS:
        r = load_region(rid)
        sfs = r.uplink_spreading_factors
        figures = {
            "channels": (f"{r.uplink_channels} of {r.max_uplink_channels}", "uplink_channels"),
            "up/down": (
                f"{_num(r.uplink_bandwidth_hz / 1e3)}/{_num(r.downlink_bandwidth_hz / 1e3)} kHz",
                "downlink_bandwidth_hz",
            ),
            "SF": (f"{sfs[0]}-{sfs[-1]}", "max_uplink_spreading_factor"),
            "duty": (
                f"{_num(r.duty_cycle * 100)} %" if r.duty_cycle < 1 else "none",
                "duty_cycle",
            ),
            "dwell": (
                _secs(r.uplink_dwell_time_s) if r.uplink_dwell_time_s else "none",
                "uplink_dwell_time_s",
            ),
            "RX2": (
                f"SF{r.rx2_spreading_factor} {r.rx2_frequency_hz / 1e6:g} MHz",
                "rx2_spreading_factor",
            ),
        }
        out.append(CatalogEntry(
            "region", rid, r.name, "twin", str(region_dirs()[0]),
            summary={label: text for label, (text, _) in figures.items()},
            sources={label: r.sources[key] for label, (_, key) in figures.items()},
        ))  # fmt: skip
    return out


def _channels(names: tuple[str, ...]) -> str:
    if not names:  # a world of data: its channels are the recording's columns
        return "from world.params.columns"
    if len(names) <= 6:
        return f"{len(names)}: {', '.join(names)}"
    return f"{len(names)}: {names[0]} ... {names[-1]}"


def _folder_of(module: str) -> str:
    where = getattr(sys.modules.get(module), "__file__", None)
    return str(Path(where).parent) if where else module


def _worlds() -> list[CatalogEntry]:
    from twin.world.registry import world_kinds, world_spec

    out = []
    for kind in sorted(world_kinds()):
        try:
            spec = world_spec(kind)
        except (ImportError, TypeError, ValueError, KeyError) as exc:
            # A plug-in world that does not import must not hide the others.
            out.append(CatalogEntry("world", kind, "", "plug-in", "?", error=str(exc)))
            continue
        module = spec.world.__module__
        out.append(CatalogEntry(
            "world", kind, spec.description,
            "twin" if module.startswith("twin.") else "plug-in", _folder_of(module),
            summary={"channels": _channels(spec.channels), "actuator": spec.actuator or "-"},
        ))  # fmt: skip
    return out


def _world_of(channels: list[str]) -> str:
    """The world whose channels the model reads (the zoo's metadata does not always say)."""
    from twin.world.registry import world_kinds, world_spec

    for kind in world_kinds():
        try:
            if set(channels) <= set(world_spec(kind).channels):
                return kind
        except (ImportError, TypeError, ValueError, KeyError):
            continue
    return "?"


def _zoo() -> list[CatalogEntry]:
    # onnxruntime comes with the runner (~1 s to import): only when the zoo is listed.
    from twin.ml.runner import ZOO_DIR, load_zoo_metadata

    out = []
    for name in sorted(p.stem for p in ZOO_DIR.glob("*.json")):
        meta = load_zoo_metadata(name)
        variants = meta["variants"]
        device = "int8" if "int8" in variants else next(iter(variants))
        held = variants[device].get("heldout", {})
        window, channels = meta["window_samples"], meta["channels"]
        recorded = f"held-out set of '{meta.get('build_command', 'the build')}', {device}"
        out.append(CatalogEntry(
            "zoo", name, meta.get("task", ""), "twin", str(ZOO_DIR),
            summary={
                "world": _world_of(channels),
                "input": f"{window} x {len(channels)} ch" if window > 1 else f"{len(channels)} ch",
                "period": _secs(meta["period_s"]),
                "variants": ", ".join(f"{v} {_memory(d['bytes'])}" for v, d in variants.items()),
                "accuracy": _num(held["accuracy"]) if "accuracy" in held else "-",
                "F1": _num(held["f1"]) if "f1" in held else "-",
            },
            sources={"accuracy": recorded, "F1": recorded},
        ))  # fmt: skip
    return out


# Figures shown one above the other in one column, so that every table fits 80 columns.
STACKED = {
    "board": [("core", "clock"), ("SRAM", "flash"), ("active", "sleep", "min supply")],
    "battery": [
        ("nominal", "cutoff"),
        ("self-discharge", "shelf life"),
        ("max pulse", "resistance"),
    ],
    "server": [("per call", "per request"), ("per M requests", "per GB", "per worker-hour")],
    "zoo": [("accuracy", "F1")],
}


def catalog_columns(kind: str, labels: list[str]) -> list[tuple[str, ...]]:
    """The table's figure columns: stacked groups where the kind has them, else one each."""
    columns: list[tuple[str, ...]] = []
    for label in labels:
        if any(label in c for c in columns):
            continue
        stacks = [g for g in STACKED.get(kind, []) if g[0] == label and set(g) <= set(labels)]
        columns.append(stacks[0] if stacks else (label,))
    return columns
