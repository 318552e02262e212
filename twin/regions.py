"""LoRaWAN regional plans: the channel plan a LoRa radio runs on, from sourced profiles.

A region (``device_profiles/regions/<id>.yaml``) fixes what the LoRaWAN Regional Parameters
(RP002-1.0.x, LoRa Alliance) and the band's regulator (ETSI EN 300 220 in Europe, FCC 47 CFR
15.247 in the United States) leave a device: its uplink channels and bandwidth, the spreading
factors it may use, the largest payload per data rate, the duty cycle or dwell time, the
downlink sub-bands and data rates, the power limit. :func:`resolve_radio` lays a region (and a
group's own ``lora:`` settings) over a LoRa radio profile, so that the engine reads every
figure from the radio it is given.

Every figure in a region file sits next to a ``<key>_source``, as in the device profiles.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import MappingProxyType

import numpy as np

from twin.errors import ScenarioError
from twin.physics import lora
from twin.profiles import Radio, profile_dirs
from twin.strict_yaml import parse, read_text

REGIONS = ("eu868", "us915")
DEFAULT_REGION = "eu868"

# The scenario's coding rates, as LoRa specifications write them, and the index n of
# 4/(4+n) that the time-on-air formula takes.
CODING_RATES = {"4/5": 1, "4/6": 2, "4/7": 3, "4/8": 4}


@dataclass(frozen=True)
class Region:
    """A LoRaWAN regional channel plan (figures from the region's profile file).

    Attributes
    ----------
    uplink_channels : int
        Uplink channels a device uses by default (a scenario may set another number).
    max_uplink_channels : int
        The most uplink channels the plan defines for a device.
    uplink_bandwidth_hz, downlink_bandwidth_hz : float
        LoRa bandwidth of the uplinks, and of the RX1/RX2 downlinks [Hz].
    max_uplink_spreading_factor : int
        The slowest spreading factor an uplink may use (the fastest is SF7 in every plan).
    max_payload_bytes : mapping of int to int
        Largest application payload (no FOpts) per uplink spreading factor [bytes].
    duty_cycle : float
        A device's duty cycle in its uplink sub-band (1.0: none).
    uplink_dwell_time_s : float or None
        The longest frame an uplink may be on one channel [s] (None: no limit).
    rx1_duty_cycle, rx2_duty_cycle : float
        A gateway's duty cycle in RX1's and at RX2's frequency (1.0: none).
    rx2_spreading_factor : int
        RX2's default spreading factor (at the downlink bandwidth).
    max_tx_power_dbm : float
        The plan's power limit [dBm].
    """

    id: str
    name: str
    uplink_channels: int
    max_uplink_channels: int
    uplink_bandwidth_hz: float
    max_uplink_spreading_factor: int
    max_payload_bytes: Mapping[int, int]
    duty_cycle: float
    uplink_dwell_time_s: float | None
    rx1_duty_cycle: float
    rx2_duty_cycle: float
    rx2_spreading_factor: int
    rx2_frequency_hz: float
    downlink_bandwidth_hz: float
    max_tx_power_dbm: float
    preamble_symbols: int
    coding_rate: int
    rx1_delay_s: float
    rx2_delay_s: float
    sources: Mapping[str, str]

    @property
    def label(self) -> str:
        """The region as people write it (``EU868``)."""
        return self.id.upper()

    @property
    def uplink_spreading_factors(self) -> tuple[int, ...]:
        """Spreading factors an uplink may use, fastest first."""
        return tuple(range(7, self.max_uplink_spreading_factor + 1))

    def slowest_spreading_factor(self, spreading_factor: int | str) -> int:
        """The slowest SF a group's frames may go at: its own, or the slowest 'auto' assigns."""
        if spreading_factor == "auto":
            return self.max_uplink_spreading_factor
        return int(spreading_factor)


_INT_FIELDS = {
    "uplink_channels", "max_uplink_channels", "max_uplink_spreading_factor",
    "rx2_spreading_factor", "preamble_symbols", "coding_rate",
}  # fmt: skip


def region_dirs() -> list[Path]:
    """Folders searched for region files: the source tree's, then the wheel's copy."""
    return [d / "regions" for d in profile_dirs()]


def load_region(region_id: str) -> Region:
    """The region ``region_id`` (``eu868``, ``us915``), checked: every figure sourced.

    Raises
    ------
    ScenarioError
        If there is no such region or its file is malformed (the file and key are named).
    """
    for d in region_dirs():
        path = d / f"{region_id}.yaml"
        if path.is_file():
            return _load(str(path.resolve()))
    raise ScenarioError(f"unknown region '{region_id}' (regions: {', '.join(REGIONS)})")


@cache
def _load(path_s: str) -> Region:
    path = Path(path_s)
    raw, _ = parse(read_text(path, "region file"), path_s)
    if not isinstance(raw, dict):
        raise ScenarioError("expected a mapping of region fields", path_s)
    wanted = {f.name for f in dataclasses.fields(Region)} - {"id", "name", "sources"}
    unknown = sorted(
        k for k in raw if not k.endswith("_source") and k not in wanted | {"id", "name", "kind"}
    )  # noqa: E501
    if unknown:
        raise ScenarioError(f"unknown field; expected one of {sorted(wanted)}", path_s, unknown[0])
    if raw.get("kind") != "region" or raw.get("id") != path.stem:
        raise ScenarioError(f"expected 'kind: region' and 'id: {path.stem}'", path_s, "id")
    values: dict = {"id": path.stem, "name": str(raw.get("name", path.stem))}
    sources = {}
    for key in sorted(wanted):
        if key not in raw:
            raise ScenarioError(f"missing field '{key}'", path_s)
        src = raw.get(f"{key}_source")
        if not isinstance(src, str) or not src.strip():
            raise ScenarioError(f"figure has no '{key}_source' beside it", path_s, key)
        sources[key] = src
        values[key] = _figure(key, raw[key], path_s)
    return Region(**values, sources=MappingProxyType(sources))


def _figure(key: str, value, file: str):
    """One region figure, typed: a number, None for 'no limit', or the payload table."""
    if key == "max_payload_bytes":
        if not isinstance(value, dict) or not value:
            raise ScenarioError("expected a table of spreading factor: bytes", file, key)
        for sf, n in value.items():
            if not isinstance(sf, int) or not 7 <= sf <= 12 or not _number(n) or n != int(n):
                raise ScenarioError(f"expected SF 7-12: whole bytes, got {sf}: {n}", file, key)
        return MappingProxyType({int(sf): int(n) for sf, n in value.items()})
    if value is None and key == "uplink_dwell_time_s":
        return None
    if not _number(value) or value < 0:
        raise ScenarioError(f"expected a finite, non-negative number, got {value!r}", file, key)
    if key in _INT_FIELDS:
        if value != int(value):
            raise ScenarioError(f"expected a whole number, got {value!r}", file, key)
        return int(value)
    return float(value)


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def resolve_radio(
    radio: Radio,
    region: Region,
    spreading_factor: int | str,
    channels: int | None = None,
    coding_rate: int | None = None,
    preamble_symbols: int | None = None,
) -> Radio:
    """A LoRa radio profile on a region's channel plan, with a group's own overrides.

    The region's figures replace the radio profile's copies of them (bandwidths, channels,
    duty cycle, receive delays and RX2 data rate, preamble, coding rate): they belong to the
    channel plan, not the chip. The transmit power stays the profile's (its TX current is
    measured at it) unless the region allows less. The largest payload is the region's at the
    slowest spreading factor the group may use (with ``auto``, the slowest any node may get).

    Parameters
    ----------
    radio : Radio
        The LoRa radio profile.
    region : Region
        The scenario's region.
    spreading_factor : int or 'auto'
        The group's spreading factor.
    channels, coding_rate, preamble_symbols : int, optional
        The group's ``lora:`` settings (coding rate as the index n of 4/(4+n)); None: the
        region's.
    """
    sf = region.slowest_spreading_factor(spreading_factor)
    values = {
        "bandwidth_hz": region.uplink_bandwidth_hz,
        "downlink_bandwidth_hz": region.downlink_bandwidth_hz,
        "uplink_channels": region.uplink_channels if channels is None else channels,
        "coding_rate": region.coding_rate if coding_rate is None else coding_rate,
        "preamble_symbols": (
            region.preamble_symbols if preamble_symbols is None else preamble_symbols
        ),
        "duty_cycle": region.duty_cycle,
        "rx1_delay_s": region.rx1_delay_s,
        "rx2_delay_s": region.rx2_delay_s,
        "rx2_spreading_factor": region.rx2_spreading_factor,
        "max_spreading_factor": region.max_uplink_spreading_factor,
        "max_payload_bytes": region.max_payload_bytes.get(sf, 0),
        "tx_power_dbm": min(radio.tx_power_dbm, region.max_tx_power_dbm),
    }
    sources = dict(radio.sources)
    tag = f"region {region.label}: "
    for key in values:
        src = _REGION_KEY.get(key, key)
        if src in region.sources:
            sources[key] = tag + region.sources[src]
    if radio.tx_power_dbm > region.max_tx_power_dbm:
        sources["tx_power_dbm"] = tag + region.sources["max_tx_power_dbm"]
    overrides = {"uplink_channels": channels, "coding_rate": coding_rate,
                 "preamble_symbols": preamble_symbols}  # fmt: skip
    for key, value in overrides.items():
        if value is not None:
            sources[key] = "the scenario's lora settings"
    return dataclasses.replace(radio, **values, sources=MappingProxyType(sources))


# Radio fields whose figure has another name in the region file.
_REGION_KEY = {
    "bandwidth_hz": "uplink_bandwidth_hz",
    "max_spreading_factor": "max_uplink_spreading_factor",
}


def uplink_time_on_air_s(radio: Radio, payload_bytes: int, spreading_factor: int) -> float:
    """Air time of one uplink carrying ``payload_bytes`` of application payload [s].

    Semtech AN1200.13's formula (:func:`twin.physics.lora.time_on_air_s`) at the radio's
    uplink bandwidth, coding rate and preamble, with LoRaWAN's MAC overhead added.
    """
    return float(
        lora.time_on_air_s(
            payload_bytes + radio.mac_overhead_bytes,
            spreading_factor,
            radio.bandwidth_hz,
            radio.coding_rate,
            radio.preamble_symbols,
        )  # fmt: skip
    )


def lora_group_radio(
    radio: Radio,
    region: Region,
    *,
    spreading_factor: int | str,
    payload_bytes: Mapping[str, int | None],
    store_and_forward: bool = False,
    channels: int | None = None,
    coding_rate: int | None = None,
    preamble_symbols: int | None = None,
    file: str | None = None,
    prefix: str = "",
) -> Radio:
    """A LoRa group's radio on the region's plan, refusing what the region does not allow.

    The checks, in order: a fixed spreading factor the region's uplinks may use; a channel
    count the plan defines; every payload within the region's maximum at the slowest SF the
    group may use; every uplink frame within the region's dwell time (US915: 400 ms).

    Raises
    ------
    ScenarioError
        Naming the group's key (``prefix``, e.g. ``groups.soil``) that breaks the rule.
    """
    top = region.max_uplink_spreading_factor
    if spreading_factor != "auto" and int(spreading_factor) > top:
        raise ScenarioError(
            f"SF{spreading_factor} is not allowed on {region.label} uplinks (at "
            f"{region.uplink_bandwidth_hz / 1e3:g} kHz: SF7-SF{top}, LoRaWAN Regional "
            f"Parameters); use a spreading factor of 7-{top}, or auto",
            file,
            f"{prefix}.spreading_factor",
        )
    if channels is not None and channels > region.max_uplink_channels:
        raise ScenarioError(
            f"{region.label} defines at most {region.max_uplink_channels} uplink channels "
            f"for a device, not {channels}",
            file,
            f"{prefix}.lora.channels",
        )
    out = resolve_radio(radio, region, spreading_factor, channels, coding_rate, preamble_symbols)
    sf = region.slowest_spreading_factor(spreading_factor)
    _check_payloads(region, out, spreading_factor, sf, payload_bytes, file, prefix)
    if region.uplink_dwell_time_s is not None:
        frames = [(f"payload_bytes.{k}", n) for k, n in payload_bytes.items()
                  if n and k != "downlink"]  # fmt: skip
        if store_and_forward:  # stored messages ride along up to the maximum payload
            frames.append(("store_and_forward", out.max_payload_bytes))
        plain = resolve_radio(radio, region, spreading_factor, channels)
        for key, n in frames:
            _check_dwell_time(region, out, plain, sf, key, n, file, prefix)
    return out


def _check_payloads(
    region: Region, radio: Radio, spreading_factor, sf: int, payload_bytes, file, prefix
) -> None:
    """Every payload within the region's maximum at the slowest SF the group may use."""
    limit = radio.max_payload_bytes
    over = [(n, k) for k, n in payload_bytes.items() if n and n > limit]
    if not over:
        return
    n, kind = max(over)
    where = f"; 'auto' may assign SF{sf}" if spreading_factor == "auto" else ""
    faster = [s for s in region.uplink_spreading_factors if region.max_payload_bytes.get(s, 0) >= n]
    hint = (
        f", or set spreading_factor to {max(faster)} or faster ({region.max_payload_bytes[max(faster)]} B)"  # noqa: E501
        if faster
        else ""
    )
    raise ScenarioError(
        f"the {kind} payload of {n} bytes exceeds {region.label}'s maximum of {limit} bytes "
        f"at SF{sf} (LoRaWAN Regional Parameters{where}); send at most {limit} bytes{hint}",
        file,
        f"{prefix}.payload_bytes.{kind}",
    )


def _check_dwell_time(
    region: Region, radio: Radio, plain: Radio, sf: int, key: str, n: int, file, prefix
) -> None:
    """An uplink frame of ``n`` payload bytes must fit the region's dwell time."""
    dwell_s = region.uplink_dwell_time_s
    toa_s = uplink_time_on_air_s(radio, n, sf)
    if toa_s <= dwell_s:
        return
    # The group's own coding rate or preamble made it too long: name that key.
    own = uplink_time_on_air_s(plain, n, sf) <= dwell_s
    raise ScenarioError(
        f"a frame of {n} + {radio.mac_overhead_bytes} bytes at SF{sf} is {toa_s * 1e3:.0f} ms "
        f"on air, over {region.label}'s {dwell_s * 1e3:.0f} ms dwell time per channel (FCC 47 "
        "CFR 15.247); "
        + (
            "keep the region's coding rate 4/5 and 8-symbol preamble"
            if own
            else "send fewer bytes or use a faster spreading factor"
        ),
        file,
        f"{prefix}.lora" if own else f"{prefix}.{key}",
    )


__all__ = [
    "CODING_RATES",
    "DEFAULT_REGION",
    "REGIONS",
    "Region",
    "load_region",
    "lora_group_radio",
    "resolve_radio",
    "uplink_time_on_air_s",
]


# Uplink channel centre frequencies [Hz]. EU868: the three default channels (868.1, 868.3,
# 868.5 MHz), then the five most networks add (867.1-867.9 MHz, e.g. The Things Network's
# plan), further ones below those in 200 kHz steps. US915: 125 kHz channel n at
# 902.3 MHz + n x 200 kHz (LoRaWAN Regional Parameters RP002-1.0.x, US902-928 channel plan).
_EU868_HZ = (868.1e6, 868.3e6, 868.5e6, 867.1e6, 867.3e6, 867.5e6, 867.7e6, 867.9e6)


def uplink_frequency_hz(region_id: str, channel) -> np.ndarray:
    """Centre frequency of uplink channel index ``channel`` (0-based) in a region [Hz]."""
    c = np.asarray(channel, dtype=np.int64)
    if region_id == "us915":
        return 902.3e6 + 200e3 * c
    table = np.asarray(_EU868_HZ)
    return np.where(c < len(table), table[np.minimum(c, len(table) - 1)],
                    866.9e6 - 200e3 * (c - len(table)))  # fmt: skip
