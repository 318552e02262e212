"""Each class of bad input, the message it gets, and the docs table that lists them.

Every row of ``CASES`` (a scenario file) is run through ``twin validate`` (exit 2, the file
named, the message fragment present, no traceback) and through ``twin run`` (same, nothing
written). Every row of ``COMMAND_CASES`` (an option, a study file, a results folder) is one
command that must exit 2 with one ``error:`` line, leaving every file as it was and writing
nothing. The tables in ``docs/bad_input.md`` are generated from these cases with the messages
twin actually prints:

    python tests/test_bad_input.py   # rewrites docs/bad_input.md

and a test fails when the docs no longer match what twin says.
"""

from __future__ import annotations

import copy
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "bad_input.md"
sys.path.insert(0, str(ROOT))

from twin.cli import app  # noqa: E402

runner = CliRunner()


def _farm() -> dict:
    d = yaml.safe_load((ROOT / "scenarios" / "farm.yaml").read_text())
    d["groups"]["soil"]["count"] = 5
    d["world"]["horizon_days"] = 0.1
    return d


def _set(path: str, value) -> Callable[[dict, Path], dict]:
    def change(d: dict, tmp: Path) -> dict:
        *head, last = path.split(".")
        node = d
        for key in head:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if value is KeyError:
            del node[last]
        else:
            node[last] = value
        return d

    return change


def _corrupt_model(d: dict, tmp: Path) -> dict:
    (tmp / "model.onnx").write_bytes(b"\x08\x01not an onnx model at all")
    d["groups"]["soil"]["model"] = {"device_path": "model.onnx"}
    return d


def _history_model_without_rate(d: dict, tmp: Path) -> dict:
    """The zoo's soil model given by path: 96 readings per window, at a rate it does not say."""
    model = ROOT / "twin" / "zoo" / "soil_irrigation_int8.onnx"
    (tmp / "mine.onnx").write_bytes(model.read_bytes())
    d["groups"]["soil"]["model"] = {"device_path": "mine.onnx"}
    return d


def _odd_input_model(d: dict, tmp: Path) -> dict:
    """A valid ONNX classifier reading 3 values: not whole readings of the soil's 2 channels."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((3, 2), dtype=np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["z"]),
         helper.make_node("Softmax", ["z"], ["probabilities"], axis=1)],
        "odd", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["n", 2])], [w],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, tmp / "odd.onnx")
    d["groups"]["soil"]["model"] = {"device_path": "odd.onnx"}
    return d


def _policy_module_missing_class(d: dict, tmp: Path) -> dict:
    (tmp / "mine.py").write_text("class Other:\n    pass\n")
    d["policies"] = [{"name": "mine", "module": "mine.py", "class": "Mine"}]
    return d


def _text(edit: Callable[[str], str | bytes]) -> Callable[[dict, Path], str | bytes]:
    """A case written as text: the farm's YAML, edited (keys twice, tabs, aliases...)."""
    return lambda d, tmp: edit(yaml.safe_dump(d, sort_keys=False))


def _after(anchor: str, insert: str) -> Callable[[str], str]:
    """Insert lines after the first line that is ``anchor``."""
    return lambda text: text.replace(f"{anchor}\n", f"{anchor}\n{insert}", 1)


_BOMB = "".join(
    f"{k}: &{k} [{', '.join([f'*{p}'] * 9 if p else ['lol'] * 9)}]\n"
    for k, p in zip("abcdefghi", ["", *"abcdefgh"], strict=True)
)


def _path(make: Callable[[Path], None]) -> Callable[[dict, Path], None]:
    """A case where bad.yaml is not a plain file (a folder, a device, a link loop)."""
    return lambda d, tmp: make(tmp / "bad.yaml")


def _cascade(**params) -> Callable[[dict, Path], dict]:
    return _set("policies", [{"name": "c", "kind": "cascade", "params": params}])


def _both(*changes: Callable[[dict, Path], dict]) -> Callable[[dict, Path], dict]:
    def change(d: dict, tmp: Path) -> dict:
        for c in changes:
            d = c(d, tmp)
        return d

    return change


# (class of bad input, how to make it, fragment of the message)
CASES: list[tuple[str, Callable[[dict, Path], dict], str]] = [
    ("unknown key (typo)", _set("groups.soil.sampling_period", 900),
     "did you mean 'sampling_period_s'"),
    ("unknown top-level key", _set("gatewayz", []), "did you mean 'gateways'"),
    ("missing required key", _set("world.horizon_days", KeyError), "world.horizon_days"),
    ("wrong type", _set("groups.soil.count", "many"), "groups.soil.count"),
    ("negative period", _set("groups.soil.sampling_period_s", -5),
     "groups.soil.sampling_period_s"),
    ("spreading factor outside 7-12", _set("groups.soil.spreading_factor", 13),
     "groups.soil.spreading_factor"),
    ("payload over the radio's maximum", _set("groups.soil.payload_bytes.reading", 300),
     "groups.soil.payload_bytes"),
    ("unknown board profile", _set("groups.soil.board", "nano34ble"),
     "unknown board profile 'nano34ble'; did you mean 'nano33ble'?"),
    ("unknown battery profile", _set("groups.soil.battery", "aa-alkaline"),
     "did you mean 'aa-alkaline-2s'?"),
    ("a cell that cannot carry the radio's bursts (CR2032 under an ESP32's 3 V)",
     _both(_set("groups.soil.board", "esp32"), _set("groups.soil.battery", "cr2032")),
     "cannot carry"),
    ("unknown propagation profile", _set("channel.propagation", "oulu"),
     "unknown propagation profile 'oulu'"),
    ("unknown radio profile", _set("groups.soil.radio", "sx9999"), "unknown radio profile"),
    ("unknown battery profile", _set("groups.soil.battery", "aaa-9"), "unknown battery profile"),
    ("unknown sensor profile", _set("groups.soil.sensor", "lidar"), "unknown sensor profile"),
    ("unknown zoo model", _set("groups.soil.model", {"zoo": "soil_irigation"}),
     "unknown zoo model"),
    ("model file not found", _set("groups.soil.model", {"device_path": "missing.onnx"}),
     "model file not found"),
    ("corrupt ONNX file", _corrupt_model, "cannot read ONNX model"),
    ("model input does not match the world's window",
     lambda d, t: _set("groups.soil.model", {"zoo": "room_occupancy"})(
         _set("groups.soil.sampling_period_s", 300)(d, t), t), "groups.soil"),
    ("model input not whole readings of the world's channels", _odd_input_model,
     "not a whole number of readings"),
    ("sampling period neither a multiple nor a fraction of the model's reading period",
     _set("groups.soil.sampling_period_s", 600), "Use a multiple of 900 s"),
    ("model file with a history window and no reading period", _history_model_without_rate,
     "say how far apart they are with reading_period_s"),
    ("LoRa group without gateways", _set("gateways", []), "lists no gateways"),
    ("LoRa setting on a Wi-Fi radio",
     lambda d, t: _set("groups.soil.radio", "esp32-wifi")(
         _set("groups.soil.spreading_factor", 9)(d, t), t),
     "spreading_factor applies to LoRa radios"),
    ("unknown policy", _set("policies", ["on_device", "fog"]), "policies.1"),
    ("policy module without the class", _policy_module_missing_class, "named 'Mine'"),
    ("policy module outside the scenario's folder",
     _set("policies", [{"name": "x", "module": "/etc/passwd", "class": "X"}]),
     "lies outside the scenario's folder"),
    ("actuation on a world without an actuator",
     lambda d, t: _set("groups.soil.world", "heart")(
         _set("groups.soil.model", {"zoo": "heart_rhythm"})(d, t), t), "no actuator"),  # noqa: E501
    ("no groups", _set("groups", {}), "groups"),
    ("fault naming a gateway that does not exist",
     _set("faults", [{"kind": "gateway_outage", "gateway": "gw-east", "start_h": 1,
                      "duration_h": 6}]), "no gateway 'gw-east'"),
    ("fault with both a schedule and MTBF",
     _set("faults", [{"kind": "cloud_outage", "start_h": 1, "duration_h": 2, "mtbf_h": 100,
                      "mttr_h": 1}]), "faults.0"),
    ("unknown fault kind", _set("faults", [{"kind": "meteor", "start_h": 1}]), "faults.0"),
    ("US915: a spreading factor the region does not allow",
     _both(_set("channel.region", "us915"), _set("groups.soil.spreading_factor", 11)),
     "SF11 is not allowed on US915 uplinks"),
    ("US915: a payload over the region's maximum at SF10",
     _both(_set("channel.region", "us915"), _set("groups.soil.payload_bytes.reading", 20)),
     "exceeds US915's maximum of 11 bytes at SF10"),
    ("US915: a frame over the 400 ms dwell time",
     _both(_set("channel.region", "us915"), _set("groups.soil.lora", {"coding_rate": "4/8"})),
     "over US915's 400 ms dwell time"),
    ("more uplink channels than the region defines",
     _set("groups.soil.lora", {"channels": 20}), "EU868 defines at most 16 uplink channels"),
    ("an unknown region", _set("channel.region", "as923"), "channel.region"),
    ("a hub outage on a LoRa group",
     _set("faults", [{"kind": "hub_outage", "group": "soil", "start_h": 1, "duration_h": 1}]),
     "faults.0.group"),
    # -- the file itself
    ("a key given twice", _text(_after("    count: 5", "    count: 5000\n")),
     "key 'count' appears twice in this mapping"),
    ("two groups of the same name", _text(_after("groups:", "  soil: {count: 7}\n")),
     "key 'soil' appears twice"),
    ("a tab in the indentation", _text(lambda t: t.replace("    count: 5", "\tcount: 5")),
     "a tab character; YAML indents with spaces only"),
    ("a YAML alias bomb (billion laughs)", _text(lambda t: t + _BOMB), "an alias bomb?"),
    ("an alias inside itself", _text(lambda t: t + "loop: &x [*x]\n"),
     "an alias refers to a node that contains it"),
    ("a file over 5 MB", _text(lambda t: t + "#" + "x" * (5 * 2**20) + "\n"),
     "larger than 5 MB"),
    ("a file that is not UTF-8", _text(lambda t: t.replace("farm", "f\xe4rm").encode("latin-1")),
     "not UTF-8 text: byte 0xe4"),
    ("a folder instead of a file", _path(lambda p: p.mkdir()), "is a folder"),
    ("a device instead of a file (/dev/zero)", _path(lambda p: p.symlink_to("/dev/zero")),
     "not a regular file"),
    ("a symbolic link loop", _path(lambda p: p.symlink_to(p)), "symbolic link loop"),
    ("control characters in a key",
     _set("groups.soil.co\x1b[2Junt", 5), "unknown key 'co\\x1b[2Junt'"),
    # -- numbers
    ("a boolean for a number", _set("groups.soil.count", True),
     "expected a number, not the boolean true"),
    ("a fraction for a whole number", _set("groups.soil.count", 5.5),
     "expected a whole number, got 5.5"),
    ("an infinite horizon", _set("world.horizon_days", float("inf")),
     "expected a finite number, got .inf"),
    ("NaN for a number", _set("cloud.uplink_latency.p95_s", float("nan")),
     "expected a finite number, got .nan"),
    ("NaN in a policy's parameters", _cascade(low=float("nan"), high=0.8),
     "params: low must be a finite number"),
    ("a profile id that is a path", _set("groups.soil.board", "../../etc/passwd"),
     "not a path"),
    ("a zoo name that is a path", _set("groups.soil.model", {"zoo": "../zoo/soil_irrigation"}),
     "not a path"),
    ("a latency of 1e308 s", _set("cloud.uplink_latency", {"median_s": 1e308, "p95_s": 1e308}),
     "less than or equal to 3600"),
    ("a latency spread of a million", _set("cloud.uplink_latency",
                                           {"median_s": 1e-6, "p95_s": 1.0}),
     "p95_s may be at most 100 x median_s"),
    ("a horizon over a century", _set("world.horizon_days", 1e6), "less than or equal to 36500"),
    # -- too large to run (twin.budget; --no-budget runs anyway)
    ("a billion nodes", _set("groups.soil.count", 1_000_000_000), "too large to run"),
    ("a sampling period of a microsecond",
     _both(_set("groups.soil.sampling_period_s", 1e-6), _set("groups.soil.tx_jitter_s", 0)),
     "longer groups.soil.sampling_period_s"),
    ("a time series every microsecond", _set("engine", {"timeseries_interval_s": 1e-6}),
     "engine.timeseries_interval_s"),
    ("a fault every few milliseconds",
     _set("faults", [{"kind": "cloud_outage", "mtbf_h": 1e-9, "mttr_h": 1e-9}]),
     "fault intervals"),
    ("brown-outs lasting 30 000 years",
     _set("faults", [{"kind": "brownout", "mtbf_h": 1, "downtime_s": 1e12}]),
     "faults.0.downtime_s"),
    ("a billion cloud workers", _set("cloud.workers", 1_000_000_000), "fewer cloud.workers"),
    ("a terabyte store-and-forward buffer",
     _set("groups.soil.store_and_forward", {"buffer_bytes": 10**12}), "buffer_bytes"),
]  # fmt: skip


def _write(tmp: Path, case) -> Path:
    _, make, _ = case
    made = make(copy.deepcopy(_farm()), tmp)
    path = tmp / "bad.yaml"
    if isinstance(made, dict):
        path.write_text(yaml.safe_dump(made, sort_keys=False))
    elif isinstance(made, str):
        path.write_text(made)
    elif isinstance(made, bytes):
        path.write_bytes(made)
    return path  # None: the case made bad.yaml itself


def _message(tmp: Path, case) -> str:
    path = _write(tmp, case)
    res = runner.invoke(app, ["validate", str(path)])
    assert res.exit_code == 2, (case[0], res.output)
    out = res.output.strip().replace(str(path), "bad.yaml").replace(str(tmp) + "/", "")
    return out.replace(str(tmp), ".")


def _snapshot(tmp: Path) -> dict:
    """Every path under tmp with its size and content hash (links as their target)."""
    import hashlib

    out = {}
    for p in sorted(tmp.rglob("*")):
        if p.is_symlink() or not p.is_file():
            out[str(p)] = "link" if p.is_symlink() else "dir"
        else:
            out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_with_a_clear_message(tmp_path, case):
    message = _message(tmp_path, case)
    assert "Traceback" not in message and message.startswith("error: bad.yaml")
    assert case[2] in message, message
    # twin run says the same and writes nothing.
    out = tmp_path / "out"
    before = _snapshot(tmp_path)
    res = runner.invoke(app, ["run", str(tmp_path / "bad.yaml"), "-o", str(out)])
    assert res.exit_code == 2 and case[2] in res.output
    assert not out.exists() and not list(tmp_path.glob(".out-*"))
    assert _snapshot(tmp_path) == before  # the input unchanged, nothing written beside it


# --------------------------------------------------------------------------- commands


def _scenario(tmp: Path) -> Path:
    path = tmp / "farm.yaml"
    path.write_text(yaml.safe_dump(_farm(), sort_keys=False))
    return path


def _study(tmp: Path, text: str | bytes | None = None, **changes) -> Path:
    """A one-run study of the small farm (or the given text) in tmp/study.yaml."""
    spec = {
        "name": "tiny",
        "scenario": "farm.yaml",
        "parameters": {"groups.soil.model.threshold": [0.5]},
        "seeds": [1],
        "metrics": ["decision.f1", "latency_s.p95", "battery_life_days.median"],
    }
    spec.update(changes)
    _scenario(tmp)
    path = tmp / "study.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text if text is not None else yaml.safe_dump(spec, sort_keys=False))
    return path


def _sweep(**changes) -> Callable[[Path], list[str]]:
    return lambda tmp: ["sweep", str(_study(tmp, **changes)), "-o", str(tmp / "out")]


_MADE: dict[str, Path] = {}


def _made(kind: str) -> Path:
    """A run's results folder, or a finished study's, made once per session."""
    import tempfile

    if kind not in _MADE:
        root = Path(tempfile.mkdtemp(prefix=f"twin-{kind}-"))
        if kind == "results":
            res = runner.invoke(app, ["run", str(_scenario(root)), "-o", str(root / "out")])
        else:
            res = runner.invoke(app, ["sweep", str(_study(root)), "-o", str(root / "out"),
                                      "--in-process"])  # fmt: skip
        assert res.exit_code == 0, res.output
        _MADE[kind] = root
    return _MADE[kind]


def _copy(kind: str, tmp: Path, damage: Callable[[Path], None] = lambda out: None) -> Path:
    import shutil

    shutil.copytree(_made(kind), tmp, dirs_exist_ok=True)
    damage(tmp / "out")
    return tmp / "out"


def _edit(name: str, edit: Callable[[str], str]) -> Callable[[Path], None]:
    return lambda out: (out / name).write_text(edit((out / name).read_text()))


def _resume_damaged(tmp: Path) -> list[str]:
    out = _copy(
        "study", tmp, _edit("runs.jsonl", lambda t: t.replace('"status": "ok"', '"status": "fine"'))
    )
    return ["sweep", str(tmp / "study.yaml"), "-o", str(out), "--resume", "--in-process"]


def _wrong_types(out: Path) -> None:
    """Every result value replaced by text: the files parse, the report cannot read them."""
    import json

    summary = json.loads((out / "summary.json").read_text())
    for r in summary["results"]:
        r.update({k: "x" for k in r if k not in ("policy", "group")})
    (out / "summary.json").write_text(json.dumps(summary))


def _report(damage: Callable[[Path], None]) -> Callable[[Path], list[str]]:
    return lambda tmp: ["report", str(_copy("results", tmp, damage))]


# (class of bad input, the command (made in tmp), fragment of the message). Each exits 2.
COMMAND_CASES: list[tuple[str, Callable[[Path], list[str]], str]] = [
    ("twin run --seed -1", lambda t: ["run", str(_scenario(t)), "--seed", "-1"],
     "--seed must be a whole number >= 0"),
    ("twin run --batch-window-s -5",
     lambda t: ["run", str(_scenario(t)), "--batch-window-s", "-5"],
     "--batch-window-s must be a finite number"),
    ("twin run --batch-window-s nan",
     lambda t: ["run", str(_scenario(t)), "--batch-window-s", "nan"],
     "--batch-window-s must be a finite number"),
    ("twin sweep --workers 0", lambda t: [*_sweep()(t), "--workers", "0"],
     "--workers must be between 1 and"),
    ("twin sweep --dask-local -1", lambda t: [*_sweep()(t), "--dask-local", "-1"],
     "--dask-local must be between 1 and"),
    ("twin sweep --workers 100000", lambda t: [*_sweep()(t), "--workers", "100000"],
     "cores x 8), got 100000"),
    ("twin sweep --scheduler without a protocol",
     lambda t: [*_sweep()(t), "--scheduler", "10.0.0.5:8786"], "not a Dask scheduler address"),
    ("twin profile with a path for a zoo name",
     lambda t: ["profile", "../../x", "--board", "nano33ble"], "unknown zoo model '../../x'"),
    ("twin validate /dev/zero", lambda t: ["validate", "/dev/zero"], "not a regular file"),
    # -- study files
    ("a study file that is a folder",
     lambda t: ["sweep", str(t), "-o", str(t / "out")], "is a folder; expected a study file"),
    ("a study file that is not UTF-8",
     lambda t: ["sweep", str(_study(t, b"name: t\xe4st\n")), "-o", str(t / "out")],
     "not UTF-8 text"),
    ("a key given twice in a study",
     lambda t: ["sweep", str(_study(t, "name: a\nname: b\n")), "-o", str(t / "out")],
     "key 'name' appears twice"),
    ("booleans for study seeds", _sweep(seeds=[True, False]),
     "seeds.0: expected a number, not the boolean true"),
    ("a study range with stop below start",
     _sweep(parameters={"groups.soil.model.threshold": {"start": 0.9, "stop": 0.1,
                                                       "step": 0.1}}),
     "stop (0.1) is below start (0.9)"),
    ("NaN in a study range",
     _sweep(parameters={"groups.soil.model.threshold": {"start": float("nan"), "stop": 0.9,
                                                       "step": 0.1}}),
     "threshold.start: expected a finite number"),
    ("a study range with a step of 1e-12",
     _sweep(parameters={"groups.soil.model.threshold": {"start": 0.1, "stop": 0.9,
                                                       "step": 1e-12}}),
     "use a larger step"),
    ("a study of over a million runs",
     _sweep(parameters={"groups.soil.model.threshold": {"start": 0.01, "stop": 0.99,
                                                       "step": 0.01},
                        "groups.soil.count": {"start": 1, "stop": 1000, "step": 1}},
            seeds={"count": 20}),
     "over the limit of 1,000,000"),
    ("a study configuration too large to run",
     _sweep(parameters={"groups.soil.count": [5, 1_000_000_000]}),
     "parameters.groups.soil.count: too large to run"),
    ("a damaged runs.jsonl line on --resume", _resume_damaged,
     "runs.jsonl:1: damaged run record: 'status' is 'fine'"),
    # -- results folders (twin report, twin compare)
    ("twin report on a study's folder",
     lambda t: ["report", str(_copy("study", t))], "a study folder (twin sweep)"),
    ("twin report with summary.json cut short",
     _report(_edit("summary.json", lambda t: t[: len(t) // 2])), "damaged JSON"),
    ("twin report with a row missing from nodes.csv's columns",
     _report(_edit("nodes.csv", lambda t: t.replace("\n", "\n1,2\n", 1))),
     "damaged table: "),
    ("twin report with a foreign summary.json",
     _report(_edit("summary.json", lambda t: '{"hello": "world"}')),
     "not a twin run summary"),
    ("twin report with values of the wrong type", _report(_wrong_types),
     "cannot render these results"),
    ("twin compare with a file for a folder",
     lambda t: ["compare", str(_copy("results", t)), str(_scenario(t))], "not a folder"),
]  # fmt: skip


def _command_message(tmp: Path, case) -> str:
    argv = case[1](tmp)
    before = _snapshot(tmp)
    res = runner.invoke(app, argv)
    assert res.exit_code == 2, (case[0], res.output)
    assert _snapshot(tmp) == before, case[0]  # inputs unchanged, nothing written
    out = res.output.strip().replace(str(tmp) + "/", "").replace(str(tmp), ".")
    # The worker limit is per core: the table shows what a 2-core machine says.
    cores = os.cpu_count() or 1
    return out.replace(f" {8 * cores} ({cores} cores x 8)", " 16 (2 cores x 8)")


@pytest.mark.parametrize("case", COMMAND_CASES, ids=[c[0] for c in COMMAND_CASES])
def test_bad_commands_are_refused_with_a_clear_message(tmp_path, case):
    message = _command_message(tmp_path, case)
    assert "Traceback" not in message and message.startswith("error: "), message
    assert message.count("\n") == 0, message
    assert case[2] in message, message


def _doc(tmp_root: Path) -> str:
    rows, commands = [], []
    for i, case in enumerate(CASES):
        tmp = tmp_root / f"case{i}"
        tmp.mkdir()
        msg = _message(tmp, case).replace("|", "\\|")
        rows.append(f"| {case[0]} | `{msg}` |")
    for i, case in enumerate(COMMAND_CASES):
        tmp = tmp_root / f"command{i}"
        tmp.mkdir()
        msg = _command_message(tmp, case).replace("|", "\\|")
        commands.append(f"| {case[0]} | `{msg}` |")
    return (
        "# Bad input and the message it gets\n\n"
        "Generated by `python tests/test_bad_input.py` from the cases in that file; each row is\n"
        "a test (`twin validate` and `twin run` exit 2 with this message, nothing written).\n"
        "The scenario is the farm with one thing broken; `bad.yaml` stands for its path.\n"
        "Runs too large for the machine (twin.budget) are refused too; `--no-budget` runs them.\n\n"
        "| bad input | what twin says |\n|---|---|\n" + "\n".join(rows) + "\n\n"
        "## Options, study files and results folders\n\n"
        "Each row is one command that exits 2 with this message, every file left as it was\n"
        "and nothing written. `farm.yaml` is the small farm, `study.yaml` a one-run study of it,\n"
        "`out` a finished run's or study's folder.\n\n"
        "| bad input | what twin says |\n|---|---|\n" + "\n".join(commands) + "\n"
    )


def test_five_mistakes_get_five_messages_in_file_order(tmp_path):
    d = _farm()
    g = d["groups"]["soil"]
    g["count"] = "many"
    g["sampling_period"] = g.pop("sampling_period_s")  # a typo in a required key
    g["spreading_factor"] = 13
    d["world"]["horizon_days"] = -1
    d["channel"]["capture_threshold"] = 6
    path = tmp_path / "five.yaml"
    path.write_text(yaml.safe_dump(d, sort_keys=False))
    res = runner.invoke(app, ["validate", str(path)])
    assert res.exit_code == 2 and "Traceback" not in res.output
    lines = [line for line in res.output.splitlines() if line.startswith("error: ")]
    keys = ["world.horizon_days", "groups.soil.count", "groups.soil.spreading_factor",
            "groups.soil.sampling_period", "channel.capture_threshold"]  # fmt: skip
    assert len(lines) == 5, res.output
    for line, key in zip(lines, keys, strict=True):
        assert f": {key}: " in line, line
    # The misspelt required key is one problem with its fix, not also "missing".
    assert "did you mean 'sampling_period_s'" in lines[3]
    assert "required key is missing" not in res.output
    # A union's alternatives are one message.
    assert "less than or equal to 12, or 'auto' (got 13)" in lines[2]
    # File order: the lines the problems are on only grow.
    numbers = [int(line.split(":")[2]) for line in lines]
    assert numbers == sorted(numbers)


def test_the_docs_table_is_what_twin_says(tmp_path):
    assert DOC.read_text() == _doc(tmp_path), "regenerate: python tests/test_bad_input.py"


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as t:
        DOC.parent.mkdir(exist_ok=True)
        DOC.write_text(_doc(Path(t)))
    print(f"wrote {DOC}")
