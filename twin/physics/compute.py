"""On-device compute cost: ONNX graph analysis and a per-board latency/energy model.

Graph analysis works on any ONNX model: per node the op type and multiply-accumulates (MACs),
weight bytes at the stored precision (what goes to flash) and the peak activation memory from
tensor lifetimes along the graph's topological order (the RAM arena an interpreter such as
TFLM needs). Latency follows the first-order model of the MLPerf Tiny analyses:
``latency_s = overhead_s + MACs / (macs_per_cycle * clock_hz)`` and energy is the board's
active power over that time (MLPerf Tiny shows average inference power is nearly
model-independent per board: E ~ P_board x latency).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference

# Ops that move or rescale data without multiply-accumulates (quantisation glue, shapes).
_NO_MAC_OPS = {
    "QuantizeLinear",
    "DequantizeLinear",
    "Cast",
    "Reshape",
    "Flatten",
    "Squeeze",
    "Unsqueeze",
    "Identity",
    "Transpose",
    "Concat",
    "Shape",
    "Gather",
    "Slice",
    "Relu",
    "Sigmoid",
    "Softmax",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Clip",
    "Tanh",
    "ArgMax",
    "Max",
    "Min",
    "Constant",
    "Sqrt",
    "ReduceMean",
    "GlobalAveragePool",
    "AveragePool",
    "MaxPool",
    "BatchNormalization",
    "Pad",
    "ArrayFeatureExtractor",
    "ZipMap",
    "Neg",
    "Exp",
    "Log",
}
_MAC_OPS = {
    "MatMul",
    "Gemm",
    "Conv",
    "MatMulInteger",
    "QLinearMatMul",
    "QLinearConv",
    "ConvInteger",
}


@dataclass(frozen=True)
class GraphCost:
    """Static cost of one inference of an ONNX model (batch of 1)."""

    macs: int
    flash_bytes: int
    ram_bytes: int
    macs_by_op: dict[str, int] = field(default_factory=dict)
    unsupported_ops: tuple[str, ...] = ()


def _dims(vi: onnx.ValueInfoProto) -> list[int] | None:
    if not vi.type.HasField("tensor_type") or not vi.type.tensor_type.HasField("shape"):
        return None
    out = []
    for d in vi.type.tensor_type.shape.dim:
        if d.HasField("dim_value"):
            out.append(d.dim_value)
        else:
            return None
    return out


def _elem_bytes(vi: onnx.ValueInfoProto) -> int:
    return np.dtype(helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type)).itemsize


def analyse_graph(model: onnx.ModelProto) -> GraphCost:
    """MACs, flash and RAM of one inference of ``model`` with batch size 1.

    Unknown ops are listed in ``unsupported_ops``, never silently counted as free.
    """
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    init_names = {i.name for i in graph.initializer}
    for inp in graph.input:
        if inp.name in init_names:
            continue
        dims = inp.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].dim_value = 1  # batch of one, as on the device
    model = shape_inference.infer_shapes(model)
    graph = model.graph
    infos = {vi.name: vi for vi in list(graph.value_info) + list(graph.input) + list(graph.output)}
    shapes = {n: _dims(vi) for n, vi in infos.items()}
    for init in graph.initializer:
        shapes[init.name] = list(init.dims)

    flash = sum(numpy_helper.to_array(i).nbytes for i in graph.initializer)
    macs_by_op: dict[str, int] = {}
    unsupported: set[str] = set()
    for node in graph.node:
        op = node.op_type
        if op in _NO_MAC_OPS:
            continue
        if node.domain not in ("", "ai.onnx"):
            unsupported.add(f"{node.domain}.{op}")
            continue
        if op not in _MAC_OPS:
            unsupported.add(op)
            continue
        out = shapes.get(node.output[0])
        a = shapes.get(node.input[0])
        if out is None or a is None:
            unsupported.add(f"{op}(unknown shape)")
            continue
        if op in ("MatMul", "MatMulInteger", "QLinearMatMul"):
            macs = int(np.prod(out)) * a[-1]
        elif op == "Gemm":
            trans_a = next((at.i for at in node.attribute if at.name == "transA"), 0)
            macs = int(np.prod(out)) * (a[0] if trans_a else a[-1])
        else:  # Conv family: weights are input 1 (input 3 for QLinearConv)
            w = shapes.get(node.input[3 if op == "QLinearConv" else 1])
            macs = int(np.prod(out)) * w[1] * int(np.prod(w[2:]))  # w[1] = C_in / group
        macs_by_op[op] = macs_by_op.get(op, 0) + macs

    ram = _peak_activation_bytes(graph, infos, init_names)
    return GraphCost(
        sum(macs_by_op.values()), int(flash), ram, macs_by_op, tuple(sorted(unsupported))
    )


def _peak_activation_bytes(graph: onnx.GraphProto, infos: dict, init_names: set[str]) -> int:
    """Peak bytes of live activations along the topological order (tensor liveness)."""

    def size(name: str) -> int:
        vi = infos.get(name)
        dims = _dims(vi) if vi is not None else None
        return int(np.prod(dims)) * _elem_bytes(vi) if dims is not None else 0

    last_use: dict[str, int] = {}
    for i, node in enumerate(graph.node):
        for name in node.input:
            last_use[name] = i
    for out in graph.output:
        last_use[out.name] = len(graph.node)
    live = {inp.name: size(inp.name) for inp in graph.input if inp.name not in init_names}
    peak = sum(live.values())
    for i, node in enumerate(graph.node):
        for name in node.output:
            live[name] = size(name)
        peak = max(peak, sum(live.values()))
        for name in [n for n in live if last_use.get(n, -1) <= i]:
            del live[name]
    return int(peak)


def inference_latency_s(
    macs: float, clock_hz: float, macs_per_cycle: float, overhead_s: float = 0.0
) -> float:
    """On-board latency of one inference [s].

    ``latency_s = overhead_s + macs / (macs_per_cycle * clock_hz)``
    """
    return overhead_s + macs / (macs_per_cycle * clock_hz)


def inference_energy_j(latency_s: float, active_current_a: float, supply_v: float) -> float:
    """Energy of one inference [J]: the board's active power over the inference time."""
    return latency_s * active_current_a * supply_v
