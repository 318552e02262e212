"""A scenario's policy code runs only when the user means it to.

``twin validate`` parses a user policy module without running it (``--import-policies``
runs it); ``run``, ``validate`` and ``sweep`` accept only modules beside the scenario
unless ``--allow-outside-policies`` is given; a module that exits or raises at import is a
clear error, not a silent exit 0.
"""

from __future__ import annotations

import copy
import json

import yaml
from typer.testing import CliRunner

from twin.cli import app

runner = CliRunner()

# Leaves a mark when imported: the tests check whether validate ran it.
MARKING = (
    "from pathlib import Path\n"
    "from twin.policies import OnDevice\n"
    "Path(__file__).with_name('ran.txt').write_text('imported')\n"
    "class Mine(OnDevice):\n"
    "    pass\n"
)


def _scenario(folder, small_farm, module: str, cls: str = "Mine"):
    d = copy.deepcopy(small_farm)
    d["policies"] = ["on_device", {"name": "mine", "module": module, "class": cls}]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "s.yaml"
    path.write_text(yaml.safe_dump(d))
    return path


def test_validate_parses_but_does_not_run_policy_code(tmp_path, small_farm):
    (tmp_path / "mine.py").write_text(MARKING)
    path = _scenario(tmp_path, small_farm, "mine.py")
    res = runner.invoke(app, ["validate", str(path)])
    assert res.exit_code == 0, res.output
    assert not (tmp_path / "ran.txt").exists()
    assert "policy code not run: mine" in res.output
    res = runner.invoke(app, ["validate", str(path), "--import-policies"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "ran.txt").exists() and "not run" not in res.output


def test_validate_without_import_still_finds_a_missing_class_or_bad_syntax(tmp_path, small_farm):
    (tmp_path / "mine.py").write_text(MARKING)
    res = runner.invoke(app, ["validate", str(_scenario(tmp_path, small_farm, "mine.py", "Nope"))])
    assert res.exit_code == 2 and "has no class named 'Nope'" in res.output
    (tmp_path / "mine.py").write_text("class Mine(:\n")
    res = runner.invoke(app, ["validate", str(_scenario(tmp_path, small_farm, "mine.py"))])
    assert res.exit_code == 2 and "does not parse" in res.output
    assert not (tmp_path / "ran.txt").exists()


def test_a_module_outside_the_scenario_folder_needs_the_flag(tmp_path, small_farm):
    (tmp_path / "mine.py").write_text(MARKING)
    path = _scenario(tmp_path / "project", small_farm, "../mine.py")
    out = tmp_path / "out"
    for command in (["validate", str(path)], ["run", str(path), "-o", str(out)]):
        res = runner.invoke(app, command)
        assert res.exit_code == 2, res.output
        assert "lies outside the scenario's folder" in res.output
        assert "--allow-outside-policies" in res.output
    assert not (tmp_path / "ran.txt").exists() and not out.exists()
    # An absolute path and a symlink inside the folder that points outside: the same.
    for module in (str(tmp_path / "mine.py"), "link.py"):
        (tmp_path / "project" / "link.py").unlink(missing_ok=True)
        (tmp_path / "project" / "link.py").symlink_to(tmp_path / "mine.py")
        res = runner.invoke(
            app, ["validate", str(_scenario(tmp_path / "project", small_farm, module))]
        )
        assert res.exit_code == 2 and "lies outside" in res.output, res.output
    res = runner.invoke(app, ["run", str(path), "-o", str(out), "--allow-outside-policies"])
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text())
    assert {r["policy"] for r in summary["results"]} == {"on_device", "mine"}


def test_a_study_override_cannot_point_a_policy_outside(tmp_path, small_farm):
    (tmp_path / "mine.py").write_text(MARKING)
    project = tmp_path / "project"
    (project / "mine.py").parent.mkdir(parents=True)
    (project / "mine.py").write_text(MARKING)
    _scenario(project, small_farm, "mine.py")
    study = {
        "name": "sneaky",
        "scenario": "s.yaml",
        "overrides": {"policies.1.module": str(tmp_path / "mine.py")},
        "parameters": {"groups.soil.model.threshold": [0.5]},
        "seeds": [1],
        "metrics": ["decision.f1"],
    }
    (project / "study.yaml").write_text(yaml.safe_dump(study))
    res = runner.invoke(app, ["sweep", str(project / "study.yaml"), "--in-process",
                              "-o", str(tmp_path / "out")])  # fmt: skip
    assert res.exit_code == 2 and "lies outside" in res.output, res.output
    assert not (tmp_path / "ran.txt").exists() and not (tmp_path / "out").exists()


def test_a_module_that_exits_at_import_is_an_error_not_a_silent_success(tmp_path, small_farm):
    (tmp_path / "mine.py").write_text("import sys\nsys.exit(0)\nclass Mine:\n    pass\n")
    path = _scenario(tmp_path, small_farm, "mine.py")
    for command in (["validate", str(path), "--import-policies"],
                    ["run", str(path), "-o", str(tmp_path / "out")]):  # fmt: skip
        res = runner.invoke(app, command)
        assert res.exit_code == 2, res.output
        assert "cannot import policy module" in res.output and "SystemExit(0)" in res.output
    assert not (tmp_path / "out").exists()
