"""LoRaWAN confirmed uplinks: ACKs spend gateway duty cycle, missing ACKs cause retransmissions."""

from __future__ import annotations

import copy

import pytest

import twin


@pytest.fixture(scope="module")
def confirmed_run(farm_dict):
    d = copy.deepcopy(farm_dict)
    # Spreading factor 11 for every node: long enough ACKs that the gateways' RX1 duty cycle
    # cannot carry them all, whichever gateway each node hears best.
    d["groups"]["soil"].update(count=40, confirmed=True, max_transmissions=3, spreading_factor=11)
    d["world"]["horizon_days"] = 1
    return d, twin.run(d)


@pytest.mark.slow
def test_confirmed_uplinks_are_exact_under_batching(confirmed_run):
    d, a = confirmed_run
    b = twin.run(d, batch_window_s=0.0)
    assert a.summary == b.summary and a.nodes == b.nodes and a.timeseries == b.timeseries


@pytest.mark.parametrize("policy", ["on_device", "cloud"])
def test_every_message_is_acknowledged_once_or_given_up(confirmed_run, policy):
    _, a = confirmed_run
    r = a.result(policy)
    first = r["uplink_messages"] - r["uplink_lost"]["duty_cycle"] - r["retransmissions"]
    # Each heard attempt gets at most one downlink, which acknowledges it (class A answers
    # only a heard uplink); after an ACK the message is done. So messages split exactly
    # into acknowledged (by an ACK alone or a decision) and given up.
    assert first == r["acks"] + r["downlink_messages"] + r["unacknowledged"]
    assert r["uplink_messages"] == r["uplink_delivered"] + sum(r["uplink_lost"].values())
    assert r["acks"] + r["downlink_messages"] <= r["uplink_delivered"]


def test_acks_cost_gateway_duty_cycle_and_retries_follow(confirmed_run, farm_dict):
    _, a = confirmed_run
    cloud = a.result("cloud")
    # 40 nodes every 10 min at SF11: 5760 ACK-bearing downlinks a day of 0.58 s each need
    # about twice the RX1 time 1 % of two gateways allows, so some windows get no ACK and
    # their messages go again.
    assert cloud["downlinks_blocked_duty_cycle"] > 0
    assert cloud["retransmissions"] > 0
    d = copy.deepcopy(farm_dict)
    d["groups"]["soil"].update(count=40, spreading_factor=11)
    d["world"]["horizon_days"] = 1
    plain = twin.run(d).result("cloud")
    assert plain["retransmissions"] == plain["acks"] == 0
    # Retransmissions and ACK reception cost the nodes energy.
    assert cloud["energy_j"]["radio_tx"] > plain["energy_j"]["radio_tx"]


def test_confirmed_is_refused_on_a_wifi_radio(farm_dict):
    d = copy.deepcopy(farm_dict)
    d["groups"]["soil"].update(radio="esp32-wifi", confirmed=True)
    d["groups"]["soil"].pop("spreading_factor", None)
    with pytest.raises(twin.ScenarioError, match="groups.soil.confirmed"):
        twin.run(d)
