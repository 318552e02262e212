"""The engine: determinism, batching exactness, conservation, energy bookkeeping."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

import twin
from twin.physics import lora
from twin.profiles import load_profile


def _canon(result: twin.RunResult) -> str:
    return json.dumps(
        [result.summary, result.nodes, result.timeseries, result.latency_hist], sort_keys=True
    )


def test_same_seed_same_results_and_other_seed_differs(small_farm):
    a = twin.run(small_farm)
    b = twin.run(small_farm)
    assert _canon(a) == _canon(b)
    c = twin.run(small_farm, seed=small_farm["world"]["seed"] + 1)
    ra, rc = a.result("on_device"), c.result("on_device")
    assert ra["decision"] != rc["decision"]
    assert ra["uplink_bytes"] != rc["uplink_bytes"] or ra["energy_j"] != rc["energy_j"]


@pytest.mark.slow
@pytest.mark.parametrize("sf", [9, 12, "auto"])
def test_batching_window_changes_nothing(small_farm, sf):
    # Window 0 handles one node-sample at a time; the default batches a whole period. SF12
    # makes frames long (1.3 s), so collisions and missed receive windows are frequent and the
    # cross-node ordering in the shared network is really exercised.
    d = copy.deepcopy(small_farm)
    d["groups"]["soil"]["count"] = 40
    d["world"]["horizon_days"] = 1
    d["groups"]["soil"]["spreading_factor"] = sf
    ref = twin.run(d)
    one = twin.run(d, batch_window_s=0.0)
    mid = twin.run(d, batch_window_s=123.0)
    assert _canon(one) == _canon(ref)
    assert _canon(mid) == _canon(ref)
    cloud = ref.result("cloud")
    if sf == 12:  # this seed's phases put some nodes within a frame of each other
        assert cloud["uplink_lost"]["collision"] > 0
        # Some answers miss both receive windows and wait for the node's next uplink.
        hist = next(h for h in ref.latency_hist if h["policy"] == "cloud")
        assert hist["edges_s"][-1] > 600


def test_conservation(small_farm):
    r = twin.run(small_farm)
    horizon_s = small_farm["world"]["horizon_days"] * 86400
    period_s = small_farm["groups"]["soil"]["sampling_period_s"]
    n = small_farm["groups"]["soil"]["count"]
    for e in r.summary["results"]:
        # Every node samples every period over the horizon (phases in [0, period)).
        assert e["samples"] + e["samples_skipped"] == pytest.approx(n * horizon_s / period_s, abs=n)
        lost = sum(e["uplink_lost"].values())
        assert e["uplink_messages"] == e["uplink_delivered"] + lost
        d = e["decision"]
        assert d["tp"] + d["fp"] + d["fn"] + d["tn"] == e["samples"]
    on, cl = r.result("on_device"), r.result("cloud")
    assert on["inferences_device"] == on["samples"] and on["inferences_cloud"] == 0
    assert cl["inferences_device"] == 0 and cl["uplink_messages"] == cl["samples"]
    # The cloud infers exactly the readings that reached it.
    assert cl["inferences_cloud"] == cl["uplink_delivered"]
    assert cl["downlink_messages"] <= cl["inferences_cloud"]
    assert on["uplink_messages"] < cl["uplink_messages"]


def test_energy_adds_up(small_farm):
    r = twin.run(small_farm)
    board = load_profile("board", "nano33ble")
    radio = load_profile("radio", "sx1262")
    horizon_s = small_farm["world"]["horizon_days"] * 86400
    for e in r.summary["results"]:
        parts = {k: v for k, v in e["energy_j"].items() if k != "total"}
        assert sum(parts.values()) == pytest.approx(e["energy_j"]["total"], rel=1e-12)
        nodes = [row for row in r.nodes if row["policy"] == e["policy"]]
        assert sum(row["energy_j"] for row in nodes) == pytest.approx(e["energy_j"]["total"])
        # Sleep floor: board + radio sleep current at their supply, for every node, all the time.
        sleep_w = board.sleep_current_a * board.supply_v + radio.sleep_current_a * radio.supply_v
        assert parts["sleep"] == pytest.approx(sleep_w * horizon_s * e["nodes"], rel=1e-9)
        assert e["energy_per_node_day_j"] == pytest.approx(
            e["energy_j"]["total"] / e["nodes"] / small_farm["world"]["horizon_days"]
        )


def test_tx_energy_matches_time_on_air(small_farm):
    """TX energy = current x time on air x voltage, summed over the frames sent."""
    d = copy.deepcopy(small_farm)
    d["policies"] = ["cloud"]
    d["groups"]["soil"].update(spreading_factor=9, tx_jitter_s=0.0)
    r = twin.run(d)
    e = r.result("cloud")
    radio = load_profile("radio", "sx1262")
    toa = float(lora.time_on_air_s(4 + 13, 9))
    assert e["airtime_s"] == pytest.approx(e["uplink_messages"] * toa, rel=1e-9)
    expected = (radio.tx_current_a - radio.sleep_current_a) * radio.supply_v * e["airtime_s"]
    assert e["energy_j"]["radio_tx"] == pytest.approx(expected, rel=1e-9)
    assert e["uplink_bytes"] == e["uplink_messages"] * (4 + 13)


def test_cloud_latency_respects_class_a_windows(small_farm):
    small_farm["groups"]["soil"].update(spreading_factor=9, tx_jitter_s=0.0)
    r = twin.run(small_farm)
    cl, on = r.result("cloud"), r.result("on_device")
    toa = float(lora.time_on_air_s(4 + 13, 9))
    # A cloud decision can only reach a class-A node in RX1, 1 s after its uplink ends.
    assert cl["latency_s"]["p50"] >= toa + 1.0
    # On the device the decision is ready after sensing and one inference (milliseconds).
    assert on["latency_s"]["p99"] < 0.1
    assert on["latency_s"]["p50"] < cl["latency_s"]["p50"]


def test_dead_nodes_stop(small_farm, tmp_path, monkeypatch):
    """A battery that empties within the horizon stops its node and ends its battery life."""
    from twin import profiles

    bat = tmp_path / "batteries"
    bat.mkdir()
    (bat / "tiny.yaml").write_text(
        "id: tiny\nkind: battery\nname: test cell\n"
        "nominal_v: 3.0\nnominal_v_source: test\ncutoff_v: 2.0\ncutoff_v_source: test\n"
        "capacity_mah: 0.2\ncapacity_mah_source: test\n"
        "rated_current_a: 0.001\nrated_current_a_source: test\n"
        "peukert_exponent: 1.0\npeukert_exponent_source: test\n"
        "self_discharge_per_year: 0.0\nself_discharge_per_year_source: test\n"
        "max_pulse_current_a: 0.1\nmax_pulse_current_a_source: test\n"
    )
    monkeypatch.setattr(profiles, "profile_dirs", lambda: [*orig_dirs(), tmp_path])
    profiles.load_profile.cache_clear()
    d = copy.deepcopy(small_farm)
    d["groups"]["soil"]["battery"] = "tiny"
    d["policies"] = ["cloud"]
    r = twin.run(d)
    profiles.load_profile.cache_clear()
    e = r.result("cloud")
    horizon_days = d["world"]["horizon_days"]
    assert e["battery_life_days"]["dead_nodes"] == e["nodes"]
    assert not e["battery_life_days"]["projected"]
    assert e["battery_life_days"]["median"] < horizon_days
    assert e["samples_skipped"] > 0
    # A dead node drew at most its capacity plus one sample's worth of charge.
    cap_j = 0.2 * 3.6 * 3.0
    per_node = [row["energy_j"] for row in r.nodes]
    assert max(per_node) < cap_j * 1.1
    last = [row for row in r.timeseries if row["policy"] == "cloud"][-1]
    assert last["battery_soc_p95"] == pytest.approx(0.0, abs=1e-12)


def orig_dirs():
    from pathlib import Path

    import twin.profiles as p

    pkg = Path(p.__file__).resolve().parent
    return [pkg.parent / "device_profiles"]


def test_battery_snapshots_are_monotone(small_farm):
    r = twin.run(small_farm)
    for policy in ("on_device", "cloud"):
        rows = [row for row in r.timeseries if row["policy"] == policy]
        p50 = np.array([row["battery_soc_p50"] for row in rows])
        assert rows[0]["time_s"] == 0 and p50[0] == 1.0
        assert np.all(np.diff(p50) <= 0)
        assert rows[-1]["time_s"] == pytest.approx(small_farm["world"]["horizon_days"] * 86400)
        assert sum(row["uplink_bytes"] for row in rows) == r.result(policy)["uplink_bytes"]
