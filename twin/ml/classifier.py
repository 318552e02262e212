"""What the engine asks of a model, whatever file format it came in.

:class:`Classifier` holds the decision settings (output, positive column, threshold), the call
counters and the static graph cost; a subclass (:class:`twin.ml.runner.OnnxModel` for ONNX,
:class:`twin.ml.tflite.TfliteModel` for TensorFlow Lite) loads its file and computes scores.
:func:`twin.ml.load.load_model` picks the subclass from the file's suffix.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["Classifier"]


@dataclass
class Classifier:
    """A binary classifier with a batched ``predict`` and the cost of one inference.

    Parameters
    ----------
    path : Path
        Model file.
    output : str
        Name of the output holding class scores or probabilities, shape ``(N, classes)``.
    positive_index : int
        Column of the positive class.
    threshold : float
        Decision threshold on the positive score.

    Attributes set while loading: ``cost`` (:class:`~twin.physics.graph.GraphCost`),
    ``input_name`` and ``input_shape`` (batch first, ``None``); ``calls`` and ``rows`` count
    batched calls and rows scored.
    """

    path: Path
    output: str = "probabilities"
    positive_index: int = 1
    threshold: float = 0.5

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self._load()
        self.calls = 0
        self.rows = 0

    def _load(self) -> None:
        """Read the file: set ``cost``, ``input_name``, ``input_shape``; check ``output``."""
        raise NotImplementedError

    def _scores(self, x: np.ndarray) -> np.ndarray:
        """Class scores of a batch shaped ``(N, *input_shape[1:])``, float32 ``(N, classes)``."""
        raise NotImplementedError

    @property
    def input_features(self) -> int:
        """Number of input features per row (product of non-batch dims)."""
        return int(np.prod([d for d in self.input_shape[1:]]))

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positive-class score and decision for each row of ``x`` (one batched call).

        Parameters
        ----------
        x : numpy.ndarray
            Rows of features, ``(N, input_features)`` or ``(N, *input_shape[1:])``.

        Returns
        -------
        tuple of numpy.ndarray
            Positive scores (float32) and decisions (bool), shape ``(N,)`` each.
        """
        if len(x) == 0:
            return np.empty(0, np.float32), np.empty(0, bool)
        x = np.ascontiguousarray(x, dtype=np.float32).reshape([len(x), *self.input_shape[1:]])
        scores = self._scores(x)
        self.calls += 1
        self.rows += len(x)
        p = scores.reshape(len(x), -1)[:, self.positive_index].astype(np.float32, copy=False)
        return p, p >= self.threshold
