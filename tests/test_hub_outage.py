"""Hubs that go away: a wearer's phone at night, an access point down, no cell.

Messages due while a node's hub is out are lost, or kept and forwarded when it is back with
store-and-forward; each figure is checked against a count or a closed form.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import yaml

import twin
from twin.errors import ScenarioError
from twin.faults import NodeSpans, node_renewal_intervals

ROOT = Path(__file__).resolve().parents[1]
NIGHT = {"kind": "hub_outage", "group": "watch", "start_h": 23, "duration_h": 8, "every_h": 24}


def test_end_if_inside_matches_a_brute_force_search():
    rng = np.random.default_rng(3)
    spans = node_renewal_intervals(rng, 5, 50.0, 10.0, 1_000.0)
    nodes = rng.integers(0, 6, 400)  # node 5 has no intervals
    t = rng.uniform(0, 1_000, 400)
    got = spans.end_if_inside(nodes, t)
    for i in range(len(t)):
        hit = (spans.node == nodes[i]) & (spans.start_s <= t[i]) & (t[i] < spans.end_s)
        want = spans.end_s[hit][0] if hit.any() else np.nan
        assert got[i] == want or (np.isnan(got[i]) and np.isnan(want))


def test_random_outages_keep_the_renewal_availability():
    # An alternating renewal process is down MTTR / (MTBF + MTTR) of the time in the long
    # run: 4 / 24 here. 2,000 nodes x ~30 cycles: the standard error is ~0.002; 0.01 allows
    # the start-up transient (every node starts up) too.
    spans = node_renewal_intervals(np.random.default_rng(0), 2_000, 20.0, 4.0, 720.0)
    assert spans.down_s(720.0) / (2_000 * 720.0) == pytest.approx(4 / 24, abs=0.01)
    assert isinstance(spans, NodeSpans) and np.all(np.diff(spans.node) >= 0)


def _watches(**group) -> dict:
    d = yaml.safe_load((ROOT / "scenarios" / "wearables.yaml").read_text())
    w = copy.deepcopy(d["groups"]["watch"])
    w.update(count=4, **group)
    d["groups"] = {"watch": w}
    d["world"]["horizon_days"] = 1.5  # one whole night, 23:00 to 07:00
    d["policies"] = ["cloud"]
    d["faults"] = [NIGHT]
    return d


def _result(d: dict, **kw) -> dict:
    return twin.run(d, **kw).result("cloud", "watch")


@pytest.fixture(scope="module")
def runs() -> dict:
    base = _watches()
    base.pop("faults")
    return {
        "none": _result(base),
        "lost": _result(_watches()),
        "kept": _result(_watches(store_and_forward={"buffer_bytes": 10**7})),
    }


def test_without_a_store_the_nights_messages_are_lost(runs):
    period = yaml.safe_load((ROOT / "scenarios" / "wearables.yaml").read_text())["groups"]["watch"][
        "sampling_period_s"
    ]
    h = runs["lost"]["hub_outage"]
    # Every watch sends one window per period to the cloud: 8 h of them per node, +-1 at the
    # edges (phases and jitter).
    per_node = 8 * 3600 / period
    assert 4 * (per_node - 1) <= h["messages_lost"] <= 4 * (per_node + 1)
    assert h["messages_stored"] == 0 and not h["store_and_forward"]
    lost = runs["none"]["uplink_delivered"] - runs["lost"]["uplink_delivered"]
    assert lost == h["messages_lost"] == runs["lost"]["uplink_lost"]["hub_outage"]
    # The messages the nodes had to send are the same; fewer of them were delivered.
    assert runs["lost"]["uplink_messages"] == runs["none"]["uplink_messages"]


def test_with_a_store_they_arrive_in_the_morning(runs):
    h = runs["kept"]["hub_outage"]
    assert h["messages_lost"] == 0 and h["messages_dropped_buffer_full"] == 0
    assert h["messages_stored"] == runs["lost"]["hub_outage"]["messages_lost"]
    assert runs["kept"]["uplink_delivered"] == runs["none"]["uplink_delivered"]
    # Messages due uniformly over an 8 h night wait on average half of it.
    assert h["stored_wait_mean_s"] == pytest.approx(4 * 3600, rel=0.05)
    # Each kept window's decision comes back after 07:00: a night's share of all the windows
    # (8 h of 36) is hours late, the rest as before.
    lat, before = runs["kept"]["latency_s"], runs["none"]["latency_s"]
    assert lat["p99"] > 6 * 3600 and lat["p50"] == pytest.approx(before["p50"], rel=0.1)


def test_a_small_buffer_keeps_what_fits_and_drops_the_rest():
    d = _watches(store_and_forward={"buffer_bytes": 5_000})
    reading = d["groups"]["watch"]["payload_bytes"]["window"]
    h = _result(d)["hub_outage"]
    # Per node and night: floor(buffer / message) kept, the rest dropped.
    assert h["messages_stored"] == 4 * (5_000 // reading)
    assert h["messages_dropped_buffer_full"] > 0


def test_outages_do_not_depend_on_the_batching():
    d = _watches(store_and_forward={"buffer_bytes": 5_000})
    a = twin.run(d).summary["results"]
    b = twin.run(d, batch_window_s=7.0).summary["results"]
    assert a == b


def test_a_hub_outage_on_a_lora_group_is_refused(farm_dict):
    d = copy.deepcopy(farm_dict)
    d["faults"] = [dict(NIGHT, group="soil")]
    with pytest.raises(ScenarioError) as exc:
        twin.compile_scenario(d)
    assert exc.value.key_path == "faults.0.group" and "gateway_outage" in exc.value.message
