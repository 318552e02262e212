"""Valid settings that probably distort results are named, with what to set instead."""

from __future__ import annotations

import copy

import yaml
from typer.testing import CliRunner

from twin.cli import app
from twin.compile import compile_scenario

runner = CliRunner()


def _small(farm_dict: dict) -> dict:
    d = copy.deepcopy(farm_dict)
    d["groups"]["soil"]["count"] = 6
    d["world"]["horizon_days"] = 0.5
    return d


def test_the_shipped_farm_has_no_warnings(farm_dict):
    assert compile_scenario(farm_dict).group("soil").warnings == ()


def test_zero_jitter_is_named_in_the_record_and_on_the_terminal(farm_dict, tmp_path):
    d = _small(farm_dict)
    d["groups"]["soil"]["tx_jitter_s"] = 0
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(d))
    res = runner.invoke(app, ["run", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    assert "warning: groups.soil.tx_jitter_s is 0" in res.output
    # Once, although both policies' records carry it.
    assert res.output.count("tx_jitter_s is 0") == 1
    summary = yaml.safe_load((tmp_path / "o" / "summary.json").read_text())
    for r in summary["results"]:
        assert any("tx_jitter_s is 0" in w for w in r["warnings"])


def test_a_default_reading_payload_for_a_long_reading_is_named(farm_dict):
    d = copy.deepcopy(farm_dict)
    g = d["groups"]["soil"]
    g.update(world="heart", model={"zoo": "heart_rhythm"}, sampling_period_s=300,
             actuation=False, payload_bytes={"decision": 2})  # fmt: skip
    (w,) = compile_scenario(d).group("soil").warnings
    assert "payload_bytes.reading is 4 B (the default) for a reading of 256 values" in w
    # Said explicitly, it is the user's choice: no warning; nor without a policy sending readings.
    g["payload_bytes"]["reading"] = 4
    assert compile_scenario(d).group("soil").warnings == ()
    del g["payload_bytes"]["reading"]
    d["policies"] = ["on_device"]
    assert compile_scenario(d).group("soil").warnings == ()
