"""The shipped keyword-spotting models: loadable, quantized, accurate as recorded, rebuildable."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

import twin
from twin.physics.graph import analyse_graph

ZOO = Path(twin.__file__).resolve().parent / "zoo"
META_PATH = ZOO / "keyword_spotting.json"
VARIANTS = ("int8", "fp32")
SOIL_KEYS = set(json.loads((ZOO / "soil_irrigation.json").read_text()))
SHAPE = (1, 49, 10)


@pytest.fixture(scope="module")
def meta() -> dict:
    return json.loads(META_PATH.read_text())


@pytest.fixture(scope="module")
def heldout(meta: dict) -> tuple[np.ndarray, np.ndarray]:
    from twin.training.keyword import heldout_data

    X, y = heldout_data(meta)  # the recorded held-out set, 14k windows, ~8 s
    return X.reshape(-1, *SHAPE), y


@pytest.fixture(scope="module")
def heldout_proba(meta: dict, heldout) -> dict[str, np.ndarray]:
    X = heldout[0]
    return {v: _proba(_session(ZOO / meta["variants"][v]["file"]), meta, X) for v in VARIANTS}


def _session(path: Path) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def _proba(sess: ort.InferenceSession, meta: dict, X: np.ndarray) -> np.ndarray:
    out = sess.run([meta["output"]], {meta["input"]: np.ascontiguousarray(X, dtype=np.float32)})
    return out[0][:, meta["positive_index"]]


def _metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
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
    }


def test_metadata_matches_files(meta: dict) -> None:
    assert SOIL_KEYS <= set(meta)
    assert meta["name"] == "keyword_spotting"
    assert meta["train_seed"] != meta["heldout_seed"]
    assert meta["build_command"] == "python -m twin.training keyword_spotting"
    assert meta["input_shape"] == [None, *SHAPE]
    assert meta["window_samples"] == 1 and len(meta["channels"]) == 490
    assert meta["period_s"] == 60
    limits = {"int8": 300_000, "fp32": 1_000_000}
    for key, variant in meta["variants"].items():
        data = (ZOO / variant["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == variant["sha256"]
        assert len(data) == variant["bytes"] < limits[key]


@pytest.mark.slow
@pytest.mark.parametrize("variant", VARIANTS)
def test_shipped_model_runs_any_batch(meta: dict, variant: str, heldout) -> None:
    path = ZOO / meta["variants"][variant]["file"]
    cost = analyse_graph(onnx.load(str(path)))
    assert cost.unsupported_ops == ()
    assert 2e5 < cost.macs < 1e6  # a DS-CNN of a few hundred thousand MACs
    sess = _session(path)
    (inp,) = sess.get_inputs()
    assert inp.name == meta["input"] and tuple(inp.shape[1:]) == SHAPE
    assert not isinstance(inp.shape[0], int)
    # Rows with keywords and without, so both classes' outputs are compared.
    y = heldout[1]
    rows = np.concatenate([np.flatnonzero(y)[:16], np.flatnonzero(~y.astype(bool))[:48]])
    X = heldout[0][rows]
    (probs,) = sess.run([meta["output"]], {meta["input"]: X})
    assert probs.shape == (64, 2)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=0.01)
    one_by_one = np.array([_proba(sess, meta, X[i : i + 1])[0] for i in range(64)])
    np.testing.assert_allclose(one_by_one, probs[:, 1], atol=1e-5)


@pytest.mark.slow
def test_recorded_heldout_reproduces(meta: dict, heldout, heldout_proba) -> None:
    # Exact on the build machine; 2e-3 (~30 of 14k windows) allows kernels of other CPUs to
    # flip windows whose probability sits at the threshold.
    y = heldout[1]
    assert len(y) == meta["heldout_data"]["rows"]
    for variant in VARIANTS:
        got = _metrics(y, heldout_proba[variant] >= meta["threshold"])
        recorded = meta["variants"][variant]["heldout"]
        for key in ("accuracy", "positives_rate"):
            assert got[key] == pytest.approx(recorded[key], abs=2e-3), (variant, key)
        # Precision and recall rest on ~370 keyword windows: one flipped row moves recall by
        # 0.003, so allow a few rows.
        for key in ("precision", "recall", "f1"):
            assert got[key] == pytest.approx(recorded[key], abs=0.01), (variant, key)
        # Keywords are rare (a few % of windows); recall stays meaningful and the model is
        # far above the trivial "always keyword" F1 = 2r / (1 + r).
        rate = got["positives_rate"]
        assert 0.01 < rate < 0.05
        assert got["recall"] > 0.7
        assert got["f1"] > 2 * rate / (1 + rate) + 0.5


@pytest.mark.slow
def test_int8_tracks_fp32(meta: dict, heldout, heldout_proba) -> None:
    y = heldout[1]
    pred = {v: heldout_proba[v] >= meta["threshold"] for v in VARIANTS}
    assert np.mean(pred["int8"] == pred["fp32"]) >= 0.99
    assert abs(_metrics(y, pred["int8"])["f1"] - _metrics(y, pred["fp32"])["f1"]) <= 0.03


def test_int8_model_is_quantized(meta: dict) -> None:
    model = onnx.load(str(ZOO / meta["variants"]["int8"]["file"]))
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    producer = {out: node for node in model.graph.node for out in node.output}
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    assert len(convs) == 1 + 2 * 3  # first conv + (depthwise, pointwise) x 3 blocks
    for conv in convs:
        dq = producer[conv.input[1]]
        assert dq.op_type == "DequantizeLinear"
        w = inits[dq.input[0]]
        scale = inits[dq.input[1]]
        assert w.dtype == np.int8
        assert scale.shape == (w.shape[0],)  # per output channel
        dq_x = producer[conv.input[0]]
        assert dq_x.op_type == "DequantizeLinear"
        assert producer[dq_x.input[0]].op_type == "QuantizeLinear"
    large_float = [k for k, a in inits.items() if a.dtype == np.float32 and a.size > 32]
    assert not large_float, large_float


@pytest.mark.slow
def test_small_build_runs_and_learns(tmp_path: Path, heldout) -> None:
    pytest.importorskip("torch")
    from twin.training.keyword import build

    m = build(tmp_path, small=True)  # 576 training windows, ~2 s plus torch start-up
    assert SOIL_KEYS <= set(m) and m["input_shape"] == [None, *SHAPE]
    assert m["train_data"]["positives_rate"] > 0.06  # keyword-rich training world
    # Its own held-out set is tiny (240 windows); judge it on the shipped held-out set
    # instead. A 576-window model ranks keywords well (AUC > 0.9; chance is 0.5) even if
    # its recall at the shipped threshold is low.
    X, y = heldout
    for variant in VARIANTS:
        sess = _session(tmp_path / m["variants"][variant]["file"])
        p = _proba(sess, m, X)
        ranks = np.empty(len(p))
        ranks[np.argsort(p, kind="stable")] = np.arange(len(p))
        n_pos = int(y.sum())
        auc = (ranks[y == 1].mean() - (n_pos - 1) / 2) / (len(y) - n_pos)
        assert auc > 0.85, (variant, auc)
