"""Output folders: a user's files are never replaced; the results swap survives a kill anywhere."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import twin
from twin.cli import app
from twin.results import outdir
from twin.results.outdir import OutputDirError

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()
EXCHANGE = outdir._libc_renameat2() is not None


# --------------------------------------------------------------------------- helpers


def _snapshot(root: Path) -> dict:
    """Every entry under ``root``: mode, mtime and bytes (or link target), byte for byte."""
    snap = {}
    for p in sorted([root, *root.rglob("*")]):
        st = p.lstat()
        if p.is_symlink():
            body = os.readlink(p)
        elif p.is_file():
            body = p.read_bytes()
        else:
            body = None
        snap[str(p.relative_to(root))] = (st.st_mode, st.st_mtime_ns, body)
    return snap


def _user_project(parent: Path) -> Path:
    proj = parent / "project"
    (proj / "src").mkdir(parents=True)
    (proj / "src" / "main.py").write_text("print('my code')\n")
    (proj / "README.md").write_text("# my project\n")
    return proj


_FILES = ("summary.json", "nodes.csv", "timeseries.csv", "latency_hist.json", "report.html")

# A writer of results-shaped folders through outdir.staged: fast, so the kill tests can run it
# in a subprocess many times. argv: target, version, file names (JSON).
_WRITER = """
import json, sys
from twin.results import outdir
out, version, files = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
with outdir.staged(out) as tmp:
    for name in files:
        (tmp / name).write_text(f"{name} v{version}\\n" * 2000)
    (tmp / "images").mkdir()
    (tmp / "images" / "plot-a.png").write_text(version)
    (tmp / "manifest.json").write_text(json.dumps(outdir.mark_manifest({"version": version})))
"""


def _write(out: Path, version: str) -> None:
    with outdir.staged(out) as tmp:
        for name in _FILES:
            (tmp / name).write_text(f"{name} v{version}\n" * 2000)
        (tmp / "images").mkdir()
        (tmp / "images" / "plot-a.png").write_text(version)
        (tmp / "manifest.json").write_text(json.dumps(outdir.mark_manifest({"version": version})))


def _version(out: Path) -> str | None:
    """The version of a complete results folder at ``out``; None if absent or incomplete."""
    try:
        version = json.loads((out / "manifest.json").read_text())["version"]
        for name in _FILES:
            assert (out / name).read_text() == f"{name} v{version}\n" * 2000
        assert (out / "images" / "plot-a.png").read_text() == version
    except (OSError, AssertionError, KeyError, ValueError):
        return None
    return version


def _kill_writer(out: Path, version: str, step: str, exchange: bool) -> None:
    env = {**os.environ, outdir.KILL_ENV: step, "PYTHONPATH": str(ROOT)}
    if not exchange:
        env[outdir.NO_EXCHANGE_ENV] = "1"
    proc = subprocess.run(
        [sys.executable, "-c", _WRITER, str(out), version, json.dumps(_FILES)],
        env=env,
        capture_output=True,
    )
    assert proc.returncode == -9, (step, proc.stderr.decode()[-2000:])


@pytest.fixture(scope="module")
def tiny_result(farm_dict):
    d = copy.deepcopy(farm_dict)
    d["groups"]["soil"]["count"] = 4
    d["world"]["horizon_days"] = 0.5
    return twin.run(d, record_events=True)


@pytest.fixture
def scenario(tmp_path, farm_dict) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(farm_dict))
    return path


# --------------------------------------------------------------------------- refusals


def test_a_users_folder_is_refused_and_untouched(tmp_path, tiny_result):
    proj = _user_project(tmp_path)
    before = _snapshot(tmp_path)
    with pytest.raises(OutputDirError) as err:
        twin.write_results(tiny_result, proj)
    msg = str(err.value)
    assert str(proj) in msg and "files twin did not write" in msg and "README.md" in msg
    assert "choose a new folder" in msg
    assert _snapshot(tmp_path) == before  # nothing in it or beside it changed


def test_a_file_is_refused_and_untouched(tmp_path, tiny_result):
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    before = _snapshot(tmp_path)
    with pytest.raises(OutputDirError, match="it is a file, not a folder"):
        twin.write_results(tiny_result, notes)
    assert _snapshot(tmp_path) == before


def test_root_working_directory_and_its_parents_are_refused(tmp_path, monkeypatch):
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    for out, why in [
        ("/", "filesystem root"),
        (".", "it is the working directory"),
        ("./", "it is the working directory"),
        ("..", "it holds the working directory"),
        (str(tmp_path), "it holds the working directory"),
        ("../b", "it is the working directory"),
    ]:
        with pytest.raises(OutputDirError, match=why):
            outdir.check_results_dir(out)
        with pytest.raises(OutputDirError, match=why):
            outdir.check_study_dir(out)


def test_a_folder_holding_the_scenario_is_refused(tmp_path):
    (tmp_path / "proj").mkdir()
    scenario = tmp_path / "proj" / "sub" / "s.yaml"
    scenario.parent.mkdir()
    scenario.write_text("name: x\n")
    with pytest.raises(OutputDirError, match="it holds the input file"):
        outdir.check_results_dir(tmp_path / "proj", inputs=[scenario])
    with pytest.raises(OutputDirError, match="it is the input file"):
        outdir.check_results_dir(scenario, inputs=[scenario])


def test_a_symlink_is_refused_even_to_twin_results(tmp_path):
    _write(tmp_path / "res", "1")
    (tmp_path / "link").symlink_to(tmp_path / "res")
    before = _snapshot(tmp_path)
    with pytest.raises(OutputDirError, match="symbolic link") as err:
        _write(tmp_path / "link", "2")
    assert "by its own name" in str(err.value)
    assert _snapshot(tmp_path) == before
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    with pytest.raises(OutputDirError, match="symbolic link"):
        outdir.check_results_dir(tmp_path / "dangling")


def test_a_user_file_inside_twin_results_makes_the_folder_the_users(tmp_path):
    _write(tmp_path / "res", "1")
    (tmp_path / "res" / "analysis.ipynb").write_text("{}")
    before = _snapshot(tmp_path)
    with pytest.raises(OutputDirError, match=r"twin run's results and files twin did not write"):
        _write(tmp_path / "res", "2")
    assert _snapshot(tmp_path) == before


def test_unwritable_parent_is_a_clean_error(tmp_path):
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        if os.access(parent, os.W_OK):
            pytest.skip("running as root: chmod does not stop writes")
        with pytest.raises(OutputDirError, match="permission denied"):
            outdir.check_results_dir(parent / "res")
        with pytest.raises(OutputDirError, match="permission denied"):
            _write(parent / "res", "1")
        with pytest.raises(OutputDirError, match="permission denied"):
            outdir.make_study_dir(parent / "study")
    finally:
        parent.chmod(0o755)


def test_unwritable_parent_message(tmp_path, monkeypatch):
    # The same path as above, for root too: access() is what the check asks.
    real = os.access
    ro = tmp_path / "ro"
    ro.mkdir()
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == ro else real(p, mode))
    with pytest.raises(OutputDirError) as err:
        outdir.check_results_dir(ro / "deeper" / "res")
    assert str(err.value) == (
        f"{ro}/deeper/res: twin cannot write to {ro} (permission denied); "
        "choose a folder you can write to, or change its permissions"
    )
    assert not (ro / "deeper").exists()


# --------------------------------------------------------------------------- accepted folders


def test_twin_results_are_replaced_and_marked(tmp_path, tiny_result):
    out = tmp_path / "res"
    twin.write_results(tiny_result, out, events=True)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["format"] == outdir.RESULTS_FORMAT
    # Every file write_results writes is one twin recognises as its own (RUN_FILES in step).
    assert outdir.classify(out).kind == "run"
    (out / "events.csv").write_text("stale")
    twin.write_results(tiny_result, out)
    assert not (out / "events.csv").exists()  # replaced whole, not merged
    assert sorted(p.name for p in tmp_path.iterdir()) == ["res"]
    assert twin.load_results(out).summary == tiny_result.summary


def test_results_of_earlier_versions_are_recognised(tmp_path, tiny_result):
    out = tmp_path / "res"
    twin.write_results(tiny_result, out)
    manifest = json.loads((out / "manifest.json").read_text())
    del manifest["format"]  # as written before the marker
    (out / "manifest.json").write_text(json.dumps(manifest))
    assert outdir.classify(out).kind == "run"
    twin.write_results(tiny_result, out)
    assert json.loads((out / "manifest.json").read_text())["format"] == outdir.RESULTS_FORMAT
    # A manifest.json of some other tool is not twin's.
    other = tmp_path / "other"
    other.mkdir()
    (other / "manifest.json").write_text(json.dumps({"name": "webapp", "version": "1"}))
    assert outdir.classify(other).kind == "other"


def test_an_empty_folder_is_used(tmp_path, tiny_result):
    (tmp_path / "empty").mkdir()
    twin.write_results(tiny_result, tmp_path / "empty")
    assert outdir.classify(tmp_path / "empty").kind == "run"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]


def test_a_long_name_gets_a_short_temp_name(tmp_path):
    out = tmp_path / ("r" * 250)
    _write(out, "1")
    _write(out, "2")
    assert _version(out) == "2" and [p.name for p in tmp_path.iterdir()] == [out.name]


def test_study_and_run_folders_are_not_mixed_up(tmp_path):
    _write(tmp_path / "run", "1")
    study = tmp_path / "study"
    study.mkdir()
    (study / "runs.jsonl").write_text(
        json.dumps({"key": "k", "run": "c0-s1", "status": "ok", "records": []}) + "\n"
    )
    (study / "study.json").write_text(json.dumps({"name": "s", "plan": "p", "spec": {}}))
    assert outdir.classify(study).kind == "study"
    assert outdir.check_study_dir(study) == study
    with pytest.raises(OutputDirError, match="it holds a twin run's results, not a study"):
        outdir.check_study_dir(tmp_path / "run")
    with pytest.raises(OutputDirError, match="it holds a twin study, not a run"):
        outdir.check_results_dir(study)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "summary.json").write_text("{}")
    with pytest.raises(OutputDirError, match="writes its files into it"):
        outdir.check_study_dir(tmp_path / "mine")


# --------------------------------------------------------------------------- the swap


@pytest.mark.parametrize("exchange", [True, False], ids=["exchange", "two-renames"])
def test_a_file_slipped_in_during_the_run_stops_the_swap(tmp_path, monkeypatch, exchange):
    if exchange and not EXCHANGE:
        pytest.skip("no renameat2 here")
    if not exchange:
        monkeypatch.setenv(outdir.NO_EXCHANGE_ENV, "1")
    out = tmp_path / "res"
    _write(out, "1")
    with pytest.raises(OutputDirError, match="files twin did not write"):
        with outdir.staged(out) as tmp:
            (tmp / "manifest.json").write_text("{}")
            (out / "late.txt").write_text("written while twin ran")
    assert _version(out) == "1" and (out / "late.txt").read_text() == "written while twin ran"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["res"]


@pytest.mark.parametrize("exchange", [True, False], ids=["exchange", "two-renames"])
def test_a_file_slipped_in_after_the_check_is_swapped_back(tmp_path, monkeypatch, exchange):
    """The copy moved aside is checked again before removal: the check-then-swap window."""
    if exchange and not EXCHANGE:
        pytest.skip("no renameat2 here")
    if not exchange:
        monkeypatch.setenv(outdir.NO_EXCHANGE_ENV, "1")
    out = tmp_path / "res"
    _write(out, "1")
    real = outdir.classify
    calls = []

    def late_file(path):
        # The swap's own check sees twin's folder; the file lands just after it.
        if not calls:
            calls.append(path)
            folder = real(path)
            (out / "late.txt").write_text("mine")
            return folder
        return real(path)

    with pytest.raises(OutputDirError, match="late.txt"):
        with outdir.staged(out) as tmp:
            (tmp / "manifest.json").write_text("{}")
            monkeypatch.setattr(outdir, "classify", late_file)
    assert _version(out) == "1" and (out / "late.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["res"]


def test_if_putting_the_folder_back_fails_it_is_kept_and_named(tmp_path, monkeypatch):
    if not EXCHANGE:
        pytest.skip("no renameat2 here")
    out = tmp_path / "res"
    _write(out, "1")
    real_rename2, real_classify = outdir._rename2, outdir.classify
    exchanges = []

    def failing_second_exchange(src, dst, flags):
        if flags == outdir._RENAME_EXCHANGE:
            exchanges.append(src)
            if len(exchanges) == 2:
                raise OSError(5, "Input/output error")
        return real_rename2(src, dst, flags)

    def late_file(path):
        folder = real_classify(path)
        if path == out and not (out / "late.txt").exists():
            (out / "late.txt").write_text("mine")
        return folder

    with pytest.raises(OutputDirError, match="move it back yourself") as err:
        with outdir.staged(out) as tmp:
            (tmp / "manifest.json").write_text(json.dumps(outdir.mark_manifest({})))
            monkeypatch.setattr(outdir, "_rename2", failing_second_exchange)
            monkeypatch.setattr(outdir, "classify", late_file)
    aside = exchanges[0]
    assert str(aside) in str(err.value)
    assert _version(aside) == "1" and (aside / "late.txt").read_text() == "mine"
    monkeypatch.undo()
    # The next write replaces the new results but leaves the user's folder where it is.
    _write(out, "3")
    assert _version(out) == "3" and (aside / "late.txt").read_text() == "mine"


def test_recovery_leaves_a_swap_in_progress_alone(tmp_path, monkeypatch):
    """Between the exchange and the removal of the old copy, another start must wait."""
    out = tmp_path / "res"
    _write(out, "1")
    real = outdir._remove_old
    seen = []

    def remove_old_after_a_recovery(old):
        seen.append(outdir.recover(out))
        assert _version(old) == "1" and (out / outdir.MARKER).exists()
        real(old)

    monkeypatch.setattr(outdir, "_remove_old", remove_old_after_a_recovery)
    _write(out, "2")
    assert seen == [[]] and _version(out) == "2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["res"]


def test_recovery_leaves_a_live_writers_temp_alone(tmp_path):
    out = tmp_path / "res"
    _write(out, "1")
    with outdir.staged(out) as tmp:
        (tmp / "manifest.json").write_text(json.dumps(outdir.mark_manifest({"version": "2"})))
        assert outdir.recover(out) == [] and tmp.is_dir()  # its marker is locked
        for name in _FILES:
            (tmp / name).write_text(f"{name} v2\n" * 2000)
        (tmp / "images").mkdir()
        (tmp / "images" / "plot-a.png").write_text("2")
    assert _version(out) == "2"


def test_recovery_never_touches_what_it_cannot_prove_is_twins(tmp_path):
    out = tmp_path / "res"
    _write(out, "1")
    token = "0123456789abcdef"
    strangers = [
        tmp_path / f".res.twin-tmp-{token}",  # twin's name, no marker
        tmp_path / f".res.twin-old-{token}",  # twin's name, a user file inside
        tmp_path / ".res-old-4242",  # what earlier versions left: may hold a user's file
        tmp_path / ".res-abc123",
    ]
    for s in strangers:
        s.mkdir()
        (s / "precious.txt").write_text("keep me")
    fresh = tmp_path / f".res.twin-tmp-{'f' * 16}"
    fresh.mkdir()  # empty but new: a writer may be about to create its marker
    strangers.append(fresh)
    before = [_snapshot(s) for s in strangers]
    _write(out, "2")
    assert _version(out) == "2"
    assert [_snapshot(s) for s in strangers] == before


# Where a kill lands -> the version the target holds afterwards (1 old, 2 new).
_KILLS = [
    ("temp-written", True, "1"),
    ("exchanged", True, "2"),
    ("old-partly-removed", True, "2"),
    ("old-removed", True, "2"),
    ("temp-written", False, "1"),
    ("moved-old", False, "1"),
    ("renamed", False, "2"),
    ("old-partly-removed", False, "2"),
    ("old-removed", False, "2"),
]


@pytest.mark.parametrize(
    ("step", "exchange", "expected"),
    _KILLS,
    ids=[f"{s}-{'exchange' if e else 'two-renames'}" for s, e, _ in _KILLS],
)
def test_a_kill_between_the_swaps_steps_loses_nothing(tmp_path, step, exchange, expected):
    if exchange and not EXCHANGE:
        pytest.skip("no renameat2 here")
    out = tmp_path / "res"
    _write(out, "1")
    _kill_writer(out, "2", step, exchange)
    if exchange:
        # One step: at every instant the target is the whole old or the whole new folder.
        assert _version(out) == expected
    elif step == "moved-old":
        # Between two renames the target is absent; the whole old copy waits beside it.
        assert not out.exists()
        assert [_version(p) for p in tmp_path.glob(".res.twin-old-*")] == ["1"]
    # The next start puts things right (restores, removes twin's leftovers) ...
    outdir.check_results_dir(out)
    assert _version(out) == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == ["res"]
    assert not (out / outdir.MARKER).exists()
    # ... and the next write works and leaves nothing behind.
    _write(out, "3")
    assert _version(out) == "3" and sorted(p.name for p in tmp_path.iterdir()) == ["res"]


@pytest.mark.parametrize("exchange", [True, False], ids=["noreplace", "rename"])
def test_a_kill_after_the_first_write_moved_in(tmp_path, exchange):
    if exchange and not EXCHANGE:
        pytest.skip("no renameat2 here")
    out = tmp_path / "res"
    _kill_writer(out, "1", "renamed", exchange)
    assert _version(out) == "1"
    _write(out, "2")
    assert _version(out) == "2" and sorted(p.name for p in tmp_path.iterdir()) == ["res"]


# --------------------------------------------------------------------------- CLI


def _no_simulation(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("the simulation ran before the results folder was checked")

    monkeypatch.setattr(twin.api, "run", boom)


@pytest.mark.parametrize("kind", ["user folder", "file", "root", "cwd", "symlink"])
def test_twin_run_refuses_before_simulating(tmp_path, scenario, monkeypatch, kind):
    _no_simulation(monkeypatch)
    monkeypatch.chdir(tmp_path)
    out = {
        "user folder": lambda: str(_user_project(tmp_path)) + "/",
        "file": lambda: (tmp_path / "notes.txt").write_text("n") and "notes.txt",
        "root": lambda: "/",
        "cwd": lambda: ".",
        "symlink": lambda: (tmp_path / "l").symlink_to(_user_project(tmp_path)) or "l",
    }[kind]()
    before = _snapshot(tmp_path)
    res = runner.invoke(app, ["run", str(scenario), "--out", out])
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {Path(out)}: "), res.output
    assert "Traceback" not in res.output
    assert _snapshot(tmp_path) == before


def test_twin_run_refuses_a_default_folder_that_is_not_twins(tmp_path, scenario, monkeypatch):
    _no_simulation(monkeypatch)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results" / "farm").mkdir(parents=True)
    (tmp_path / "results" / "farm" / "thesis.tex").write_text("\\begin{document}")
    res = runner.invoke(app, ["run", str(scenario)])
    assert res.exit_code == 2 and "thesis.tex" in res.output


def _study(tmp_path: Path) -> Path:
    spec = {
        "name": "tiny",
        "scenario": str(ROOT / "scenarios" / "farm.yaml"),
        "overrides": {"world.horizon_days": 0.1, "groups.soil.count": 2},
        "parameters": {"groups.soil.spreading_factor": [7]},
        "seeds": [1],
    }
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.mark.parametrize("resume", [False, True])
def test_twin_sweep_refuses_what_is_not_a_study_folder(tmp_path, resume):
    study = _study(tmp_path)
    proj = _user_project(tmp_path)
    (proj / "summary.json").write_text('{"mine": 1}')
    _write(tmp_path / "res", "1")  # --resume used to overwrite a run's summary.json
    (tmp_path / "notes.txt").write_text("n")
    before = _snapshot(tmp_path)
    for out, why in [(proj, "files twin did not write"), (tmp_path / "res", "a twin run's"),
                     (tmp_path / "notes.txt", "is a file")]:  # fmt: skip
        args = ["sweep", str(study), "-o", str(out), "--in-process"]
        res = runner.invoke(app, args + (["--resume"] if resume else []))
        assert res.exit_code == 2 and why in res.output, res.output
        assert len(res.output.strip().splitlines()) == 1 and "Traceback" not in res.output
    assert _snapshot(tmp_path) == before
