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
