"""Batched TensorFlow Lite inference with LiteRT's reference kernels.

The counterpart of :class:`twin.ml.runner.OnnxModel` for ``.tflite`` files. The interpreter
runs ``BUILTIN_REF`` kernels: the portable reference implementations whose int8 arithmetic
(fixed-point requantisation, int32 accumulators) is what TensorFlow Lite Micro computes on a
microcontroller, and whose answers do not depend on the host CPU's SIMD extensions.
"""

from __future__ import annotations

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from twin.errors import ScenarioError
from twin.ml.classifier import Classifier
from twin.physics.graph import GraphCost
from twin.physics.tflite_graph import analyse_tflite


def quantize(x: np.ndarray, scale: float, zero_point: int, dtype: np.dtype) -> np.ndarray:
    """Float to integer as TFLite's reference ``QUANTIZE``: nearest, ties away from zero, clip."""
    info = np.iinfo(dtype)
    # np.round rounds ties to even; TFLite's TfLiteRound is std::round (ties away from zero).
    v = np.asarray(x, np.float32) / np.float32(scale)
    q = np.sign(v) * np.floor(np.abs(v) + 0.5) + zero_point
    return np.clip(q, info.min, info.max).astype(dtype)


def _dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return ((q.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)).astype(np.float32)


def _name(detail: dict) -> str:
    name = detail["name"]
    return name.decode() if isinstance(name, bytes) else str(name)


class TfliteModel(Classifier):
    """A TFLite classifier: an interpreter for batched inference plus its static graph cost.

    Parameters as :class:`~twin.ml.classifier.Classifier`; ``path`` is a ``.tflite`` file.
    With a single output, the default ``output="probabilities"`` selects it whatever its name.
    """

    def _load(self) -> None:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            raise ScenarioError(f"model file not found: {self.path}") from None
        try:
            self.cost: GraphCost = analyse_tflite(data)
            self._interpreters: dict[int, Interpreter] = {}
            interp = self._interpreter(1)
        except ScenarioError:
            raise
        except Exception as exc:  # flatbuffers and LiteRT raise several types
            raise ScenarioError(f"cannot read TFLite model {self.path}: {exc}") from None
        inp = interp.get_input_details()[0]
        self.input_name = _name(inp)
        self.input_shape = [None, *(int(d) for d in inp["shape"][1:])]
        outputs = interp.get_output_details()
        names = [_name(o) for o in outputs]
        if self.output in names:
            self._output_pos = names.index(self.output)
        elif len(outputs) == 1 and self.output == "probabilities":
            self._output_pos = 0  # a converter's name (StatefulPartitionedCall:0) for the one
        else:
            raise ScenarioError(
                f"model {self.path.name} has no output '{self.output}'; outputs: {names}"
            )
        self._resizable = True

    def _interpreter(self, batch: int) -> Interpreter:
        """An interpreter allocated for ``batch`` rows (one per batch size, cached)."""
        interp = self._interpreters.get(batch)
        if interp is None:
            interp = Interpreter(
                model_path=str(self.path),
                experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
                num_threads=1,  # results must not depend on the thread count
            )
            if batch != 1:
                shape = list(interp.get_input_details()[0]["shape"])
                interp.resize_tensor_input(0, [batch, *shape[1:]], strict=False)
            interp.allocate_tensors()
            self._interpreters[batch] = interp
        return interp

    def _run(self, interp: Interpreter, x: np.ndarray) -> np.ndarray:
        inp = interp.get_input_details()[0]
        if inp["dtype"] != np.float32:
            scale, zp = inp["quantization"]
            x = quantize(x, scale, zp, inp["dtype"])
        interp.set_tensor(inp["index"], x)
        interp.invoke()
        out = interp.get_output_details()[self._output_pos]
        y = interp.get_tensor(out["index"])
        if out["dtype"] != np.float32:
            scale, zp = out["quantization"]
            y = _dequantize(y, scale, zp)
        return y

    def _scores(self, x: np.ndarray) -> np.ndarray:
        if self._resizable:
            # Batches padded to a power of two: a handful of cached interpreters serve every
            # batch size the engine produces, instead of one allocation per distinct size.
            bucket = 1 << max(len(x) - 1, 0).bit_length()
            padded = np.zeros((bucket, *x.shape[1:]), np.float32)
            padded[: len(x)] = x
            try:
                return self._run(self._interpreter(bucket), padded)[: len(x)]
            except (RuntimeError, ValueError):
                # Some converted graphs bake the batch into a RESHAPE: fall back to rows.
                self._interpreters.pop(bucket, None)
                self._resizable = False
        interp = self._interpreter(1)
        return np.concatenate([self._run(interp, x[i : i + 1]) for i in range(len(x))])
