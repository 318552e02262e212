"""The command line: outputs of `twin run`, and clean errors for bad input."""

from __future__ import annotations

import copy
import csv
import json
import subprocess
import sys

import pytest
import yaml
from typer.testing import CliRunner

import twin
from twin.cli import app
from twin.report import PLOT_IDS

runner = CliRunner()

REQUIRED = {
    "policy",
    "group",
    "nodes",
    "samples",
    "uplink_messages",
    "uplink_bytes",
    "airtime_s",
    "latency_s",
    "energy_j",
    "battery_life_days",
    "decision",
}


def _write(tmp_path, data, name="scenario.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_run_writes_every_output(tmp_path, small_farm):
    scenario = _write(tmp_path, small_farm)
    out = tmp_path / "out"
    res = runner.invoke(app, ["run", str(scenario), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "on_device" in res.output and "cloud" in res.output
    summary = json.loads((out / "summary.json").read_text())
    assert len(summary["results"]) == 2
    for entry in summary["results"]:
        assert REQUIRED <= set(entry)
        assert set(entry["latency_s"]) >= {"p50", "p95", "p99"}
        assert set(entry["energy_j"]) == {
            "sleep",
            "sense",
            "compute",
            "radio_tx",
            "radio_rx",
            "radio_idle",
            "total",
        }
        assert set(entry["battery_life_days"]) >= {"median", "p05", "projected"}
        assert set(entry["decision"]) >= {"precision", "recall", "f1"}
    assert summary["scenario"]["seed"] == small_farm["world"]["seed"]
    assert len(summary["scenario"]["hash"]) == 64
    with (out / "nodes.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 * small_farm["groups"]["soil"]["count"]
    html = (out / "report.html").read_text()
    for plot_id in PLOT_IDS:
        assert f'id="{plot_id}"' in html
    assert (out / "timeseries.csv").is_file() and (out / "manifest.json").is_file()
    # The CLI is a thin layer: the API gives the same summary for the same file.
    assert twin.run(scenario).summary["results"] == summary["results"]


def test_seed_option_overrides(tmp_path, small_farm):
    scenario = _write(tmp_path, small_farm)
    res = runner.invoke(app, ["run", str(scenario), "--out", str(tmp_path / "o"), "--seed", "7"])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "o" / "summary.json").read_text())["scenario"]["seed"] == 7


def _mutate(d, path, value):
    *head, last = path
    for key in head:
        d = d[key]
    if value is KeyError:
        del d[last]
    else:
        d[last] = value


BAD = [
    # (mutation path, value, text the message must contain)
    (("groups", "soil", "sampling_period"), 900, "did you mean 'sampling_period_s'"),
    (("groups", "soil", "count"), "many", "groups.soil.count"),
    (("groups", "soil", "sampling_period_s"), -5, "groups.soil.sampling_period_s"),
    (("groups", "soil", "board"), "nano34ble", "unknown board profile 'nano34ble'"),
    (("groups", "soil", "model"), {"device_path": "missing.onnx"}, "model file not found"),
    (("groups", "soil", "spreading_factor"), 13, "groups.soil.spreading_factor"),
    (("world", "horizon_days"), KeyError, "world.horizon_days"),
    (("policies",), ["on_device", "fog"], "policies.1"),
]


@pytest.mark.parametrize(("path", "value", "expect"), BAD)
def test_bad_input_exits_2_with_one_clear_message(tmp_path, small_farm, path, value, expect):
    d = copy.deepcopy(small_farm)
    _mutate(d, path, value)
    scenario = _write(tmp_path, d, "bad.yaml")
    out = tmp_path / "out"
    res = runner.invoke(app, ["run", str(scenario), "--out", str(out)])
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    assert str(scenario) in res.output
    assert expect in res.output
    assert not out.exists()
    assert not list(tmp_path.glob(".out-*"))


def test_error_names_the_line(tmp_path, small_farm):
    d = copy.deepcopy(small_farm)
    d["groups"]["soil"]["sampling_period_s"] = -1
    scenario = _write(tmp_path, d)
    line = next(
        i
        for i, text in enumerate(scenario.read_text().splitlines(), 1)
        if "sampling_period_s" in text
    )
    res = runner.invoke(app, ["run", str(scenario)])
    assert res.exit_code == 2
    assert f"{scenario}:{line}: groups.soil.sampling_period_s" in res.output


def test_unreadable_inputs(tmp_path):
    res = runner.invoke(app, ["run", str(tmp_path / "nope.yaml")])
    assert res.exit_code == 2 and "file not found" in res.output
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: farm\ngroups: [unclosed\n")
    res = runner.invoke(app, ["run", str(broken)])
    assert res.exit_code == 2 and "invalid YAML" in res.output and "Traceback" not in res.output


def test_corrupt_model_file(tmp_path, small_farm):
    corrupt = tmp_path / "model.onnx"
    corrupt.write_bytes(b"\x08\x01garbage that is not a model")
    d = copy.deepcopy(small_farm)
    d["groups"]["soil"]["model"] = {"device_path": "model.onnx"}
    scenario = _write(tmp_path, d)
    res = runner.invoke(app, ["run", str(scenario), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2, res.output
    assert "model.onnx" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "o").exists()


def test_python_dash_m_and_help():
    res = subprocess.run(
        [sys.executable, "-m", "twin", "run", "--help"], capture_output=True, text=True
    )
    assert res.returncode == 0
    assert "Example: twin run scenarios/farm.yaml" in res.stdout


def test_spreading_factor_on_a_wifi_radio_is_refused_clearly(tmp_path, small_farm):
    d = copy.deepcopy(small_farm)
    d["groups"]["soil"].update(radio="esp32-wifi", spreading_factor=9)
    scenario = _write(tmp_path, d)
    res = runner.invoke(app, ["run", str(scenario), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert "groups.soil.spreading_factor" in res.output and "wifi" in res.output
    assert not (tmp_path / "o").exists()


def test_validate_checks_without_running(tmp_path, small_farm):
    scenario = _write(tmp_path, small_farm)
    res = runner.invoke(app, ["validate", str(scenario)])
    assert res.exit_code == 0 and "valid" in res.output and "30 nodes" in res.output
    assert not (tmp_path / "results").exists()
    bad = copy.deepcopy(small_farm)
    bad["groups"]["soil"]["sampling_period_s"] = -1
    res = runner.invoke(app, ["validate", str(_write(tmp_path, bad, "bad.yaml"))])
    assert res.exit_code == 2 and "groups.soil.sampling_period_s" in res.output


def test_schema_is_json_schema_of_scenarios():
    res = runner.invoke(app, ["schema"])
    assert res.exit_code == 0
    schema = json.loads(res.output)
    assert schema["title"] == "Scenario"
    assert {"world", "groups", "cloud", "policies"} <= set(schema["required"])
    assert "gateways" in schema["properties"]  # optional: only LoRa groups need them
    # Editors complete group keys from it.
    group = schema["$defs"]["Group"]["properties"]
    assert "sampling_period_s" in group and "spreading_factor" in group


def test_with_overrides_by_path(farm_dict):
    sc = twin.scenario_from_dict(farm_dict)
    changed = sc.with_overrides({"groups.soil.count": 7, "gateways.0.x_m": 10.0})
    assert changed.groups["soil"].count == 7 and changed.gateways[0].x_m == 10.0
    assert sc.groups["soil"].count == 500  # the original is unchanged
    with pytest.raises(twin.ScenarioError, match="groups.soil.cont"):
        sc.with_overrides({"groups.soil.cont": 7})  # unknown key: validation names it
    with pytest.raises(twin.ScenarioError, match="groups.soil.sampling_period_s"):
        sc.with_overrides({"groups.soil.sampling_period_s": -1})
    with pytest.raises(twin.ScenarioError, match="groups.nope.count"):
        sc.with_overrides({"groups.nope.count": 7})


@pytest.mark.parametrize("name", ["../../escape", "..", "a/b"])
def test_scenario_name_cannot_steer_results_outside_results(
    tmp_path, monkeypatch, small_farm, name
):
    # The default results directory is results/<name>: a name is text, never a path.
    d = copy.deepcopy(small_farm)
    d["name"] = name
    d["world"]["horizon_days"] = 0.2
    work = tmp_path / "work"
    work.mkdir()
    scenario = _write(work, d)
    monkeypatch.chdir(work)
    res = runner.invoke(app, ["run", str(scenario)])
    assert res.exit_code == 0, res.output
    made = [p for p in tmp_path.rglob("summary.json")]
    assert len(made) == 1
    assert made[0].parent.parent == work / "results"
    assert sorted(p.name for p in work.iterdir()) == ["results", "scenario.yaml"]


def test_control_characters_never_reach_the_terminal():
    from twin.cli import printable

    assert printable("a\x1b[2Jb") == "a\\x1b[2Jb"  # clear-screen escape, shown not sent
    assert printable("evil\u202eexe.yaml") == "evil\\u202eexe.yaml"  # bidi override
    assert printable("line one\n  line two\ttab") == "line one line two tab"
    assert printable("naïve 温度 ok") == "naïve 温度 ok"  # printable text is kept


def test_a_name_with_an_escape_sequence_is_shown_escaped(tmp_path, small_farm):
    d = copy.deepcopy(small_farm)
    d["name"] = "farm\x1b]0;pwned\x07"
    d["world"]["horizon_days"] = 0.1
    res = runner.invoke(app, ["run", str(_write(tmp_path, d)), "-o", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    assert "\x1b" not in res.output and "\x07" not in res.output
    assert "farm\\x1b]0;pwned\\x07" in res.output


def _interrupt(cmd: list[str], when) -> subprocess.CompletedProcess:
    """Run a twin command and Ctrl-C it (SIGINT to its process group) once ``when()``."""
    import os
    import signal
    import time

    proc = subprocess.Popen(
        [sys.executable, "-m", "twin", *cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not when() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


@pytest.mark.slow
def test_ctrl_c_during_a_run_says_nothing_was_written(tmp_path, farm_dict):
    import time

    scenario = _write(tmp_path, farm_dict)  # 500 nodes x 30 days: long enough to interrupt
    before = scenario.read_bytes()
    started = time.monotonic()
    res = _interrupt(["run", str(scenario), "-o", str(tmp_path / "out")],
                     lambda: time.monotonic() - started > 4)  # fmt: skip
    assert res.returncode == 130, res.stderr
    assert res.stderr.strip().startswith("interrupted: nothing was written")
    assert "Traceback" not in res.stderr and res.stderr.count("\n") == 1
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out-*"))
    assert scenario.read_bytes() == before
