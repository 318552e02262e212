"""A .tflite model is accepted wherever an ONNX one is: in a scenario and in ``twin profile``.

The zoo's soil irrigation MLP exported to TFLite (int8 for the device, fp32 for the cloud) runs
the farm with the same decisions as its ONNX original, and ``twin profile`` gives the same
fields with the same MACs and flash and RAM within 5 %.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import twin
from twin.cli import app
from twin.training.export_tflite import onnx_to_tflite

ZOO = Path(twin.__file__).resolve().parent / "zoo"
runner = CliRunner()


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A folder with the soil model as ONNX and as TFLite, int8 and fp32."""
    d = tmp_path_factory.mktemp("models")
    for variant in ("int8", "fp32"):
        onnx = ZOO / f"soil_irrigation_{variant}.onnx"
        (d / onnx.name).write_bytes(onnx.read_bytes())
        onnx_to_tflite(onnx, d / f"soil_irrigation_{variant}.tflite")
    return d


def _scenario(farm_dict: dict, folder: Path, suffix: str) -> Path:
    d = copy.deepcopy(farm_dict)
    d["groups"]["soil"]["count"] = 12
    d["world"]["horizon_days"] = 3
    d["groups"]["soil"]["model"] = {
        "device_path": f"soil_irrigation_int8{suffix}",
        "cloud_path": f"soil_irrigation_fp32{suffix}",
        "reading_period_s": 900,
    }
    path = folder / f"farm{suffix.replace('.', '_')}.yaml"
    path.write_text(yaml.safe_dump(d))
    return path


def test_a_tflite_model_runs_the_farm_with_the_onnx_decisions(farm_dict, project):
    onnx = twin.run(_scenario(farm_dict, project, ".onnx"))
    tflite = twin.run(_scenario(farm_dict, project, ".tflite"))
    for policy in ("on_device", "cloud"):
        a, b = onnx.result(policy), tflite.result(policy)
        assert a["decision"]["tp"] > 0  # the runs decide something to compare
        # Decisions drive everything downstream: same confusion, messages and water.
        for key in ("uplink_messages", "uplink_bytes", "outcome", "samples"):
            assert a[key] == b[key], key
        da, db = dict(a["decision"]), dict(b["decision"])
        delay_a, delay_b = da.pop("detection_delay_s"), db.pop("detection_delay_s")
        assert da == db
        # Delays agree to the microsecond: they include the predicted inference time, which
        # differs by the few elementwise ops the two graph forms count differently.
        for stat in ("p50", "p95", "mean"):
            assert delay_b[stat] == pytest.approx(delay_a[stat], abs=1e-6), stat
    # The on-device cost is read from the flatbuffer: same MACs, flash within 5 %.
    inf_a = onnx.result("on_device")["model"]
    inf_b = tflite.result("on_device")["model"]
    assert inf_a["macs"] == inf_b["macs"]
    assert inf_b["flash_bytes"] == pytest.approx(inf_a["flash_bytes"], rel=0.05)


def test_twin_profile_reads_a_tflite_file_with_the_onnx_fields(project):
    out = {}
    for suffix in (".onnx", ".tflite"):
        model = project / f"soil_irrigation_int8{suffix}"
        res = runner.invoke(app, ["profile", str(model), "--board", "nano33ble", "--json"])
        assert res.exit_code == 0, res.output
        out[suffix] = json.loads(res.output)
    a, b = out[".onnx"], out[".tflite"]
    assert a.keys() == b.keys()
    assert a["macs"] == b["macs"] > 0
    # Flash and RAM within 5 %: the flatbuffer stores the same int8 weights and int32 biases;
    # the difference is per-tensor metadata and the arena's alignment (measured 3.2 %).
    for key in ("flash_bytes", "ram_bytes", "latency_s"):
        assert b[key] == pytest.approx(a[key], rel=0.05), key


def test_an_unknown_model_suffix_is_a_clear_error(farm_dict, tmp_path):
    (tmp_path / "model.pt").write_bytes(b"not a model twin reads")
    d = copy.deepcopy(farm_dict)
    d["groups"]["soil"]["model"] = {"device_path": "model.pt", "reading_period_s": 900}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(d))
    res = runner.invoke(app, ["validate", str(tmp_path / "s.yaml")])
    assert res.exit_code == 2
    assert "twin reads .onnx (ONNX), .tflite (TensorFlow Lite)" in res.output
    res = runner.invoke(app, ["profile", str(tmp_path / "model.pt"), "--board", "nano33ble"])
    assert res.exit_code == 2 and "twin reads .onnx" in res.output
