"""Tests of the device profiles (twin.profiles and device_profiles/**.yaml).

Published numbers are checked against ../shared/reference/hardware.md (the project's curated
hardware reference); each check cites the row and the primary source given there.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

import twin.profiles as profiles
from twin.errors import ScenarioError
from twin.profiles import (
    RADIO_CLASSES,
    Battery,
    Board,
    Propagation,
    Radio,
    Runtime,
    Sensor,
    Server,
    available,
    load_profile,
)

PROFILE_ROOT = Path(__file__).resolve().parent.parent / "device_profiles"
SUBDIRS = {
    "board": "boards",
    "radio": "radios",
    "battery": "batteries",
    "sensor": "sensors",
    "runtime": "runtimes",
    "propagation": "propagation",
    "server": "servers",
}
CLASSES = {
    "board": Board,
    "radio": Radio,
    "battery": Battery,
    "sensor": Sensor,
    "runtime": Runtime,
    "propagation": Propagation,
    "server": Server,
}
META_KEYS = {"id", "kind", "name", "technology"}

# Unit suffixes a figure's name must end with (derived from the shipped profiles).
UNIT_SUFFIXES = ("_mhz", "_hz", "_a", "_v", "_bytes", "_mah", "_s", "_symbols", "_db", "_dbm", "_m",
                 "_bps", "_usd", "_years", "_samples", "_ohm")  # fmt: skip
# Dimensionless figures, named for the quantity instead of a unit:
#   duty_cycle       a fraction of time (0.01 = 1 %)
#   coding_rate      LoRa CR index n of 4/(4+n), no unit
#   spreading_factor LoRa SF index (chips per symbol = 2^SF), no unit
#   channels         a count of channels
#   peukert_exponent Peukert's k, a pure number
#   *_per_year       a fraction lost per year: the unit (1/year) is in the name
#   *_soc            a state of charge, the fraction of capacity left (0 empty, 1 full)
#   kibam_c          KiBaM's c, the share of a cell's charge in the well the load draws from
#   max_repetitions_* a count of copies of a transmission (3GPP coverage enhancement)
DIMENSIONLESS_SUFFIXES = (
    "duty_cycle",
    "coding_rate",
    "spreading_factor",
    "channels",
    "_exponent",
    "_per_year",
    "_soc",
    "kibam_c",
    "repetitions_ul",
    "repetitions_dl",
    "repetitions_rach",
)
# Categorical figures (sourced, but not quantities): the CPU core family, the board's default
# inference engine, the cores an engine runs on, how a sensor's reading is acquired.
TEXT_FIGURES = {"core", "default_runtime", "cores", "acquisition", "power_path"}
# Curve figures: lists of numbers, the breakpoints of a curve (a battery's open-circuit
# voltage ocv_v [V] against state of charge ocv_soc; twin.physics.battery.open_circuit_v).
CURVE_FIGURES = {"ocv_soc", "ocv_v", "internal_resistance_ohm", "ce_thresholds_db"}


REGION_SET = {"downlink_bandwidth_hz", "max_spreading_factor"}


# How a sensor's reading is acquired (twin.physics.sensing): each only where its mode needs it.
SENSOR_ACQUISITION = {"acquisition", "sample_rate_hz", "fifo_samples", "read_s",
                      "standby_current_a", "peripheral_current_a"}  # fmt: skip


def _yaml_files() -> list[Path]:
    # Regional plans are not device profiles: tests/test_regions.py checks them.
    return sorted(p for p in PROFILE_ROOT.glob("*/*.yaml") if p.parent.name != "regions")


def _kind_of(path: Path) -> str:
    return {v: k for k, v in SUBDIRS.items()}[path.parent.name]


def _figures(raw: dict) -> list[str]:
    return [k for k in raw if k not in META_KEYS and not k.endswith("_source")]


@pytest.fixture(autouse=True)
def _clear_cache():
    load_profile.cache_clear()
    yield
    load_profile.cache_clear()


# --------------------------------------------------------------------------- shipped profiles


def test_every_kind_has_a_profile():
    files = _yaml_files()
    assert {p.parent.name for p in files} == set(SUBDIRS.values())
    for kind in SUBDIRS:
        assert available(kind), kind


@pytest.mark.parametrize("path", _yaml_files(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_profile_loads_with_every_figure_sourced(path):
    kind = _kind_of(path)
    raw = yaml.safe_load(path.read_text())
    prof = load_profile(kind, path.stem)
    # Radios of other technologies than LoRaWAN have their own profile classes.
    expected = RADIO_CLASSES.get(raw.get("technology"), CLASSES[kind])
    assert isinstance(prof, expected)
    assert prof.id == path.stem == raw["id"]
    assert raw.get("kind") == kind

    figures = _figures(raw)
    for key in figures:
        src = raw.get(f"{key}_source")
        assert isinstance(src, str) and src.strip(), f"{path}: {key} has no source"
        assert prof.sources[key] == src
        value = getattr(prof, key)
        assert (list(value) if isinstance(value, tuple) else value) == raw[key]
    # Every field of the dataclass is in the file, and every source belongs to a figure.
    # (but the LoRa figures only a region sets: twin.regions.resolve_radio).
    wanted = {f.name for f in dataclasses.fields(prof)} - {"sources"} - REGION_SET
    if kind == "sensor":  # a sensor states only the figures its acquisition mode uses
        wanted -= SENSOR_ACQUISITION - set(raw)
    # A board boots at its active current unless it says otherwise; a cell without a rate
    # effect (kibam_c 1) has no rate for its bound well.
    wanted -= {"boot_current_a", "kibam_k_per_s"} - set(raw)
    assert set(raw) - {"kind"} - {k for k in raw if k.endswith("_source")} == wanted
    orphans = [k for k in raw if k.endswith("_source") and k.removesuffix("_source") not in raw]
    assert not orphans, f"{path}: sources without a figure: {orphans}"
    assert set(prof.sources) == set(figures)


def _check_unit_name(key: str) -> bool:
    return key in TEXT_FIGURES or key.endswith(UNIT_SUFFIXES + DIMENSIONLESS_SUFFIXES)


@pytest.mark.parametrize("path", _yaml_files(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_figure_names_carry_a_unit(path):
    raw = yaml.safe_load(path.read_text())
    bad = [k for k in _figures(raw) if not _check_unit_name(k)]
    assert not bad, f"{path}: figures without a unit suffix: {bad}"
    # Text figures are strings, all others numbers (bool is not a number here).
    for k in _figures(raw):
        if k == "cores":
            assert isinstance(raw[k], list) and all(isinstance(c, str) for c in raw[k])
        elif k in TEXT_FIGURES:
            assert isinstance(raw[k], str)
        elif k in CURVE_FIGURES:
            assert isinstance(raw[k], list) and raw[k], k
            assert all(isinstance(x, int | float) and not isinstance(x, bool) for x in raw[k]), k
        else:
            assert isinstance(raw[k], int | float) and not isinstance(raw[k], bool), k


def test_dataclass_fields_carry_a_unit():
    # The dataclasses are the schema: a new field must follow the same naming rule.
    for cls in CLASSES.values():
        for f in dataclasses.fields(cls):
            if f.name in META_KEYS | {"sources"}:
                continue
            assert _check_unit_name(f.name), f"{cls.__name__}.{f.name}"


def test_unit_rule_rejects_unitless_names():
    # Guard on the rule itself: it must not wave everything through.
    for name in ("capacity", "current", "clock", "delay", "payload", "sram", "data"):
        assert not _check_unit_name(name), name


# --------------------------------------------------------------------------- published numbers


def test_nano33ble_published_figures():
    b = load_profile("board", "nano33ble")
    # hardware.md §2.1 "Arduino Nano 33 BLE (Sense) / nRF52840": Cortex-M4F, 64 MHz; SRAM /
    # flash 256 KB / 1 MB (datasheet via https://prolifics.com/.../introduction-to-tinyml).
    assert b.clock_mhz == 64
    assert b.clock_hz == pytest.approx(64e6)
    assert b.core.lower().startswith("cortex-m4")
    assert b.sram_bytes == 256 * 1024
    assert b.flash_bytes == 1024 * 1024
    # nRF52840 supply range 1.7-3.6 V (profile's own source); a board must sleep below active.
    assert 1.7 <= b.supply_v <= 3.6
    assert 0 < b.sleep_current_a < b.active_current_a


def test_sx1262_published_figures():
    r = load_profile("radio", "sx1262")
    # hardware.md §3.1 "SX1261/SX1262 RX current (LoRa 125 kHz, DC-DC) 4.2 mA", datasheet via
    # https://sheetsdata.com/parts/SX126X.
    assert r.rx_current_a == pytest.approx(4.2e-3)
    # Same table: supply range 1.8-3.7 V; sleep warm start 600 nA; cold-start wake-up ~3.5 ms
    # (ARMmbed/mbed-os COMPONENT_SX126X/SleepMode.txt).
    assert 1.8 <= r.supply_v <= 3.7
    assert r.sleep_current_a == pytest.approx(600e-9)
    assert r.wakeup_s == pytest.approx(3.5e-3)
    # hardware.md §0: LoRaWAN MAC overhead 13 bytes; EU868 duty cycle 1 % (ETSI EN 300 220).
    assert r.mac_overhead_bytes == 13
    assert r.duty_cycle == pytest.approx(0.01)
    assert r.bandwidth_hz == 125_000
    assert 7 <= r.rx2_spreading_factor <= 12
    assert 1 <= r.coding_rate <= 4


def test_aa_alkaline_published_figures():
    bat = load_profile("battery", "aa-alkaline-2s")
    # hardware.md §4 "AA alkaline (Energizer E91)": rated capacity (low drain) 2850 mAh
    # (https://www.candlepowerforums.com/threads/energizer-aa-lithium-vs-alkaline-same-capacity.26081/);
    # "2xAA nominal 3.0 V (1.5 V/cell), end ~0.8-1.0 V/cell".
    assert bat.capacity_mah == 2850
    assert bat.nominal_v == pytest.approx(3.0)
    assert 2 * 0.8 <= bat.cutoff_v <= 2 * 1.0
    assert bat.capacity_c == pytest.approx(2850 * 3.6)


# --------------------------------------------------------------------------- rejected input


@pytest.fixture
def profile_dir(tmp_path, monkeypatch):
    """A temporary profile tree holding a copy of nano33ble; returns a writer for variants."""
    monkeypatch.setattr(profiles, "profile_dirs", lambda: [tmp_path])
    base = yaml.safe_load((PROFILE_ROOT / "boards" / "nano33ble.yaml").read_text())

    def write(edit=None, name: str = "nano33ble") -> Path:
        raw = dict(base)
        if edit:
            edit(raw)
        path = tmp_path / "boards" / f"{name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(raw, sort_keys=False))
        load_profile.cache_clear()
        return path

    return write


def test_temp_copy_loads(profile_dir):
    profile_dir()
    assert load_profile("board", "nano33ble").clock_mhz == 64


def _expect_error(path: Path, profile_id: str, key: str | None, match: str) -> ScenarioError:
    with pytest.raises(ScenarioError, match=match) as info:
        load_profile("board", profile_id)
    err = info.value
    assert err.file == str(path)
    assert str(path) in str(err)
    if key is not None:
        assert err.key_path == key
        assert key in str(err)
    return err


@pytest.mark.parametrize("key", ["clock_mhz", "sram_bytes", "core", "default_runtime"])
def test_missing_source_is_rejected(profile_dir, key):
    path = profile_dir(lambda raw: raw.pop(f"{key}_source"))
    _expect_error(path, "nano33ble", key, f"{key}_source")


@pytest.mark.parametrize("blank", ["", "   ", None, 42])
def test_blank_or_non_text_source_is_rejected(profile_dir, blank):
    path = profile_dir(lambda raw: raw.update(clock_mhz_source=blank))
    _expect_error(path, "nano33ble", "clock_mhz", "clock_mhz_source")


def test_unknown_field_is_rejected(profile_dir):
    path = profile_dir(lambda raw: raw.update(clock_ghz=0.064, clock_ghz_source="typo"))
    _expect_error(path, "nano33ble", "clock_ghz", "unknown field")


@pytest.mark.parametrize("value", ["64 MHz", "fast", True, [64], {"v": 64}])
def test_non_number_is_rejected(profile_dir, value):
    path = profile_dir(lambda raw: raw.update(clock_mhz=value))
    _expect_error(path, "nano33ble", "clock_mhz", "expected a number")


def test_wrong_id_is_rejected(profile_dir):
    path = profile_dir(lambda raw: raw.update(id="nano33ble-sense"))
    _expect_error(path, "nano33ble", "id", "does not match")


def test_missing_field_is_rejected(profile_dir):
    def drop(raw):
        raw.pop("flash_bytes")
        raw.pop("flash_bytes_source")

    path = profile_dir(drop)
    err = _expect_error(path, "nano33ble", None, "missing fields")
    assert "flash_bytes" in str(err)


def test_unparsable_and_non_mapping_yaml_are_rejected(profile_dir, tmp_path):
    path = profile_dir()
    path.write_text("id: [unclosed\n")
    _expect_error(path, "nano33ble", None, "cannot parse YAML")
    load_profile.cache_clear()
    path.write_text("- just\n- a list\n")
    _expect_error(path, "nano33ble", None, "mapping")


def test_fractional_value_for_integer_field_is_rejected(profile_dir):
    path = profile_dir(lambda raw: raw.update(sram_bytes=262144.9))
    _expect_error(path, "nano33ble", "sram_bytes", ".")


def test_unknown_profile_lists_available_ids(profile_dir):
    profile_dir()
    profile_dir(lambda raw: raw.update(id="other-board"), name="other-board")
    with pytest.raises(ScenarioError) as info:
        load_profile("board", "esp32s3")
    msg = str(info.value)
    assert "esp32s3" in msg and "board" in msg
    assert "nano33ble" in msg and "other-board" in msg


def test_unknown_profile_with_real_dirs_lists_shipped_ids():
    with pytest.raises(ScenarioError) as info:
        load_profile("radio", "sx1276")
    for rid in available("radio"):
        assert rid in str(info.value)
