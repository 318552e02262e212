"""Shared fixtures: small versions of the shipped scenarios."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def farm_dict() -> dict:
    """The shipped farm scenario as plain data."""
    return yaml.safe_load((ROOT / "scenarios" / "farm.yaml").read_text())


@pytest.fixture
def run_cli(tmp_path, monkeypatch):
    """``run_cli(d, columns)``: ``twin run`` a scenario (plain data) through the CLI at a
    terminal width; returns the CLI result and the results folder."""
    from typer.testing import CliRunner

    from twin.cli import app

    def run(d: dict, columns: int = 80):
        scenario = tmp_path / "scenario.yaml"
        scenario.write_text(yaml.safe_dump(d))
        out = tmp_path / "out"
        monkeypatch.setenv("COLUMNS", str(columns))
        res = CliRunner().invoke(app, ["run", str(scenario), "--out", str(out)])
        assert res.exit_code == 0, res.output
        return res, out

    return run


@pytest.fixture
def small_farm(farm_dict) -> dict:
    """The farm shrunk to 30 nodes and 3 days (a few seconds per run)."""
    d = copy.deepcopy(farm_dict)
    d["groups"]["soil"]["count"] = 30
    d["world"]["horizon_days"] = 3
    return d
