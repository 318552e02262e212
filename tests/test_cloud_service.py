"""The cloud inference service: server cost model, FIFO workers, batching, money."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

import twin
from twin.ml.runner import OnnxModel
from twin.physics import cloud as cloud_cost
from twin.profiles import load_profile
from twin.sim.cloud import CloudQueue
from twin.sim.timebins import TimeBins


def _queue(workers, call_s, request_s, max_batch):
    """A bare cloud queue with 1 s time-series steps (the service without a fleet)."""
    return CloudQueue(workers, max_batch, call_s, request_s, TimeBins(20.0, 1.0))


def test_greedy_batching_without_batches_is_the_fifo_recursion():
    # One request per call on k equal workers: the sequential scheduler and the vectorised
    # residue-class recursion must agree exactly, including across cuts in time.
    rng = np.random.default_rng(1)
    arrive = np.sort(rng.exponential(0.004, 2000).cumsum())
    a, b = _queue(3, 0.0, [0.011], 1), _queue(3, 0.0, [0.011], 1)
    start_a = a.fifo_equal(arrive, 0.011)
    start_b, done_b = b.fifo_batched(arrive, np.zeros(len(arrive), dtype=int), np.inf)
    np.testing.assert_allclose(start_a, start_b, rtol=0, atol=1e-12)
    assert a.busy_ns == b.busy_ns and a.calls == b.calls == len(arrive)
    # Busy time per time-series step agrees too, and adds up to the total.
    np.testing.assert_array_equal(a.busy_ns_bins, b.busy_ns_bins)
    assert a.busy_ns_bins.sum() == a.busy_ns


def test_batching_takes_what_waits_and_pays_the_call_once():
    net = _queue(1, 0.010, [0.001], 8)
    arrive = np.array([0.0, 0.001, 0.002, 0.003, 0.004])
    start, done = net.fifo_batched(arrive, np.zeros(5, dtype=int), np.inf)
    # The first request finds the worker free and goes alone (11 ms); the four that arrived
    # meanwhile go together in one call: 10 ms + 4 x 1 ms.
    np.testing.assert_allclose(start, [0.0, 0.011, 0.011, 0.011, 0.011])
    np.testing.assert_allclose(done, [0.011, 0.025, 0.025, 0.025, 0.025])
    assert net.calls == 2


def test_batched_calls_are_formed_only_when_they_start():
    # Cut at t = 0.005: the second call starts at 0.011 > t and may still take requests that
    # arrive later, so it is not formed yet; serving in two steps equals serving at once.
    arrive = np.array([0.0, 0.001, 0.002, 0.006, 0.012, 0.030])
    gid = np.zeros(len(arrive), dtype=int)
    whole = _queue(1, 0.010, [0.001], 8)
    s_all, d_all = whole.fifo_batched(arrive, gid, np.inf)
    part = _queue(1, 0.010, [0.001], 8)
    s1, d1 = part.fifo_batched(arrive, gid, 0.005)
    assert len(s1) == 1
    s2, d2 = part.fifo_batched(arrive[len(s1) :], gid[len(s1) :], np.inf)
    np.testing.assert_array_equal(np.r_[s1, s2], s_all)
    np.testing.assert_array_equal(np.r_[d1, d2], d_all)


def _loaded_farm(farm_dict, max_batch):
    d = copy.deepcopy(farm_dict)
    d["groups"]["soil"]["count"] = 40
    d["world"]["horizon_days"] = 1
    d["policies"] = ["cloud"]
    # A slow cloud (one worker, 40 ms per request) so that requests queue up.
    d["cloud"].update(workers=1, service_time_s=None, max_batch=max_batch)
    return d


def test_service_time_comes_from_the_cloud_model_on_the_server(farm_dict):
    d = _loaded_farm(farm_dict, 1)
    r = twin.run(d)
    res = r.result("cloud")
    server = load_profile("server", "cloud-cpu-worker")
    macs = OnnxModel(Path(twin.__file__).parent / "zoo" / "soil_irrigation_fp32.onnx").cost.macs
    per_request_s = float(cloud_cost.service_time_s(server, macs, 1))
    busy_s = res["inferences_cloud"] * per_request_s
    assert res["cloud"]["utilisation"] == pytest.approx(busy_s / 86_400, rel=1e-6)
    assert res["cloud"]["service_calls"] == res["inferences_cloud"]


@pytest.mark.slow
def test_batching_is_exact_under_engine_batching_and_cuts_calls(farm_dict):
    # A slow server (60 s per call; 40 nodes every 10 min, one request per 15 s): requests
    # queue and share calls.
    import dataclasses

    slow = dataclasses.replace(load_profile("server", "cloud-cpu-worker"), call_overhead_s=60.0)

    def on_slow_server(d: dict, **kw) -> twin.RunResult:
        # A plan is plain data: swap in another server profile without writing a file.
        plan = twin.compile_scenario(d, **kw)
        return twin.run(
            dataclasses.replace(plan, cloud=dataclasses.replace(plan.cloud, server=slow))
        )

    unbatched = on_slow_server(_loaded_farm(farm_dict, 1)).result("cloud")
    d = _loaded_farm(farm_dict, 16)
    a = on_slow_server(d)
    b = on_slow_server(d, batch_window_s=0.0)
    assert a.summary == b.summary and a.nodes == b.nodes
    res = a.result("cloud")
    assert res["cloud"]["service_calls"] < res["inferences_cloud"] / 2
    # One worker at 60 s per request cannot keep up and its queue grows all day; batching
    # keeps up (the worker stays busy either way: it always finds requests waiting).
    assert unbatched["cloud"]["utilisation"] > 0.99
    assert res["latency_s"]["p95"] < 0.1 * unbatched["latency_s"]["p95"]


def test_money_is_reported_from_the_server_prices(farm_dict):
    d = _loaded_farm(farm_dict, 1)
    d["policies"] = ["on_device", "cloud"]
    r = twin.run(d)
    server = load_profile("server", "cloud-cpu-worker")
    for policy in ("on_device", "cloud"):
        res = r.result(policy)
        c = res["cloud"]["cost_usd"]
        messages = res["uplink_delivered"] + res["downlink_messages"]
        assert c["requests_usd"] == pytest.approx(
            messages / 2 / 1e6 * server.price_per_million_requests_usd
        )
        assert c["total_usd"] == pytest.approx(
            c["requests_usd"] + c["transfer_usd"] + c["compute_usd"]
        )
    # No cloud inference on the device policy: no workers to pay.
    assert r.result("on_device")["cloud"]["cost_usd"]["compute_usd"] == 0.0
    assert r.result("cloud")["cloud"]["cost_usd"]["compute_usd"] == pytest.approx(
        24 * server.price_per_worker_hour_usd
    )
