"""LoRaWAN regional plans (twin.regions, device_profiles/regions, channel.region, lora:)."""

from __future__ import annotations

import copy
import dataclasses
from collections import Counter
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import twin
from twin.cli import app
from twin.compile import compile_scenario
from twin.config.validation import validate
from twin.physics import lora
from twin.profiles import load_profile
from twin.regions import REGIONS, load_region, uplink_time_on_air_s

ROOT = Path(__file__).resolve().parent.parent
US915_FARM = ROOT / "examples" / "regions" / "us915_farm.yaml"
UNIT_SUFFIXES = ("_hz", "_bytes", "_s", "_symbols", "_dbm", "duty_cycle", "coding_rate",
                 "spreading_factor", "channels")  # fmt: skip


def _farm(farm_dict, **channel) -> dict:
    d = copy.deepcopy(farm_dict)
    d["groups"]["soil"]["count"] = 20
    d["world"]["horizon_days"] = 0.2
    d["channel"].update(channel)
    return d


@pytest.mark.parametrize("region_id", REGIONS)
def test_region_files_source_every_figure_and_name_its_unit(region_id):
    raw = yaml.safe_load((ROOT / "device_profiles" / "regions" / f"{region_id}.yaml").read_text())
    figures = [k for k in raw if k not in {"id", "kind", "name"} and not k.endswith("_source")]
    assert figures and all(k.endswith(UNIT_SUFFIXES) for k in figures), figures
    region = load_region(region_id)
    assert set(region.sources) == set(figures)
    for src in region.sources.values():  # sources cite documents, never a local path
        assert "RP002" in src or "15.247" in src or "EN 300 220" in src or "LoRaWAN" in src
        assert "../" not in src and "/work" not in src


def test_region_figures():
    eu, us = load_region("eu868"), load_region("us915")
    assert (eu.uplink_channels, us.uplink_channels) == (3, 8)
    assert eu.uplink_spreading_factors == (7, 8, 9, 10, 11, 12)
    assert us.uplink_spreading_factors == (7, 8, 9, 10)
    assert dict(eu.max_payload_bytes) == {7: 222, 8: 222, 9: 115, 10: 51, 11: 51, 12: 51}
    assert dict(us.max_payload_bytes) == {7: 242, 8: 125, 9: 53, 10: 11}
    assert (eu.duty_cycle, eu.rx1_duty_cycle, eu.rx2_duty_cycle) == (0.01, 0.01, 0.10)
    assert (us.duty_cycle, us.uplink_dwell_time_s, eu.uplink_dwell_time_s) == (1.0, 0.4, None)
    assert (eu.downlink_bandwidth_hz, us.downlink_bandwidth_hz) == (125e3, 500e3)
    assert (eu.rx2_frequency_hz, us.rx2_frequency_hz) == (869.525e6, 923.3e6)
    assert (eu.max_tx_power_dbm, us.max_tx_power_dbm) == (16, 30)


def test_us915_payload_table_keeps_frames_within_the_dwell_time():
    # The region's table and its dwell time agree: the largest payload at each SF fits
    # 400 ms at CR 4/5 with an 8-symbol preamble and 13 bytes of MAC overhead.
    us = load_region("us915")
    radio = load_profile("radio", "sx1262")
    for sf, n in us.max_payload_bytes.items():
        assert uplink_time_on_air_s(radio, n, sf) <= us.uplink_dwell_time_s, sf
    # SF10's 11 bytes: 370.7 ms, as LoRaWAN airtime calculators print for US915 DR0.
    assert uplink_time_on_air_s(radio, 11, 10) == pytest.approx(0.370688, abs=5e-7)


def test_eu868_default_is_the_sx1262_profile(farm_dict):
    """The default region changes no figure of the shipped radio, gateway or digest."""
    plan = compile_scenario(_farm(farm_dict))
    radio, profile = plan.groups[0].radio, load_profile("radio", "sx1262")
    skip = {"sources", "downlink_bandwidth_hz", "max_spreading_factor"}
    for f in dataclasses.fields(profile):
        if f.name not in skip:
            assert getattr(radio, f.name) == getattr(profile, f.name), f.name
    assert radio.downlink_bandwidth_hz == profile.bandwidth_hz
    assert radio.max_spreading_factor == 12
    assert [(g.rx1_duty_cycle, g.rx2_duty_cycle) for g in plan.gateways] == [(0.01, 0.1)] * 2
    assert plan.channel.region == "eu868"
    # Writing the defaults out digests as leaving them out (a study resumes by the digest).
    explicit = _farm(farm_dict, region="eu868")
    for gw in explicit["gateways"]:
        gw.update(rx1_duty_cycle=0.01, rx2_duty_cycle=0.10)
    explicit["groups"]["soil"]["lora"] = {}
    assert validate(twin.Scenario, explicit).digest() == plan.digest


def test_explicit_gateway_duty_cycle_still_wins(farm_dict):
    d = _farm(farm_dict, region="us915")
    d["gateways"][0]["rx1_duty_cycle"] = 0.05
    plan = compile_scenario(d)
    assert [(g.rx1_duty_cycle, g.rx2_duty_cycle) for g in plan.gateways] == [
        (0.05, 1.0),
        (1.0, 1.0),
    ]


def test_lora_settings_override_the_region(farm_dict):
    d = _farm(farm_dict)
    d["groups"]["soil"]["lora"] = {"channels": 8, "coding_rate": "4/8", "preamble_symbols": 12}
    radio = compile_scenario(d).groups[0].radio
    assert (radio.uplink_channels, radio.coding_rate, radio.preamble_symbols) == (8, 4, 12)
    assert radio.sources["uplink_channels"] == "the scenario's lora settings"


def test_a_study_can_sweep_the_lora_settings(farm_dict):
    base = validate(twin.Scenario, _farm(farm_dict))
    swept = base.with_overrides({"groups.soil.lora.channels": 8, "channel.region": "us915"})
    radio = compile_scenario(swept).groups[0].radio
    assert (radio.uplink_channels, radio.max_spreading_factor) == (8, 10)


def test_us915_fixed_sf_gets_that_sfs_payload_limit(farm_dict):
    d = _farm(farm_dict, region="us915")
    d["groups"]["soil"]["spreading_factor"] = 7
    radio = compile_scenario(d).groups[0].radio
    assert radio.max_payload_bytes == 242
    assert radio.sources["max_payload_bytes"].startswith("region US915: ")


def test_downlink_time_on_air_at_500_khz():
    # Worked by hand with Semtech AN1200.13's formula (the LoRa calculator's): an ACK-only
    # downlink (13 B PHY payload) in US915 RX2, DR8 = SF12 / 500 kHz, CR 4/5, 8-symbol
    # preamble, explicit header, CRC on, low-data-rate optimisation off (symbol 8.192 ms,
    # under 16 ms): 8 + ceil((104 - 48 + 28 + 16) / 48) x 5 = 23 payload symbols, plus 12.25
    # of preamble, 35.25 x 8.192 ms = 288.768 ms. The calculator prints ms to 3 decimals:
    # the tolerance is half its last digit.
    assert float(lora.time_on_air_s(13, 12, 500e3)) == pytest.approx(0.288768, abs=5e-7)
    # At 500 kHz a frame is a quarter of its 125 kHz air time when the optimisation is off
    # in both: the AN1200.13 spreadsheet's 13 B at SF9 / 125 kHz is 164.864 ms.
    assert float(lora.time_on_air_s(13, 9, 500e3)) == pytest.approx(0.164864 / 4, abs=5e-7)


def test_us915_downlinks_go_at_500_khz(farm_dict):
    """Every downlink the engine sends is an RX1 (uplink SF) or RX2 (SF12) frame at 500 kHz."""
    d = _farm(farm_dict, region="us915")
    d["world"]["site"] = {"width_m": 400, "height_m": 400}  # every node at SF7
    d["gateways"] = [{"id": "gw", "x_m": 200, "y_m": 200}]
    d["policies"] = ["cloud"]
    r = twin.run(d)
    assert {n["spreading_factor"] for n in r.nodes} == {7}
    res = r.result("cloud")
    n, airtime_s = res["downlink_messages"], res["downlink_airtime_s"]
    phy = d["groups"]["soil"]["payload_bytes"]["downlink"] + 13
    rx1_s, rx2_s = (float(lora.time_on_air_s(phy, sf, 500e3)) for sf in (7, 12))
    assert n > 50
    in_rx2 = (airtime_s - n * rx1_s) / (rx2_s - rx1_s)  # a whole number of RX2 downlinks
    assert in_rx2 == pytest.approx(round(in_rx2), abs=1e-6) and 0 <= round(in_rx2) <= n


def test_us915_farm_runs_without_duty_cycle_and_within_sf10():
    r = twin.run(US915_FARM)
    assert r.summary["scenario"]["name"] == "farm-us915"
    for res in r.summary["results"]:
        assert res["uplink_lost"]["duty_cycle"] == 0
        assert res["uplink_delivered"] > 0
    assert max(n["spreading_factor"] for n in r.nodes) <= 10


def test_auto_spreading_factor_keeps_to_the_region(farm_dict):
    # A gateway in the middle of a 12 km site: on EU868 most nodes need SF11-SF12; US915
    # gives them SF10, the slowest it allows (they mostly fail to reach the gateway).
    d = _farm(farm_dict)
    d["world"]["site"] = {"width_m": 12_000, "height_m": 12_000}
    d["gateways"] = [{"id": "gw", "x_m": 6000, "y_m": 6000}]
    d["groups"]["soil"]["count"] = 60
    d["policies"] = ["on_device"]
    eu = Counter(n["spreading_factor"] for n in twin.run(d).nodes)
    d["channel"]["region"] = "us915"
    us = Counter(n["spreading_factor"] for n in twin.run(d).nodes)
    assert eu[11] + eu[12] > 0 and max(us) == 10
    assert us[10] == sum(eu[sf] for sf in (10, 11, 12))


def test_no_duty_cycle_off_time_in_us915(farm_dict):
    # SF10 every 30 s: EU868's 1 % asks 99 x 0.33 s = 33 s of silence after each frame, so
    # some readings find the radio still waiting; US915 has no such wait.
    lost = {}
    for region in REGIONS:
        d = _farm(farm_dict, region=region)
        d["groups"]["soil"].update(spreading_factor=10, sampling_period_s=30)
        d["policies"] = ["cloud"]
        lost[region] = twin.run(d).result("cloud")["uplink_lost"]["duty_cycle"]
    assert lost["eu868"] > 0 and lost["us915"] == 0


REFUSALS = [
    ({"spreading_factor": 11}, "groups.soil.spreading_factor", "SF11 is not allowed on US915"),
    ({"spreading_factor": 12}, "groups.soil.spreading_factor", "use a spreading factor of 7-10"),
    ({"payload_bytes": {"reading": 20, "decision": 2, "heartbeat": 4, "downlink": 2}},
     "groups.soil.payload_bytes.reading", "exceeds US915's maximum of 11 bytes at SF10"),
    ({"spreading_factor": 9,
      "payload_bytes": {"reading": 60, "decision": 2, "heartbeat": 4, "downlink": 2}},
     "groups.soil.payload_bytes.reading", "set spreading_factor to 8 or faster (125 B)"),
    ({"lora": {"coding_rate": "4/8"}}, "groups.soil.lora",
     "over US915's 400 ms dwell time"),
    ({"lora": {"channels": 65}}, "groups.soil.lora.channels", "at most 64 uplink channels"),
    ({"lora": {"coding_rate": "4/9"}}, "groups.soil.lora.coding_rate", "'4/5'"),
    ({"lora": {"preamble_symbols": 4}}, "groups.soil.lora.preamble_symbols", "6"),
]  # fmt: skip


@pytest.mark.parametrize("change, key, fragment", REFUSALS, ids=[r[2] for r in REFUSALS])
def test_region_rules_are_refused_with_the_key_path(farm_dict, tmp_path, change, key, fragment):
    d = _farm(farm_dict, region="us915")
    d["groups"]["soil"].update(change)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(d, sort_keys=False))
    res = CliRunner().invoke(app, ["validate", str(path)])
    assert res.exit_code == 2, res.output
    assert key in res.output and fragment in res.output, res.output
    assert "Traceback" not in res.output


def test_lora_settings_on_a_wifi_radio_are_refused(farm_dict, tmp_path):
    d = _farm(farm_dict)
    d["groups"]["soil"].update(radio="esp32-wifi", lora={"channels": 8})
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(d, sort_keys=False))
    res = CliRunner().invoke(app, ["validate", str(path)])
    assert res.exit_code == 2 and "groups.soil.lora" in res.output, res.output
    assert "applies to LoRa radios" in res.output


def test_unknown_region_is_refused(farm_dict, tmp_path):
    d = _farm(farm_dict, region="as923")
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(d, sort_keys=False))
    res = CliRunner().invoke(app, ["validate", str(path)])
    assert res.exit_code == 2 and "channel.region" in res.output, res.output
