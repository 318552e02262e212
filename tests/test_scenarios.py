"""The shipped scenarios for wearables, smart homes, factories and a city: each validates, and a
shrunk copy (few nodes, short horizon) runs and says what the full scenario is there to show.

The full files are sized to run in under a minute each; these tests keep the whole file to a
few seconds per scenario by overriding counts and the horizon by dotted path.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import twin
from twin.api import validate

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"

# Per scenario: the overrides that shrink it. Horizons are long enough for every group to see
# positives (a wake word, a developing motor fault), so F1 is defined.
SHRINK = {
    "wearables": {
        "groups.patch.count": 4,
        "groups.watch.count": 4,
        "world.horizon_days": 0.5,
    },
    "smart_home": {
        "groups.thermostat.count": 4,
        "groups.camera.count": 2,
        "groups.speaker.count": 2,
        "world.horizon_days": 0.5,
    },
    "factory": {
        "groups.ltem.count": 10,
        "groups.nbiot.count": 10,
        "world.horizon_days": 20,
    },
    # The channel at scale needs load, not days: a quarter of the city (5,000 nodes on the same
    # 9 gateways, so a quarter of the load) for 6 hours.
    "city_scale": {
        "groups.soil.count": 5000,
        "world.horizon_days": 0.25,
    },
}


def _shrunk(name: str) -> twin.Scenario:
    scenario = twin.load_scenario(SCENARIOS / f"{name}.yaml")
    overrides = dict(SHRINK[name])
    # with_overrides round-trips the scenario through model_dump(exclude_unset=False), so a zoo
    # model's own output/positive_index/threshold become explicit defaults ("probabilities",
    # 1, 0.5) and override the zoo's (machine_anomaly's output is "score"). Restating the model
    # as just its zoo name keeps the zoo's decision rule.
    for group, cfg in scenario.groups.items():
        overrides[f"groups.{group}.model"] = {"zoo": cfg.model.zoo}
    return scenario.with_overrides(overrides)


@pytest.fixture(scope="module")
def runs() -> dict[str, twin.RunResult]:
    """Each shrunk scenario run once (seed from the file), shared by the tests below."""
    return {name: twin.run(_shrunk(name)) for name in SHRINK}


@pytest.mark.parametrize("name", sorted(SHRINK))
def test_scenario_validates_at_full_size(name):
    path = SCENARIOS / f"{name}.yaml"
    summary = validate(path)
    scenario = twin.load_scenario(path)
    assert scenario.name == name
    assert scenario.description.strip(), "a scenario says who it is for and what it answers"
    assert f"{sum(g.count for g in scenario.groups.values()):,} nodes" in summary


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SHRINK))
def test_every_group_decides_and_uplinks_add_up(runs, name):
    result = runs[name]
    scenario = twin.load_scenario(SCENARIOS / f"{name}.yaml")
    for policy in scenario.policy_names:
        for group in scenario.groups:
            e = result.result(policy, group)
            assert e["samples"] > 0, (policy, group)
            d = e["decision"]
            assert d["f1"] is not None and d["tp"] > 0, (policy, group, d)
            lost = sum(e["uplink_lost"].values())
            assert e["uplink_messages"] == e["uplink_delivered"] + lost, (policy, group)
            assert e["uplink_messages"] > 0, (policy, group)


@pytest.mark.slow
def test_wearables_streaming_costs_radio_energy(runs):
    r = runs["wearables"]
    for group in ("patch", "watch"):
        radio = {
            policy: sum(r.result(policy, group)["energy_j"][s] for s in ("radio_tx", "radio_rx"))
            for policy in ("on_device", "cloud")
        }
        assert radio["cloud"] > 2 * radio["on_device"], (group, radio)
    # The watch's 100 ms connection interval costs idle current the 1 s patch does not pay.
    assert (
        r.result("on_device", "watch")["energy_per_node_day_j"]
        > r.result("on_device", "patch")["energy_per_node_day_j"]
    )


@pytest.mark.slow
def test_smart_home_mains_and_battery_groups(runs):
    r = runs["smart_home"]
    for policy in ("on_device", "cloud"):
        for group in ("speaker", "thermostat"):
            e = r.result(policy, group)
            assert e["battery"]["mains"] is True
            assert e["battery_life_days"]["median"] is None
            assert e["energy_j"]["total"] > 0
    # A deep-sleeping camera that associates for every frame drains its 18650 much faster.
    life = {p: r.result(p, "camera")["battery_life_days"]["median"] for p in ("on_device", "cloud")}
    assert life["cloud"] < 0.5 * life["on_device"], life


@pytest.mark.slow
def test_factory_cloud_waits_for_the_modem(runs):
    r = runs["factory"]
    on_device = r.result("on_device", "ltem")["latency_s"]["p50"]
    cloud = r.result("cloud", "ltem")["latency_s"]["p50"]
    # The raw burst leaves only after a ~12 s PSM wake-up (nrf9160-ltem.yaml).
    assert cloud > on_device + 10, (on_device, cloud)
    # NB-IoT with RAI gets most verdicts in its 1 s RRC tail (the cloud is ~0.2 s away); the
    # rest wait for an eDRX page (81.92 s cycle), which stretches the tail of the latency.
    nbiot = r.result("cloud", "nbiot")
    assert nbiot["downlinks_in_rrc_tail"] > 0.8 * nbiot["downlink_messages"]
    assert nbiot["latency_s"]["p99"] > nbiot["latency_s"]["p50"] + 30


@pytest.mark.slow
def test_city_scale_shows_the_channel_at_scale(runs):
    r = runs["city_scale"]
    on_device, cloud = r.result("on_device", "soil"), r.result("cloud", "soil")
    assert cloud["uplink_lost"]["collision"] > on_device["uplink_lost"]["collision"]
    assert cloud["airtime_s"] > 10 * on_device["airtime_s"]
    # The gateways' downlink duty cycle cannot carry an answer to every reading.
    assert cloud["downlinks_blocked_duty_cycle"] > 0
    assert cloud["downlink_messages"] < cloud["uplink_delivered"]
