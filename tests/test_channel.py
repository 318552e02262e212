"""The shared LoRa channel against pure-ALOHA theory."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

import twin
from twin.physics import lora


def test_pure_aloha_delivered_fraction(farm_dict):
    # N nodes, C channels, one SF, air time T, one uplink per period P with a random start:
    # per channel the offered load is G = (N / C) T / P and pure ALOHA delivers exp(-2 G)
    # (Abramson 1970). Starts here are uniform over half a period rather than Poisson and each
    # frame picks one of C channels at random, so the match is approximate; with ~19 000 frames
    # the sampling error of the fraction is ~0.005, hence the 0.02 tolerance.
    d = _aloha_farm(farm_dict)
    n = 200
    g = d["groups"]["soil"]
    r = twin.run(d).result("cloud")
    t = float(lora.time_on_air_s(g["payload_bytes"]["reading"] + 13, 12))
    load = (n / 3) * t / g["sampling_period_s"]
    sent = r["uplink_delivered"] + r["uplink_lost"]["collision"]
    assert r["uplink_lost"]["out_of_range"] == 0
    assert sent > 15_000
    assert r["uplink_delivered"] / sent == pytest.approx(math.exp(-2 * load), abs=0.02)


def _aloha_farm(farm_dict, n=200, capture_db=1000.0, gateways=None):
    """One gateway in the middle of a small site, no capture: the textbook ALOHA setting."""
    d = copy.deepcopy(farm_dict)
    d["groups"]["soil"].update(count=n, spreading_factor=12, tx_jitter_s=450.0)
    d["world"].update(horizon_days=1, site={"width_m": 400, "height_m": 400})
    d["gateways"] = gateways or [{"id": "gw", "x_m": 200, "y_m": 200}]
    d["channel"] = {"capture_threshold_db": capture_db}
    d["policies"] = ["cloud"]
    return d


def test_capture_and_gateway_diversity_deliver_more(farm_dict):
    # The capture effect lets the stronger of two overlapping frames through; a second gateway
    # sees different power ratios (independent shadowing), so more frames get decoded.
    plain = twin.run(_aloha_farm(farm_dict)).result("cloud")
    capture = twin.run(_aloha_farm(farm_dict, capture_db=6.0)).result("cloud")
    two = [{"id": "a", "x_m": 0, "y_m": 0}, {"id": "b", "x_m": 400, "y_m": 400}]
    both = twin.run(_aloha_farm(farm_dict, capture_db=6.0, gateways=two)).result("cloud")
    assert plain["uplink_delivered"] < capture["uplink_delivered"] < both["uplink_delivered"]


def test_out_of_range_nodes_are_lost(farm_dict):
    # Built-up propagation (Bor et al. 2016) on a 2 km farm: SF12 reaches ~0.5 km only.
    d = copy.deepcopy(farm_dict)
    d["groups"]["soil"]["count"] = 60
    d["world"]["horizon_days"] = 1
    d["channel"] = {"propagation": "lancaster-868"}
    d["policies"] = ["cloud"]
    e = twin.run(d).result("cloud")
    assert e["uplink_lost"]["out_of_range"] > 0
    lost = sum(e["uplink_lost"].values())
    assert e["uplink_messages"] == e["uplink_delivered"] + lost


def test_auto_spreading_factor_follows_distance(farm_dict):
    from twin.physics import lora

    rx = -100.0 - 5.0 * np.arange(8)  # dBm, weaker and weaker links
    sf = lora.assign_spreading_factor(rx, margin_db=10.0)
    assert list(sf) == sorted(sf) and sf[0] == 7 and sf[-1] == 12
    # Each assigned SF clears its sensitivity by the margin (except SF12, the last resort).
    ok = sf < 12
    assert np.all(rx[ok] >= lora.sensitivity_dbm(sf[ok]) + 10.0)


def test_sensitivity_against_datasheet():
    from twin.physics import lora

    # SX1276: -148 dBm at SF12 / 7.8 kHz (datasheet headline, hardware reference 3.1); the
    # formula with the 6 dB noise figure gives -149.1 dBm. 1.5 dB covers the datasheet's
    # rounding and its real noise figure.
    assert float(lora.sensitivity_dbm(12, 7.8e3)) == pytest.approx(-148.0, abs=1.5)
    # SX1276 max link budget 168 dB at +20 dBm output -> -148 dBm, the same figure.
    assert 20 - float(lora.sensitivity_dbm(12, 7.8e3)) == pytest.approx(168, abs=1.5)


@pytest.mark.slow
def test_jitter_keeps_batching_exact(farm_dict):
    d = copy.deepcopy(farm_dict)
    d["groups"]["soil"].update(count=30, spreading_factor=12, tx_jitter_s=300.0)
    d["world"]["horizon_days"] = 1
    a = twin.run(d)
    b = twin.run(d, batch_window_s=0.0)
    assert a.summary == b.summary and a.nodes == b.nodes


def test_jitter_must_be_shorter_than_the_period(farm_dict):
    d = copy.deepcopy(farm_dict)
    d["groups"]["soil"]["tx_jitter_s"] = 900.0
    with pytest.raises(twin.ScenarioError, match="tx_jitter_s"):
        twin.run(d)


def test_gateway_downlink_duty_cycle_caps_cloud_answers(farm_dict):
    # EU868: a gateway may transmit 1 % of the time in RX1's sub-band and 10 % at RX2's
    # frequency. With one gateway and 300 nodes streaming, the cloud's answers exceed that
    # budget: downlink air time stays within it and the rest of the answers are held back.
    d = _aloha_farm(farm_dict, n=300, capture_db=6.0)
    horizon_s = d["world"]["horizon_days"] * 86400
    e = twin.run(d).result("cloud")
    assert e["downlinks_blocked_duty_cycle"] > 0
    # One gateway: its two bands together may be on air at most 11 % of the time.
    assert 0 < e["downlink_airtime_s"] <= (0.01 + 0.10) * horizon_s
    assert e["downlink_messages"] < e["inferences_cloud"]
    # Without the cap every answer would have gone out: the cap is what held them back.
    free = copy.deepcopy(d)
    free["gateways"][0].update(rx1_duty_cycle=1.0, rx2_duty_cycle=1.0)
    assert twin.run(free).result("cloud")["downlink_messages"] > e["downlink_messages"]
