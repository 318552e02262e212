"""twin init writes a commented starting scenario that runs as written, and never overwrites."""

from __future__ import annotations

import pytest
import yaml
from typer.testing import CliRunner

from twin.cli import app
from twin.compile import compile_scenario
from twin.init import WORLDS, scenario_text
from twin.profiles import available

runner = CliRunner()


@pytest.mark.parametrize("world", WORLDS)
@pytest.mark.parametrize("radio", available("radio"))
def test_every_world_and_radio_gives_a_scenario_that_compiles(world, radio):
    text = scenario_text(world, radio)
    d = yaml.safe_load(text)
    plan = compile_scenario(d)
    (g,) = plan.groups
    assert g.world == world and g.radio.id == radio
    assert text.count("#") >= 5  # commented: the choices say why
    # A reading that does not fit the radio leaves only the on-device policy, and says so.
    if "does not fit" in text:
        assert plan.policy_names == ["on_device"]
    else:
        assert plan.policy_names == ["on_device", "cloud"]


def test_init_writes_a_file_that_runs_and_never_overwrites(tmp_path):
    out = tmp_path / "wear.yaml"
    res = runner.invoke(app, ["init", "heart", "--radio", "nrf52840-ble", "--out", str(out)])
    assert res.exit_code == 0, res.output
    first = out.read_text()
    res = runner.invoke(app, ["validate", str(out)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["init", "soil", "--out", str(out)])
    assert res.exit_code == 2 and "never overwrites" in res.output
    assert out.read_text() == first


def test_an_unknown_world_or_radio_is_a_clear_error(tmp_path):
    res = runner.invoke(app, ["init", "ocean", "--out", str(tmp_path / "x.yaml")])
    assert res.exit_code == 2 and "worlds: soil, room" in res.output
    res = runner.invoke(
        app, ["init", "soil", "--radio", "zigbee", "--out", str(tmp_path / "x.yaml")]
    )
    assert res.exit_code == 2 and "radios: esp32-wifi" in res.output
    assert not (tmp_path / "x.yaml").exists()
