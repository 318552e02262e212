"""A user's own profiles: ``device_profiles/`` beside the scenario, searched first, and
``extends:`` to override a shipped profile's figures one by one, each with its source."""

from __future__ import annotations

import copy

import pytest
import yaml

import twin
from twin.errors import ScenarioError
from twin.profiles import available, load_profile

MY_PCB = """\
id: my-pcb
name: our nRF52840 PCB rev B
extends: nano33ble
sleep_current_a: {sleep}
sleep_current_a_source: measured on our rev-B board (10 min average)
"""


def _project(tmp_path, small_farm, sleep: float, board: str = "my-pcb"):
    (tmp_path / "device_profiles" / "boards").mkdir(parents=True, exist_ok=True)
    (tmp_path / "device_profiles" / "boards" / "my-pcb.yaml").write_text(MY_PCB.format(sleep=sleep))
    d = copy.deepcopy(small_farm)
    d["groups"]["soil"]["board"] = board
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(d))
    return path


def test_extends_keeps_the_parent_figures_and_sources(tmp_path, small_farm):
    _project(tmp_path, small_farm, 4e-6)
    mine, parent = load_profile("board", "my-pcb", tmp_path), load_profile("board", "nano33ble")
    assert mine.sleep_current_a == 4e-6 != parent.sleep_current_a
    assert mine.sources["sleep_current_a"].startswith("measured on our rev-B board")
    assert mine.active_current_a == parent.active_current_a
    assert mine.sources["active_current_a"] == parent.sources["active_current_a"]
    assert "my-pcb" in available("board", tmp_path) and "my-pcb" not in available("board")


def test_a_lower_sleep_current_lowers_the_energy_per_node_day(tmp_path, small_farm):
    parent = load_profile("board", "nano33ble")
    energy = {}
    for factor in (0.5, 4.0):
        folder = tmp_path / str(factor)
        path = _project(folder, small_farm, parent.sleep_current_a * factor)
        energy[factor] = twin.run(path).result("on_device", "soil")["energy_per_node_day_j"]
    # Sleep current x8 adds (8 - 1) x 0.5 x I_sleep x V x 86,400 s of sleep a day, less the
    # little time awake: the difference is that within 1 %.
    expected = 3.5 * parent.sleep_current_a * parent.supply_v * 86_400
    assert energy[4.0] - energy[0.5] == pytest.approx(expected, rel=0.01)


def test_an_override_without_a_source_is_refused(tmp_path, small_farm):
    path = _project(tmp_path, small_farm, 4e-6)
    f = tmp_path / "device_profiles" / "boards" / "my-pcb.yaml"
    f.write_text(f.read_text().replace("sleep_current_a_source", "note"))
    with pytest.raises(ScenarioError, match="sleep_current_a_source"):
        twin.validate(path)
    f.write_text(MY_PCB.format(sleep=4e-6).replace("nano33ble", "nano34ble"))
    with pytest.raises(ScenarioError, match="extends unknown board profile 'nano34ble'"):
        twin.validate(path)
