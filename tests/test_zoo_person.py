"""The shipped person detection models: loadable, quantized, accurate as recorded, reproducible.

Three variants: the device model (``int8``, and its ``fp32`` twin) and a much larger fp32
``cloud`` model that takes the same frame and is clearly more accurate, so a cascade (device
screens, uncertain frames go to the cloud) has something to gain.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from int8_kernels import session
from onnx import numpy_helper

import twin
from twin.physics.graph import analyse_graph
from twin.world.dataset import make_dataset

ZOO = Path(twin.__file__).resolve().parent / "zoo"
META_PATH = ZOO / "person_detection.json"
VARIANTS = ("int8", "fp32")  # the device model and its float twin
ALL_VARIANTS = (*VARIANTS, "cloud")
# The cloud model must beat the int8 device model's held-out F1 by at least this much (built:
# 0.893 vs 0.734, a gap of 0.16).
CLOUD_F1_MARGIN = 0.10


@pytest.fixture(scope="module")
def meta() -> dict:
    return json.loads(META_PATH.read_text())


@pytest.fixture(scope="module")
def heldout(meta: dict) -> tuple[np.ndarray, np.ndarray]:
    # The recorded held-out set, regenerated from its seed (12k frames, ~3 s).
    cfg = meta["heldout_data"]
    X, y = make_dataset(
        "camera",
        cfg["n_nodes"],
        cfg["days"],
        meta["period_s"],
        1,
        meta["heldout_seed"],
        stride=cfg["stride"],
    )
    return X.reshape(-1, *meta["input_shape"][1:]), y


def _session(path: Path, fused: bool = False) -> ort.InferenceSession:
    # The Q/DQ reference path unless the fused integer kernels are asked for (int8_kernels.py).
    return session(path, fused)


def _proba(sess: ort.InferenceSession, meta: dict, X: np.ndarray) -> np.ndarray:
    out = sess.run([meta["output"]], {meta["input"]: np.ascontiguousarray(X, dtype=np.float32)})
    return out[0][:, meta["positive_index"]]


def _metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    # Written out independently of the builder so the test does not grade it with its own code.
    y, pred = y.astype(bool), pred.astype(bool)
    tp = np.sum(y & pred)
    precision = tp / max(np.sum(pred), 1)
    recall = tp / max(np.sum(y), 1)
    return {
        "accuracy": float(np.mean(y == pred)),
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(2 * precision * recall / max(precision + recall, 1e-12)),
        "positives_rate": float(np.mean(y)),
        "predicted_positives_rate": float(np.mean(pred)),
        "rows": len(y),
    }


def test_metadata_matches_files(meta: dict) -> None:
    assert meta["name"] == "person_detection"
    assert meta["train_seed"] != meta["heldout_seed"]
    assert meta["build_command"] == "python -m twin.training person_detection"
    assert meta["input_shape"] == [None, 1, 32, 32]
    assert meta["window_samples"] == 1 and len(meta["channels"]) == 32 * 32
    assert meta["channels"][:2] == ["px_0", "px_1"] and meta["channels"][-1] == "px_1023"
    assert set(meta["variants"]) == set(ALL_VARIANTS)
    limits = {"int8": 300_000, "fp32": 1_000_000, "cloud": 4_000_000}
    for key, variant in meta["variants"].items():
        data = (ZOO / variant["file"]).read_bytes()
        # The recorded metrics belong to exactly these bytes.
        assert hashlib.sha256(data).hexdigest() == variant["sha256"]
        assert len(data) == variant["bytes"] < limits[key]


@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_shipped_model_runs_any_batch(meta: dict, variant: str, heldout) -> None:
    sess = _session(ZOO / meta["variants"][variant]["file"])
    (inp,) = sess.get_inputs()
    assert inp.name == meta["input"]
    assert inp.shape[1:] == [1, 32, 32]
    assert not isinstance(inp.shape[0], int)  # dynamic batch dimension
    X = heldout[0][:64]
    (probs,) = sess.run([meta["output"]], {meta["input"]: X})
    assert probs.shape == (64, 2)
    assert np.all((probs >= 0) & (probs <= 1))
    # int8: p and 1 - p come out of one quantized softmax; allow ~2 LSB of 1/255.
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=0.01)
    # The engine batches frames of many cameras: a row's answer must not depend on the batch.
    one_by_one = np.array([_proba(sess, meta, X[i : i + 1])[0] for i in range(64)])
    np.testing.assert_allclose(one_by_one, probs[:, meta["positive_index"]], atol=1e-5)


@pytest.mark.slow
def test_recorded_heldout_reproduces(meta: dict, heldout) -> None:
    # Tolerance 2e-3 (24 of 12k frames): on the Q/DQ reference path (int8_kernels.py) only
    # fp32 summation order differs across CPUs (AVX2 / AVX-512 / ARM), which can flip frames
    # whose probability sits right at the threshold; on the build machine and on an AMD EPYC
    # with AVX2 only the match is exact (to the 6 recorded decimals).
    X, y = heldout
    assert len(y) == meta["heldout_data"]["rows"]
    for variant in ALL_VARIANTS:
        sess = _session(ZOO / meta["variants"][variant]["file"])
        got = _metrics(y, _proba(sess, meta, X) >= meta["threshold"])
        recorded = meta["variants"][variant]["heldout"]
        for key, value in got.items():
            assert value == pytest.approx(recorded[key], abs=2e-3), (variant, key)


def test_model_is_useful_and_int8_tracks_fp32(meta: dict, heldout) -> None:
    X, y = heldout
    p = {v: _proba(_session(ZOO / meta["variants"][v]["file"]), meta, X) for v in VARIANTS}
    pred = {v: p[v] >= meta["threshold"] for v in VARIANTS}
    m = {v: _metrics(y, pred[v]) for v in VARIANTS}
    # Far above the trivial baselines (all-negative: F1 0; all-positive: F1 2r / (1 + r)),
    # and not perfect: the world has ambiguous frames.
    rate = m["fp32"]["positives_rate"]
    for v in VARIANTS:
        assert m[v]["f1"] > 2 * rate / (1 + rate) + 0.25
        assert m[v]["accuracy"] > 1 - rate + 0.05
        assert m[v]["accuracy"] < 0.98
    # Paired comparison on identical frames: quantization changes few decisions.
    assert np.mean(pred["int8"] == pred["fp32"]) >= 0.97
    assert abs(m["int8"]["f1"] - m["fp32"]["f1"]) <= 0.02


@pytest.mark.slow
def test_cloud_model_beats_the_device_model(meta: dict, heldout) -> None:
    X, y = heldout
    p = {v: _proba(_session(ZOO / meta["variants"][v]["file"]), meta, X) for v in ("int8", "cloud")}
    pred = {v: p[v] >= meta["threshold"] for v in p}
    m = {v: _metrics(y, pred[v]) for v in p}
    # Paired comparison on identical frames.
    assert m["cloud"]["f1"] >= m["int8"]["f1"] + CLOUD_F1_MARGIN
    assert m["cloud"]["accuracy"] > m["int8"]["accuracy"]
    assert m["cloud"]["accuracy"] < 0.99  # still not perfect: some persons are a few pixels
    # It fixes most of the device's mistakes and adds few of its own.
    device_wrong = pred["int8"] != y.astype(bool)
    assert np.mean(pred["cloud"][device_wrong] == y[device_wrong]) > 0.6
    assert np.mean(pred["cloud"][~device_wrong] != y[~device_wrong]) < 0.05
    # A cascade has a trade-off to show: sending the frames the device is unsure about
    # (0.2 < p < 0.8, under a quarter of them) to the cloud recovers much of the gap.
    unsure = (p["int8"] > 0.2) & (p["int8"] < 0.8)
    cascade = _metrics(y, np.where(unsure, pred["cloud"], pred["int8"]))
    assert np.mean(unsure) < 0.25
    assert m["int8"]["f1"] + 0.05 < cascade["f1"] <= m["cloud"]["f1"] + 0.01


def test_cloud_model_is_large_float_and_recorded(meta: dict) -> None:
    model = onnx.load(str(ZOO / meta["variants"]["cloud"]["file"]))
    ops = {n.op_type for n in model.graph.node}
    assert not ops & {"QuantizeLinear", "DequantizeLinear"}  # fp32: a server needs no int8
    cost = analyse_graph(model)
    device = analyse_graph(onnx.load(str(ZOO / meta["variants"]["int8"]["file"])))
    assert cost.unsupported_ops == ()
    assert cost.macs == meta["variants"]["cloud"]["macs"] == meta["cloud_architecture"]["macs"]
    assert 10 * device.macs <= cost.macs <= 50 * device.macs
    params = sum(numpy_helper.to_array(i).size for i in model.graph.initializer if i.data_type == 1)
    # BatchNorm folded into the convolutions: the weights the trainer counted, minus BN
    # scale/shift plus the conv biases they became, i.e. the same order of magnitude.
    assert 0.9 * meta["cloud_architecture"]["parameters"] <= params
    assert params <= 1.1 * meta["cloud_architecture"]["parameters"]


def test_int8_model_is_quantized(meta: dict) -> None:
    model = onnx.load(str(ZOO / meta["variants"]["int8"]["file"]))
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    producer = {out: node for node in model.graph.node for out in node.output}
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    gemms = [n for n in model.graph.node if n.op_type in ("Gemm", "MatMul")]
    assert len(convs) == 9 and len(gemms) == 1  # stem + 4 x (depthwise, pointwise); FC
    for node in convs + gemms:
        # Weight: an int8 initializer seen through a DequantizeLinear (no float copy left).
        dq = producer[node.input[1]]
        assert dq.op_type == "DequantizeLinear"
        q = inits[dq.input[0]]
        assert q.dtype == np.int8
        if node.op_type == "Conv":
            # One scale per output channel.
            scale = inits[dq.input[1]]
            assert scale.shape == (q.shape[0],)
        # Activation: quantized too (Q -> DQ in front of the op).
        dq_x = producer[node.input[0]]
        assert dq_x.op_type == "DequantizeLinear"
        assert producer[dq_x.input[0]].op_type == "QuantizeLinear"
    large_float = [k for k, a in inits.items() if a.dtype == np.float32 and a.size > 64]
    assert not large_float, large_float


@pytest.mark.parametrize("variant", VARIANTS)
def test_graph_cost_is_fully_supported(meta: dict, variant: str) -> None:
    cost = analyse_graph(onnx.load(str(ZOO / meta["variants"][variant]["file"])))
    assert cost.unsupported_ops == ()
    assert 100_000 < cost.macs < 1_000_000  # a few hundred k MACs: microcontroller-sized


def test_small_rebuild_is_deterministic(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from twin.training.person import build

    metas = [build(tmp_path / d, small=True) for d in ("a", "b")]
    X, _ = make_dataset("camera", 20, 0.25, 30.0, 1, 99, stride=60)
    X = X.reshape(-1, 1, 32, 32)
    m = metas[0]
    assert m["variants"]["cloud"]["macs"] == m["cloud_architecture"]["macs"]
    for variant in ALL_VARIANTS:
        file = m["variants"][variant]["file"]
        pa = _proba(_session(tmp_path / "a" / file), m, X)
        pb = _proba(_session(tmp_path / "b" / file), m, X)
        np.testing.assert_array_equal(pa, pb)
        assert metas[0]["variants"][variant]["heldout"] == metas[1]["variants"][variant]["heldout"]
