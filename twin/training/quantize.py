"""Static int8 quantisation of the zoo's float models: one recipe for every builder.

Every shipped int8 model is made the same way, so that their figures compare: onnxruntime's
pre-processing with ONNX shape inference only, then ``quantize_static`` to QDQ with int8
weights (symmetric) and int8 activations (asymmetric), MinMax calibration on fixed training
rows. The builders differ only in per-channel weight scales (convolutions) and in nodes kept
in float (an anomaly score computed after the last layer).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["CalibrationBatches", "quantize_int8"]


class CalibrationBatches:
    """Calibration inputs for the quantizer (an onnxruntime ``CalibrationDataReader``).

    Registered as a virtual subclass of ``CalibrationDataReader`` when quantising, so that this
    module does not import onnxruntime.quantization at import time.

    Parameters
    ----------
    batches : list of dict
        Feeds (input name -> array shaped like the model input), handed out in order.
    """

    def __init__(self, batches: list[dict[str, np.ndarray]]) -> None:
        self._batches = batches
        self._pos = 0

    @classmethod
    def of_rows(cls, X: np.ndarray, input_name: str, batch: int) -> CalibrationBatches:
        """Consecutive batches of ``batch`` rows of ``X`` (shaped like the model input)."""
        return cls([{input_name: X[i : i + batch]} for i in range(0, len(X), batch)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        """The next batch, or None after the last."""
        if self._pos >= len(self._batches):
            return None
        self._pos += 1
        return self._batches[self._pos - 1]

    def rewind(self) -> None:
        """Start again (calibrators such as percentile or entropy make several passes)."""
        self._pos = 0


def quantize_int8(
    fp32_path: Path,
    int8_path: Path,
    calibration: CalibrationBatches,
    per_channel: bool,
    exclude: Callable[[Any], list[str]] | None = None,
    extra_options: dict[str, Any] | None = None,
) -> list[str]:
    """Quantise a float ONNX model to static int8 QDQ with onnxruntime.

    Parameters
    ----------
    fp32_path : pathlib.Path
        The float model.
    int8_path : pathlib.Path
        Where to write the quantised model.
    calibration : CalibrationBatches
        Calibration inputs (a few thousand training rows).
    per_channel : bool
        One weight scale per output channel (the CMSIS-NN / TFLite Micro scheme for
        convolutions), else one per tensor.
    exclude : callable, optional
        Given the pre-processed ``onnx.ModelProto``, the names of nodes to keep in float.
    extra_options : dict, optional
        Passed to ``quantize_static`` as is.

    Returns
    -------
    list of str
        The nodes kept in float (empty if ``exclude`` is None).
    """
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    # quantize_static checks isinstance; a virtual subclass keeps the import lazy.
    CalibrationDataReader.register(CalibrationBatches)
    with tempfile.TemporaryDirectory(prefix="twin-quant-") as tmp:
        pre_path = Path(tmp) / "pre.onnx"
        # ONNX shape inference gives the quantizer the tensor shapes it needs. Symbolic shape
        # inference (needs sympy) is unnecessary: every dim but the batch is static. Graph
        # optimisation is skipped so the quantized graph mirrors the float one node for node
        # (easier to audit, and independent of the installed onnxruntime's optimiser).
        quant_pre_process(
            str(fp32_path), str(pre_path), skip_optimization=True, skip_symbolic_shape=True
        )
        excluded = None
        if exclude is not None:
            import onnx

            excluded = exclude(onnx.load(str(pre_path)))
        quantize_static(
            str(pre_path),
            str(int8_path),
            calibration,
            quant_format=QuantFormat.QDQ,
            # Symmetric int8 weights, asymmetric int8 activations: the scheme of CMSIS-NN /
            # TFLite-Micro kernels, so accuracy here approximates what a device would see.
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
            per_channel=per_channel,
            calibrate_method=CalibrationMethod.MinMax,  # deterministic, no histogram binning
            nodes_to_exclude=excluded,
            extra_options=extra_options,
        )
    return list(excluded or [])
