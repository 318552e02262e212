"""The trace world: recordings replayed as the world, with defined gap, end and error rules."""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

import twin
from twin.errors import ScenarioError
from twin.rng import NodeStream
from twin.world.dataset import make_dataset, make_world
from twin.world.protocol import ActuatedWorld, World
from twin.world.recording import load_recording, write_csv
from twin.world.registry import world_kinds, world_spec
from twin.world.trace import (
    TraceParams,
    TraceWorld,
    replay,
    trace_channels,
    trace_labelled,
    trace_params,
)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "trace"
SOIL = ("moisture_vwc", "soil_temp_c")
DAY_S = 86_400.0


def _world(params: TraceParams, n: int, period_s: float, history: int = 0, key: int = 1):
    return TraceWorld(
        params, n, period_s, np.zeros(n), 10 * DAY_S, np.random.default_rng(0), NodeStream(key),
        history_samples=history,
    )  # fmt: skip


def _csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _soil_recordings(folder: Path, n: int, days: float, seed: int, labels: bool = True):
    """Soil-world readings of ``n`` zones written one CSV per zone (exact float32 values)."""
    world = make_world("soil", n, days, 900.0, seed)
    steps = int(days * DAY_S // 900.0)
    readings = np.empty((steps, n, 2), dtype=np.float32)
    truth = np.empty((steps, n), dtype=bool)
    for k in range(steps):
        readings[k], truth[k] = world.sample(np.arange(n))
    for i in range(n):
        times = world.phase_s[i] + 900.0 * np.arange(steps)
        write_csv(
            folder / f"zone_{i:02d}.csv", times, readings[:, i], SOIL,
            truth[:, i] if labels else None, comments=["from the soil world"],
        )  # fmt: skip
    return readings, truth


def _params(folder: Path, **kw) -> TraceParams:
    raw = {
        "files": "zone_*.csv", "time_column": "time_s", "columns": list(SOIL),
        "label_column": "label", "start_offset": "none", **kw,
    }  # fmt: skip
    return trace_params({k: v for k, v in raw.items() if v is not None}, folder)


# -- replaying what was recorded ---------------------------------------------------------------
def test_replay_reproduces_the_soil_readings_and_labels_it_was_written_from(tmp_path):
    readings, truth = _soil_recordings(tmp_path, 3, 2.0, seed=5)
    for interpolation in ("hold", "linear"):
        world = _world(_params(tmp_path, interpolation=interpolation), 3, 900.0)
        for k in range(len(readings)):
            r, y = world.sample(np.arange(3))
            assert r.dtype == np.float32
            np.testing.assert_array_equal(r, readings[k])  # bit for bit: 9 digits round-trip
            np.testing.assert_array_equal(y, truth[k])
        assert world.replay_counts()["missing_readings"].sum() == 0


def test_the_dataset_builder_cuts_the_same_windows_from_the_replay(tmp_path):
    # Same seed, nodes and period: the trace world's model windows are the soil world's.
    _soil_recordings(tmp_path, 4, 3.0, seed=11)
    xs, ys = make_dataset("soil", 4, 3.0, 900.0, 96, seed=11, stride=7)
    xt, yt = make_dataset("trace", 4, 3.0, 900.0, 96, seed=11, stride=7, params=_params(tmp_path))
    assert xs.shape == xt.shape == ((288 - 96) // 7 * 4 + 4, 192)
    np.testing.assert_array_equal(xt, xs)
    np.testing.assert_array_equal(yt, ys)
    assert 0 < ys.mean() < 1  # both classes: a check that could fail
    # One-reading windows go through the random-access observe() hook: same rows again.
    x1, y1 = make_dataset("soil", 4, 3.0, 900.0, 1, seed=11, stride=5)
    xo, yo = make_dataset("trace", 4, 3.0, 900.0, 1, seed=11, stride=5, params=_params(tmp_path))
    np.testing.assert_array_equal(xo, x1)
    np.testing.assert_array_equal(yo, y1)


def test_history_readings_come_first_and_deployment_starts_a_window_later(tmp_path):
    readings, _ = _soil_recordings(tmp_path, 2, 2.0, seed=3)
    world = _world(_params(tmp_path), 2, 900.0, history=96)
    for k in range(-96, 3):
        r, _ = world.sample(np.arange(2))
        np.testing.assert_array_equal(r, readings[k + 96])


# -- between rows, gaps, the end -------------------------------------------------------------
GAPPY = """# rows at 0, 10, (20 dropped: empty x), 30, then a 70 s gap to 100
time,x,y,label
0,1,10,0
10,2,20,1
20,,30,0
30,4,40,1
100,5,50,0
"""
U = [0, 5, 10, 15, 25, 30, 35, 60, 99, 100, 105, 110, 115, 125]


@pytest.mark.parametrize(
    ("interpolation", "end", "x", "missing", "past"),
    [
        # median interval 20 s: gaps over 60 s are missing (30 -> 100), the held value kept.
        ("hold", "wrap", [1, 1, 2, 2, 2, 4, 4, 4, 4, 5, 5, 5, 5, 1], [6, 7, 8], []),
        # Wrap: the cycle is 100 + 20 s; 105..115 interpolate from the last row to the first.
        ("linear", "wrap", [1, 1.5, 2, 2.5, 3.5, 4, 4, 4, 4, 5, 4, 3, 2, 1.5], [6, 7, 8], []),
        ("hold", "stop", [1, 1, 2, 2, 2, 4, 4, 4, 4, 5, 5, 5, 5, 5], [6, 7, 8, 10, 11, 12, 13],
         [10, 11, 12, 13]),
        ("linear", "stop", [1, 1.5, 2, 2.5, 3.5, 4, 4, 4, 4, 5, 5, 5, 5, 5],
         [6, 7, 8, 10, 11, 12, 13], [10, 11, 12, 13]),
    ],
)  # fmt: skip
def test_between_rows_gaps_and_the_end(tmp_path, interpolation, end, x, missing, past):
    p = trace_params(
        {"files": str(_csv(tmp_path / "a.csv", GAPPY)), "columns": ["x", "y"],
         "label_column": "label"}, tmp_path,
    )  # fmt: skip
    rec = load_recording(p.files[0], "time", ("x", "y"), "label")
    assert rec.dropped_rows == 1 and rec.interval_s == 20.0 and rec.cycle_s == 120.0
    v, y, m, e = replay(rec, np.array(U, float), interpolation, None, end)
    np.testing.assert_allclose(v[:, 0], x, rtol=0, atol=1e-9)
    np.testing.assert_allclose(v[:, 1], 10 * v[:, 0], rtol=1e-12)  # every channel alike
    # Labels are held (never interpolated), missing readings included.
    assert y.astype(int).tolist() == [0, 0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0]
    assert np.flatnonzero(m).tolist() == missing
    assert np.flatnonzero(e).tolist() == past


def test_max_gap_s_decides_what_is_missing(tmp_path):
    rec_path = str(_csv(tmp_path / "a.csv", GAPPY))
    rec = load_recording(rec_path, "time", ("x", "y"))
    u = np.array([15.0, 35.0])  # inside the 20 s gap and inside the 70 s gap
    assert replay(rec, u, "hold", 80.0, "wrap")[2].tolist() == [False, False]
    assert replay(rec, u, "hold", 19.0, "wrap")[2].tolist() == [True, True]
    assert replay(rec, u, "hold", 20.0, "wrap")[2].tolist() == [False, True]  # not longer


def test_missing_readings_are_counted_per_node_from_deployment(tmp_path):
    _csv(tmp_path / "a.csv", GAPPY)
    p = trace_params(
        {"files": "a.csv", "columns": ["x", "y"], "start_offset": "none", "end": "stop"}, tmp_path
    )
    world = _world(p, 2, 5.0, history=8)  # history reads 0..35 s: two missing, not counted
    for _ in range(8 + 22):  # deployed reads at 40 .. 145 s
        world.sample(np.arange(2))
    counts = world.replay_counts()
    # 40..95 s lie in the long gap (12 readings); 105..145 s past the end (9).
    assert counts["missing_readings"].tolist() == [21.0, 21.0]
    assert counts["past_end_readings"].tolist() == [9.0, 9.0]


def test_without_a_label_column_truth_is_false_everywhere(tmp_path):
    _soil_recordings(tmp_path, 2, 1.0, seed=2, labels=False)
    p = _params(tmp_path, label_column=None)
    assert not trace_labelled(p) and trace_labelled(_with_label(tmp_path))
    world = _world(p, 2, 900.0)
    assert not any(world.sample(np.arange(2))[1].any() for _ in range(96))


def _with_label(tmp_path: Path) -> TraceParams:
    _csv(tmp_path / "lab.csv", GAPPY)
    return trace_params({"files": "lab.csv", "columns": ["x"], "label_column": "label"}, tmp_path)


# -- which node reads what ---------------------------------------------------------------------
def _folder_of_three(tmp_path: Path) -> Path:
    for i in range(3):
        t = np.arange(100) * 60.0
        write_csv(tmp_path / f"f{i}.csv", t, np.full((100, 1), float(i)), ["x"])
    return tmp_path


def test_per_file_gives_node_i_the_file_i_mod_n(tmp_path):
    p = trace_params({"files": "f*.csv", "columns": ["x"], "time_column": "time_s"},
                     _folder_of_three(tmp_path))  # fmt: skip
    world = _world(p, 7, 60.0)
    assert world.file_of_node.tolist() == [0, 1, 2, 0, 1, 2, 0]
    assert world.sample(np.arange(7))[0][:, 0].tolist() == [0, 1, 2, 0, 1, 2, 0]


def test_offsets_and_random_files_are_seeded_and_keyed_by_node(tmp_path):
    folder = _folder_of_three(tmp_path)
    p = trace_params(
        {"files": "f*.csv", "columns": ["x"], "time_column": "time_s", "assignment": "random"},
        folder,
    )
    small, big, again, other = (_world(p, 5, 60.0), _world(p, 50, 60.0), _world(p, 50, 60.0),
                                _world(p, 50, 60.0, key=2))  # fmt: skip
    # Node i's draws do not depend on the fleet size; the same key gives the same world.
    np.testing.assert_array_equal(big.offset_s[:5], small.offset_s)
    np.testing.assert_array_equal(big.file_of_node[:5], small.file_of_node)
    np.testing.assert_array_equal(again.offset_s, big.offset_s)
    assert not np.array_equal(other.offset_s, big.offset_s)
    assert set(big.file_of_node.tolist()) == {0, 1, 2}
    cycle = 100 * 60.0
    assert (big.offset_s >= 0).all() and (big.offset_s < cycle).all()
    assert len(np.unique(big.offset_s)) == 50
    none = trace_params({**_raw3(), "start_offset": "none"}, folder)
    assert (_world(none, 5, 60.0).offset_s == 0).all()


def _raw3() -> dict:
    return {"files": "f*.csv", "columns": ["x"], "time_column": "time_s"}


def test_stop_offsets_leave_the_run_inside_the_recording(tmp_path):
    folder = _folder_of_three(tmp_path)  # 99 min of rows
    p = trace_params({**_raw3(), "end": "stop"}, folder)
    world = TraceWorld(p, 40, 60.0, np.zeros(40), 30 * 60.0, None, NodeStream(3), 10)
    # History (10 min) + horizon (30 min) + one period fit in what is left after the offset.
    assert (world.offset_s <= 99 * 60.0 - 41 * 60.0).all() and world.offset_s.max() > 0


# -- reading files -----------------------------------------------------------------------------
def test_iso_timestamps_time_units_and_comments(tmp_path):
    iso = _csv(tmp_path / "iso.csv", "# made by hand\ntime,x\n2024-06-01T00:00:00Z,1\n"
               "2024-06-01T00:15:00+00:00,2\n\n2024-06-01T02:30:00+02:00,3\n")  # fmt: skip
    rec = load_recording(iso, "time", ("x",))
    assert rec.times_s.tolist() == [0.0, 900.0, 1800.0]  # 02:30+02:00 is 00:30 UTC
    naive = _csv(tmp_path / "naive.csv", "time,x\n2024-06-01 00:00:00,1\n2024-06-01 00:00:30,2\n")
    assert load_recording(naive, "time", ("x",)).times_s.tolist() == [0.0, 30.0]
    ms = _csv(tmp_path / "ms.csv", "t_ms,x\n1000,1\n1500,2\n2500,3\n")
    rec = load_recording(ms, "t_ms", ("x",), time_unit_s=0.001)
    assert rec.times_s.tolist() == [0.0, 0.5, 1.5] and rec.interval_s == 0.75


def test_globs_are_sorted_and_a_folder_with_brackets_is_no_pattern(tmp_path):
    folder = tmp_path / "run[1]"
    folder.mkdir()
    for name in ("b.csv", "a.csv", "c.parquet"):
        _csv(folder / name, GOOD)
    p = trace_params({"files": ["*.csv", "a.csv"], "columns": ["x"]}, folder)
    assert [Path(f).name for f in p.files] == ["a.csv", "b.csv"]  # sorted, each file once
    assert all(Path(f).is_absolute() for f in p.files)


def test_parquet_reads_like_the_csv_it_was_made_from(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    _soil_recordings(tmp_path, 1, 1.0, seed=9)
    csv_rec = load_recording(tmp_path / "zone_00.csv", "time_s", SOIL, "label")
    t0 = 1_717_200_000_000_000_000  # 2024-06-01 in ns
    ns = t0 + np.round(csv_rec.times_s * 1e9).astype(np.int64)
    table = pa.table({
        "when": pa.array(ns, pa.timestamp("ns", "UTC")),
        "moisture_vwc": pa.array(csv_rec.values[:, 0].astype(np.float32)),
        "soil_temp_c": pa.array(csv_rec.values[:, 1]),
        "label": pa.array(csv_rec.labels),
    })  # fmt: skip
    pq.write_table(table, tmp_path / "zone.parquet")
    rec = load_recording(tmp_path / "zone.parquet", "when", SOIL, "label")
    np.testing.assert_allclose(rec.times_s, csv_rec.times_s, atol=1e-6)
    np.testing.assert_array_equal(rec.values.astype(np.float32), csv_rec.values.astype(np.float32))
    np.testing.assert_array_equal(rec.labels, csv_rec.labels)


def test_parquet_without_pyarrow_says_how_to_get_it(tmp_path, monkeypatch):
    (tmp_path / "r.parquet").write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)  # import fails
    with pytest.raises(ScenarioError) as err:
        trace_params({"files": "r.parquet", "columns": ["x"]}, tmp_path, "s.yaml")
    assert "pip install 'twin[trace]'" in err.value.message and "CSV" in err.value.message
    assert err.value.file == "s.yaml" and err.value.key_path == "world.params"


def test_an_edited_recording_is_read_again(tmp_path):
    path = _csv(tmp_path / "a.csv", "time,x\n0,1\n1,2\n")
    assert load_recording(path, "time", ("x",)).values[:, 0].tolist() == [1.0, 2.0]
    _csv(path, "time,x\n0,1\n1,2\n2,7\n")
    assert load_recording(path, "time", ("x",)).values[:, 0].tolist() == [1.0, 2.0, 7.0]


GOOD = "time,x,label\n0,1,0\n1,2,1\n2,3,0\n"


@pytest.mark.parametrize(
    ("text", "raw", "key", "fragments"),
    [
        (GOOD, {"files": "nope.csv"}, "files", ["recording not found", "nope.csv", "folder"]),
        (GOOD, {"files": "*.parquet"}, "files", ["no file matches '*.parquet'"]),
        (GOOD, {"files": ["r.csv", "nope.csv"]}, "files.1", ["recording not found"]),
        (GOOD, {"columns": ["y"]}, "columns", ["no column 'y'", "columns: time, x, label"]),
        (GOOD, {"time_column": "tme"}, "time_column", ["no column 'tme'", "did you mean 'time'"]),
        ("time,x\n0,1\n1,abc\n", {}, "columns",
         ["line 3", "'abc'", "expected a number", "leave the cell empty"]),
        ("time,x\n0,1\n2,2\n1,3\n", {}, "time_column",
         ["line 4", "does not come after", "sort the recording by time"]),
        ("time,x\n0,1\n0,2\n", {}, "time_column", ["line 3", "no two rows at one time"]),
        ("time,x\n", {}, None, ["empty recording", "0 usable rows"]),
        ("time,x\n0,1\n1,\n", {}, None, ["empty recording", "1 usable rows of 2"]),
        ("", {}, None, ["empty recording", "no header"]),
        ("time,x\nnoon,1\n1,2\n", {}, "time_column", ["line 2", "ISO 8601"]),
        ("time,x\n2024-06-01T00:00Z,1\n2024-06-01T01:00,2\n", {}, "time_column",
         ["with and without a time zone"]),
        ("time,x\n,1\n1,2\n", {}, "time_column", ["line 2", "no time"]),
        ("time,x\n0,inf\n1,2\n", {}, "columns", ["infinite"]),
        (GOOD.replace("1,2,1", "1,2,5"), {"label_column": "label"}, "label_column",
         ["line 3", "'5'", "0/1 or true/false"]),
        (GOOD, {"interp": "linear"}, "interp", ["unknown trace parameter", "'interpolation'"]),
        (GOOD, {"end": "loop"}, "end", ["expected one of wrap, stop", "'loop'"]),
        (GOOD, {"max_gap_s": 0}, "max_gap_s", ["positive number of seconds"]),
        (GOOD, {"max_gap_s": "1h"}, "max_gap_s", ["a number of seconds"]),
        (GOOD, {"columns": ["x", "x"]}, "columns", ["listed twice"]),
        (GOOD, {"columns": ["x"], "label_column": "x"}, "label_column", ["also listed"]),
        (GOOD, {"columns": []}, "columns", ["needs columns", "order the model reads"]),
        (GOOD, {"columns": [1]}, "columns", ["text or a list of text"]),
        (GOOD, {"files": None}, "files", ["needs files", "glob"]),
        (GOOD, {"files": "r.txt"}, "files", ["expected a .csv or .parquet"]),
    ],
)  # fmt: skip
def test_bad_recordings_and_params_name_the_key_the_file_and_the_fix(
    tmp_path, text, raw, key, fragments
):
    _csv(tmp_path / "r.csv", text)
    (tmp_path / "r.txt").write_text(GOOD)
    full = {"files": "r.csv", "columns": ["x"], **raw}
    with pytest.raises(ScenarioError) as err:
        trace_params({k: v for k, v in full.items() if v is not None}, tmp_path, "s.yaml")
    exc = err.value
    assert exc.file == "s.yaml"
    assert exc.key_path == ("world.params" + (f".{key}" if key else ""))
    for fragment in fragments:
        assert fragment in exc.message, exc.message
    if text != GOOD or fragments[0].startswith("no column"):
        # A problem inside a recording names it first.
        assert exc.message.startswith(f"{tmp_path / 'r.csv'}: "), exc.message


def test_params_built_in_python_are_checked_too():
    with pytest.raises(ValueError, match="interpolation: expected one of hold, linear"):
        TraceParams(files="a.csv", columns="x", interpolation="cubic")
    p = TraceParams(files="a.csv", columns="x")
    assert p.files == ("a.csv",) and trace_channels(p) == ("x",)


# -- registry and engine ---------------------------------------------------------------------
def test_trace_is_a_builtin_world_whose_channels_come_from_its_params(tmp_path):
    assert "trace" in world_kinds()
    spec = world_spec("trace")
    assert spec.world is TraceWorld and spec.params is TraceParams and spec.actuator is None
    assert spec.channels == ()  # no channels of its own: trace_channels(params)
    assert spec.world.load_params is trace_params and spec.world.channels_for is trace_channels
    _soil_recordings(tmp_path, 1, 0.1, seed=1)
    world = _world(_params(tmp_path), 2, 900.0)
    assert isinstance(world, World) and not isinstance(world, ActuatedWorld)
    assert world.channels == SOIL
    with pytest.raises(ScenarioError, match="needs files and columns"):
        _world(TraceParams(), 2, 900.0)


def _raw(folder: Path, **kw) -> dict:
    raw = {
        "files": str(folder / "zone_*.csv"), "time_column": "time_s", "columns": list(SOIL),
        "label_column": "label", "start_offset": "none", **kw,
    }  # fmt: skip
    return {k: v for k, v in raw.items() if v is not None}


def _replayed_farm(farm_dict, folder: Path, count: int, **kw) -> dict:
    d = copy.deepcopy(farm_dict)
    d["world"].update(kind="trace", horizon_days=2, params=_raw(folder, **kw))
    d["groups"]["soil"].update(count=count, actuation=False, model={"zoo": "soil_irrigation"})
    return d


def test_the_engine_runs_the_zoo_model_on_a_replayed_recording(farm_dict, tmp_path):
    _soil_recordings(tmp_path, 4, 6.0, seed=21)
    d = _replayed_farm(farm_dict, tmp_path, 8, start_offset="random")
    a, b = twin.run(d), twin.run(d)
    on = a.result("on_device")
    assert on["samples"] == 8 * 2 * 96
    # Held-out F1 of soil_irrigation is ~0.7 on the soil world; replayed soil readings are
    # the same signal, so the model must still find the positives (a small, 2-day sample).
    assert on["decision"]["tp"] > 0 and on["decision"]["f1"] >= 0.5
    assert a.summary == b.summary and a.nodes == b.nodes  # same seed, same run

    # Without labels nothing is ever positive: no true positive, no miss, only false alarms.
    _soil_recordings(tmp_path, 4, 6.0, seed=21, labels=False)
    d = _replayed_farm(farm_dict, tmp_path, 8, start_offset="random", label_column=None)
    quality = twin.run(d).result("on_device")["decision"]
    assert quality["tp"] == quality["fn"] == 0 and quality["recall"] is None


def test_a_zoo_model_must_read_the_recording_columns(farm_dict, tmp_path):
    _soil_recordings(tmp_path, 1, 1.0, seed=2)
    d = _replayed_farm(farm_dict, tmp_path, 2, columns=["soil_temp_c", "moisture_vwc"])
    with pytest.raises(ScenarioError, match="reads moisture_vwc, soil_temp_c") as exc:
        twin.compile_scenario(d)
    assert exc.value.key_path == "world.params.columns"


def test_world_params_of_a_simulated_world_are_its_parameter_class(farm_dict):
    d = copy.deepcopy(farm_dict)
    d["world"]["params"] = {"no_such_knob": 1}
    with pytest.raises(ScenarioError, match="no parameter 'no_such_knob'") as exc:
        twin.compile_scenario(d)
    assert exc.value.key_path == "world.params.no_such_knob"


# -- the example -----------------------------------------------------------------------------
def _example_module():
    spec = importlib.util.spec_from_file_location("make_recording", EXAMPLE / "make_recording.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_example_recordings_are_what_their_script_writes(tmp_path):
    made = _example_module().main(tmp_path)
    assert [p.name for p in made] == ["zone_1.csv", "zone_2.csv", "zone_3.csv"]
    for p in made:
        assert p.read_bytes() == (EXAMPLE / p.name).read_bytes(), p.name
    # The faults the README describes are in the files: zone 2's outage, zone 3's failed read.
    p = trace_params(
        {"files": "zone_*.csv", "columns": list(SOIL), "label_column": "needs_irrigation"},
        EXAMPLE,
    )
    recs = [load_recording(f, "time", SOIL, "needs_irrigation") for f in p.files]
    assert [r.dropped_rows for r in recs] == [0, 0, 1]
    gaps = [np.diff(r.times_s).max() for r in recs]
    assert gaps == [900.0, 17 * 900.0, 2 * 900.0]


def test_the_example_scenario_runs_end_to_end():
    from twin.config.loader import load_scenario

    d = load_scenario(EXAMPLE / "scenario.yaml")
    d = d.with_overrides({"world.horizon_days": 2, "groups.soil.count": 6})
    r = twin.run(d)
    assert r.result("on_device")["decision"]["f1"] >= 0.5
    # The recordings (and models) are named with their contents' hash: the scenario's hash
    # does not cover them.
    inputs = {Path(f["path"]).name: f for f in r.manifest["inputs"]}
    for name in ("zone_1.csv", "zone_2.csv", "zone_3.csv"):
        digest = hashlib.sha256((EXAMPLE / name).read_bytes()).hexdigest()
        assert inputs[name] == {"role": "recording", "path": str(EXAMPLE / name), "sha256": digest}
    assert inputs["soil_irrigation_int8.onnx"]["role"] == "model"
    html = twin.api._render(r)
    assert 'id="table-inputs"' in html and inputs["zone_2.csv"]["sha256"][:12] in html
