"""The compile stage: one place where a scenario becomes a run plan, so what validates runs."""

from __future__ import annotations

import copy
import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import twin
from twin.cli import app
from twin.study import load_study, plan

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent

POLICY = """
import numpy as np
from twin.policies import NONE, READING, Actions, Policy


class Odd(Policy):
    runs_device_model = False

    def act(self, batch):
        send = np.where(batch.k % 2 == 1, READING, NONE)
        return Actions(np.zeros(len(batch.nodes), dtype=bool), send)
"""


@pytest.fixture
def project(tmp_path, small_farm):
    """A scenario in its own folder with a policy module named relative to it."""
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "my_policies.py").write_text(POLICY)
    d = copy.deepcopy(small_farm)
    d["groups"]["soil"]["count"] = 4
    d["world"]["horizon_days"] = 0.5
    d["policies"] = [{"name": "odd", "module": "my_policies.py", "class": "Odd"}]
    path = folder / "scenario.yaml"
    path.write_text(yaml.safe_dump(d))
    return path


def test_a_loaded_scenario_finds_its_policy_module_from_anywhere(project, tmp_path, monkeypatch):
    # The README's form: load, then run. The scenario remembers its folder, so the policy
    # module resolves next to it, not next to the working directory.
    monkeypatch.chdir(tmp_path)
    scenario = twin.load_scenario(project)
    assert scenario.base_dir == project.parent
    a = twin.run(scenario)
    assert a.result("odd")["uplink_messages"] > 0
    # ... also after overrides and a new seed, and the same as running the file.
    b = twin.run(scenario.with_overrides({"groups.soil.count": 4}).with_seed(scenario.world.seed))
    assert b.records() == a.records() == twin.run(project).records()


def test_validate_and_run_agree_because_both_compile(project):
    text = project.read_text().replace("class: Odd", "class: Missing")
    project.write_text(text)
    with pytest.raises(twin.ScenarioError, match="no Policy subclass") as v:
        twin.validate(project, import_policies=True)
    with pytest.raises(twin.ScenarioError) as r:
        twin.run(project)
    assert str(v.value) == str(r.value)
    assert v.value.key_path == "policies[0]"
    # Without importing, validate reads the module's source: the same problem, same place.
    with pytest.raises(twin.ScenarioError, match="no class named 'Missing'") as p:
        twin.validate(project)
    assert p.value.key_path == "policies[0]"


def test_the_plan_is_resolved_and_immutable(small_farm):
    p = twin.compile_scenario(small_farm, seed=7)
    assert p.seed == 7 and p.policy_names == ["on_device", "cloud"]
    g = p.group("soil")
    assert g.board.id == small_farm["groups"]["soil"]["board"]
    assert g.window_samples * len(g.channels) == g.models.device.input_features
    assert g.inference.fits
    with pytest.raises(dataclasses.FrozenInstanceError):
        g.count = 5
    # Running a compiled plan gives what running the scenario gives.
    assert twin.run(p).records() == twin.run(small_farm, seed=7).records()


def test_a_study_whose_window_does_not_fit_fails_planning_not_every_run(tmp_path, farm_dict):
    # The cascade escalates 192 readings of 2 channels (768 bytes): LoRa carries 222 at SF7
    # (EU868 DR5). The study's planning compiles every configuration as a run does, so it
    # refuses up front.
    study = tmp_path / "study.yaml"
    study.write_text(
        yaml.safe_dump(
            {
                "name": "too_big",
                "scenario": str(ROOT / "scenarios" / "farm.yaml"),
                "overrides": {
                    "groups.soil.count": 4,
                    "world.horizon_days": 0.5,
                    "policies": ["on_device", "cascade"],
                },
                "parameters": {"groups.soil.spreading_factor": [7, 9]},
                "seeds": [1],
            }
        )  # fmt: skip
    )
    spec, base = load_study(study)
    with pytest.raises(twin.ScenarioError, match="222 bytes") as exc:
        plan(spec, base, str(study))
    assert exc.value.key_path == "overrides.policies"
    res = runner.invoke(app, ["sweep", str(study), "-o", str(tmp_path / "out")])
    assert res.exit_code == 2 and "222 bytes" in res.output
    assert not (tmp_path / "out").exists()


def test_reading_a_scenario_does_not_load_the_inference_runtime():
    # Checking a scenario file must start fast: the schema and loader stay clear of
    # onnxruntime and onnx (about 2 s of imports), which only the compile stage needs.
    code = (
        "import sys, twin, twin.config.loader, twin.config.schema\n"
        "twin.load_scenario('scenarios/farm.yaml')\n"
        "heavy = [m for m in ('onnxruntime', 'onnx', 'simpy', 'plotly') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
