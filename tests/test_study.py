"""Studies: planning, executors that agree, failures recorded, resume after a kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

import twin
from twin import study as st
from twin.cli import app

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


def _write_study(tmp_path: Path, **changes) -> Path:
    """A small farm study: 2 spreading factors x 2 thresholds x 2 seeds = 8 runs."""
    spec = {
        "name": "tiny",
        "scenario": str(ROOT / "scenarios" / "farm.yaml"),
        "overrides": {"world.horizon_days": 0.5, "groups.soil.count": 4},
        "parameters": {
            "groups.soil.spreading_factor": [7, 9],
            "groups.soil.model.threshold": [0.4, 0.6],
        },
        "seeds": [1, 2],
        "metrics": ["latency_s.p95", "decision.f1", "energy_per_node_day_j", "uplink_bytes"],
    }
    spec.update(changes)
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The tiny study run in-process: the table every other way must reproduce."""
    tmp = tmp_path_factory.mktemp("ref")
    res = st.run_study(_write_study(tmp), out=tmp / "out", executor="inprocess")
    return res, (tmp / "out" / "study.csv").read_text()


def test_the_table_has_a_row_per_run_policy_and_group(reference):
    res, _ = reference
    assert res.summary["runs_planned"] == 8 and res.summary["runs_failed"] == 0
    assert len(res.rows) == 8 * 2  # two policies, one group
    row = res.rows[0]
    assert row["param.groups.soil.spreading_factor"] == 7
    assert row["param.groups.soil.model.threshold"] == 0.4
    assert {"latency_s.p95", "decision.f1", "uplink_bytes"} <= set(row)
    # A higher spreading factor keeps the bytes and costs more air time, hence energy.
    by = {
        (r["param.groups.soil.spreading_factor"], r["param.groups.soil.model.threshold"],
         r["seed"], r["policy"]): r
        for r in res.rows
    }  # fmt: skip
    sf7, sf9 = by[(7, 0.4, 1, "cloud")], by[(9, 0.4, 1, "cloud")]
    assert sf9["uplink_bytes"] == sf7["uplink_bytes"]
    assert sf9["energy_per_node_day_j"] > sf7["energy_per_node_day_j"]
    # The Pareto metrics are always kept (the study report needs them).
    assert "battery_life_days.median" in row
    assert (res.directory / "report.html").is_file()


@pytest.mark.slow
def test_process_pool_and_dask_give_the_same_table(tmp_path, reference):
    _, expected = reference
    study = _write_study(tmp_path)
    st.run_study(study, out=tmp_path / "pool", executor="process", workers=2)
    assert (tmp_path / "pool" / "study.csv").read_text() == expected
    pytest.importorskip("distributed")
    st.run_study(study, out=tmp_path / "dask", executor="dask", dask_local=2)
    assert (tmp_path / "dask" / "study.csv").read_text() == expected


def test_a_failing_run_is_recorded_and_the_study_goes_on(tmp_path):
    module = tmp_path / "fragile.py"
    module.write_text(
        "from twin.policies import OnDevice\n"
        "class Fragile(OnDevice):\n"
        "    def __init__(self, boom=False):\n"
        "        super().__init__()\n"
        "        self.boom = boom\n"
        "    def act(self, batch):\n"
        "        if self.boom:\n"
        "            raise RuntimeError('boom: this configuration breaks the policy')\n"
        "        return super().act(batch)\n"
    )
    scenario = yaml.safe_load((ROOT / "scenarios" / "farm.yaml").read_text())
    scenario["policies"] = [{"name": "fragile", "module": str(module), "class": "Fragile"}]
    (tmp_path / "sc.yaml").write_text(yaml.safe_dump(scenario))
    study = _write_study(
        tmp_path,
        scenario=str(tmp_path / "sc.yaml"),
        parameters={"policies.0.params.boom": [False, True]},
    )
    res = st.run_study(study, out=tmp_path / "out", executor="inprocess")
    assert res.summary["runs_failed"] == 2 and res.summary["runs_planned"] == 4
    failed = [r for r in res.rows if r["status"] == "error"]
    assert len(failed) == 2 and all("boom: this configuration" in r["error"] for r in failed)
    assert all(r["param.policies.0.params.boom"] is True for r in failed)
    ok = [r for r in res.rows if r["status"] == "ok"]
    assert len(ok) == 2 and all(r["decision.f1"] is not None for r in ok)
    assert "boom: this configuration" in (tmp_path / "out" / "report.html").read_text()


@pytest.mark.slow
def test_a_killed_study_resumes_to_the_same_table(tmp_path, reference):
    _, expected = reference
    study = _write_study(tmp_path)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "twin", "sweep", str(study), "-o", str(out), "--in-process"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    journal = out / "runs.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if journal.exists() and len(journal.read_text().splitlines()) >= 3:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = len(journal.read_text().splitlines())
    assert 3 <= finished < 8, "the kill must land mid-study"
    assert not (out / "study.csv").exists()
    # Without --resume an existing study is never overwritten.
    res = runner.invoke(app, ["sweep", str(study), "-o", str(out), "--in-process"])
    assert res.exit_code == 2 and "--resume" in res.output
    res = runner.invoke(app, ["sweep", str(study), "-o", str(out), "--in-process", "--resume"])
    assert res.exit_code == 0, res.output
    assert (out / "study.csv").read_text() == expected
    # Only the missing runs ran again: the journal holds each run once.
    keys = [json.loads(line)["key"] for line in journal.read_text().splitlines()]
    assert len(keys) == len(set(keys)) == 8


def test_resume_refuses_a_different_study(tmp_path):
    study = _write_study(tmp_path, seeds=[1])
    st.run_study(study, out=tmp_path / "out", executor="inprocess")
    other = _write_study(tmp_path, seeds=[1, 5])
    res = runner.invoke(app, ["sweep", str(other), "-o", str(tmp_path / "out"), "--resume"])
    assert res.exit_code == 2 and "different study" in res.output


@pytest.mark.parametrize(
    ("change", "where", "message"),
    [
        (
            {"parameters": {"groups.soil.sampling_period": [60]}},
            "parameters.",
            "did you mean 'sampling_period_s'",
        ),
        ({"parameters": {"groups.soil.spreading_factor": [6]}}, "parameters.", "value 6"),
        (
            {"parameters": {"groups.soil.model.threshold": {"low": 0.2, "high": 0.8}}},
            "parameters",
            "grid cannot take continuous",
        ),  # fmt: skip
        (
            {"overrides": {"world.horizon": 1}},
            "overrides.world.horizon",
            "did you mean 'horizon_days'",
        ),
        ({"sampling": "lhs"}, "", "needs 'samples'"),
        ({"scenario": "nowhere.yaml"}, "scenario", "base scenario not found"),
    ],
)
def test_bad_studies_are_refused_before_anything_runs(tmp_path, change, where, message):
    study = _write_study(tmp_path, **change)
    res = runner.invoke(app, ["sweep", str(study), "-o", str(tmp_path / "out")])
    assert res.exit_code == 2, res.output
    assert message in res.output and where in res.output and "study.yaml" in res.output
    assert not (tmp_path / "out").exists()


def test_an_unknown_metric_is_named_and_the_runs_kept(tmp_path):
    study = _write_study(tmp_path, seeds=[1], metrics=["decision.f1", "decision.f2"])
    res = runner.invoke(app, ["sweep", str(study), "-o", str(tmp_path / "out"), "--in-process"])
    assert res.exit_code == 2 and "decision.f2" in res.output
    assert len((tmp_path / "out" / "runs.jsonl").read_text().splitlines()) == 4


def test_quiet_without_a_terminal(tmp_path):
    study = _write_study(tmp_path, seeds=[1])
    res = runner.invoke(app, ["sweep", str(study), "-o", str(tmp_path / "out"), "--in-process"])
    assert res.exit_code == 0
    # One line: no progress bar redraws in a log file.
    assert res.output.count("\n") == 1 and "4 runs (0 failed)" in res.output


def test_latin_hypercube_puts_one_sample_in_each_stratum():
    spec = st.StudySpec(
        name="x", scenario="s.yaml", sampling="lhs", samples=10, study_seed=3,
        parameters={"a": {"low": 0.0, "high": 1.0}, "b": {"low": 10.0, "high": 20.0}},
    )  # fmt: skip
    confs = spec.configurations()
    assert len(confs) == 10
    for axis, (lo, hi) in (("a", (0.0, 1.0)), ("b", (10.0, 20.0))):
        strata = sorted(int((c[axis] - lo) / (hi - lo) * 10) for c in confs)
        assert strata == list(range(10))
    assert spec.configurations() == confs  # the draw is a function of study_seed
    other = spec.model_copy(update={"study_seed": 4}).configurations()
    assert other != confs


def test_axes_values():
    assert st.RangeAxis(start=7, stop=12, step=1).values() == [7, 8, 9, 10, 11, 12]
    np.testing.assert_allclose(
        st.RangeAxis(start=0.1, stop=0.5, step=0.2).values(), [0.1, 0.3, 0.5]
    )
    log = st.IntervalAxis(low=1, high=100, log=True)
    np.testing.assert_allclose(log.at(np.array([0.0, 0.5])), [1.0, 10.0])
    b = {"start": 0, "stop": 2, "step": 1}
    grid = st.StudySpec(name="x", scenario="s.yaml", parameters={"a": [1, 2], "b": b})
    assert grid.configurations() == [
        {"a": 1, "b": 0}, {"a": 1, "b": 1}, {"a": 1, "b": 2},
        {"a": 2, "b": 0}, {"a": 2, "b": 1}, {"a": 2, "b": 2},
    ]  # fmt: skip


@pytest.mark.slow
def test_examples_run_at_small_size(tmp_path):
    env = {**os.environ, "TWIN_EXAMPLE_SMALL": "1"}
    for script in sorted((ROOT / "examples").glob("*.py")):
        res = subprocess.run(
            [sys.executable, str(script), str(tmp_path / script.stem)],
            env=env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert res.returncode == 0, (script.name, res.stderr[-2000:])
        assert res.stdout.strip(), script.name


def _interrupt(cmd: list[str], when) -> subprocess.CompletedProcess:
    """Run a twin command and Ctrl-C it (SIGINT to its process group) once ``when()``."""
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
def test_ctrl_c_keeps_the_finished_runs_and_says_how_to_resume(tmp_path, reference):
    _, expected = reference
    study = _write_study(tmp_path)
    out = tmp_path / "out"
    journal = out / "runs.jsonl"

    def some_done() -> bool:
        return journal.exists() and len(journal.read_text().splitlines()) >= 3

    res = _interrupt(["sweep", str(study), "-o", str(out), "--in-process"], some_done)
    assert res.returncode == 130, res.stderr
    kept = len(journal.read_text().splitlines())
    assert res.stderr.strip() == (
        f"interrupted: {kept} finished run(s) are kept in {journal}; finish the study with: "
        f"twin sweep {study} --out {out} --resume"
    )
    res = runner.invoke(app, ["sweep", str(study), "-o", str(out), "--in-process", "--resume"])
    assert res.exit_code == 0, res.output
    assert (out / "study.csv").read_text() == expected


def _journal(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "runs.jsonl"
    path.write_text(text)
    return path


def test_the_journal_drops_a_torn_last_line_and_names_a_damaged_one(tmp_path):
    rec = {"key": "k1", "run": "c0-s1", "config": 0, "seed": 1, "params": {}, "status": "ok",
           "error": None, "records": [], "wall_time_s": 1.0}  # fmt: skip
    good = json.dumps(rec) + "\n"
    # Killed while writing the last line: dropped, that run runs again.
    assert set(st._read_done(_journal(tmp_path, good + good[:30]))) == {"k1"}
    # The same bytes followed by a newline were written whole and then damaged.
    for text, line, what in [
        (good[:30] + "\n" + good, 1, "not JSON"),
        (good + json.dumps({**rec, "seed": True}) + "\n", 2, "'seed' is missing or not a int"),
        (good + json.dumps({**rec, "records": [1]}) + "\n", 2, "'records' holds something"),
        (good + "[1, 2]\n", 2, "not a JSON object"),
    ]:
        with pytest.raises(st.TwinError, match=rf"runs.jsonl:{line}: damaged run record: {what}"):
            st._read_done(_journal(tmp_path, text))


def test_study_sizes_are_counted_without_listing_them():
    grid = st.StudySpec(
        name="x", scenario="s.yaml",
        parameters={"a": {"start": 0, "stop": 999, "step": 1}, "b": [1, 2]},
        seeds={"count": 500},
    )  # fmt: skip
    assert grid.size == 2000 and grid.size * len(grid.seed_list) == st.MAX_RUNS
    with pytest.raises(ValueError, match="over the limit of 1,000,000"):
        st.StudySpec(name="x", scenario="s.yaml", parameters=grid.parameters,
                     seeds={"count": 501})  # fmt: skip
    with pytest.raises(ValueError, match="less than or equal to 1000000"):
        st.StudySpec(name="x", scenario="s.yaml", sampling="lhs", samples=10**7,
                     parameters={"a": {"low": 0, "high": 1}})  # fmt: skip
    with pytest.raises(ValueError, match="valid integer"):
        st.StudySpec(name="x", scenario="s.yaml", parameters={"a": [1]}, seeds=[True])


def test_default_metrics_name_keys_every_run_reports(small_farm):
    # A study that names no metrics keeps DEFAULT_METRICS: each must be a key of the records a
    # run produces (one was misnamed, so every default sweep warned of an unknown metric).
    from twin.results.study_table import DEFAULT_METRICS

    d = dict(small_farm, world=dict(small_farm["world"], horizon_days=0.25))
    records = twin.run(d).records()
    for metric in DEFAULT_METRICS:
        assert all(metric in r for r in records), metric
