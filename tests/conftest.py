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
def small_farm(farm_dict) -> dict:
    """The farm shrunk to 30 nodes and 3 days (a few seconds per run)."""
    d = copy.deepcopy(farm_dict)
    d["groups"]["soil"]["count"] = 30
    d["world"]["horizon_days"] = 3
    return d
