"""The simulated network server's log (twin run --telemetry): every decoded frame, once."""

from __future__ import annotations

import numpy as np
import pytest

import twin.api as api
from twin.config.loader import load_scenario


@pytest.fixture(scope="module")
def farm():
    sc = load_scenario("scenarios/farm.yaml").with_overrides(
        {"groups.soil.count": 60, "world.horizon_days": 2}
    )
    return sc, api.run(sc, telemetry=True)


def test_every_delivered_frame_is_logged_once_per_decoding_gateway(farm):
    _, r = farm
    for policy, u in r.uplinks.items():
        frames = set(zip(u.device.tolist(), u.fcnt.tolist(), strict=True))
        assert len(frames) == r.result(policy)["uplink_delivered"]
        rows = set(zip(u.device.tolist(), u.fcnt.tolist(), u.gateway.tolist(), strict=True))
        assert len(rows) == len(u)  # a gateway lists a frame once
        assert set(u.gateway) <= {"gw-north", "gw-south"}
        assert np.all(np.diff(u.time_s) >= 0)


def test_frame_counters_count_lost_frames_too(farm):
    _, r = farm
    u = r.uplinks["cloud"]
    sent = {row["node"]: row["uplink_messages"] for row in r.nodes if row["policy"] == "cloud"}
    for name in sorted(set(u.device.tolist())):
        mine = u.device == name
        # The counter runs over every frame the node sent (counter 0 first), so the last one
        # heard is at most the frames sent less one, and gaps are frames lost on the channel.
        assert u.fcnt[mine].max() <= sent[int(name.split("-")[1])] - 1
    lost = sum(r.result("cloud")["uplink_lost"].values())
    gaps = 0
    for name in set(u.device.tolist()):
        f = np.unique(u.fcnt[u.device == name])
        gaps += f.max() + 1 - len(f)
    assert 0 < gaps <= lost  # trailing losses (after the last frame heard) are no gap


def test_links_are_the_channels_and_times_its_frames(farm):
    sc, r = farm
    u = r.uplinks["cloud"]
    # A link's RSSI is fixed (no per-frame fading) and its SNR sits on one noise floor.
    for name, gw in {(d, g) for d, g in zip(u.device, u.gateway, strict=True)}:
        m = (u.device == name) & (u.gateway == gw)
        assert np.ptp(u.rssi_dbm[m]) == 0
    assert np.ptp(u.rssi_dbm - u.snr_db) < 1e-9
    # Readings every 15 min: a node's frames are a sampling period apart, plus its jitter.
    d = u.device == u.device[0]
    step = np.diff(np.unique(u.time_s[d])) / np.diff(np.unique(u.fcnt[d]))
    assert np.all(np.abs(step - 900) <= 5 + 1e-6)  # tx_jitter_s: 5


def test_the_log_does_not_depend_on_batching(farm):
    sc, r = farm
    again = api.run(sc, telemetry=True, batch_window_s=0.0)
    for policy, u in r.uplinks.items():
        v = again.uplinks[policy]
        for col in ("device", "fcnt", "time_s", "gateway", "rssi_dbm"):
            assert np.array_equal(getattr(u, col), getattr(v, col)), (policy, col)
