"""twin report: a saved results directory re-renders the very same report."""

from __future__ import annotations

import copy

from typer.testing import CliRunner

import twin
from twin.cli import app

runner = CliRunner()


def test_report_rerenders_byte_identical(tmp_path, small_farm):
    d = copy.deepcopy(small_farm)
    d["groups"]["soil"]["count"] = 8
    d["world"]["horizon_days"] = 1
    out = twin.write_results(twin.run(d), tmp_path / "res")
    original = (out / "report.html").read_bytes()
    (out / "report.html").unlink()
    res = runner.invoke(app, ["report", str(out)])
    assert res.exit_code == 0, res.output
    # The report is a pure function of the saved records: reading them back loses nothing.
    assert (out / "report.html").read_bytes() == original
    loaded = twin.load_results(out)
    assert loaded.summary == json_roundtrip(loaded.summary)
    assert loaded.nodes[0]["node"] == 0 and isinstance(loaded.nodes[0]["projected"], bool)


def json_roundtrip(x):
    import json

    return json.loads(json.dumps(x))


def test_report_on_a_directory_that_is_not_results(tmp_path):
    (tmp_path / "summary.json").write_text("{}")
    res = runner.invoke(app, ["report", str(tmp_path)])
    assert res.exit_code == 2
    assert "not a complete twin results directory" in res.output
    assert not (tmp_path / "report.html").exists()
