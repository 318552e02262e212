"""Batched ONNX inference with onnxruntime.

One onnxruntime call costs tens of microseconds whatever the model size, so twin never runs
one sample at a time: the engine collects every node whose result is due and calls
:meth:`OnnxModel.predict` once on the stacked batch.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from twin.errors import ScenarioError
from twin.ml.classifier import Classifier
from twin.physics.compute import GraphCost, analyse_graph

ZOO_DIR = Path(__file__).resolve().parent.parent / "zoo"


def _dynamic_batch(model: onnx.ModelProto) -> onnx.ModelProto:
    """Make the first dimension of every graph input and output symbolic (batch)."""
    for vi in list(model.graph.input) + list(model.graph.output):
        dims = vi.type.tensor_type.shape.dim
        if dims and dims[0].HasField("dim_value"):
            dims[0].dim_param = "batch"
    return model


# Ops of a quantized graph (QDQ pairs, or QOperator kernels).
_QUANT_OPS = {"QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "QGemm",
              "MatMulInteger", "ConvInteger"}  # fmt: skip


def _keep_qdq_unfused(proto: onnx.ModelProto, opts: ort.SessionOptions) -> None:
    """Run a quantized QDQ graph unfused, so its answers do not depend on the CPU.

    Unfused, each DequantizeLinear -> float op -> QuantizeLinear chain computes what the
    device's integer kernels compute, up to float rounding. Fused, onnxruntime runs u8 x s8
    integer kernels whose AVX2 and AVX-512 (non-VNNI) forms add pairs of products in
    saturating 16-bit lanes (VPMADDUBSW: 2 x 255 x 127 > 32,767): on such CPUs the int8
    anomaly autoencoder scored 0.57 accuracy instead of its recorded 0.87 on its held-out set
    (heart rhythm: recall 0.928 instead of 0.941), so results depended on the machine and
    were not what a microcontroller computes (its int32 accumulators do not saturate). VNNI
    CPUs do not saturate (OpenVINO, "Saturation (overflow) issue workaround"; onnxruntime's
    quantization guide on ``reduce_range``). Every other graph optimisation stays on; on the
    zoo's CNNs unfused QDQ costs 1.3-2.7x the fused kernels' time per row.
    """
    if any(node.op_type in _QUANT_OPS for node in proto.graph.node):
        opts.add_session_config_entry("session.disable_quant_qdq", "1")


class OnnxModel(Classifier):
    """An ONNX classifier: an onnxruntime session for batched inference plus its graph cost.

    Parameters as :class:`~twin.ml.classifier.Classifier`; ``path`` is an ONNX file.
    """

    def _load(self) -> None:
        try:
            proto = onnx.load(str(self.path))
            onnx.checker.check_model(proto)
        except FileNotFoundError:
            raise ScenarioError(f"model file not found: {self.path}") from None
        except Exception as exc:  # onnx raises several types for corrupt files
            raise ScenarioError(f"cannot read ONNX model {self.path}: {exc}") from None
        self.cost: GraphCost = analyse_graph(proto)
        proto = _dynamic_batch(proto)
        opts = ort.SessionOptions()
        # One thread: batches are small enough that thread hand-off costs more than it saves,
        # and results must not depend on the thread count.
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        _keep_qdq_unfused(proto, opts)
        self.session = ort.InferenceSession(
            proto.SerializeToString(), opts, providers=["CPUExecutionProvider"]
        )
        self.input_name = self.session.get_inputs()[0].name
        self.input_shape = self.session.get_inputs()[0].shape
        names = [o.name for o in self.session.get_outputs()]
        if self.output not in names:
            raise ScenarioError(
                f"model {self.path.name} has no output '{self.output}'; outputs: {names}"
            )

    def _scores(self, x: np.ndarray) -> np.ndarray:
        (scores,) = self.session.run([self.output], {self.input_name: x})
        return scores


def load_zoo_metadata(name: str) -> dict:
    """Metadata (window, channels, period, recorded accuracy) of a shipped model."""
    # A name, not a path: only the shipped models are candidates, so "../../x" cannot climb
    # out of the zoo folder.
    known = sorted(p.stem for p in ZOO_DIR.glob("*.json"))
    if name not in known:
        shown = name if len(name) <= 60 else name[:57] + "..."
        raise ScenarioError(f"unknown zoo model {shown!r}; available: {known}")
    return json.loads((ZOO_DIR / f"{name}.json").read_text())
