"""Closed loop: the decision acting after each sample drives the world's actuator."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import yaml

import twin
from twin.cli import app
from twin.rng import NodeStream, stream_key
from twin.world.room import RoomParams, RoomWorld
from twin.world.soil import DAY_S, SoilParams, SoilWorld


@pytest.fixture(scope="module")
def loop(farm_dict):
    """Soil valves over LoRa and thermostats over Wi-Fi, both closing the loop."""
    d = copy.deepcopy(farm_dict)
    d["world"]["horizon_days"] = 3
    soil = d["groups"]["soil"]
    soil.update(count=12, actuation=True)
    d["groups"]["thermostat"] = dict(
        soil, count=5, world="room", model={"zoo": "room_occupancy"}, sampling_period_s=300,
        radio="esp32-wifi", battery="mains", link={"stay_connected": True},
    )  # fmt: skip
    return d, twin.run(d)


@pytest.mark.slow
def test_closed_loop_is_exact_under_batching(loop):
    # Each valve reads the decision acting after its node's sample; the next sample depends
    # on it. One sample per batch and the engine's own batching must see the same world.
    d, a = loop
    b = twin.run(d, batch_window_s=0.0)
    assert a.summary == b.summary and a.nodes == b.nodes and a.timeseries == b.timeseries


def test_outcomes_are_reported_only_for_closed_loop_groups(loop, farm_dict):
    _, r = loop
    for policy in ("on_device", "cloud"):
        soil = r.result(policy, "soil")["outcome"]
        assert soil["actuator"] == "irrigation valve"
        # Every irrigation is the configured 30 mm.
        assert soil["water_applied_mm_per_node_day"] == pytest.approx(
            30.0 * soil["irrigations_per_node_day"]
        )
        assert 0 <= soil["water_drained_mm_per_node_day"] <= soil["water_applied_mm_per_node_day"]
        room = r.result(policy, "thermostat")["outcome"]
        assert room["actuator"] == "heating setpoint"
        # At most 24 h of heating a day (the first, program-driven step is not counted).
        assert 0 < room["comfort_heating_h_per_node_day"] <= 24.0
    d = copy.deepcopy(farm_dict)
    d["world"]["horizon_days"] = 1
    d["groups"]["soil"].update(count=3, actuation=False)
    assert twin.run(d).result("on_device")["outcome"] is None  # open loop: nothing to report


def _with_threshold(d: dict, group: str, threshold: float) -> dict:
    d = copy.deepcopy(d)
    d["groups"][group]["model"] = dict(d["groups"][group]["model"], threshold=threshold)
    d["policies"] = ["on_device"]
    return d


def test_a_valve_that_never_opens_leaves_the_crop_stressed(loop):
    # Threshold 2: no probability reaches it, so no decision ever says "irrigate".
    d, r = loop
    never = twin.run(_with_threshold(d, "soil", 2.0)).result("on_device", "soil")["outcome"]
    acted = r.result("on_device", "soil")["outcome"]
    assert never["water_applied_mm_per_node_day"] == 0 and never["irrigations_per_node_day"] == 0
    assert acted["irrigations_per_node_day"] > 0
    assert never["water_stress_h_per_node_day"] > acted["water_stress_h_per_node_day"]


def test_heating_follows_the_decisions(loop):
    d, r = loop
    never = twin.run(_with_threshold(d, "thermostat", 2.0)).result("on_device", "thermostat")
    out, acted = never["outcome"], r.result("on_device", "thermostat")["outcome"]
    assert out["comfort_heating_h_per_node_day"] == 0
    # Never heating: colder rooms lose less heat and leave occupants cold more often.
    assert out["heat_loss_degree_h_per_node_day"] < acted["heat_loss_degree_h_per_node_day"]
    assert out["cold_occupied_h_per_node_day"] > acted["cold_occupied_h_per_node_day"]
    # The fixed-program reference is the same whatever the decisions.
    for key in ("cold_occupied_program_h_per_node_day", "heat_loss_program_degree_h_per_node_day"):
        assert out[key] == acted[key]


def _soil_world(n: int, actuation: bool) -> SoilWorld:
    period = 900.0
    ss = np.random.SeedSequence(7).spawn(2)
    phase = np.sort(np.random.default_rng(1).uniform(0, period, n))
    return SoilWorld(
        SoilParams(), n, period, phase, 5 * DAY_S, np.random.default_rng(ss[0]),
        NodeStream(stream_key(ss[1])), actuation=actuation,
    )  # fmt: skip


def test_an_open_valve_adds_the_irrigation_depth_and_drains_the_excess():
    p = SoilParams()
    w = _soil_world(40, actuation=True)
    nodes = np.arange(40)
    ones = np.ones(40, dtype=np.int8)
    for _ in range(3 * 96):
        k = w._k_next.copy()
        t = w._time(nodes, k)
        before = w.true_moisture(nodes).copy()
        applied = w.water_applied_mm.copy()
        drained = w.water_drained_mm.copy()
        w.sample(nodes, ones)
        watered = (k >= 1) & w._crosses_irrigation(t - w.period_s, t)
        # The valve opened exactly at the steps that cross 06:00, with 30 mm each time...
        np.testing.assert_allclose(w.water_applied_mm - applied, np.where(watered, 30.0, 0.0))
        # ...and what the root zone could not hold (above field capacity) drained away.
        excess = np.maximum(before + p.irrigation_mm / p.root_depth_mm - w.fc, 0.0)
        np.testing.assert_allclose(
            w.water_drained_mm - drained, np.where(watered, excess * p.root_depth_mm, 0.0)
        )
    assert (w.irrigations == 3).all()  # 06:00 of days 0, 1 and 2


def test_without_water_the_actuated_world_only_dries_and_rains():
    # Same seeds, valve never opening: after deployment no irrigation step is ever taken.
    w = _soil_world(20, actuation=True)
    nodes = np.arange(20)
    zeros = np.zeros(20, dtype=np.int8)
    prev = None
    p = SoilParams()
    for _ in range(4 * 96):
        theta = w.true_moisture(nodes).copy()
        if prev is not None:
            # No step gains more than the heaviest possible rain would bring.
            rain_cap = w._rain_cum[-1] / p.root_depth_mm
            assert (theta - prev <= rain_cap + 1e-12).all()
        w.sample(nodes, zeros)
        prev = theta
    assert w.water_applied_mm.sum() == 0 and w.irrigations.sum() == 0


def test_the_heating_setpoint_is_the_decision_from_deployment_on():
    n, period = 10, 300.0
    ss = np.random.SeedSequence(3).spawn(2)
    phase = np.sort(np.random.default_rng(2).uniform(0, period, n))
    w = RoomWorld(
        RoomParams(), n, period, phase, DAY_S, np.random.default_rng(ss[0]),
        NodeStream(stream_key(ss[1])), actuation=True,
    )  # fmt: skip
    nodes = np.arange(n)
    on = (nodes % 2).astype(np.int8)
    for _ in range(3):
        w.sample(nodes, on)
    t = w._time(nodes, w._k_next)
    np.testing.assert_array_equal(
        w.heating_setpoint_c(nodes, t), np.where(on > 0, w.comfort_c, w.setback_c)
    )


def test_a_world_without_an_actuator_refuses_actuation(farm_dict, tmp_path):
    from typer.testing import CliRunner

    d = copy.deepcopy(farm_dict)
    d["world"]["kind"] = "heart"
    d["groups"]["soil"].update(model={"zoo": "heart_rhythm"}, actuation=True)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(d))
    res = CliRunner().invoke(app, ["run", str(path), "-o", str(tmp_path / "out")])
    assert res.exit_code == 2
    assert "groups.soil.actuation" in res.output and "no actuator" in res.output
    assert not (tmp_path / "out").exists()
