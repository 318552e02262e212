"""The shared LoRa channel against pure-ALOHA theory."""

from __future__ import annotations

import copy
import math

import pytest

import twin
from twin.physics import lora


def test_pure_aloha_delivered_fraction(farm_dict):
    # N nodes, C channels, one SF, air time T, one uplink per period P with a random start:
    # per channel the offered load is G = (N / C) T / P and pure ALOHA delivers exp(-2 G)
    # (Abramson 1970). Starts here are uniform over half a period rather than Poisson and each
    # frame picks one of C channels at random, so the match is approximate; with ~19 000 frames
    # the sampling error of the fraction is ~0.005, hence the 0.02 tolerance.
    d = copy.deepcopy(farm_dict)
    n, days = 200, 1
    g = d["groups"]["soil"]
    g.update(count=n, spreading_factor=12, tx_jitter_s=450.0)
    d["world"]["horizon_days"] = days
    d["policies"] = ["cloud"]
    r = twin.run(d).result("cloud")
    t = float(lora.time_on_air_s(g["payload_bytes"]["reading"] + 13, 12))
    load = (n / 3) * t / g["sampling_period_s"]
    sent = r["uplink_delivered"] + r["uplink_lost"]["collision"]
    assert sent > 15_000
    assert r["uplink_delivered"] / sent == pytest.approx(math.exp(-2 * load), abs=0.02)


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
