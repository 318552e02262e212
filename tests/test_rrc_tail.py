"""An eDRX cellular node gets a cloud decision in its RRC tail when the modem is still
connected after the message that asked, instead of at the next paging occasion."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

import twin

ROOT = Path(__file__).resolve().parents[1]


def _nbiot(tail_open: bool, uplink_median_s: float) -> dict:
    d = yaml.safe_load((ROOT / "scenarios" / "factory.yaml").read_text())
    g = copy.deepcopy(d["groups"]["nbiot"])
    g["count"] = 10
    # Without release assistance the modem stays connected 10 s after each message (the
    # radio profile's connected tail); with it, 1 s.
    g["link"] = {"release_assistance": not tail_open, "edrx_cycle_s": 81.92}
    d["groups"] = {"nbiot": g}
    d["world"]["horizon_days"] = 1
    d["cloud"]["uplink_latency"] = {"median_s": uplink_median_s, "p95_s": 1.5 * uplink_median_s}
    d["policies"] = ["cloud"]
    return d


def test_decisions_back_within_the_tail_skip_paging():
    # A 10 s tail and a cloud round trip of well under a second: every decision arrives while
    # the modem is connected, so none waits for a paging occasion. Waiting for one would
    # spread latencies over the 81.92 s cycle (p95 - p50 ~ 0.45 x 82 = 37 s); without it they
    # spread only by the round trip's.
    r = twin.run(_nbiot(True, 0.1)).result("cloud")
    assert r["downlink_messages"] > 0
    assert r["downlinks_in_rrc_tail"] == r["downlink_messages"]
    assert r["latency_s"]["p95"] - r["latency_s"]["p50"] < 3.0


def test_decisions_later_than_the_tail_wait_for_paging():
    # A 1 s tail (release assistance) and a 20 s uplink: no decision can make the tail, and
    # waiting for the next occasion adds on average half a cycle (41 s) to the 20 s uplink and
    # the message's own exchange (a quarter of a cycle is a floor sampling cannot cross).
    r = twin.run(_nbiot(False, 20.0)).result("cloud")
    assert r["downlinks_in_rrc_tail"] == 0
    assert r["latency_s"]["mean"] > 20.0 + 81.92 / 4


def test_paging_costs_charge_the_tail_does_not():
    # The same fleet with the tail open spends less on receiving decisions: a paged decision
    # costs a connection (exchange + tail at the average current), one in the tail nothing.
    tail = twin.run(_nbiot(True, 0.1)).result("cloud")
    paged = twin.run(_nbiot(True, 30.0)).result("cloud")
    assert paged["downlinks_in_rrc_tail"] == 0
    assert tail["energy_j"]["radio_rx"] < paged["energy_j"]["radio_rx"]
