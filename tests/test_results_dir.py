"""The results directory: Parquet, DataFrames, events.csv, images, compare, atomic writes."""

from __future__ import annotations

import copy
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import twin
from twin.cli import app
from twin.report import PLOT_IDS
from twin.results import outdir

runner = CliRunner()


def _tiny(d: dict, count: int = 6, days: float = 1) -> dict:
    d = copy.deepcopy(d)
    d["groups"]["soil"]["count"] = count
    d["world"]["horizon_days"] = days
    return d


@pytest.fixture(scope="module")
def tiny_run(farm_dict):
    return twin.run(_tiny(farm_dict), record_events=True)


def test_parquet_tables_hold_the_csv_rows(tmp_path, tiny_run):
    import pandas as pd

    out = twin.write_results(tiny_run, tmp_path / "res")
    for name in ("nodes", "timeseries"):
        pq = pd.read_parquet(out / f"{name}.parquet")
        csv_frame = pd.read_csv(out / f"{name}.csv")
        # Same rows and columns; Parquet keeps the types the records had.
        assert list(pq.columns) == list(csv_frame.columns)
        pd.testing.assert_frame_equal(pq, csv_frame, check_dtype=False)
    assert pq.equals(tiny_run.timeseries_frame())


def test_frames_and_flat_records(tiny_run):
    frame = tiny_run.summary_frame()
    assert len(frame) == len(tiny_run.summary["results"])
    row = frame.set_index("policy").loc["cloud"]
    e = tiny_run.result("cloud")
    assert row["latency_s.p95"] == e["latency_s"]["p95"]
    assert row["energy_j.radio_tx"] == e["energy_j"]["radio_tx"]
    assert row["decision.f1"] == e["decision"]["f1"]
    nodes = tiny_run.nodes_frame()
    assert len(nodes) == 2 * 6 and set(nodes["policy"]) == {"on_device", "cloud"}


def test_events_account_for_every_sample_and_delivery(tmp_path, tiny_run):
    out = twin.write_results(tiny_run, tmp_path / "res", events=True)
    with (out / "events.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    for policy in ("on_device", "cloud"):
        e = tiny_run.result(policy)
        mine = [r for r in rows if r["policy"] == policy]
        samples = [r for r in mine if r["event"] == "sample"]
        assert len(samples) == e["samples"]
        sent = [r for r in samples if r["message"]]
        assert len(sent) == e["uplink_messages"]
        times = [float(r["time_s"]) for r in mine]
        assert times == sorted(times)
    # Every cloud decision that reached a valve is one "decision" event.
    cloud_acts = [r for r in rows if r["policy"] == "cloud" and r["event"] == "decision"]
    assert len(cloud_acts) == tiny_run.result("cloud")["latency_s"]["count"]


def test_events_refused_for_large_runs_and_nothing_written(tmp_path, farm_dict):
    path = tmp_path / "big.yaml"
    path.write_text(yaml.safe_dump(farm_dict))  # 500 nodes x 30 days x 2 policies
    res = runner.invoke(app, ["run", str(path), "--events", "-o", str(tmp_path / "out")])
    assert res.exit_code == 2 and "events are logged for small runs" in res.output
    assert not (tmp_path / "out").exists()


def test_images_need_kaleido_and_say_so(tmp_path, farm_dict, monkeypatch):
    monkeypatch.setitem(sys.modules, "kaleido", None)  # as if not installed
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(_tiny(farm_dict)))
    res = runner.invoke(app, ["run", str(path), "--images", "-o", str(tmp_path / "out")])
    assert res.exit_code == 2 and "pip install kaleido" in res.output
    assert not (tmp_path / "out").exists()


def test_static_images_of_every_plot(tmp_path, tiny_run):
    pytest.importorskip("kaleido")
    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        pytest.skip("kaleido needs a Chromium (.ci/run installs Debian's)")
    out = twin.write_results(tiny_run, tmp_path / "res", images=True)
    for plot_id in PLOT_IDS:
        png = (out / "images" / f"{plot_id}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5_000  # a real picture
        svg = (out / "images" / f"{plot_id}.svg").read_text()
        assert "<svg" in svg and "</svg>" in svg


def test_compare_puts_two_boards_side_by_side(tmp_path, farm_dict):
    a = _tiny(farm_dict)
    b = copy.deepcopy(a)
    b["groups"]["soil"]["board"] = "nucleo-l4r5zi"
    for name, d in (("nano", a), ("l4", b)):
        twin.write_results(twin.run(d), tmp_path / name)
    out = tmp_path / "cmp" / "compare.html"
    res = runner.invoke(
        app, ["compare", str(tmp_path / "nano"), str(tmp_path / "l4"), "-o", str(out)]
    )
    assert res.exit_code == 0, res.output
    html = out.read_text()
    for label in ("nano/on_device", "nano/cloud", "l4/on_device", "l4/cloud"):
        assert label in html
    assert 'id="table-runs"' in html
    for plot_id in PLOT_IDS:
        assert f'id="{plot_id}"' in html
    # The merged records are the runs' own, relabelled: one source of truth.
    merged = twin.api.compare(
        [twin.load_results(tmp_path / "nano"), twin.load_results(tmp_path / "l4")], ["nano", "l4"]
    )
    originals = json.loads((tmp_path / "l4" / "summary.json").read_text())["results"]
    relabelled = [r for r in merged.summary["results"] if r["policy"].startswith("l4/")]
    assert [{**r, "policy": r["policy"][3:]} for r in relabelled] == originals
    energies = {r["policy"]: r["energy_per_node_day_j"] for r in merged.summary["results"]}
    assert energies["nano/on_device"] != energies["l4/on_device"]  # the boards differ


def test_compare_refuses_what_is_not_results(tmp_path):
    (tmp_path / "a").mkdir()
    res = runner.invoke(app, ["compare", str(tmp_path / "a"), str(tmp_path / "a"), "-o", "x.html"])
    assert res.exit_code == 2 and "not a complete twin results directory" in res.output
    res = runner.invoke(app, ["compare", str(tmp_path / "a"), "-o", str(tmp_path / "x.html")])
    assert res.exit_code == 2
    assert not (tmp_path / "x.html").exists()


# A twin run whose CSV writing is slowed down, so that a kill lands mid-write for sure.
_SLOW_WRITER = """
import sys, time
import twin.api as api
_orig = api._write_csv
def _slow(path, rows):
    print("writing", path.name, flush=True)
    time.sleep(0.4)
    _orig(path, rows)
api._write_csv = _slow
from twin.cli import main
sys.argv = ["twin", *sys.argv[1:]]
main()
"""


# Wall time and creation time differ between identical runs (the report shows them too).
_VARYING = {"manifest.json", "report.html"}


def _complete(directory: Path) -> bool:
    """The directory holds a whole, readable set of results."""
    try:
        r = twin.load_results(directory)
    except twin.TwinError:
        return False
    html = (directory / "report.html").read_text()
    return bool(r.summary["results"]) and html.rstrip().endswith("</html>")


@pytest.mark.slow
def test_killing_twin_run_mid_write_leaves_the_previous_results_or_none(tmp_path, farm_dict):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(_tiny(farm_dict, count=4)))
    out = tmp_path / "res"
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    cmd = [sys.executable, "-c", _SLOW_WRITER, "run", str(path), "-o", str(out)]
    # First, a run that completes: the previous results.
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.name not in _VARYING}
    assert _complete(out)
    # Then runs killed during the simulation, and at moments spread over the write phase
    # (counted from the writer's first file, which it announces).
    for phase, delay_s in [("run", 0.5)] + [("write", d) for d in (0.0, 0.2, 0.5, 0.7, 1.0)]:
        proc = subprocess.Popen(
            cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        if phase == "write":
            assert proc.stdout.readline().startswith("writing")
        time.sleep(delay_s)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        if out.exists():
            assert _complete(out), f"broken results after a kill ({phase} + {delay_s} s)"
            # Old or new, the records are the same run (deterministic); never a mixture.
            now = {p.name: p.read_bytes() for p in out.iterdir() if p.name not in _VARYING}
            assert now == before
        # Temporary directories are hidden and never mistaken for results.
        visible = [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")]
        assert set(visible) <= {"s.yaml", "res"}
    # Kills between the steps of the swap itself (a test hook of twin.results.outdir): with
    # RENAME_EXCHANGE the results are whole at every instant.
    exchange = outdir._libc_renameat2() is not None
    for step in ("temp-written", "exchanged" if exchange else "moved-old", "old-partly-removed"):
        res = subprocess.run(cmd, env={**env, outdir.KILL_ENV: step}, capture_output=True)
        assert res.returncode == -signal.SIGKILL, (step, res.stderr[-2000:])
        if exchange or out.exists():
            assert _complete(out), f"broken results after a kill at {step}"
            # (Plus, until the next start, the hidden marker of the swap that was cut short.)
            skip = _VARYING | {outdir.MARKER}
            now = {p.name: p.read_bytes() for p in out.iterdir() if p.name not in skip}
            assert now == before
    # The next run puts back what the kills left and removes twin's leftovers: nothing hidden.
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["res", "s.yaml"]
    assert _complete(out)


def test_cloud_time_series_adds_up_to_the_summary(tiny_run):
    horizon = tiny_run.summary["scenario"]["horizon_s"]
    for e in tiny_run.summary["results"]:
        rows = [
            r
            for r in tiny_run.timeseries
            if r["policy"] == e["policy"] and r["group"] == e["group"]
        ]
        assert sum(r["cloud_requests"] for r in rows) == e["cloud"]["requests"]
        # Busy share x step length, summed: the run's utilisation (one service, every step).
        busy = sum(r["cloud_utilisation"] * r["interval_s"] for r in rows)
        assert busy / horizon == pytest.approx(e["cloud"]["utilisation"], rel=1e-9, abs=1e-15)
        assert all(r["cloud_wait_max_s"] >= r["cloud_wait_mean_s"] >= 0 for r in rows)


def test_manifest_says_what_made_the_results(tmp_path, tiny_run):
    out = twin.write_results(tiny_run, tmp_path / "res")
    manifest = json.loads((out / "manifest.json").read_text())
    summary = json.loads((out / "summary.json").read_text())
    assert manifest["scenario_hash"] == summary["scenario"]["hash"]
    assert manifest["seed"] == summary["scenario"]["seed"]
    assert manifest["versions"]["twin"] == twin.api.versions()["twin"]
    assert {"numpy", "onnxruntime", "simpy"} <= set(manifest["versions"])
    assert manifest["wall_time_s"] > 0
