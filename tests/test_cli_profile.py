"""`twin profile` and `twin boards`: thin layers over the cost model."""

from __future__ import annotations

import json

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from typer.testing import CliRunner

from twin import api
from twin.cli import app
from twin.training import reference_models as rm

runner = CliRunner()
KEYS = {"macs", "flash_bytes", "ram_bytes", "latency_s", "energy_j", "fits", "board", "runtime"}


def test_profile_zoo_model_json_matches_api():
    res = runner.invoke(app, ["profile", "soil_irrigation", "--board", "nano33ble", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert KEYS <= set(out)
    graph, est = api.profile("soil_irrigation", "nano33ble")
    assert out["macs"] == graph.macs == est.macs
    assert out["latency_s"] == est.latency_s and out["fits"] is True
    assert out["runtime"] == "tflm"  # the board's default runtime


def test_profile_user_file_with_runtime(tmp_path):
    path = tmp_path / "kws.onnx"
    onnx.save(rm.ds_cnn_kws(), str(path))
    res = runner.invoke(
        app, ["profile", str(path), "--board", "nano33ble", "--runtime", "tflm-cmsis-nn", "--json"]
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["macs"] == 2_656_768 and out["runtime"] == "tflm-cmsis-nn"
    table = runner.invoke(app, ["profile", str(path), "--board", "nano33ble"])
    assert table.exit_code == 0
    assert "depthwise" in table.output and "Conv" in table.output


def test_profile_refuses_a_model_that_does_not_fit(tmp_path):
    path = tmp_path / "vww_fp32.onnx"
    onnx.save(rm.mobilenet_v1_025_vww(), str(path))  # 843 KB of fp32 weights
    res = runner.invoke(app, ["profile", str(path), "--board", "nucleo-g0b1re", "--json"])
    assert res.exit_code == 1
    assert '"fits": false' in res.output
    assert "does not fit" in res.output and "nucleo-g0b1re" in res.output
    assert "over by" in res.output


def test_profile_names_an_unsupported_op(tmp_path):
    node = helper.make_node("LSTM", ["x", "w", "r"], ["y"], hidden_size=4)
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [
            numpy_helper.from_array(np.zeros((1, 16, 3), np.float32), "w"),
            numpy_helper.from_array(np.zeros((1, 16, 4), np.float32), "r"),
        ],
    )
    path = tmp_path / "lstm.onnx"
    onnx.save(helper.make_model(graph), str(path))
    res = runner.invoke(app, ["profile", str(path), "--board", "nano33ble"])
    assert res.exit_code == 2
    assert "LSTM" in res.output and "Traceback" not in res.output


def test_profile_bad_inputs(tmp_path):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00\x01 not a model")
    res = runner.invoke(app, ["profile", str(junk), "--board", "nano33ble"])
    assert res.exit_code == 2 and "junk.onnx" in res.output
    res = runner.invoke(app, ["profile", "soil_irrigation", "--board", "nano34ble"])
    assert res.exit_code == 2 and "unknown board profile 'nano34ble'" in res.output
    res = runner.invoke(
        app, ["profile", "soil_irrigation", "--board", "nano33ble", "--runtime", "esp-nn"]
    )
    assert res.exit_code == 2 and "does not run on cortex-m4f" in res.output


def test_boards_lists_every_profile():
    res = runner.invoke(app, ["boards"], env={"COLUMNS": "200"})
    assert res.exit_code == 0
    for board in ("nano33ble", "pico", "esp32-s3", "nucleo-l4r5zi", "jetson-nano"):
        assert board in res.output
    for runtime in ("tflm", "x-cube-ai", "esp-nn", "bosch-hale"):
        assert runtime in res.output


def test_profile_json_says_precision_range_and_assumptions(tmp_path):
    path = tmp_path / "kws_fp32.onnx"
    onnx.save(rm.ds_cnn_kws(), str(path))
    res = runner.invoke(app, ["profile", str(path), "--board", "pico", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    graph, est = api.profile(str(path), "pico")
    assert out["precision"] == "fp32" and out["calibrated"] is False
    assert out["assumptions"] == list(est.assumptions) and len(out["assumptions"]) >= 2
    lo, hi = out["latency_range_s"]
    assert lo < out["latency_s"] < hi
    assert out["energy_range_j"] == list(est.energy_range_j)
    # A calibrated int8 pair: no assumptions (soil_irrigation has no DSP front end).
    res = runner.invoke(app, ["profile", "soil_irrigation", "--board", "nano33ble", "--json"])
    out = json.loads(res.output)
    assert out["precision"] == "int8" and out["calibrated"] is True and out["assumptions"] == []


def test_profile_table_shows_range_and_notes_in_80_columns(tmp_path):
    path = tmp_path / "kws_fp32.onnx"
    onnx.save(rm.ds_cnn_kws(), str(path))
    res = runner.invoke(app, ["profile", str(path), "--board", "pico"], env={"COLUMNS": "80"})
    assert res.exit_code == 0, res.output
    assert "latency range" in res.output and "energy range" in res.output
    assert "note: no calibration measurement for cortex-m0plus with tflm" in res.output
    assert "fp32" in res.output
    assert max(len(line) for line in res.output.splitlines()) <= 80
