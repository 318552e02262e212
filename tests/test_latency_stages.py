"""Where a decision's latency goes: the stages add up, and each is what the path puts there."""

from __future__ import annotations

import copy
import math

import pytest

import twin
from twin.sim.metrics import STAGES


def test_stages_add_up_and_the_backhaul_is_its_lognormal_mean(small_farm):
    d = copy.deepcopy(small_farm)
    r = twin.run(d)
    for entry in r.summary["results"]:
        stages, mean = entry["latency_breakdown_s"], entry["latency_s"]["mean"]
        assert list(stages) == list(STAGES)
        assert sum(stages.values()) == pytest.approx(mean, rel=1e-9)
    on, cloud = (
        r.result("on_device")["latency_breakdown_s"],
        r.result("cloud")["latency_breakdown_s"],
    )
    assert on["on_device"] > 0 and all(on[s] == 0 for s in STAGES[1:])
    assert cloud["on_device"] == 0 and cloud["cloud_service"] > 0
    # The backhaul down is lognormal with the scenario's median and p95: its mean is
    # median * exp(sigma^2 / 2), sigma = ln(p95 / median) / 1.645. 10 %: a few thousand
    # answers give ~2 % sampling error; the rest is margin.
    down = d["cloud"]["downlink_latency"]
    sigma = math.log(down["p95_s"] / down["median_s"]) / 1.6449
    assert cloud["downlink_backhaul"] == pytest.approx(
        down["median_s"] * math.exp(sigma**2 / 2), rel=0.10
    )
    # A class-A node hears the cloud only after its next uplink: the wait dominates.
    assert cloud["rx_window_wait"] > cloud["uplink"] > d["cloud"]["uplink_latency"]["median_s"]
