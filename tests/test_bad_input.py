"""Each class of bad input, the message it gets, and the docs table that lists them.

Every row of ``CASES`` is run through ``twin validate`` (exit 2, the file named, the message
fragment present, no traceback) and through ``twin run`` (same, nothing written). The table in
``docs/bad_input.md`` is generated from these cases with the messages twin actually prints:

    python tests/test_bad_input.py   # rewrites docs/bad_input.md

and a test fails when the docs no longer match what twin says.
"""

from __future__ import annotations

import copy
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
     "unknown board profile 'nano34ble'"),
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
    ("sampling period the model was not trained on", _set("groups.soil.sampling_period_s", 600),
     "sampling_period_s must be 900"),
    ("LoRa group without gateways", _set("gateways", []), "lists no gateways"),
    ("LoRa setting on a Wi-Fi radio",
     lambda d, t: _set("groups.soil.radio", "esp32-wifi")(
         _set("groups.soil.spreading_factor", 9)(d, t), t),
     "spreading_factor applies to LoRa radios"),
    ("unknown policy", _set("policies", ["on_device", "fog"]), "policies.1"),
    ("policy module without the class", _policy_module_missing_class, "policies[0]"),
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
    ("store-and-forward on a Wi-Fi radio",
     lambda d, t: _set("groups.soil.radio", "esp32-wifi")(
         _set("groups.soil.store_and_forward", {"buffer_bytes": 1024})(d, t), t),
     "groups.soil.store_and_forward"),
]  # fmt: skip


def _write(tmp: Path, case) -> Path:
    _, make, _ = case
    d = make(copy.deepcopy(_farm()), tmp)
    path = tmp / "bad.yaml"
    path.write_text(yaml.safe_dump(d, sort_keys=False))
    return path


def _message(tmp: Path, case) -> str:
    path = _write(tmp, case)
    res = runner.invoke(app, ["validate", str(path)])
    assert res.exit_code == 2, (case[0], res.output)
    return res.output.strip().replace(str(path), "bad.yaml").replace(str(tmp) + "/", "")


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_with_a_clear_message(tmp_path, case):
    message = _message(tmp_path, case)
    assert "Traceback" not in message and message.startswith("error: bad.yaml")
    assert case[2] in message, message
    # twin run says the same and writes nothing.
    out = tmp_path / "out"
    res = runner.invoke(app, ["run", str(tmp_path / "bad.yaml"), "-o", str(out)])
    assert res.exit_code == 2 and case[2] in res.output
    assert not out.exists() and not list(tmp_path.glob(".out-*"))


def _doc(tmp_root: Path) -> str:
    rows = []
    for i, case in enumerate(CASES):
        tmp = tmp_root / f"case{i}"
        tmp.mkdir()
        msg = _message(tmp, case).replace("|", "\\|")
        rows.append(f"| {case[0]} | `{msg}` |")
    return (
        "# Bad input and the message it gets\n\n"
        "Generated by `python tests/test_bad_input.py` from the cases in that file; each row is\n"
        "a test (`twin validate` and `twin run` exit 2 with this message, nothing written).\n"
        "The scenario is the farm with one thing broken; `bad.yaml` stands for its path.\n\n"
        "| bad input | what twin says |\n|---|---|\n" + "\n".join(rows) + "\n"
    )


def test_the_docs_table_is_what_twin_says(tmp_path):
    assert DOC.read_text() == _doc(tmp_path), "regenerate: python tests/test_bad_input.py"


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as t:
        DOC.parent.mkdir(exist_ok=True)
        DOC.write_text(_doc(Path(t)))
    print(f"wrote {DOC}")
