"""`twin profiles` and twin.catalog: every profile, world and zoo model with its key figures,
the user's own profiles (device_profiles/ beside a scenario) marked as such."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from twin.catalog import KINDS, catalog
from twin.cli import app
from twin.errors import ScenarioError
from twin.ml.runner import ZOO_DIR
from twin.profiles import profile_dirs
from twin.world.registry import world_kinds

runner = CliRunner()

MY_PCB = """\
id: my-pcb
name: our nRF52840 PCB rev B
extends: nano33ble
sleep_current_a: 0.000004
sleep_current_a_source: measured on our rev-B board (10 min average)
"""


@pytest.fixture
def project(tmp_path):
    """A scenario folder with one board of the user's own, extending a shipped one."""
    (tmp_path / "device_profiles" / "boards").mkdir(parents=True)
    (tmp_path / "device_profiles" / "boards" / "my-pcb.yaml").write_text(MY_PCB)
    return tmp_path


def _by_id(entries, kind):
    return {e.id: e for e in entries if e.kind == kind}


def test_every_shipped_profile_world_and_zoo_model_is_listed():
    entries = catalog()
    folder_kinds = {plural: kind for kind, plural in KINDS.items()}
    shipped = profile_dirs()[0]
    for sub in sorted(p for p in shipped.iterdir() if p.is_dir()):
        # A new kind of profile folder must be added to the catalog too.
        assert sub.name in folder_kinds, f"{sub.name}/ is not a catalog kind"
        listed = _by_id(entries, folder_kinds[sub.name])
        assert set(listed) == {p.stem for p in sub.glob("*.yaml")}
        for e in listed.values():
            assert e.error is None and e.origin == "twin" and e.summary, e
            # Every figure shown is traceable, but a radio's technology (a name, not a
            # figure) and a sensor's charge (current x duration, both sourced).
            assert set(e.summary) - set(e.sources) <= {"technology", "charge"}, e.id
    assert set(_by_id(entries, "world")) == set(world_kinds())
    zoo = _by_id(entries, "zoo")
    assert set(zoo) == {p.stem for p in ZOO_DIR.glob("*.json")}
    assert zoo["soil_irrigation"].summary["world"] == "soil"
    assert zoo["soil_irrigation"].summary["input"] == "96 x 2 ch"
    assert _by_id(entries, "board")["nano33ble"].summary["sleep"] == "1.5 µA"
    assert _by_id(entries, "radio")["sx1262"].summary["max payload"] == "51 B"
    assert _by_id(entries, "world")["soil"].summary["actuator"] == "irrigation valve"


def test_a_user_profile_shows_where_it_comes_from_its_parent_and_its_own_figure(project):
    boards = _by_id(catalog("boards", project), "board")
    mine, parent = boards["my-pcb"], boards["nano33ble"]
    assert (mine.origin, mine.extends, mine.replaces_shipped) == ("yours", "nano33ble", False)
    assert mine.folder == str((project / "device_profiles").resolve())
    assert mine.summary["sleep"] == "4 µA" != parent.summary["sleep"]
    assert mine.sources["sleep"].startswith("measured on our rev-B board")
    assert mine.summary["clock"] == parent.summary["clock"]  # the rest is the parent's
    assert mine.sources["clock"] == parent.sources["clock"]
    assert parent.origin == "twin" and parent.extends is None
    assert "my-pcb" not in _by_id(catalog("board"), "board")


def test_a_user_profile_with_a_shipped_id_replaces_it(project):
    (project / "device_profiles" / "boards" / "pico.yaml").write_text(
        (profile_dirs()[0] / "boards" / "pico.yaml").read_text()
    )
    pico = _by_id(catalog("board", project), "board")["pico"]
    assert (pico.origin, pico.replaces_shipped) == ("yours", True)


def test_a_broken_user_profile_is_an_error_row_not_a_crash(project):
    broken = project / "device_profiles" / "boards" / "broken.yaml"
    broken.write_text(MY_PCB.replace("my-pcb", "broken").replace("_source:", "_note:"))
    (project / "device_profiles" / "radios").mkdir()
    (project / "device_profiles" / "radios" / "bad.yaml").write_text("id: bad\nfoo: [1,\n")
    entries = catalog(None, project)
    row = _by_id(entries, "board")["broken"]
    assert row.summary == {} and row.extends == "nano33ble"
    assert "sleep_current_a_source" in row.error and str(broken.resolve()) in row.error
    assert "invalid YAML" in _by_id(entries, "radio")["bad"].error
    assert _by_id(entries, "board")["my-pcb"].error is None  # the others are still listed
    res = runner.invoke(app, ["profiles", "--dir", str(project)], env={"COLUMNS": "120"})
    assert res.exit_code == 0, res.output
    assert "boards broken: error:" in res.output and "radios bad: error:" in res.output


def test_singular_plural_and_alias_kinds_give_the_same_list():
    assert catalog("board") == catalog("boards") == catalog("BOARDS")
    assert catalog("battery") == catalog("batteries")
    assert catalog("zoo") == catalog("models")
    assert {e.kind for e in catalog("worlds")} == {"world"}


def test_an_unknown_kind_lists_the_kinds_and_suggests_one():
    with pytest.raises(ScenarioError, match=r"unknown kind 'boardz' \(did you mean 'board'\?\)"):
        catalog("boardz")
    res = runner.invoke(app, ["profiles", "sensorz"])
    assert res.exit_code == 2
    assert "error: unknown kind 'sensorz'" in res.output
    assert "did you mean 'sensor" in res.output
    assert "known kinds: boards, radios, batteries, sensors, runtimes" in res.output


def test_json_prints_every_record(project):
    res = runner.invoke(app, ["profiles", "--json", "--dir", str(project)])
    assert res.exit_code == 0, res.output
    records = json.loads(res.output)
    assert {r["kind"] for r in records} == set(KINDS)
    mine = next(r for r in records if r["id"] == "my-pcb")
    assert mine["origin"] == "yours" and mine["extends"] == "nano33ble"
    assert mine["summary"]["sleep"] == "4 µA"


def test_scenario_option_lists_the_profiles_beside_the_scenario(project):
    scenario = project / "farm.yaml"
    scenario.write_text("name: farm\n")  # only its folder is used
    res = runner.invoke(app, ["profiles", "boards", "--json", "--scenario", str(scenario)])
    assert res.exit_code == 0, res.output
    assert "my-pcb" in {r["id"] for r in json.loads(res.output)}
    res = runner.invoke(app, ["profiles", "--scenario", str(scenario), "--dir", str(project)])
    assert res.exit_code == 2 and "not both" in res.output
    res = runner.invoke(app, ["profiles", "--dir", str(project / "nope")])
    assert res.exit_code == 2 and "not a folder" in res.output


def test_every_table_fits_80_columns_with_every_id_whole(project):
    res = runner.invoke(app, ["profiles", "--dir", str(project)], env={"COLUMNS": "80"})
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert max(len(line) for line in lines) <= 80
    for e in catalog(None, project):  # no id is folded across lines or cut short
        assert any(line.startswith(e.id + " ") for line in lines), e.id
    assert "(yours, extends" in res.output and "nano33ble)" in res.output
    for title in KINDS.values():
        assert any(line.strip() == title for line in lines), title


def test_boards_lists_boards_and_runtimes_from_the_catalog():
    res = runner.invoke(app, ["boards"], env={"COLUMNS": "80"})
    assert res.exit_code == 0
    titles = {line.strip() for line in res.output.splitlines()}
    assert {"boards", "runtimes"} <= titles and "radios" not in titles
    assert "cortex-a57-maxwell" in res.output and "tflm-cmsis-nn" in res.output
