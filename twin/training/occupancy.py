"""Zoo builder: room occupancy classifier for a Wi-Fi thermostat (``room_occupancy``).

A smart radiator thermostat decides every 5 min whether its room is occupied, to set the
heating back in empty rooms. Input: the last 12 readings (1 h at 300 s) of air temperature,
relative humidity, CO2, PIR motion count and ambient light -- 60 features, oldest reading
first, channels interleaved (the world :mod:`twin.world.room`). Output: P(occupied now).

Same recipe as the soil reference (:mod:`twin.training.soil`): scikit-learn ``StandardScaler`` +
``MLPClassifier(32, 16)``, skl2onnx with zipmap off and the scaler as plain Sub/Div, static
int8 QDQ by onnxruntime (per-tensor int8 weights and activations, MinMax calibration on
training rows), held-out metrics computed with onnxruntime on the shipped bytes.

The scaler matters even more here than for soil: CO2 (~400-3000 ppm), light (0-600 lux) and
PIR counts (0-20) share one input tensor; standardised inputs give the int8 activations of
the first layer a common range.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from twin.training.common import (
    binary_metrics,
    predict_proba,
    sha256,
    sorted_opsets,
    training_rows,
    versions,
)
from twin.training.quantize import CalibrationBatches, quantize_int8
from twin.world.dataset import make_dataset
from twin.world.room import RoomWorld

NAME = "room_occupancy"
WINDOW_SAMPLES = 12  # 1 h at 5 min: long enough to see CO2 build up or decay after a change
PERIOD_S = 300.0
CHANNELS = RoomWorld.channels
N_FEATURES = WINDOW_SAMPLES * len(CHANNELS)
INPUT_NAME = "window"
OUTPUT_NAME = "probabilities"
POSITIVE_INDEX = 1
THRESHOLD = 0.5
TARGET_OPSET = 17
ML_OPSET = 3

TRAIN_SEED = 20_250_301
HELDOUT_SEED = 20_250_302  # different households, rooms, routines and noise
MLP_SEED = 0
HIDDEN = (32, 16)

# Many rooms over few days: routine diversity comes from households, and the world's cost is
# per step (vectorised over rooms). 150 rooms x 10 days at stride 3 gives ~144k windows
# (~4 s to generate); consecutive windows share 9 of 12 readings, so a 40k subsample loses
# little. Held-out: 80 other rooms x 10 days (~77k windows).
SIZES = {
    False: {"n_nodes": 150, "days": 10.0, "heldout_nodes": 80, "heldout_days": 10.0},
    True: {"n_nodes": 24, "days": 3.0, "heldout_nodes": 12, "heldout_days": 3.0},
}
STRIDE = 3
MAX_TRAIN_ROWS = 40_000
CALIBRATION_ROWS = 4_000
CALIBRATION_BATCH = 500

BUILD_COMMAND = f"python -m twin.training {NAME}"

log = logging.getLogger(__name__)


def train_pipeline(X: np.ndarray, y: np.ndarray, seed: int = MLP_SEED) -> Any:
    """Fit the scaler + MLP pipeline.

    Parameters
    ----------
    X : numpy.ndarray
        Training windows, ``(rows, 60)`` float32.
    y : numpy.ndarray
        Labels (1 = occupied).
    seed : int
        ``random_state`` of the MLP (weight init, shuffling, early-stopping split).

    Returns
    -------
    sklearn.pipeline.Pipeline
        The fitted ``StandardScaler`` -> ``MLPClassifier`` pipeline.
    """
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    clf = MLPClassifier(
        hidden_layer_sizes=HIDDEN, random_state=seed, early_stopping=True, max_iter=200
    )
    return Pipeline([("scaler", StandardScaler()), ("mlp", clf)]).fit(X, y)


def to_onnx(pipeline: Any) -> Any:
    """Convert the fitted pipeline to ONNX (input ``window`` ``[N, 60]``, dynamic batch).

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline
        Output of :func:`train_pipeline`.

    Returns
    -------
    onnx.ModelProto
        Model with outputs ``label`` ``[N]`` and ``probabilities`` ``[N, 2]``.
    """
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    scaler = pipeline.named_steps["scaler"]
    options = {id(pipeline): {"zipmap": False}, id(scaler): {"div": "div"}}
    model = convert_sklearn(
        pipeline,
        name=NAME,
        initial_types=[(INPUT_NAME, FloatTensorType([None, N_FEATURES]))],
        options=options,
        target_opset={"": TARGET_OPSET, "ai.onnx.ml": ML_OPSET},
    )
    if OUTPUT_NAME not in {o.name for o in model.graph.output}:
        raise RuntimeError("skl2onnx output names changed")
    return sorted_opsets(model)


def heldout_data(meta: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Regenerate the held-out set recorded in ``meta``.

    Parameters
    ----------
    meta : dict
        Metadata returned by :func:`build` (or read from ``room_occupancy.json``).

    Returns
    -------
    tuple of numpy.ndarray
        ``X`` ``(rows, 60)`` and ``y``.
    """
    cfg = meta["heldout_data"]
    return make_dataset(
        "room",
        cfg["n_nodes"],
        cfg["days"],
        meta["period_s"],
        meta["window_samples"],
        meta["heldout_seed"],
        stride=cfg["stride"],
    )


def build(out_dir: Path, small: bool = False) -> dict[str, Any]:
    """Train, convert, quantize and evaluate the room occupancy model.

    Parameters
    ----------
    out_dir : pathlib.Path
        Directory for ``room_occupancy_{fp32,int8}.onnx`` and ``room_occupancy.json``.
    small : bool
        Tiny data sizes (a few seconds), for tests of the recipe.

    Returns
    -------
    dict
        The metadata written to ``room_occupancy.json``.
    """
    size = SIZES[bool(small)]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()

    X, y = make_dataset(
        "room", size["n_nodes"], size["days"], PERIOD_S, WINDOW_SAMPLES, TRAIN_SEED, stride=STRIDE
    )
    X_train, y_train, calib_idx = training_rows(X, y, TRAIN_SEED, CALIBRATION_ROWS, MAX_TRAIN_ROWS)
    X_calib = np.ascontiguousarray(X[calib_idx])

    pipeline = train_pipeline(X_train, y_train)
    t_train = time.perf_counter()

    import onnx

    fp32_path = out_dir / f"{NAME}_fp32.onnx"
    int8_path = out_dir / f"{NAME}_int8.onnx"
    onnx.save_model(to_onnx(pipeline), str(fp32_path))
    calibration = CalibrationBatches.of_rows(X_calib, INPUT_NAME, CALIBRATION_BATCH)
    quantize_int8(fp32_path, int8_path, calibration, per_channel=False)

    meta: dict[str, Any] = {
        "name": NAME,
        "task": (
            "binary classification: is the room occupied now (at least one person in it), "
            "from the last hour of air temperature, relative humidity, CO2, PIR motion "
            "counts and ambient light, for a thermostat that sets back empty rooms"
        ),
        "input": INPUT_NAME,
        "input_shape": [None, N_FEATURES],
        "input_layout": "oldest sample first, channels interleaved per sample",
        "output": OUTPUT_NAME,
        "positive_index": POSITIVE_INDEX,
        "threshold": THRESHOLD,
        "window_samples": WINDOW_SAMPLES,
        "channels": list(CHANNELS),
        "period_s": int(PERIOD_S),
        "train_seed": TRAIN_SEED,
        "heldout_seed": HELDOUT_SEED,
        "world": "twin.world.room",
        "train_data": {
            "n_nodes": size["n_nodes"],
            "days": size["days"],
            "stride": STRIDE,
            "rows_generated": int(len(X)),
            "rows_used": int(len(X_train)),
            "positives_rate": round(float(np.mean(y_train)), 6),
            "calibration_rows": int(len(X_calib)),
        },
        "heldout_data": {
            "n_nodes": size["heldout_nodes"],
            "days": size["heldout_days"],
            "stride": STRIDE,
        },
    }
    Xh, yh = heldout_data(meta)
    meta["heldout_data"]["rows"] = int(len(Xh))
    variants = {}
    for key, path in (("int8", int8_path), ("fp32", fp32_path)):
        pred = predict_proba(path, Xh) >= THRESHOLD
        variants[key] = {
            "file": path.name,
            "bytes": path.stat().st_size,
            "sha256": sha256(path),
            "heldout": binary_metrics(yh, pred),
        }
    mlp = pipeline.named_steps["mlp"]
    meta["architecture"] = {
        "pipeline": "StandardScaler -> MLPClassifier",
        "hidden_layer_sizes": list(mlp.hidden_layer_sizes),
        "activation": mlp.activation,
        "random_state": MLP_SEED,
        "epochs": int(mlp.n_iter_),
        "parameters": int(sum(w.size for w in mlp.coefs_) + sum(b.size for b in mlp.intercepts_)),
    }
    meta["quantization"] = {
        "tool": "onnxruntime.quantization.quantize_static",
        "format": "QDQ",
        "weights": "int8 symmetric, per-tensor",
        "activations": "int8 asymmetric, per-tensor",
        "calibration": "MinMax",
    }
    meta["build_command"] = BUILD_COMMAND
    meta["variants"] = variants
    meta["versions"] = versions("sklearn", "skl2onnx")
    log.info(
        "%s: trained on %d rows in %.1f s, built in %.1f s",
        NAME,
        len(X_train),
        t_train - t_start,
        time.perf_counter() - t_start,
    )
    (out_dir / f"{NAME}.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta
