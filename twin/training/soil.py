"""Zoo builder: soil irrigation classifier (``soil_irrigation``), the reference recipe.

Run ``python -m twin.training soil_irrigation [--out DIR]`` to regenerate its files in
``twin/zoo/``:

* ``soil_irrigation_fp32.onnx`` -- scikit-learn ``StandardScaler`` + ``MLPClassifier(32, 16)``
  converted with skl2onnx;
* ``soil_irrigation_int8.onnx`` -- the same graph, static int8 QDQ quantization by onnxruntime
  (the variant a microcontroller would run);
* ``soil_irrigation.json`` -- metadata: I/O names, window layout, seeds, held-out metrics of both
  variants (computed with onnxruntime, i.e. on the shipped bytes) and the library versions.

Everything is a function of the seeds: the world generator is seeded, the MLP has a fixed
``random_state``, row subsampling and the calibration set use seeded generators, and MinMax
calibration is deterministic. Rebuilding with the same library versions gives the same bytes
on the same machine; across machines floating-point BLAS differences may flip the last bits of
the trained weights, which is why tests compare predictions rather than hashes.

Needs the ``train`` extra (scikit-learn, skl2onnx); the simulator itself only needs onnxruntime.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from twin.training.common import (
    DEFAULT_OUT,
    binary_metrics,
    predict_proba,
    sha256,
    sorted_opsets,
    training_rows,
    versions,
)
from twin.training.quantize import CalibrationBatches
from twin.training.quantize import quantize_int8 as _quantize
from twin.world.dataset import make_dataset

NAME = "soil_irrigation"
WINDOW_SAMPLES = 96  # 24 h at 15 min: one full day/night ET cycle is visible to the model
PERIOD_S = 900.0
CHANNELS = ("moisture_vwc", "soil_temp_c")
N_FEATURES = WINDOW_SAMPLES * len(CHANNELS)
INPUT_NAME = "window"
OUTPUT_NAME = "probabilities"  # skl2onnx's name for the [N, 2] output when zipmap is off
POSITIVE_INDEX = 1
THRESHOLD = 0.5
TARGET_OPSET = 17  # upper bound; skl2onnx picks the lowest opset the graph needs (14 here)
ML_OPSET = 3

TRAIN_SEED = 20_240_601
HELDOUT_SEED = 20_240_602  # different seed -> different soils, node phases and weather
MLP_SEED = 0

# Default data sizes. 60 nodes x 60 days at stride 4 gives ~85k windows; they are strongly
# overlapping (consecutive windows share 92 of 96 samples), so a 40k subsample loses little
# information and keeps training to a few seconds on 2 cores.
TRAIN_NODES = 60
TRAIN_DAYS = 60.0
HELDOUT_NODES = 30
HELDOUT_DAYS = 60.0
MAX_TRAIN_ROWS = 40_000
CALIBRATION_ROWS = 4_000
CALIBRATION_BATCH = 500

STRIDE = 4  # consecutive training windows of a zone share 92 of 96 readings
BUILD_COMMAND = f"python -m twin.training {NAME}"

log = logging.getLogger(__name__)


def train_pipeline(X: np.ndarray, y: np.ndarray, seed: int = MLP_SEED) -> Any:
    """Fit the scaler + MLP pipeline.

    Parameters
    ----------
    X : numpy.ndarray
        Training windows, ``(rows, 192)`` float32.
    y : numpy.ndarray
        Labels (1 = needs irrigation within 6 h).
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

    # The scaler is essential for quantization too: moisture (~0.1-0.35) and temperature
    # (~15-30 degC) share one input tensor, and a per-tensor int8 scale over raw values would
    # wipe out the moisture channel. Standardised inputs have comparable ranges.
    clf = MLPClassifier(
        hidden_layer_sizes=(32, 16),
        random_state=seed,
        early_stopping=True,  # 10 % validation split, stops when it plateaus (~20-40 epochs)
        max_iter=200,
    )
    return Pipeline([("scaler", StandardScaler()), ("mlp", clf)]).fit(X, y)


def to_onnx(pipeline: Any) -> Any:
    """Convert the fitted pipeline to ONNX with a dynamic batch dimension.

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline
        Output of :func:`train_pipeline`.

    Returns
    -------
    onnx.ModelProto
        Model with input ``window`` ``[N, 192]`` float32 and outputs ``label`` ``[N]`` and
        ``probabilities`` ``[N, 2]``.
    """
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    scaler = pipeline.named_steps["scaler"]
    options = {
        # Plain [N, 2] tensor instead of a list of dicts: what the engine and quantizer want.
        id(pipeline): {"zipmap": False},
        # Sub + Div (standard ONNX ops) instead of ai.onnx.ml.Scaler, so that converters to
        # microcontroller runtimes, which rarely support the ML domain, can handle the scaler.
        id(scaler): {"div": "div"},
    }
    model = convert_sklearn(
        pipeline,
        name=NAME,
        initial_types=[(INPUT_NAME, FloatTensorType([None, N_FEATURES]))],
        options=options,
        target_opset={"": TARGET_OPSET, "ai.onnx.ml": ML_OPSET},
    )
    outputs = {o.name: o for o in model.graph.output}
    if OUTPUT_NAME not in outputs:
        raise RuntimeError(f"skl2onnx output names changed: {sorted(outputs)}")
    return sorted_opsets(model)


def quantize_int8(fp32_path: Path, int8_path: Path, X_calib: np.ndarray) -> None:
    """Quantize an fp32 model to static int8 QDQ (per-tensor weights; see quantize.py).

    Parameters
    ----------
    fp32_path : pathlib.Path
        Float model written by :func:`to_onnx`.
    int8_path : pathlib.Path
        Where to write the quantized model.
    X_calib : numpy.ndarray
        Calibration windows (a few thousand training rows), float32.
    """
    reader = CalibrationBatches.of_rows(X_calib, INPUT_NAME, CALIBRATION_BATCH)
    _quantize(fp32_path, int8_path, reader, per_channel=False)


def evaluate(path: Path, X: np.ndarray, y: np.ndarray) -> dict[str, float | int]:
    """Held-out metrics of an ONNX model at the shipped threshold.

    Parameters
    ----------
    path : pathlib.Path
        ONNX model file.
    X, y : numpy.ndarray
        Windows and labels.

    Returns
    -------
    dict
        See :func:`binary_metrics`.
    """
    return binary_metrics(y, predict_proba(path, X) >= THRESHOLD)


def build_soil_irrigation(
    out_dir: Path,
    n_nodes: int = TRAIN_NODES,
    days: float = TRAIN_DAYS,
    seed: int = TRAIN_SEED,
    heldout_nodes: int = HELDOUT_NODES,
    heldout_days: float = HELDOUT_DAYS,
    heldout_seed: int = HELDOUT_SEED,
    max_train_rows: int = MAX_TRAIN_ROWS,
) -> dict[str, Any]:
    """Train, convert, quantize and evaluate the soil irrigation model.

    Parameters
    ----------
    out_dir : pathlib.Path
        Directory for the two ONNX files and the JSON metadata (created if missing).
    n_nodes, days : int, float
        Size of the generated training world.
    seed : int
        Seed of the training world (also seeds row subsampling and calibration-row choice).
    heldout_nodes, heldout_days : int, float
        Size of the held-out world.
    heldout_seed : int
        Seed of the held-out world; must differ from ``seed``.
    max_train_rows : int
        Cap on training rows (random subsample) to bound training time.

    Returns
    -------
    dict
        The metadata written to ``soil_irrigation.json``.
    """
    if heldout_seed == seed:
        raise ValueError("held-out seed must differ from the training seed")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()

    X, y = make_dataset("soil", n_nodes, days, PERIOD_S, WINDOW_SAMPLES, seed, stride=STRIDE)
    # Seeded from the training seed so a different world also gets a different subsample, but
    # kept on a separate stream from the world itself (spawned child, not the same generator).
    X_train, y_train, calib_idx = training_rows(X, y, seed, CALIBRATION_ROWS, max_train_rows)
    X_calib = np.ascontiguousarray(X[calib_idx])

    pipeline = train_pipeline(X_train, y_train)
    t_train = time.perf_counter()

    import onnx

    fp32_path = out_dir / f"{NAME}_fp32.onnx"
    int8_path = out_dir / f"{NAME}_int8.onnx"
    onnx.save_model(to_onnx(pipeline), str(fp32_path))
    quantize_int8(fp32_path, int8_path, X_calib)

    Xh, yh = make_dataset(
        "soil", heldout_nodes, heldout_days, PERIOD_S, WINDOW_SAMPLES, heldout_seed, stride=STRIDE
    )
    variants = {}
    for key, path in (("int8", int8_path), ("fp32", fp32_path)):
        variants[key] = {
            "file": path.name,
            "bytes": path.stat().st_size,
            "sha256": sha256(path),
            "heldout": evaluate(path, Xh, yh),
        }

    mlp = pipeline.named_steps["mlp"]
    meta: dict[str, Any] = {
        "name": NAME,
        "task": (
            "binary classification: does this zone need irrigation within 6 h "
            "(root-zone moisture below the FAO-56 refill point now or within 6 h), "
            "from the last 24 h of soil moisture and soil temperature"
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
        "train_seed": seed,
        "heldout_seed": heldout_seed,
        "train_data": {
            "n_nodes": n_nodes,
            "days": days,
            "rows_generated": int(len(X)),
            "rows_used": int(len(X_train)),
            "positives_rate": round(float(np.mean(y_train)), 6),
            "calibration_rows": int(len(X_calib)),
        },
        "heldout_data": {"n_nodes": heldout_nodes, "days": heldout_days, "rows": int(len(Xh))},
        "architecture": {
            "pipeline": "StandardScaler -> MLPClassifier",
            "hidden_layer_sizes": list(mlp.hidden_layer_sizes),
            "activation": mlp.activation,
            "random_state": MLP_SEED,
            "epochs": int(mlp.n_iter_),
            "parameters": int(
                sum(w.size for w in mlp.coefs_) + sum(b.size for b in mlp.intercepts_)
            ),
        },
        "quantization": {
            "tool": "onnxruntime.quantization.quantize_static",
            "format": "QDQ",
            "weights": "int8 symmetric, per-tensor",
            "activations": "int8 asymmetric, per-tensor",
            "calibration": "MinMax",
        },
        "build_command": BUILD_COMMAND,
        "variants": variants,
        "versions": versions("sklearn", "skl2onnx"),
    }
    # Timings are logged, not stored: they vary from run to run and would make the metadata
    # file differ between otherwise identical builds.
    log.info(
        "%s: trained on %d rows in %.1f s, built in %.1f s",
        NAME,
        len(X_train),
        t_train - t_start,
        time.perf_counter() - t_start,
    )
    (out_dir / f"{NAME}.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def build(out_dir: Path = DEFAULT_OUT, small: bool = False) -> dict:
    """Build the soil irrigation model (the interface every zoo builder shares)."""
    if small:
        return build_soil_irrigation(out_dir, n_nodes=20, days=20.0, heldout_nodes=10,
                                     heldout_days=20.0)  # fmt: skip
    return build_soil_irrigation(out_dir)
