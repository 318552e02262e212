"""Progress reporting pauses the event loop only: results are the same with or without it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import twin

ROOT = Path(__file__).resolve().parent.parent


def _small(name: str) -> dict:
    d = yaml.safe_load((ROOT / "scenarios" / f"{name}.yaml").read_text())
    for g in d["groups"].values():
        g["count"] = min(g["count"], 10)
    d["world"]["horizon_days"] = min(d["world"]["horizon_days"], 2)
    return d


@pytest.mark.parametrize("name", ["farm_outage", "smart_home", "factory"])
def test_progress_is_reported_and_changes_nothing(name):
    d = _small(name)
    if name in ("factory", "smart_home"):
        # The camera world is slow to simulate; a few hours still pause the loop 200 times.
        d["world"]["horizon_days"] = 0.1 if name == "smart_home" else 1
    seen: list[float] = []
    quiet, watched = twin.run(d), twin.run(d, progress=seen.append)
    assert json.dumps(quiet.summary) == json.dumps(watched.summary)
    assert quiet.nodes == watched.nodes and quiet.timeseries == watched.timeseries
    assert seen == sorted(seen) and seen[-1] == 1.0 and 0 < seen[0] < 0.05
