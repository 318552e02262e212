"""A commented starting scenario for a world and a radio (``twin init``).

The text is built from the shipped profiles and zoo metadata, then compiled before it is
returned: what ``twin init`` writes always runs. Choices the user will want to revisit (the
board, the battery, payload sizes) are written as choices, with a comment saying why.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from twin.errors import ScenarioError
from twin.ml.runner import load_zoo_metadata
from twin.profiles import available, load_profile

__all__ = ["WORLDS", "scenario_text"]


@dataclass(frozen=True)
class _Start:
    """What a first scenario of one world uses."""

    zoo: str
    sensor: str
    battery: str
    period_s: int
    count: int
    days: float
    actuation: bool
    why: str  # one line: the question the fleet answers


WORLDS: dict[str, _Start] = {
    "soil": _Start("soil_irrigation", "soil-capacitive", "aa-alkaline-2s", 900, 100, 14, True,
                   "irrigate each zone on the board's decision, or the cloud's?"),
    "room": _Start("room_occupancy", "thermostat-sht-pir", "aa-alkaline-2s", 300, 40, 3, True,
                   "heat each room on the thermostat's occupancy call, or the cloud's?"),
    "heart": _Start("heart_rhythm", "ecg-afe", "cr2032", 300, 40, 2, False,
                    "flag arrhythmia on the wearable, or stream ECG to the cloud?"),
    "audio": _Start("keyword_spotting", "mems-microphone", "li-ion-18650", 60, 10, 1, False,
                    "spot the wake word on the device, or stream audio to the cloud?"),
    "camera": _Start("person_detection", "camera-hm01b0", "li-ion-18650", 30, 10, 1, False,
                     "detect people on the camera, or send frames to the cloud?"),
    "vibration": _Start("machine_anomaly", "accelerometer-vibration", "er10450", 3600, 40, 14,
                        False, "flag failing motors on the sensor, or in the cloud?"),
}  # fmt: skip

# A board that carries each radio (an nRF52840 for LoRa and BLE, an ESP32-S3 for Wi-Fi, the
# nRF5340 DK beside an nRF9160 for cellular).
_BOARD = {"lora": "nano33ble", "ble": "nano33ble", "wifi": "esp32-s3", "cellular": "nrf5340-dk"}


# Cells for radios whose bursts the world's usual cell cannot carry well, in order of
# preference: a bobbin cell with a hybrid layer capacitor, Li-ion, LiPo. The first that strands
# little is taken (else the one that strands least).
_BURST_CELLS = ("tlp-93111-a", "li-ion-18650", "lipo-500mah")
# The usual cell is kept while its brown-outs strand less than this share of it.
_KEEP_STRANDING = 0.2


def _cell_for(start: _Start, kind: str, radio) -> _Start:
    """The world's usual cell, or the burst cell that strands least when it browns out early."""
    from dataclasses import replace

    from twin.supply import supply

    board = load_profile("board", _BOARD[kind])
    sensor = load_profile("sensor", start.sensor)

    stranded = {
        c: supply(board, radio, load_profile("battery", c), sensor).brownout_soc
        for c in (start.battery, *_BURST_CELLS)
    }
    if stranded[start.battery] < _KEEP_STRANDING:
        return start
    good = [c for c in _BURST_CELLS if stranded[c] < _KEEP_STRANDING]
    best = good[0] if good else min(_BURST_CELLS, key=stranded.get)
    return replace(start, battery=best) if stranded[best] < 1.0 else start


def _radio_kind(radio) -> str:
    tech = getattr(radio, "technology", "lorawan")
    return {"lorawan": "lora", "lte-m": "cellular", "nb-iot": "cellular"}.get(tech, tech)


def scenario_text(world: str = "soil", radio: str = "sx1262", name: str | None = None) -> str:
    """The YAML of a first scenario of ``world`` over ``radio``, compiled before it is returned.

    Raises
    ------
    ScenarioError
        An unknown world or radio, or a combination that cannot run (the message says why).
    """
    if world not in WORLDS:
        raise ScenarioError(
            f"no starting scenario for world '{world}'; worlds: {', '.join(WORLDS)}"
        )
    if radio not in available("radio"):
        raise ScenarioError(f"unknown radio '{radio}'; radios: {', '.join(available('radio'))}")
    start, r = WORLDS[world], load_profile("radio", radio)
    kind = _radio_kind(r)
    start = _cell_for(start, kind, r)
    meta = load_zoo_metadata(start.zoo)
    values = len(meta["channels"])
    # A reading at 2 bytes per value, as the cloud policies send it; if the radio cannot carry
    # that, only the on-device policy is compared (sending less is a compression choice).
    reading_b = 2 * values
    fits = reading_b <= r.max_payload_bytes
    text = _render(
        start, world, radio, kind, meta, name or f"my-{world}-fleet", reading_b, fits,
        r.max_payload_bytes,
    )  # fmt: skip
    _check(text)
    return text


def _render(s: _Start, world, radio, kind, meta, name, reading_b, fits, max_b) -> str:
    window = int(meta["window_samples"])
    period_note = (
        f"the model reads {window} readings {meta['period_s']} s apart; multiples decide less often"
        if window > 1
        else "any period: the model reads one acquisition per decision"
    )
    lines = [
        f"# A first {world} fleet over {radio}: {s.why}",
        "# Written by `twin init`; run it with: twin run <this file>",
        "# Every profile id below is listed by `twin profiles`; a device_profiles/ folder beside",
        "# this file may hold your own (e.g. boards/my-pcb.yaml with `extends: nano33ble`).",
        f"name: {name}",
        "world:",
        f"  kind: {world}",
        "  site: {width_m: 2000, height_m: 2000}",
        f"  horizon_days: {s.days:g}",
        "  seed: 1",
        "groups:",
        "  nodes:",
        f"    count: {s.count}",
        f"    board: {_BOARD[kind]}          # choice: a board that carries this radio",
        f"    radio: {radio}",
        f"    battery: {s.battery}"
        + (
            f"   # choice: {WORLDS[world].battery} browns out early under this radio's bursts"
            if s.battery != WORLDS[world].battery
            else ""
        ),
        f"    sensor: {s.sensor}",
        f"    sampling_period_s: {s.period_s}   # {period_note}",
        "    heartbeat_period_s: 86400   # choice: a daily 'alive' when nothing changes",
        f"    model: {{zoo: {s.zoo}}}       # or {{device_path: my_model.tflite, ...}}",
    ]
    if s.actuation:
        lines.append("    actuation: true              # decisions drive the world's actuator")
    if kind == "lora":
        lines += [
            "    spreading_factor: auto",
            "    tx_jitter_s: 5               # de-synchronises periodic nodes",
        ]
    reading = reading_b if fits else max_b
    said = "as the cloud policy sends them" if fits else f"more than {radio} carries"
    lines += [
        f"    # reading: {len(meta['channels'])} values x 2 B = {reading_b} B, {said}",
        f"    payload_bytes: {{reading: {reading}, decision: 2, heartbeat: 4, downlink: 2}}",
    ]
    if kind == "lora":
        lines += [
            "gateways:",
            "  - {id: gw-1, x_m: 1000, y_m: 1000}",
            "channel:",
            "  propagation: oulu-868",
        ]
    lines += [
        "cloud:",
        "  # ASSUMPTION to replace with your own measurements: device-to-application delay",
        "  # of a public network (LoRaWAN: 400-700 ms average, Pereira et al.).",
        "  uplink_latency: {median_s: 0.5, p95_s: 1.2}",
        "  downlink_latency: {median_s: 0.3, p95_s: 0.8}",
        "  workers: 1",
        "  server: cloud-cpu-worker   # service time from the model's MACs; prices in its profile",
    ]
    if fits:
        lines.append("policies: [on_device, cloud]")
    else:
        lines += [
            f"# A reading ({reading_b} B) does not fit one {radio} message: only the on-device",
            "# policy is compared (set payload_bytes.reading to a compressed size to add cloud).",
            "policies: [on_device]",
        ]
    return "\n".join(lines) + "\n"


def _check(text: str) -> None:
    """Compile the text: a starting scenario that does not run is a bug, said as such."""
    from twin.compile import compile_scenario

    try:
        compile_scenario(yaml.safe_load(text), base_dir=Path.cwd())
    except ScenarioError as exc:
        where = f"{exc.key_path}: " if exc.key_path else ""
        raise ScenarioError(
            f"this world and radio cannot start together: {where}{exc.message}"
        ) from None
