"""Wi-Fi stations sharing an access point: the DCF's retries, backoff and deferral, charged.

The contention model itself is tested against ns-3's Bianchi references
(tests/test_wifi_contention.py); here its figures must reach a message's cost exactly as the
docstring of DirectLink._contention says, and a fleet's energy must follow.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import yaml

import twin
from twin.config.schema import Link
from twin.errors import ScenarioError
from twin.physics import wifi_contention as wifi
from twin.policies import DECISION, HEARTBEAT, READING
from twin.profiles import load_profile
from twin.sim.access import WIFI_MTU_BYTES, DirectLink

ROOT = Path(__file__).resolve().parents[1]
PERIOD_S = 30.0


def _link(stations: int, payload: int = 9216, **cfg) -> DirectLink:
    payloads = {READING: payload, DECISION: 2, HEARTBEAT: 4}
    return DirectLink(
        load_profile("radio", "esp32-wifi"), Link(access_point_stations=stations, **cfg), 4,
        payloads, 2, np.random.default_rng(0), message_rate_hz=1.0 / PERIOD_S,
    )  # fmt: skip


def test_one_station_meets_no_contention():
    link = _link(1)
    assert link.contention is None


@pytest.mark.parametrize("cfg", [{}, {"stay_connected": True}])
def test_the_models_figures_reach_the_message_cost(cfg):
    alone, shared = _link(1, **cfg), _link(50, **cfg)
    r = load_profile("radio", "esp32-wifi")
    on_air = 9216 + r.mac_overhead_bytes
    frames = -(-on_air // WIFI_MTU_BYTES)
    frame_s = 8.0 * on_air / frames / r.phy_rate_bps  # the readings' mean frame
    # 802.11b at 1 Mbit/s: DSSS timing (20 us slots, CW 31..1023).
    p = wifi.collision_probability(
        50, frames / PERIOD_S, frame_s, cw_min=31, cw_max=1023, slot_s=20e-6
    )
    c = shared.contention
    assert c["collision_probability"] == pytest.approx(float(p), rel=1e-12)
    attempts = 1.0 + p + p**2 + p**3 + p**4 + p**5 + p**6  # retry limit 6: 7 attempts
    assert c["attempts_per_frame"] == pytest.approx(attempts, rel=1e-12)
    busy = 49 * frames / PERIOD_S * attempts * frame_s
    assert c["channel_busy_fraction"] == pytest.approx(busy, rel=1e-12)
    # The retried airtime is charged at the TX current, backoff and deferral at the listen.
    data_s = 8.0 * on_air / r.phy_rate_bps
    a, b = alone.costs[READING], shared.costs[READING]
    assert b.tx_c - a.tx_c == pytest.approx((attempts - 1) * data_s * r.tx_current_a, rel=1e-9)
    waited = c["backoff_s"] + c["defer_s"]
    assert b.rx_c - a.rx_c == pytest.approx(waited * r.listen_current_a, rel=1e-9)
    assert b.hub_s - a.hub_s == pytest.approx((attempts - 1) * data_s + waited, rel=1e-9)
    assert c["defer_s"] == pytest.approx(frames * attempts * busy * frame_s / 2, rel=1e-12)
    # The channel is the readings' load, whatever the message: a 2-byte decision (one frame)
    # meets the same collision probability and busy medium.
    dec_s = 8.0 * (2 + r.mac_overhead_bytes) / r.phy_rate_bps
    a, b = alone.costs[DECISION], shared.costs[DECISION]
    assert b.tx_c - a.tx_c == pytest.approx((attempts - 1) * dec_s * r.tx_current_a, rel=1e-9)
    defer = attempts * busy * frame_s / 2
    assert b.hub_s - a.hub_s == pytest.approx(
        (attempts - 1) * dec_s + c["backoff_s"] / frames + defer, rel=1e-9
    )


def test_an_overloaded_access_point_is_said_to_be(tmp_path):
    d = _cameras(400)
    r = twin.run(d).result("cloud", "camera")
    assert r["wifi_contention"]["channel_busy_fraction"] > 0.5
    assert any("light-load" in w for w in r["warnings"])


def test_more_stations_cost_more():
    figures = [_link(n).contention for n in (2, 10, 50, 200)]
    for key in ("collision_probability", "attempts_per_frame", "defer_s", "extra_tx_s"):
        values = [f[key] for f in figures]
        assert values == sorted(values) and values[0] < values[-1], key


def _cameras(stations: int) -> dict:
    d = yaml.safe_load((ROOT / "scenarios" / "smart_home.yaml").read_text())
    cam = copy.deepcopy(d["groups"]["camera"])
    cam["count"] = 3
    cam["link"] = dict(cam.get("link", {}), access_point_stations=stations)
    d["groups"] = {"camera": cam}
    d["world"]["horizon_days"] = 0.05
    d["policies"] = ["cloud"]
    return d


def test_a_shared_access_point_costs_the_cameras_energy():
    alone = twin.run(_cameras(1)).result("cloud", "camera")
    shared = twin.run(_cameras(50)).result("cloud", "camera")
    assert "wifi_contention" not in alone and shared["wifi_contention"]["stations"] == 50
    assert shared["energy_per_node_day_j"] > alone["energy_per_node_day_j"]
    # Everything else is the same run: the decisions do not move.
    assert shared["decision"] == alone["decision"]


def test_access_point_stations_on_another_radio_is_refused(farm_dict):
    d = copy.deepcopy(farm_dict)
    d["groups"]["soil"]["link"] = {"access_point_stations": 5}
    with pytest.raises(ScenarioError) as exc:
        twin.compile_scenario(d)
    assert exc.value.key_path == "groups.soil.link.access_point_stations"
    assert "applies to Wi-Fi radios" in exc.value.message


def test_the_default_keeps_the_scenarios_digest():
    # A study resumes by the digest: writing the default out (or the key existing at all)
    # must not change it; a shared access point must.
    plain = _cameras(1)
    plain["groups"]["camera"]["link"].pop("access_point_stations")
    digest = twin.compile_scenario(plain).digest
    assert twin.compile_scenario(_cameras(1)).digest == digest
    assert twin.compile_scenario(_cameras(2)).digest != digest
