"""TFLite models: exported zoo MLPs cost and decide like their ONNX originals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from ai_edge_litert import schema_py_generated as schema
from ai_edge_litert.interpreter import Interpreter, OpResolverType

import twin
from twin.errors import ScenarioError
from twin.ml.runner import OnnxModel
from twin.ml.tflite import TfliteModel, quantize
from twin.physics.graph import analyse_graph
from twin.physics.tflite_graph import analyse_tflite
from twin.training.export_tflite import ExportError, _Builder, onnx_to_tflite
from twin.world.dataset import make_dataset

ZOO = Path(twin.__file__).resolve().parent / "zoo"
MODELS = {"soil_irrigation": "soil", "room_occupancy": "room"}
VARIANTS = ("fp32", "int8")


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict[tuple[str, str], Path]:
    out = tmp_path_factory.mktemp("tflite")
    return {
        (m, v): onnx_to_tflite(ZOO / f"{m}_{v}.onnx", out / f"{m}_{v}.tflite")
        for m in MODELS
        for v in VARIANTS
    }


@pytest.fixture(scope="module")
def rows() -> dict[str, np.ndarray]:
    # Fresh windows from the models' own worlds (not the training seed): a few thousand
    # realistic rows per model in about two seconds, instead of the full held-out sets.
    out = {}
    for model, kind in MODELS.items():
        meta = json.loads((ZOO / f"{model}.json").read_text())
        seed = meta["heldout_seed"] + 7
        X, _ = make_dataset(kind, 6, 10.0, meta["period_s"], meta["window_samples"], seed, stride=3)
        out[model] = X
    return out


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("model", MODELS)
def test_exported_cost_matches_the_onnx_analysis(exported, model, variant):
    onnx_cost = analyse_graph(ZOO / f"{model}_{variant}.onnx")
    cost = analyse_tflite(exported[model, variant])
    assert cost.macs == onnx_cost.macs
    assert cost.macs_by_op == {"FULLY_CONNECTED": onnx_cost.macs}
    assert cost.flash_bytes == pytest.approx(onnx_cost.flash_bytes, rel=0.05)
    assert cost.ram_bytes == pytest.approx(onnx_cost.ram_bytes, rel=0.05)
    assert cost.input_shape == onnx_cost.input_shape
    assert cost.unsupported_ops == ()
    assert {n.op_class for n in cost.nodes} <= {"fc", "elementwise", "free"}


def test_int8_export_stores_int8_weights(exported):
    # An int8 model's flash is about a quarter of its fp32 twin's: weights are 1 byte.
    for model in MODELS:
        fp32 = analyse_tflite(exported[model, "fp32"]).flash_bytes
        int8 = analyse_tflite(exported[model, "int8"]).flash_bytes
        assert int8 < 0.4 * fp32


@pytest.mark.parametrize("model", MODELS)
def test_fp32_tflite_scores_like_onnxruntime(exported, rows, model):
    X = rows[model]
    sess = ort.InferenceSession(str(ZOO / f"{model}_fp32.onnx"), providers=["CPUExecutionProvider"])
    (expected,) = sess.run(["probabilities"], {"window": X.astype(np.float32)})
    scores, decisions = TfliteModel(exported[model, "fp32"]).predict(X)
    np.testing.assert_allclose(scores, expected[:, 1], atol=1e-5)
    assert np.array_equal(decisions, expected[:, 1] >= 0.5)


@pytest.mark.parametrize("model", MODELS)
def test_int8_tflite_decides_like_the_int8_onnx(exported, rows, model):
    X = rows[model]
    assert len(X) >= 1000
    ref_scores, ref = OnnxModel(ZOO / f"{model}_int8.onnx").predict(X)
    scores, decisions = TfliteModel(exported[model, "int8"]).predict(X)
    # Not 100 % by construction: onnxruntime requantizes in float with round-half-to-even,
    # TFLite with a fixed-point multiplier rounding half away from zero, so a few scores
    # differ by one output step (1/255) and a score on the threshold could flip.
    assert np.mean(decisions == ref) >= 0.99
    assert np.max(np.abs(scores - ref_scores)) <= 1.01 / 255


def test_batches_of_any_size_give_the_same_scores(exported, rows):
    m = TfliteModel(exported["room_occupancy", "int8"])
    X = rows["room_occupancy"][:300]
    whole, _ = m.predict(X)
    parts = np.concatenate([m.predict(X[i : i + 37])[0] for i in range(0, len(X), 37)])
    assert np.array_equal(whole, parts)
    assert m.calls == 1 + (len(X) + 36) // 37 and m.rows == 2 * len(X)
    assert m.predict(X[:0])[0].shape == (0,)
    assert m.input_features == 60 and m.input_name == "window"


def test_quantize_rounds_ties_away_from_zero():
    q = quantize(np.array([0.5, -0.5, 1.5, 2.5, 1000.0, -1000.0]), 1.0, 0, np.int8)
    assert q.tolist() == [1, -1, 2, 3, 127, -128]


def test_output_selection(exported):
    path = exported["soil_irrigation", "fp32"]
    assert TfliteModel(path, output="probabilities").cost.macs > 0
    with pytest.raises(ScenarioError, match="no output 'scores'.*probabilities"):
        TfliteModel(path, output="scores")


def test_bad_files_raise_scenario_errors(tmp_path, exported):
    with pytest.raises(ScenarioError, match="model file not found"):
        TfliteModel(tmp_path / "missing.tflite")
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"\x00\x01not a flatbuffer" * 10)
    with pytest.raises(ScenarioError, match="cannot read TFLite model"):
        TfliteModel(junk)
    truncated = tmp_path / "truncated.tflite"
    truncated.write_bytes(exported["soil_irrigation", "int8"].read_bytes()[:400])
    with pytest.raises(ScenarioError, match="cannot read TFLite model"):
        TfliteModel(truncated)


def test_exporter_refuses_unknown_ops(tmp_path):
    with pytest.raises(ExportError, match="not supported"):
        onnx_to_tflite(ZOO / "keyword_spotting_fp32.onnx", tmp_path / "kws.tflite")


def _conv_model() -> bytes:
    """CONV_2D 3x3 8->16 on 10x10, DEPTHWISE 3x3, CONV 1x1 16->4, AVERAGE_POOL 2x2 (VALID)."""
    b = _Builder()
    rng = np.random.default_rng(0)
    x = b.tensor("x", [1, 10, 10, 8], np.float32)
    w1 = b.tensor("w1", [16, 3, 3, 8], np.float32, rng.normal(size=(16, 3, 3, 8)))
    b1 = b.tensor("b1", [16], np.float32, np.zeros(16))
    y1 = b.tensor("y1", [1, 8, 8, 16], np.float32)
    w2 = b.tensor("w2", [1, 3, 3, 16], np.float32, rng.normal(size=(1, 3, 3, 16)))
    b2 = b.tensor("b2", [16], np.float32, np.zeros(16))
    y2 = b.tensor("y2", [1, 6, 6, 16], np.float32)
    w3 = b.tensor("w3", [4, 1, 1, 16], np.float32, rng.normal(size=(4, 1, 1, 16)))
    b3 = b.tensor("b3", [4], np.float32, np.zeros(4))
    y3 = b.tensor("y3", [1, 6, 6, 4], np.float32)
    y4 = b.tensor("y4", [1, 3, 3, 4], np.float32)
    valid = schema.Padding.VALID
    conv = schema.Conv2DOptionsT(padding=valid, strideW=1, strideH=1)
    dw = schema.DepthwiseConv2DOptionsT(padding=valid, strideW=1, strideH=1, depthMultiplier=1)
    pw = schema.Conv2DOptionsT(padding=valid, strideW=1, strideH=1)
    pool = schema.Pool2DOptionsT(padding=valid, strideW=2, strideH=2, filterWidth=2, filterHeight=2)
    bo, opts = schema.BuiltinOperator, schema.BuiltinOptions
    b.op(bo.CONV_2D, [x, w1, b1], [y1], opts.Conv2DOptions, conv)
    b.op(bo.DEPTHWISE_CONV_2D, [y1, w2, b2], [y2], opts.DepthwiseConv2DOptions, dw)
    b.op(bo.CONV_2D, [y2, w3, b3], [y3], opts.Conv2DOptions, pw)
    b.op(bo.AVERAGE_POOL_2D, [y3], [y4], opts.Pool2DOptions, pool)
    return b.finish([x], [y4])


def test_hand_built_conv_graph_gets_textbook_macs(tmp_path):
    data = _conv_model()
    path = tmp_path / "conv.tflite"
    path.write_bytes(data)
    # The interpreter agrees with the shapes the analysis reads.
    interp = Interpreter(
        model_path=str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_REF
    )
    interp.allocate_tensors()
    assert list(interp.get_output_details()[0]["shape"]) == [1, 3, 3, 4]
    cost = analyse_tflite(data)
    conv = 8 * 8 * 16 * (3 * 3 * 8)  # H_out x W_out x C_out x (k x k x C_in)
    depthwise = 6 * 6 * 16 * (3 * 3)  # H_out x W_out x C x (k x k)
    pointwise = 6 * 6 * 4 * 16
    assert [n.op_class for n in cost.nodes] == ["conv", "depthwise", "pointwise", "pool"]
    assert [n.macs for n in cost.nodes[:3]] == [conv, depthwise, pointwise]
    assert cost.macs == conv + depthwise + pointwise
    assert cost.nodes[3].ops == 3 * 3 * 4 * 4
    assert cost.units_by_class()["depthwise"] == depthwise
    weights = 4 * (16 * 9 * 8 + 16 + 9 * 16 + 16 + 4 * 16 + 4)
    assert cost.flash_bytes == weights
    # Peak: the input (3200 B) and the first conv's output (4096 B) are live together.
    assert cost.ram_bytes == 4 * (10 * 10 * 8 + 8 * 8 * 16)
    assert cost.input_shape == (1, 10, 10, 8)
