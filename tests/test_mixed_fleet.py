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
        radio="nrf52840-ble", battery="cr2032", spreading_factor="auto", actuation=False,
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


@pytest.mark.slow
def test_mixed_fleet_is_exact_under_batching(mixed):
    d, a = mixed
    b = twin.run(d, batch_window_s=0.0)
    assert a.summary == b.summary and a.nodes == b.nodes and a.timeseries == b.timeseries


def _by_group(r: twin.RunResult) -> dict:
    """Everything a run reports, keyed by (policy, group) instead of position."""
    out: dict = {}
    for table in ("nodes", "timeseries"):
        for row in getattr(r, table):
            out.setdefault((table, row["policy"], row["group"]), []).append(row)
    for rec in r.summary["results"]:
        out[("summary", rec["policy"], rec["group"])] = rec
    for h in r.latency_hist:
        out[("hist", h["policy"], h["group"])] = h
    return out


@pytest.mark.slow
def test_the_order_of_groups_changes_no_result(mixed):
    # Every group's streams are keyed by its name, not its position: listing the groups in
    # another order (a LoRa group first or last, mains and battery nodes swapped) gives each
    # group the same positions, readings, frames and decisions.
    d, a = mixed
    reordered = copy.deepcopy(d)
    reordered["groups"] = dict(reversed(list(d["groups"].items())))
    b = twin.run(reordered)
    assert [e["group"] for e in b.summary["results"][:3]] == ["soil", "wearable", "thermostat"]
    assert _by_group(a) == _by_group(b)
    # A group added to the scenario draws nothing from the others' streams: the nodes that
    # share no medium with it (on their own BLE and Wi-Fi links, deciding on the device)
    # see exactly what they saw, and the LoRa nodes keep their places.
    more = copy.deepcopy(d)
    more["groups"]["soil_east"] = dict(d["groups"]["soil"], count=3)
    c, ref = _by_group(twin.run(more)), _by_group(a)
    for group in ("thermostat", "wearable"):
        for table in ("summary", "nodes", "timeseries"):
            assert c[(table, "on_device", group)] == ref[(table, "on_device", group)]
    place = [(r["x_m"], r["y_m"]) for r in ref[("nodes", "cloud", "soil")]]
    assert [(r["x_m"], r["y_m"]) for r in c[("nodes", "cloud", "soil")]] == place


def test_overrides_keep_what_the_zoo_model_brings(farm_dict):
    # The vibration autoencoder decides on its score above its own threshold; overriding an
    # unrelated key must not write the defaults (probabilities, 0.5) over them.
    d = copy.deepcopy(farm_dict)
    d["world"].update(kind="vibration", horizon_days=1)
    d["groups"]["soil"].update(
        count=3, sampling_period_s=3600, model={"zoo": "machine_anomaly"}, actuation=False
    )
    sc = twin.scenario_from_dict(d).with_overrides({"groups.soil.count": 4})
    assert "threshold" not in sc.groups["soil"].model.model_fields_set
    assert twin.run(sc).result("on_device")["nodes"] == 4
    # A key under a section the file never set can still be overridden.
    sc = sc.with_overrides({"groups.soil.link.dhcp": True})
    assert sc.groups["soil"].link.dhcp is True


def test_no_gateways_needed_without_lora_and_required_with_it(farm_dict):
    d = copy.deepcopy(farm_dict)
    d["world"]["horizon_days"] = 1
    d["groups"]["soil"].update(count=3, radio="nrf9160-ltem")
    d["groups"]["soil"].pop("spreading_factor", None)
    d.pop("gateways")
    assert twin.run(d).result("cloud")["samples"] > 0
    d["groups"]["soil"]["radio"] = "sx1262"
    with pytest.raises(twin.ScenarioError, match="no gateways"):
        twin.run(d)
