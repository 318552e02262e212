"""A model file, read by the runtime its suffix names.

Only the runtime a file needs is imported: a scenario of ONNX models never imports LiteRT, and
a TFLite one never imports onnxruntime's session code for its device model.
"""

from __future__ import annotations

from pathlib import Path

from twin.errors import ScenarioError
from twin.ml.classifier import Classifier

__all__ = ["MODEL_SUFFIXES", "SUFFIX_HELP", "load_model"]

# File suffix -> what reads it; the error for any other suffix names these.
MODEL_SUFFIXES = {".onnx": "ONNX", ".tflite": "TensorFlow Lite"}
SUFFIX_HELP = "twin reads " + ", ".join(f"{s} ({n})" for s, n in MODEL_SUFFIXES.items()) + " files"


def load_model(
    path: Path | str, output: str = "probabilities", positive_index: int = 1, threshold: float = 0.5
) -> Classifier:
    """The classifier in ``path``, read by the runtime its suffix names.

    Raises
    ------
    ScenarioError
        A suffix twin cannot read, a missing or unreadable file, or no output ``output``.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        from twin.ml.runner import OnnxModel

        return OnnxModel(path, output, positive_index, threshold)
    if suffix == ".tflite":
        try:
            from twin.ml.tflite import TfliteModel
        except ImportError:
            raise ScenarioError(
                f"reading {path.name} needs LiteRT, which is not installed; "
                "install it with: pip install 'twin[tflite]' (or ai-edge-litert)"
            ) from None
        return TfliteModel(path, output, positive_index, threshold)
    raise ScenarioError(f"cannot read model {path.name}: {SUFFIX_HELP}")
