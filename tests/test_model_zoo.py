"""The shipped soil irrigation models: loadable, quantized, accurate as recorded, reproducible."""

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
from twin.world.dataset import make_dataset

ZOO = Path(twin.__file__).resolve().parent / "zoo"
META_PATH = ZOO / "soil_irrigation.json"
VARIANTS = ("int8", "fp32")

# Fresh held-out world for the statistical check: the recorded held-out seed, but 15 nodes x
# 30 days (~10k windows, ~0.5 s to generate) instead of the recorded 30 x 60.
SMALL_HELDOUT_NODES = 15
SMALL_HELDOUT_DAYS = 30.0

# Tolerances for recorded (30 nodes x 60 days) vs fresh small (15 x 30) held-out metrics. With
# fewer nodes the seed yields a *different* world (per-node soils and the site-wide weather are
# drawn from one generator), so this is a comparison of two independent samples, not a
# reproduction. Rows are far from independent: overlapping windows and weather shared by all
# nodes make the rain history dominate the spread, so binomial row-count error bars are far too
# optimistic. Measured spread of the shipped int8 model over 40 world seeds: std of accuracy
# 0.018 / 0.015, F1 0.034 / 0.025, positives rate 0.024 / 0.018 (small / recorded size). The
# difference of two independent samples therefore has std ~0.023 (accuracy), ~0.042 (F1),
# ~0.030 (positives rate); the tolerances are ~3 sigma, loose enough never to flake on a
# retrain, tight enough to catch a wrong input layout or a broken model (all-negative F1 = 0,
# all-positive F1 ~ 0.35, the shipped model ~ 0.78). Precision and recall alone swing by
# +-0.07 between worlds (threshold trade-off), so they are covered through F1 only.
STAT_TOLERANCE = {"accuracy": 0.07, "f1": 0.13, "positives_rate": 0.09}


@pytest.fixture(scope="module")
def meta() -> dict:
    return json.loads(META_PATH.read_text())


def _session(path: Path) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def _proba(sess: ort.InferenceSession, meta: dict, X: np.ndarray) -> np.ndarray:
    out = sess.run([meta["output"]], {meta["input"]: np.ascontiguousarray(X, dtype=np.float32)})
    return out[0][:, meta["positive_index"]]


def _metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    # Written out independently of twin.training so the test does not grade the builder with
    # the builder's own arithmetic.
    y, pred = y.astype(bool), pred.astype(bool)
    tp = np.sum(y & pred)
    precision = tp / max(np.sum(pred), 1)
    recall = tp / max(np.sum(y), 1)
    return {
        "accuracy": float(np.mean(y == pred)),
        "f1": float(2 * precision * recall / max(precision + recall, 1e-12)),
        "positives_rate": float(np.mean(y)),
    }


@pytest.fixture(scope="module")
def small_heldout(meta: dict) -> tuple[np.ndarray, np.ndarray]:
    return make_dataset(
        "soil",
        SMALL_HELDOUT_NODES,
        SMALL_HELDOUT_DAYS,
        meta["period_s"],
        meta["window_samples"],
        meta["heldout_seed"],
        stride=4,
    )


def test_metadata_matches_files(meta: dict) -> None:
    assert meta["name"] == "soil_irrigation"
    assert meta["train_seed"] != meta["heldout_seed"]
    assert meta["build_command"] == "python -m twin.training soil_irrigation"
    assert set(meta["variants"]) == set(VARIANTS)
    for variant in meta["variants"].values():
        data = (ZOO / variant["file"]).read_bytes()
        # The recorded metrics belong to exactly these bytes.
        assert hashlib.sha256(data).hexdigest() == variant["sha256"]
        assert len(data) < 100_000  # commit-size small


@pytest.mark.parametrize("variant", VARIANTS)
def test_shipped_model_runs_any_batch(meta: dict, variant: str, small_heldout) -> None:
    sess = _session(ZOO / meta["variants"][variant]["file"])
    (inp,) = sess.get_inputs()
    n_features = meta["window_samples"] * len(meta["channels"])
    assert inp.name == meta["input"]
    assert inp.shape[1] == n_features
    assert not isinstance(inp.shape[0], int)  # dynamic batch dimension
    assert meta["output"] in [o.name for o in sess.get_outputs()]

    X = small_heldout[0][:1000]
    for n in (1, 1000):
        (probs,) = sess.run([meta["output"]], {meta["input"]: X[:n]})
        assert probs.shape == (n, 2)
        assert np.all((probs >= 0) & (probs <= 1))
        # int8 outputs are two separately quantized tensors (p and 1 - p): allow ~2 LSB of 1/255.
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=0.01)
    # The engine batches windows from many nodes: a row's answer must not depend on the batch.
    one_by_one = np.array([_proba(sess, meta, X[i : i + 1])[0] for i in range(20)])
    np.testing.assert_allclose(one_by_one, _proba(sess, meta, X)[:20], atol=1e-5)


@pytest.mark.parametrize("variant", VARIANTS)
def test_shipped_metrics_hold_on_fresh_heldout(meta: dict, variant: str, small_heldout) -> None:
    X, y = small_heldout
    sess = _session(ZOO / meta["variants"][variant]["file"])
    got = _metrics(y, _proba(sess, meta, X) >= meta["threshold"])
    recorded = meta["variants"][variant]["heldout"]
    for key, tol in STAT_TOLERANCE.items():
        assert abs(got[key] - recorded[key]) <= tol, (key, got[key], recorded[key])


def test_int8_tracks_fp32_on_same_windows(meta: dict, small_heldout) -> None:
    # Paired comparison on identical inputs, so world-to-world variance cancels and the bound
    # can be tight: over 25 worlds the F1 gap was <= 0.005 and the accuracy gap <= 0.003.
    X, y = small_heldout
    p = {v: _proba(_session(ZOO / meta["variants"][v]["file"]), meta, X) for v in VARIANTS}
    pred = {v: p[v] >= meta["threshold"] for v in VARIANTS}
    assert np.mean(pred["int8"] == pred["fp32"]) >= 0.98
    assert abs(_metrics(y, pred["int8"])["f1"] - _metrics(y, pred["fp32"])["f1"]) <= 0.02
    assert np.max(np.abs(p["int8"] - p["fp32"])) < 0.15


def test_recorded_heldout_reproduces(meta: dict) -> None:
    # Regenerating the full recorded held-out set costs ~1 s, and checks that the JSON numbers
    # come from the documented recipe. Tolerance 2e-3 (~85 of 42k rows): int8 kernels and fp32
    # summation order differ across CPUs (AVX2 / AVX-512 / ARM), which can flip rows whose
    # probability sits right at the threshold; on the build machine the match is exact.
    cfg = meta["heldout_data"]
    X, y = make_dataset(
        "soil",
        cfg["n_nodes"],
        cfg["days"],
        meta["period_s"],
        meta["window_samples"],
        meta["heldout_seed"],
        stride=4,
    )
    assert len(y) == cfg["rows"]
    for variant in VARIANTS:
        sess = _session(ZOO / meta["variants"][variant]["file"])
        got = _metrics(y, _proba(sess, meta, X) >= meta["threshold"])
        recorded = meta["variants"][variant]["heldout"]
        for key, value in got.items():
            assert value == pytest.approx(recorded[key], abs=2e-3), (variant, key)


def test_int8_model_is_quantized(meta: dict) -> None:
    model = onnx.load(str(ZOO / meta["variants"]["int8"]["file"]))
    ops = [n.op_type for n in model.graph.node]
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    producer = {out: node for node in model.graph.node for out in node.output}

    matmuls = [n for n in model.graph.node if n.op_type == "MatMul"]
    assert len(matmuls) == 3  # 192 -> 32 -> 16 -> 1
    weights = 0
    for mm in matmuls:
        # The weight operand is an int8 initializer seen through a DequantizeLinear: no float
        # copy of the weights remains in the graph.
        w = mm.input[1]
        assert w not in inits
        dq = producer[w]
        assert dq.op_type == "DequantizeLinear"
        q = inits[dq.input[0]]
        assert q.dtype == np.int8
        weights += q.size
        # The activation operand is quantized too (Q -> DQ pair in front of the MatMul).
        dq_x = producer[mm.input[0]]
        assert dq_x.op_type == "DequantizeLinear"
        assert producer[dq_x.input[0]].op_type == "QuantizeLinear"
    assert weights == 192 * 32 + 32 * 16 + 16 * 1
    large_float = [k for k, a in inits.items() if a.dtype == np.float32 and a.size > 192]
    assert not large_float, large_float  # only the scaler's 192-vectors and scales stay float


@pytest.mark.slow
def test_rebuild_is_deterministic_and_useful(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    pytest.importorskip("skl2onnx")
    from twin.training.soil import build_soil_irrigation

    small = {"n_nodes": 20, "days": 20.0, "heldout_nodes": 10, "heldout_days": 20.0}
    metas = [build_soil_irrigation(tmp_path / d, **small) for d in ("a", "b")]  # ~1.2 s each
    m = metas[0]
    X, y = make_dataset(
        "soil", 10, 20.0, m["period_s"], m["window_samples"], m["heldout_seed"] + 1, stride=4
    )
    for variant in VARIANTS:
        file = m["variants"][variant]["file"]
        pa = _proba(_session(tmp_path / "a" / file), m, X)
        pb = _proba(_session(tmp_path / "b" / file), m, X)
        np.testing.assert_array_equal(pa, pb)
        assert metas[0]["variants"][variant]["heldout"] == metas[1]["variants"][variant]["heldout"]

        # Predicting "irrigate" everywhere has recall 1 and precision = positives rate.
        got = m["variants"][variant]["heldout"]
        rate = got["positives_rate"]
        baseline_f1 = 2 * rate / (1 + rate)
        # Small build reaches F1 ~0.67 against a baseline ~0.29; demand a clear margin.
        assert got["f1"] > baseline_f1 + 0.2, (variant, got["f1"], baseline_f1)
