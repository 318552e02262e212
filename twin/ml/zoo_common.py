"""Pieces every zoo builder shares: file hashes and the versions that shaped a model."""

from __future__ import annotations

import hashlib
import importlib
from pathlib import Path

import numpy as np


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
