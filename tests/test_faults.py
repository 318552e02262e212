"""Fault injection: outages, loss bursts, backhaul spikes, brown-outs and store-and-forward."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import twin
from twin import faults as F
from twin.config.loader import scenario_from_dict

ROOT = Path(__file__).resolve().parent.parent
HOUR = 3600.0


def _farm(nodes: int = 30, days: float = 2.0, **group) -> dict:
    d = yaml.safe_load((ROOT / "scenarios" / "farm.yaml").read_text())
    d["groups"]["soil"]["count"] = nodes
    d["groups"]["soil"].update(group)
    d["world"]["horizon_days"] = days
    d["engine"] = {"timeseries_interval_s": 3600}
    return d


def _rec(result, policy: str) -> dict:
    return result.result(policy, "soil")


def _series(result, policy: str, column: str) -> tuple[np.ndarray, np.ndarray]:
    rows = [r for r in result.timeseries if r["policy"] == policy and r["interval_s"] > 0]
    return np.array([r["time_s"] for r in rows]), np.array([r[column] for r in rows])


# -- intervals ---------------------------------------------------------------------------------
def test_renewal_process_has_the_asked_means():
    # 20 000 cycles: the sample mean of an exponential is within ~3 % (4 sigma = 4/sqrt(n)).
    rng = np.random.default_rng(7)
    s, e = F.renewal_intervals(rng, 100.0, 5.0, 2.1e6)
    assert 19_000 < len(s) < 21_000
    assert np.mean(e - s) == pytest.approx(5.0, rel=0.03)
    assert np.mean(s[1:] - e[:-1]) == pytest.approx(100.0, rel=0.03)
    assert np.all(s[1:] > e[:-1]) and s[-1] < 2.1e6


def test_interval_queries():
    s, e = F.merge(np.array([0.0, 5.0, 2.0, 20.0]), np.array([3.0, 6.0, 4.0, 25.0]))
    assert s.tolist() == [0.0, 5.0, 20.0] and e.tolist() == [4.0, 6.0, 25.0]
    assert F.inside(np.array([0.0, 3.9, 4.0, 5.5, 19.0, 24.9]), s, e).tolist() == [
        True, True, False, True, False, True,
    ]  # fmt: skip
    spans = F.overlapping(np.array([3.5, 6.0, 4.1]), np.array([4.5, 7.0, 4.9]), s, e)
    assert spans.tolist() == [True, False, False]
    assert F.end_of(np.array([1.0, 4.5, 21.0]), s, e).tolist() == [4.0, 4.5, 25.0]


def test_node_resets_list_missed_samples_and_restarts():
    # Node 0 samples at 0, 10, 20...; reset at 10 for 25 s: misses 10, 20, 30, restarts at 40.
    # Node 1 samples at 3, 13, ...; reset at 100 for 5 s: misses 103, restarts at 113.
    r = F.node_resets(np.array([10.0, 100.0]), np.array([0, 1]), np.array([25.0, 5.0]),
                      np.array([0.0, 3.0]), 10.0, 200.0)  # fmt: skip
    nodes = np.array([0, 0, 0, 0, 0, 1, 1, 1])
    k = np.array([0, 1, 2, 3, 4, 9, 10, 11])
    assert r.skipped(nodes, k).tolist() == [False, True, True, True, False, False, True, False]
    assert r.restarting(nodes, k).tolist() == [False, False, False, False, True, False, False,
                                               True]  # fmt: skip


def _faults(d: dict) -> F.FaultPlan:
    sc = scenario_from_dict(d)
    return F.plan_faults(sc.faults, [gw.id for gw in sc.gateways], sc.world.seed, sc.horizon_s)


def test_fault_draws_are_seeded_and_independent_of_groups():
    d = _farm()
    d["faults"] = [{"kind": "gateway_outage", "mtbf_h": 10, "mttr_h": 1}]
    a = _faults(d).intervals()
    assert a == _faults(d).intervals()
    # Each gateway fails on its own.
    north = [(x["start_s"]) for x in a if x["target"] == "gw-north"]
    south = [(x["start_s"]) for x in a if x["target"] == "gw-south"]
    assert north and south and north != south
    more = json.loads(json.dumps(d))
    more["groups"]["extra"] = dict(more["groups"]["soil"], count=3)
    assert _faults(more).intervals() == a
    d["world"]["seed"] = 43
    assert _faults(d).intervals() != a


# -- the shared parts --------------------------------------------------------------------------
def test_gateway_outage_loses_every_frame_while_it_lasts_and_none_after():
    d = _farm()
    d["policies"] = ["cloud"]
    d["faults"] = [{"kind": "gateway_outage", "start_h": 20, "duration_h": 6}]
    r = twin.run(d)
    rec = _rec(r, "cloud")
    # A cloud node sends every reading: 30 nodes x 4 per hour x 6 h, give or take the frames
    # straddling the edges (a frame is lost if a gateway is down at any time during it).
    assert abs(rec["uplink_lost"]["outage"] - 30 * 4 * 6) <= 30
    t, lost = _series(r, "cloud", "uplink_lost")
    inside = (t > 20 * HOUR) & (t <= 26 * HOUR + HOUR)
    assert lost[inside].sum() >= rec["uplink_lost"]["outage"]
    # Outside it, only the odd collision, or a frame the gateways missed while transmitting.
    odd = rec["uplink_lost"]["collision"] + rec["uplink_lost"]["half_duplex"]
    assert lost[~inside].sum() == odd - (lost[inside].sum() - rec["uplink_lost"]["outage"])
    base = _rec(twin.run(_farm() | {"policies": ["cloud"]}), "cloud")
    assert base["uplink_lost"]["outage"] == 0
    assert rec["decision"]["f1"] != base["decision"]["f1"] or rec["latency_s"] != base["latency_s"]


def test_one_gateway_down_only_costs_nodes_the_other_cannot_hear():
    d = _farm(nodes=60)
    d["policies"] = ["cloud"]
    d["faults"] = [{"kind": "gateway_outage", "gateway": "gw-north", "start_h": 20,
                    "duration_h": 6}]  # fmt: skip
    one = _rec(twin.run(d), "cloud")["uplink_lost"]["outage"]
    d["faults"][0].pop("gateway")
    both = _rec(twin.run(d), "cloud")["uplink_lost"]["outage"]
    assert 0 < one < both


def test_loss_burst_takes_frames_with_its_probability():
    d = _farm(nodes=40)
    d["policies"] = ["cloud"]
    d["faults"] = [{"kind": "loss_burst", "start_h": 10, "duration_h": 10,
                    "loss_probability": 0.3}]  # fmt: skip
    rec = _rec(twin.run(d), "cloud")
    # ~1600 frames in the burst; binomial sd ~18: 0.3 +/- 0.05 is over 4 sd.
    in_burst = 40 * 4 * 10
    assert rec["uplink_lost"]["interference"] / in_burst == pytest.approx(0.3, abs=0.05)
    d["faults"][0]["loss_probability"] = 1.0
    rec = _rec(twin.run(d), "cloud")
    assert abs(rec["uplink_lost"]["interference"] - in_burst) <= 40


def test_cloud_outage_loses_the_requests_that_reach_it():
    d = _farm()
    d["policies"] = ["cloud"]
    d["faults"] = [{"kind": "cloud_outage", "start_h": 30, "duration_h": 2}]
    r = twin.run(d)
    rec = _rec(r, "cloud")
    # Every reading delivered in those two hours: 30 nodes x 8, minus the few lost on air.
    assert 200 <= rec["messages_lost"]["cloud_outage"] <= 240
    t, req = _series(r, "cloud", "cloud_requests")
    assert req[(t > 30 * HOUR) & (t <= 32 * HOUR)].sum() == 0
    assert req[(t > 28 * HOUR) & (t <= 30 * HOUR)].sum() > 200
    # Every reading the network got was either served or refused.
    assert rec["inferences_cloud"] + rec["messages_lost"]["cloud_outage"] == rec["uplink_delivered"]


def test_backhaul_spike_delays_cloud_decisions():
    d = _farm()
    d["policies"] = ["cloud"]
    base = _rec(twin.run(d), "cloud")["latency_s"]
    d["faults"] = [{"kind": "backhaul_spike", "start_h": 0, "duration_h": 48,
                    "extra_latency_s": 30}]  # fmt: skip
    slow = _rec(twin.run(d), "cloud")["latency_s"]
    # 30 s each way misses every class-A window: decisions wait for the next uplink.
    assert slow["p50"] > base["p50"] + 60


# -- nodes ---------------------------------------------------------------------------------------
def test_scheduled_brownout_skips_the_samples_of_its_downtime():
    d = _farm()
    d["faults"] = [{"kind": "brownout", "start_h": 10, "downtime_s": 3600}]
    r = twin.run(d)
    for policy in ("on_device", "cloud"):
        rec = _rec(r, policy)
        # Every node is off for one hour: exactly 4 samples each at a 900 s period.
        assert rec["samples_skipped_by_reason"] == {"battery": 0, "reset": 30 * 4}
        assert rec["resets"] == 30
        assert rec["inferences_device"] == (rec["samples"] if policy == "on_device" else 0)


def test_random_brownouts_follow_their_rate():
    d = _farm(nodes=200, days=10)
    d["policies"] = ["on_device"]
    d["faults"] = [{"kind": "brownout", "mtbf_h": 48, "downtime_s": 60}]
    rec = _rec(twin.run(d), "on_device")
    expected = 200 * 10 * 24 / 48  # 1000 resets; Poisson sd ~32
    assert rec["resets"] == pytest.approx(expected, abs=130)
    # 60 s off in a 900 s period: a reset hides the next sample 1 time in 15.
    assert rec["samples_skipped_by_reason"]["reset"] == pytest.approx(expected / 15, abs=30)


def test_restarted_node_refills_its_window_from_its_first_reading():
    from twin.sim.window import WindowBuffer

    d = _farm(nodes=4, days=1)
    d["faults"] = [{"kind": "brownout", "start_h": 6, "downtime_s": 1800}]
    d["policies"] = ["on_device"]
    seen = {}
    orig = WindowBuffer.windows

    def spy(self, nodes, k):
        out = orig(self, nodes, k)
        for n_, k_, row in zip(nodes, k, out, strict=True):
            seen[(int(n_), int(k_))] = row.copy()
        return out

    WindowBuffer.windows = spy
    try:
        twin.run(d)
    finally:
        WindowBuffer.windows = orig
    # Samples 24 and 25 (6:00-6:30) are missed; the first window after (k = 26) is flat.
    for node in range(4):
        first = [k for (n_, k) in seen if n_ == node and k > 24][0]
        assert first == 26
        w = seen[(node, first)].reshape(-1, 2)
        assert np.all(w == w[-1]), "the window should hold the first reading only"
        assert not np.all(seen[(node, 23)].reshape(-1, 2) == seen[(node, 23)][-2:])


# -- store-and-forward ---------------------------------------------------------------------------
def _outage_farm(buffer_bytes: int, nodes: int = 30, days: float = 2.0) -> dict:
    d = _farm(nodes=nodes, days=days, store_and_forward={"buffer_bytes": buffer_bytes})
    d["faults"] = [{"kind": "gateway_outage", "start_h": 20, "duration_h": 6}]
    return d


def test_store_and_forward_keeps_what_the_outage_would_lose():
    d = _outage_farm(1024)
    d["policies"] = ["cloud"]
    stored = _rec(twin.run(d), "cloud")
    d["groups"]["soil"].pop("store_and_forward")
    plain = _rec(twin.run(d), "cloud")
    sf = stored["store_and_forward"]
    assert plain["store_and_forward"] is None
    # Without it, ~720 readings die with the outage; with it, the nodes notice within an
    # hour's check and three unanswered checks, and store the rest of the outage.
    assert plain["uplink_lost"]["outage"] > 650
    assert sf["stored"] > 400
    assert stored["uplink_lost"]["outage"] < plain["uplink_lost"]["outage"] - 400
    assert sf["dropped_overflow"] == 0
    assert sf["forwarded"] + sf["buffered_at_end"] == sf["stored"]
    # Forwarded after the outage: older than the time left in the outage at storing.
    assert 0 < sf["forward_delay_s"]["p50"] < 7 * HOUR
    assert stored["conservation"]["store_and_forward"] is True


def test_full_buffer_drops_the_oldest():
    d = _outage_farm(16)  # four 4-byte readings
    d["policies"] = ["cloud"]
    rec = _rec(twin.run(d), "cloud")
    sf = rec["store_and_forward"]
    assert sf["dropped_overflow"] > 0
    assert rec["messages_lost"]["buffer_overflow"] == sf["dropped_overflow"]
    # Only the newest four survive per node: none forwarded is older than about four
    # samples plus the wait for the first answered probe (one check period) and draining.
    assert sf["forward_delay_s"]["p99"] < 4 * 900 + HOUR + 2 * 900


@pytest.mark.slow
def test_faults_change_nothing_with_the_batching_window():
    d = _farm(nodes=20, days=2, store_and_forward={"buffer_bytes": 64, "check_period_s": 1800})
    d["faults"] = [
        {"kind": "gateway_outage", "gateway": "gw-north", "start_h": 10, "duration_h": 6},
        {"kind": "gateway_outage", "mtbf_h": 20, "mttr_h": 2},
        {"kind": "cloud_outage", "start_h": 30, "duration_h": 1},
        {"kind": "loss_burst", "mtbf_h": 10, "mttr_h": 1, "loss_probability": 0.5},
        {"kind": "backhaul_spike", "start_h": 36, "duration_h": 2, "extra_latency_s": 20},
        {"kind": "brownout", "mtbf_h": 24, "downtime_s": 2000},
    ]
    a = twin.run(d)
    b = twin.run(d, batch_window_s=0.0)
    assert json.dumps(a.summary["results"], sort_keys=True) == json.dumps(
        b.summary["results"], sort_keys=True
    )
    assert a.timeseries == b.timeseries and a.nodes == b.nodes
    rec = _rec(a, "cloud")
    assert rec["store_and_forward"]["stored"] > 0 and rec["resets"] > 0
    assert rec["uplink_lost"]["interference"] > 0 and rec["messages_lost"]["cloud_outage"] > 0


@pytest.mark.slow
def test_outage_scenario_reports_buffered_and_lost_per_policy(tmp_path):
    d = yaml.safe_load((ROOT / "scenarios" / "farm_outage.yaml").read_text())
    d["groups"]["soil"]["count"] = 40
    d["world"]["horizon_days"] = 11
    r = twin.run(d)
    out = twin.write_results(r, tmp_path / "out")
    html = (out / "report.html").read_text()
    assert 'id="table-faults"' in html and 'id="plot-faults"' in html
    s = json.loads((out / "summary.json").read_text())
    assert [f["kind"] for f in s["faults"]["intervals"]] == ["gateway_outage"] * 2
    for policy in ("on_device", "cloud", "batched_upload"):
        rec = r.result(policy, "soil")
        assert rec["conservation"]["store_and_forward"] is True
        sf = rec["store_and_forward"]
        # The table shows each policy's numbers as they are in summary.json.
        assert f'data-value="{sf["stored"]}"' in html
    assert r.result("cloud", "soil")["store_and_forward"]["stored"] > 40 * 4 * 3


# -- any mix of faults: the books balance and batching changes nothing ---------------------------
_timing = st.one_of(
    st.fixed_dictionaries({"start_h": st.floats(0, 30), "duration_h": st.floats(0.01, 12)}),
    st.fixed_dictionaries({"mtbf_h": st.floats(0.5, 48), "mttr_h": st.floats(0.01, 6)}),
)
_fault = st.one_of(
    st.builds(lambda t, gw: {"kind": "gateway_outage", **t, **gw}, _timing,
              st.sampled_from([{}, {"gateway": "gw-north"}, {"gateway": "gw-south"}])),
    st.builds(lambda t: {"kind": "cloud_outage", **t}, _timing),
    st.builds(lambda t, p: {"kind": "loss_burst", "loss_probability": p, **t}, _timing,
              st.floats(0.01, 1.0)),
    st.builds(lambda t, x: {"kind": "backhaul_spike", "extra_latency_s": x, **t}, _timing,
              st.floats(0.1, 600)),
    st.builds(lambda at, down: {"kind": "brownout", "downtime_s": down, **at},
              st.one_of(st.fixed_dictionaries({"start_h": st.floats(0, 30)}),
                        st.fixed_dictionaries({"mtbf_h": st.floats(1, 100)})),
              st.floats(1, 20_000)),
)  # fmt: skip


@settings(
    max_examples=int(os.environ.get("TWIN_FUZZ_EXAMPLES", "6")),
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    faults=st.lists(_fault, min_size=1, max_size=4),
    store=st.one_of(st.none(), st.integers(1, 200)),
    policy=st.sampled_from(["on_device", "cloud", "batched_upload"]),
)
@pytest.mark.slow
def test_any_faults_keep_the_books_and_batching_free(faults, store, policy):
    d = _farm(nodes=8, days=1.5)
    d["policies"] = [policy]
    d["faults"] = faults
    if store is not None:
        d["groups"]["soil"]["store_and_forward"] = {"buffer_bytes": store, "check_period_s": 1800}
    a = twin.run(d)  # conservation is checked inside: a violation raises
    b = twin.run(d, batch_window_s=0.0)
    assert json.dumps(a.summary["results"], sort_keys=True) == json.dumps(
        b.summary["results"], sort_keys=True
    )
    assert a.timeseries == b.timeseries
