"""What a reboot costs: the MCU's cold boot and the radio's re-join after a brown-out.

The rules are closed forms over published protocol figures: an OTAA join-request of 23 bytes
and a join-accept of 33 (LoRaWAN 1.0.3 sections 6.2.4-6.2.5) at the node's spreading factor,
on the Semtech time-on-air formula (tested against Semtech's figures in test_physics_lora);
a Wi-Fi association with DHCP at the profile's measured time; the board's boot time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

import twin
from twin.physics import lora
from twin.profiles import load_profile

ROOT = Path(__file__).resolve().parent.parent


def _board(folder: Path, parent: str, boot_s: float) -> str:
    where = folder / "device_profiles" / "boards"
    where.mkdir(parents=True, exist_ok=True)
    (where / "my-board.yaml").write_text(
        f"id: my-board\nname: test board\nextends: {parent}\n"
        f'boot_s: {boot_s}\nboot_s_source: "test"\n'
    )
    return "my-board"


def _farm(folder: Path, boot_s: float) -> Path:
    d = yaml.safe_load((ROOT / "scenarios" / "farm.yaml").read_text())
    d["groups"]["soil"].update(count=12, board=_board(folder, "nano33ble", boot_s))
    d["world"]["horizon_days"] = 1
    d["faults"] = [{"kind": "brownout", "start_h": 6, "downtime_s": 1800}]
    d["policies"] = ["on_device"]
    path = folder / "scenario.yaml"
    path.write_text(yaml.safe_dump(d))
    return path


def test_a_lora_node_boots_and_joins_again_after_each_reset(tmp_path):
    r = twin.run(_farm(tmp_path / "a", boot_s=0.05))
    rec = r.result("on_device", "soil")
    assert rec["resets"] == rec["reboots"]["count"] == 12
    board = load_profile("board", "my-board", tmp_path / "a")
    radio = load_profile("radio", "sx1262")
    sf = np.array([row["spreading_factor"] for row in r.nodes])
    # EU868: uplinks and RX1 at 125 kHz, CR 4/5, 8 preamble symbols.
    req = lora.time_on_air_s(23, sf, 125e3, 1, 8)
    acc = lora.time_on_air_s(33, sf, 125e3, 1, 8)
    join_c = req * (radio.tx_current_a - radio.sleep_current_a) + acc * (
        radio.rx_current_a - radio.sleep_current_a
    )
    boot_c = 0.05 * (board.active_current_a - board.sleep_current_a)
    # Float sums in another order: 1e-9.
    assert rec["reboots"]["charge_c"] == pytest.approx(12 * boot_c + join_c.sum(), rel=1e-9)


def test_the_boot_is_charged_to_compute_and_nothing_else_moves(tmp_path):
    a = twin.run(_farm(tmp_path / "a", boot_s=0.0)).result("on_device", "soil")
    b = twin.run(_farm(tmp_path / "b", boot_s=0.2)).result("on_device", "soil")
    board = load_profile("board", "my-board", tmp_path / "b")
    extra = 12 * 0.2 * (board.active_current_a - board.sleep_current_a)
    qa, qb = a["battery"]["drawn_by_state_c"], b["battery"]["drawn_by_state_c"]
    assert qb["compute"] - qa["compute"] == pytest.approx(extra, rel=1e-9)
    for state in ("sense", "radio_tx", "radio_rx", "radio_idle", "sleep"):
        assert qb[state] == pytest.approx(qa[state], rel=1e-12)


def test_a_wifi_station_associates_with_dhcp_after_a_reset(tmp_path):
    """A station that stays associated must associate again (with DHCP: its lease was in
    RAM); one that deep-sleeps associates for every message anyway, so a reset adds nothing."""
    d = yaml.safe_load((ROOT / "scenarios" / "smart_home.yaml").read_text())
    name = next(g for g, v in d["groups"].items() if v["radio"] == "esp32-wifi")
    g = d["groups"][name]
    g = {**g, "link": {**(g.get("link") or {}), "stay_connected": True, "dhcp": True}}
    d["groups"] = {name: {**g, "count": 5, "board": _board(tmp_path, g["board"], 0.0)}}
    d["world"]["horizon_days"] = 0.5
    d["faults"] = [{"kind": "brownout", "start_h": 2, "downtime_s": 600}]
    d["policies"] = ["on_device"]
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(d))
    rec = twin.run(path).result("on_device", name)
    wifi = load_profile("radio", "esp32-wifi")
    assert rec["reboots"]["count"] == 5
    expected = 5 * wifi.associate_dhcp_s * (wifi.listen_current_a - wifi.sleep_current_a)
    assert rec["reboots"]["charge_c"] == pytest.approx(expected, rel=1e-9)


def test_reboots_and_the_rate_effect_do_not_depend_on_the_batching(tmp_path):
    path = _farm(tmp_path / "a", boot_s=0.05)
    a, b = twin.run(path), twin.run(path, batch_window_s=0.0)
    assert a.result("on_device", "soil")["reboots"] == b.result("on_device", "soil")["reboots"]
    assert a.nodes == b.nodes
