"""One scenario, several kinds of node: per-group worlds, radios and mains power."""

from __future__ import annotations

import copy
import json

import pytest

import twin


@pytest.fixture(scope="module")
def mixed(farm_dict):
    d = copy.deepcopy(farm_dict)
    d["world"]["horizon_days"] = 1
    base = d["groups"].pop("soil")
    d["groups"]["thermostat"] = dict(
        base, count=4, world="room", model={"zoo": "room_occupancy"}, sampling_period_s=300,
        radio="esp32-wifi", battery="mains", spreading_factor="auto",
    )  # fmt: skip
    d["groups"]["wearable"] = dict(
        base, count=4, world="heart", model={"zoo": "heart_rhythm"}, sampling_period_s=300,
        radio="nrf52840-ble", battery="cr2032", spreading_factor="auto",
    )  # fmt: skip
    d["groups"]["soil"] = dict(base, count=4)
    return d, twin.run(d)


def test_each_group_senses_its_own_world_over_its_own_radio(mixed):
    _, r = mixed
    for policy in ("on_device", "cloud"):
        for group in ("thermostat", "wearable", "soil"):
            e = r.result(policy, group)
            assert e["samples"] > 0 and e["decision"]["f1"] is not None
    # The LoRa group alone sees the channel and the class-A windows.
    assert r.result("cloud", "soil")["airtime_s"] > 0
    assert r.result("cloud", "wearable")["uplink_lost"].get("collision", 0) == 0


def test_mains_nodes_count_energy_but_never_run_out(mixed):
    _, r = mixed
    e = r.result("cloud", "thermostat")
    assert e["battery"]["mains"] is True and e["battery"]["capacity_mah"] is None
    assert e["battery_life_days"]["median"] is None and e["battery_life_days"]["dead_nodes"] == 0
    assert e["energy_j"]["total"] > 0
    json.dumps(r.summary, allow_nan=False)  # no infinities leak into summary.json


def test_mixed_fleet_is_exact_under_batching(mixed):
    d, a = mixed
    b = twin.run(d, batch_window_s=0.0)
    assert a.summary == b.summary and a.nodes == b.nodes and a.timeseries == b.timeseries
