"""Other worlds and zoo models run through the same engine."""

from __future__ import annotations

import copy
import json

import pytest

import twin


def _fleet(farm_dict, kind, zoo, period_s, count=10):
    d = copy.deepcopy(farm_dict)
    d["world"].update(kind=kind, horizon_days=1)
    d["groups"]["soil"].update(
        count=count,
        sampling_period_s=period_s,
        model={"zoo": zoo},
        actuation=kind in ("soil", "room"),
    )
    return d


@pytest.mark.parametrize(
    ("kind", "zoo", "period_s", "min_f1"),
    [
        # Held-out F1 of these zoo models is 0.925 (room) and 0.950 (heart); a 10-node, one-day
        # fleet is a small sample of one world, so allow a wide margin below that.
        ("room", "room_occupancy", 300, 0.8),
        ("heart", "heart_rhythm", 300, 0.8),
    ],
)
def test_world_runs_with_its_zoo_model(farm_dict, kind, zoo, period_s, min_f1):
    r = twin.run(_fleet(farm_dict, kind, zoo, period_s))
    on = r.result("on_device")
    assert on["samples"] == 10 * 86400 // period_s
    assert on["decision"]["f1"] >= min_f1
    assert r.result("cloud")["inferences_cloud"] == r.result("cloud")["uplink_delivered"]


def test_zoo_decision_settings_come_from_the_model(farm_dict):
    # The vibration autoencoder decides on a reconstruction score above its own threshold,
    # not on a probability above 0.5: the zoo metadata supplies output and threshold.
    meta = json.loads(
        (twin.api.Path(twin.__file__).parent / "zoo" / "machine_anomaly.json").read_text()
    )
    d = _fleet(farm_dict, "vibration", "machine_anomaly", 3600)
    device = twin.compile_scenario(d).group("soil").models.device
    assert (device.output, device.threshold) == (meta["output"], meta["threshold"])
    d["groups"]["soil"]["model"]["threshold"] = 0.3
    # A value the scenario sets wins.
    assert twin.compile_scenario(d).group("soil").models.device.threshold == 0.3


@pytest.mark.slow
def test_other_world_batching_is_exact(farm_dict):
    d = _fleet(farm_dict, "room", "room_occupancy", 300, count=6)
    a = twin.run(d)
    b = twin.run(d, batch_window_s=0.0)
    assert a.summary == b.summary and a.nodes == b.nodes and a.timeseries == b.timeseries
