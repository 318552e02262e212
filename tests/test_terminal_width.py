"""`twin run` output fits 80 columns for every shipped scenario: nothing wider, nothing cut."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from twin.terminal import print_summary, wrap

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "scenarios").glob("*.yaml")) + [ROOT / "examples/trace/scenario.yaml"]
ELLIPSIS = "…"  # what rich puts where it cuts a cell


def _small(path: Path) -> dict:
    """The scenario with few nodes and a short horizon (widths hardly depend on size)."""
    d = yaml.safe_load(path.read_text())
    for g in d["groups"].values():
        g["count"] = min(g["count"], 6)
    # A short horizon: widths hardly depend on it, and the camera fleets are slow to simulate.
    d["world"]["horizon_days"] = min(d["world"]["horizon_days"], 0.1)
    d["faults"] = []  # scheduled faults may lie beyond the shortened horizon
    if "params" in d["world"] and "files" in d["world"]["params"]:
        d["world"]["params"]["files"] = str(path.parent / d["world"]["params"]["files"])
    return d


def _too_wide(text: str, allowed: str) -> list[str]:
    return [line for line in text.splitlines() if len(line) > 80 and allowed not in line]


@pytest.mark.slow
@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_every_shipped_scenario_prints_within_80_columns(path, run_cli):
    res, out = run_cli(_small(path), columns=80)
    text = res.stdout + res.stderr
    assert not _too_wide(text, str(out)), _too_wide(text, str(out))
    assert ELLIPSIS not in text
    assert "verdict" in res.stdout


def test_large_numbers_and_many_policies_are_printed_in_blocks_not_cut(
    small_farm, capsys, monkeypatch
):
    """Ten-digit counts in six policy columns: blocks of columns that fit, every cell whole."""
    import twin

    d = copy.deepcopy(small_farm)
    d["world"]["horizon_days"] = 0.5
    d["policies"] = ["on_device", "cloud", "batched_upload"]
    summary = json.loads(json.dumps(twin.run(d).summary))
    extra = [dict(r, policy=f"{r['policy']}_copy") for r in summary["results"]]
    summary["results"] += extra
    for r in summary["results"]:
        r["inferences_cloud"] = 9_876_543_210
        r["uplink_lost"]["collision"] = 1_234_567_890
    monkeypatch.setenv("COLUMNS", "80")
    print_summary(summary)
    text = capsys.readouterr().out
    assert not _too_wide(text, "\0") and ELLIPSIS not in text
    assert text.count("9,876,543,210") == 6  # every column shown, in some block
    assert text.count("┃ metric") >= 2  # more than one block


def test_wrapping_keeps_a_number_with_its_unit():
    text = "answers delivered (100.0 % vs 50.9 %), battery life >= 1,826 d (5.0 y) and more"
    for width in range(20, 60):
        for line in wrap(text, width).splitlines():
            assert not line.strip().startswith(("%", "d (", "d ")), (width, line)


def test_a_policy_name_wider_than_the_terminal_is_listed_not_cut(small_farm, capsys, monkeypatch):
    import twin

    d = copy.deepcopy(small_farm)
    d["world"]["horizon_days"] = 0.5
    summary = json.loads(json.dumps(twin.run(d).summary))
    for r in summary["results"]:
        r["policy"] = "x" * 60 + "/" + r["policy"]
    monkeypatch.setenv("COLUMNS", "80")
    print_summary(summary)
    text = capsys.readouterr().out
    assert ELLIPSIS not in text and not _too_wide(text, "\0")
    assert f"{'x' * 60}/on_device (soil)" in text and "  decision F1: " in text
