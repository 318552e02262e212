"""Pieces every zoo builder shares: data rows, evaluation on the shipped bytes, provenance."""

from __future__ import annotations

import hashlib
import importlib
from pathlib import Path
from typing import Any

import numpy as np

# Builders write the shipped zoo unless told otherwise.
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "zoo"
# Every zoo model reads a tensor named 'window' and writes class scores [N, 2] to 'probabilities'.
INPUT_NAME = "window"
OUTPUT_NAME = "probabilities"
POSITIVE_INDEX = 1


def sha256(path: Path) -> str:
    """SHA-256 of a file (recorded beside each model so metrics are tied to exact bytes)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def versions(*trainers: str) -> dict[str, str]:
    """Versions of the training libraries named, then onnxruntime, onnx and numpy."""
    out = {name: importlib.import_module(name).__version__ for name in trainers}
    for name in ("onnxruntime", "onnx"):
        out[name] = importlib.import_module(name).__version__
    out["numpy"] = np.__version__
    return out


def training_rows(
    X: np.ndarray,
    y: np.ndarray,
    seed: int,
    calibration_rows: int,
    max_train_rows: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training subsample and quantisation-calibration rows, drawn reproducibly.

    The stream is a spawned child of the training seed (child 3), apart from the world's own
    streams. Indices are sorted: a subsample is a set; the trainer shuffles on its own.

    Returns
    -------
    X_train, y_train, calib_idx
        The training rows (all rows when ``max_train_rows`` is None or not exceeded) and the
        indices of the calibration rows in ``X``.
    """
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(4)[3])
    X_train, y_train = X, y
    if max_train_rows is not None and len(X) > max_train_rows:
        idx = np.sort(rng.choice(len(X), size=max_train_rows, replace=False))
        X_train, y_train = X[idx], y[idx]
    calib_idx = np.sort(rng.choice(len(X), size=min(calibration_rows, len(X)), replace=False))
    return X_train, y_train, calib_idx


def sorted_opsets(model: Any) -> Any:
    """Put a model's opset imports in a fixed order (default domain first, then by name).

    skl2onnx lists the domains in the iteration order of a set of strings, which changes with
    Python's hash seed: without this, two builds of the same weights could differ in bytes.

    Parameters
    ----------
    model : onnx.ModelProto
        Model to fix in place.

    Returns
    -------
    onnx.ModelProto
        The same model.
    """
    opsets = sorted(((o.domain, o.version) for o in model.opset_import), key=lambda o: o[0])
    del model.opset_import[:]
    for domain, version in opsets:
        model.opset_import.add(domain=domain, version=version)
    return model


def session(path: Path) -> Any:
    """An onnxruntime session on one thread for evaluating a model file.

    Evaluation is small, and a fixed thread count avoids reduction-order differences between
    machines with different core counts.
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def predict_proba(
    path: Path, X: np.ndarray, input_shape: tuple[int, ...] | None = None, batch: int = 8192
) -> np.ndarray:
    """Positive-class score of each row, computed by onnxruntime on the model file.

    Parameters
    ----------
    path : pathlib.Path
        ONNX model file (either variant).
    X : numpy.ndarray
        Rows, flat or shaped.
    input_shape : tuple of int, optional
        Shape of one row as the model takes it (``(1, 256)``); rows are passed as they are if
        omitted.
    batch : int
        Rows per ``run`` call (bounds memory for large sets).

    Returns
    -------
    numpy.ndarray
        ``(rows,)`` float32 scores of the positive class.
    """
    sess = session(path)
    X = np.ascontiguousarray(X, dtype=np.float32)
    if input_shape is not None:
        X = X.reshape(len(X), *input_shape)
    out = [
        sess.run([OUTPUT_NAME], {INPUT_NAME: X[i : i + batch]})[0][:, POSITIVE_INDEX]
        for i in range(0, len(X), batch)
    ]
    return np.concatenate(out) if out else np.empty(0, dtype=np.float32)


def binary_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float | int]:
    """Accuracy, precision, recall and F1 of the positive class.

    Parameters
    ----------
    y_true, y_pred : numpy.ndarray
        Labels and predictions (0/1 or bool).

    Returns
    -------
    dict
        ``accuracy``, ``precision``, ``recall``, ``f1``, ``positives_rate`` (of ``y_true``),
        ``predicted_positives_rate`` and ``rows``. Undefined ratios are reported as 0.
    """
    y_true = np.asarray(y_true).astype(bool)
    y_pred = np.asarray(y_pred).astype(bool)
    tp = int(np.sum(y_true & y_pred))
    fp = int(np.sum(~y_true & y_pred))
    fn = int(np.sum(y_true & ~y_pred))
    n = int(y_true.size)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "accuracy": round(float(np.mean(y_true == y_pred)), 6) if n else 0.0,
        "precision": round(precision, 6),
        "recall": round(recall, 6),
        "f1": round(f1, 6),
        "positives_rate": round(float(np.mean(y_true)), 6) if n else 0.0,
        "predicted_positives_rate": round(float(np.mean(y_pred)), 6) if n else 0.0,
        "rows": n,
    }
