"""Cellular coverage classes in the run: repetitions cost time and charge, past the maximum
coupling loss messages are lost (the physics: twin.physics.coverage, tests/test_coverage.py).

The closed forms checked here: at the CE0 loss (144 dB for NB-IoT, 3GPP TR 45.820) nothing
repeats, so the run is the one without a coupling loss; at 164 dB every node needs NPUSCH's
128 repetitions (10 log10 128 = 21.1 dB >= 20 dB) and each message pays the repeated airtime
of its bytes at full TX power; past 164 dB every message is lost.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import twin
from twin.errors import ScenarioError
from twin.physics import coverage as cov
from twin.profiles import load_profile

ROOT = Path(__file__).resolve().parent.parent


def _nbiot(loss=None, count: int = 6, days: float = 2.0) -> dict:
    d = yaml.safe_load((ROOT / "scenarios" / "factory.yaml").read_text())
    d["groups"] = {"nbiot": {**d["groups"]["nbiot"], "count": count}}
    d["world"]["horizon_days"] = days
    d["policies"] = ["cloud"]
    if loss is not None:
        d["groups"]["nbiot"]["link"]["coupling_loss_db"] = loss
    return d


def _run(d: dict) -> dict:
    return twin.run(d, base_dir=ROOT / "scenarios").result("cloud", "nbiot")


def test_at_the_ce0_loss_nothing_repeats():
    base, at_ce0 = _run(_nbiot()), _run(_nbiot(144.0))
    assert at_ce0["coverage"]["repetitions_ul_max"] == 1
    for key in ("energy_j", "battery_life_days", "latency_s", "uplink_delivered"):
        assert at_ce0[key] == base[key]


def test_deep_coverage_repeats_every_message_128_times():
    base, deep = _run(_nbiot()), _run(_nbiot(164.0))
    c = deep["coverage"]
    assert c["nodes_by_level"]["ce2"] == 6 and c["repetitions_ul_max"] == 128
    assert deep["uplink_delivered"] == base["uplink_delivered"]  # slower, not lost
    # Every reading (1,024 B + 61 B of headers) sent 127 more times at the profile's rate, at
    # full TX power, the modem's currents drawn from the 3.6 V cell at constant power.
    r = load_profile("radio", "nrf9160-nbiot")
    cell = load_profile("battery", "tlp-93111-a")
    scale = r.supply_v / cell.nominal_v
    extra = cov.exchange_cost(
        1085,
        61,
        128,
        128,
        128,
        r.uplink_rate_bps,
        r.downlink_rate_bps,
        r.preamble_s,
        r.tx_current_a * scale,
        r.rx_current_a * scale,
    )
    readings = deep["inferences_cloud"]
    got = (
        deep["battery"]["drawn_by_state_c"]["radio_tx"]
        - base["battery"]["drawn_by_state_c"]["radio_tx"]
    )
    # Heartbeats (4 B) repeat too, a few % on top of the readings' share.
    assert got == pytest.approx(readings * float(extra.extra_tx_s) * r.tx_current_a * scale,
                                rel=0.05)  # fmt: skip
    # The hub has each reading ~55 s later: the cloud's decisions wait as long.
    assert deep["latency_s"]["p50"] - base["latency_s"]["p50"] == pytest.approx(
        float(extra.extra_s), rel=0.05
    )
    assert deep["battery_life_days"]["median"] < base["battery_life_days"]["median"] / 10


def test_past_the_maximum_coupling_loss_every_message_is_lost():
    out = _run(_nbiot(170.0))
    assert out["coverage"]["nodes_out_of_coverage"] == 6
    assert out["uplink_lost"]["out_of_coverage"] == out["uplink_messages"] > 0
    assert out["uplink_delivered"] == 0


def test_a_spread_of_losses_puts_nodes_in_every_class_and_is_seeded():
    d = _nbiot({"median_db": 150.0, "sd_db": 8.0}, count=40)
    a, b = _run(d), _run(d)
    assert a["coverage"] == b["coverage"]
    levels = a["coverage"]["nodes_by_level"]
    assert all(v > 0 for v in levels.values())
    lost = a["coverage"]["nodes_out_of_coverage"]
    assert sum(levels.values()) + lost == 40


def test_a_coupling_loss_on_a_lora_group_is_refused():
    d = yaml.safe_load((ROOT / "scenarios" / "farm.yaml").read_text())
    d["groups"]["soil"]["link"] = {"coupling_loss_db": 150}
    with pytest.raises(ScenarioError, match="coupling_loss_db applies to cellular radios"):
        twin.run(d)
