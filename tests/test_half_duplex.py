"""Half-duplex gateways: a gateway transmitting a downlink hears no uplink meanwhile.

A worked case on the channel alone, the lost fraction against the gateways' busy time (a
closed form), and exactness: the fixed point the network iterates to does not depend on the
batching.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

import twin
from tests.test_channel_rules import _channel, _frames
from twin.physics import lora
from twin.sim.channel import LOST_HALF_DUPLEX


def _tx(gw, start, end):
    return (np.asarray(gw, dtype=np.int64), np.asarray(start, float), np.asarray(end, float))


def test_a_transmitting_gateway_hears_nothing_a_listening_one_does():
    # Two gateways hear both nodes. Gateway 0 transmits over [1.5, 2.5): frame 0 [0, 1) is
    # clear of it, frame 1 [2, 3) overlaps it (heard by gateway 1 only), frame 2 [2.4, 3.4)
    # starts while it transmits. Then gateway 1 transmits over [2.2, 2.3) as well: frame 1
    # (on air over both) is lost to half-duplex, frame 2 is still heard by gateway 1.
    for both in (False, True):
        ch = _channel([[-90.0, -90.0]] * 3, demodulators=(8, 8))
        ch.half_duplex = True
        ch.assumed_tx = _tx([0, 1], [1.5, 2.2], [2.5, 2.3]) if both else _tx([0], [1.5], [2.5])
        ch.add(_frames([0.0, 2.0, 2.4], [1.0, 3.0, 3.4], chan=[0, 1, 2]))
        fin, ok = ch.settle(10.0)
        _, _, by_gateway = ch.last_settled
        assert fin["node"].tolist() == [0, 1, 2]
        assert by_gateway[:, 0].tolist() == [True, False, False]
        assert ok.tolist() == [True, not both, True]
        assert ch.lost[LOST_HALF_DUPLEX].sum() == int(both)


def test_a_frame_starting_under_a_transmission_holds_no_demodulator():
    # One gateway with one demodulator, transmitting over [0, 1): frame 0 [0.5, 2) starts
    # under it (lost, and locks nothing), so frame 1 [1.5, 3) finds the demodulator free.
    # Full-duplex, frame 0 would hold it and frame 1 would be lost as "gateway busy".
    for half, expected in ((True, [False, True]), (False, [True, False])):
        ch = _channel([-90.0, -90.0], demodulators=(1,))
        ch.half_duplex = half
        ch.assumed_tx = _tx([0], [0.0], [1.0])
        ch.add(_frames([0.5, 1.5], [2.0, 3.0], chan=[0, 1]))
        _, ok = ch.settle(10.0)
        assert ok.tolist() == expected


def _one_gateway_cloud(farm_dict, n: int = 300, half_duplex: bool = True) -> dict:
    """Every uplink asks the cloud; one gateway answers as much as its duty cycle allows."""
    d = copy.deepcopy(farm_dict)
    # Starts spread over nearly the whole period: traffic close to stationary in time.
    d["groups"]["soil"].update(count=n, spreading_factor=12, tx_jitter_s=890.0)
    d["world"].update(horizon_days=1, site={"width_m": 400, "height_m": 400})
    d["gateways"] = [{"id": "gw", "x_m": 200, "y_m": 200}]
    d["channel"] = {"half_duplex": half_duplex}
    d["policies"] = ["cloud"]
    return d


def test_lost_fraction_is_the_gateways_busy_fraction(farm_dict):
    # A frame of air time T is lost to a half-duplex gateway when one of the gateway's
    # transmissions (rate lambda, mean length D) starts within D before it or T into it:
    # for transmissions spread in time the lost fraction is lambda (D + T), the busy
    # fraction lambda D plus the frame's own length's worth. lambda and D are the run's own
    # downlink count and air time (here 0.184). The run sits ~5 % below (0.175): a frame
    # starting just before a transmission overlaps the uplink it answers, and such uplinks
    # collided more often, so fewer are answered; the duty cycle keeps transmissions on one
    # band 10 D apart, so a frame rarely meets two. ~28 000 frames give a sampling error of
    # ~0.003; hence 0.015.
    d = _one_gateway_cloud(farm_dict)
    g = d["groups"]["soil"]
    horizon_s = d["world"]["horizon_days"] * 86400
    r = twin.run(d).result("cloud")
    lost = r["uplink_lost"]
    on_air = r["uplink_delivered"] + sum(v for k, v in lost.items() if k != "duty_cycle")
    frame_s = float(lora.time_on_air_s(g["payload_bytes"]["reading"] + 13, 12))
    sent = r["downlink_messages"] + r["acks"]
    rate, mean_s = sent / horizon_s, r["downlink_airtime_s"] / sent
    assert on_air > 20_000 and sent > 1_000
    assert lost["half_duplex"] / on_air == pytest.approx(rate * (mean_s + frame_s), abs=0.015)
    # The idealised full-duplex gateway loses none of them, and delivers more.
    full = twin.run(_one_gateway_cloud(farm_dict, half_duplex=False)).result("cloud")
    assert full["uplink_lost"]["half_duplex"] == 0
    assert full["uplink_delivered"] > r["uplink_delivered"]


def test_half_duplex_is_exact_under_batching(farm_dict):
    # The network iterates each advance to a fixed point; the outcome is the causal one, so
    # one sample per batch and the default window give the same nodes and summary.
    d = _one_gateway_cloud(farm_dict, n=120)
    d["world"]["horizon_days"] = 0.3
    a, b = twin.run(d, batch_window_s=0.0), twin.run(d)
    assert a.result("cloud")["uplink_lost"]["half_duplex"] > 0
    assert a.nodes == b.nodes
    assert a.summary["results"] == b.summary["results"]
