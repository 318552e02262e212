"""ONNX graph analysis: per-node work, weight bytes (flash) and peak activation bytes (RAM).

Works on any ONNX model: fp32, int8 QDQ (``QuantizeLinear``/``DequantizeLinear`` around float
ops) and QOperator (``QLinearConv``, ``QLinearMatMul``, ``ConvInteger``, ...), static or dynamic
batch (analysed at batch 1, as on a device). Every node gets an *op class* that the cost model
prices separately, because kernels differ widely in efficiency per MAC (MLTK's on-device
profile of DS-CNN: depthwise layers run ~4x fewer MACs per cycle than pointwise ones):

* ``conv`` (k x k, group 1), ``depthwise`` (group = input channels), ``pointwise`` (1 x 1),
  ``fc`` (Gemm, MatMul): counted in multiply-accumulates (MACs);
* ``elementwise`` (activations, arithmetic, normalisation) and ``pool``: counted in operations;
* data movement and quantisation glue (reshape, QDQ pairs a device runtime fuses): free.

An op the analysis does not know is listed in ``unsupported_ops`` by name, never counted as free.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference

MAC_CLASSES = ("conv", "depthwise", "pointwise", "fc")
OP_CLASSES = ("elementwise", "pool")

_FREE = {
    "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "Cast", "Reshape", "Flatten",
    "Squeeze", "Unsqueeze", "Identity", "Transpose", "Concat", "Shape", "Gather", "Slice",
    "Constant", "ConstantOfShape", "Pad", "ArrayFeatureExtractor", "ZipMap", "Split", "Expand",
    "Dropout", "Tile",
}  # fmt: skip
_ELEMENTWISE = {
    "Relu", "LeakyRelu", "PRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Softmax",
    "LogSoftmax", "Add", "Sub", "Mul", "Div", "Clip", "Max", "Min", "Sqrt", "Neg", "Exp", "Log",
    "Abs", "Pow", "Erf", "BatchNormalization", "QLinearAdd", "QLinearMul", "QLinearSigmoid",
    "QLinearLeakyRelu", "Sum", "Mean", "Where", "Equal", "Less", "Greater", "Not", "Sign",
    "Floor", "Ceil", "Round", "Reciprocal",
}  # fmt: skip
_REDUCE = {"ArgMax", "ArgMin", "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceL2"}
_POOL = {"MaxPool", "AveragePool", "QLinearAveragePool"}
_GLOBAL_POOL = {"GlobalAveragePool", "GlobalMaxPool", "QLinearGlobalAveragePool"}
_CONV = {"Conv", "ConvInteger", "QLinearConv", "ConvTranspose"}
_FC = {"Gemm", "MatMul", "MatMulInteger", "QLinearMatMul"}


@dataclass(frozen=True)
class NodeCost:
    """Work of one graph node for one inference."""

    name: str
    op_type: str
    op_class: str  # conv, depthwise, pointwise, fc, elementwise, pool, free, unsupported
    macs: int = 0
    ops: int = 0


@dataclass(frozen=True)
class GraphCost:
    """Static cost of one inference of an ONNX model (batch of 1)."""

    macs: int
    ops: int
    flash_bytes: int
    ram_bytes: int
    nodes: tuple[NodeCost, ...] = ()
    unsupported_ops: tuple[str, ...] = ()
    input_shape: tuple[int, ...] = ()
    macs_by_op: dict[str, int] = field(default_factory=dict)

    def units_by_class(self) -> dict[str, int]:
        """MACs per MAC class and operations per op class, summed over the graph."""
        out = dict.fromkeys(MAC_CLASSES + OP_CLASSES, 0)
        for n in self.nodes:
            if n.op_class in MAC_CLASSES:
                out[n.op_class] += n.macs
            elif n.op_class in OP_CLASSES:
                out[n.op_class] += n.ops
        return out


def _dims(vi: onnx.ValueInfoProto | None) -> list[int] | None:
    if vi is None or not vi.type.HasField("tensor_type"):
        return None
    tt = vi.type.tensor_type
    if not tt.HasField("shape"):
        return None
    out = []
    for d in tt.shape.dim:
        if not d.HasField("dim_value"):
            return None
        out.append(d.dim_value)
    return out


def _itemsize(vi: onnx.ValueInfoProto) -> int:
    return np.dtype(helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type)).itemsize


def _attr(node: onnx.NodeProto, name: str, default):
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def load_model(model: onnx.ModelProto | str) -> onnx.ModelProto:
    """A model with batch 1 and inferred shapes (the input of :func:`analyse_graph`)."""
    if not isinstance(model, onnx.ModelProto):
        model = onnx.load(str(model))
    model = onnx.ModelProto.FromString(model.SerializeToString())
    inits = {i.name for i in model.graph.initializer}
    for inp in model.graph.input:
        if inp.name in inits:
            continue
        dims = inp.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].dim_value = 1  # batch of one, as on the device
    return shape_inference.infer_shapes(model, strict_mode=False)


def _node_cost(node: onnx.NodeProto, shape) -> NodeCost:  # noqa: C901 - one branch per op family
    op = node.op_type
    name = node.name or f"{op}:{node.output[0]}"
    out = shape(node.output[0]) if node.output else None
    if op in _FREE:
        return NodeCost(name, op, "free")
    if node.domain not in ("", "ai.onnx", "ai.onnx.ml", "com.microsoft") or out is None:
        return NodeCost(name, op, "unsupported")
    n_out = int(np.prod(out))
    if op in _CONV:
        w_index = 3 if op == "QLinearConv" else 1
        w = shape(node.input[w_index])
        x = shape(node.input[0])
        if w is None or x is None:
            return NodeCost(name, op, "unsupported")
        group = int(_attr(node, "group", 1))
        kernel = int(np.prod(w[2:]))
        if op == "ConvTranspose":
            macs = int(np.prod(x)) * w[1] * kernel
        else:
            macs = n_out * w[1] * kernel  # w[1] = input channels per group
        if group > 1 and group == x[1]:
            cls = "depthwise"
        elif kernel == 1 and group == 1:
            cls = "pointwise"
        else:
            cls = "conv"
        return NodeCost(name, op, cls, macs=macs)
    if op in _FC:
        a = shape(node.input[0])
        if a is None:
            return NodeCost(name, op, "unsupported")
        k = a[0] if (op == "Gemm" and _attr(node, "transA", 0)) else a[-1]
        return NodeCost(name, op, "fc", macs=n_out * k)
    if op in _ELEMENTWISE:
        per = 2 if op in ("BatchNormalization", "Softmax", "LogSoftmax") else 1
        return NodeCost(name, op, "elementwise", ops=n_out * per)
    if op in _REDUCE:
        x = shape(node.input[0])
        return NodeCost(name, op, "elementwise", ops=int(np.prod(x)) if x else n_out)
    if op in _POOL:
        kernel = int(np.prod(_attr(node, "kernel_shape", [1])))
        return NodeCost(name, op, "pool", ops=n_out * kernel)
    if op in _GLOBAL_POOL:
        x = shape(node.input[0])
        return NodeCost(name, op, "pool", ops=int(np.prod(x)) if x else n_out)
    return NodeCost(name, op, "unsupported")


def analyse_graph(model: onnx.ModelProto | str) -> GraphCost:
    """Work per node, flash (weights) and RAM (peak live activations) of one inference."""
    model = load_model(model)
    graph = model.graph
    infos = {vi.name: vi for vi in [*graph.value_info, *graph.input, *graph.output]}
    init = {i.name: i for i in graph.initializer}

    def shape(name: str) -> list[int] | None:
        if name in init:
            return list(init[name].dims)
        return _dims(infos.get(name))

    nodes = tuple(_node_cost(n, shape) for n in graph.node)
    macs_by_op: dict[str, int] = {}
    for n in nodes:
        if n.macs:
            macs_by_op[n.op_type] = macs_by_op.get(n.op_type, 0) + n.macs
    unsupported = tuple(sorted({n.op_type for n in nodes if n.op_class == "unsupported"}))
    first = next((i for i in graph.input if i.name not in init), None)
    return GraphCost(
        macs=sum(n.macs for n in nodes),
        ops=sum(n.ops for n in nodes),
        flash_bytes=sum(numpy_helper.to_array(i).nbytes for i in graph.initializer),
        ram_bytes=_peak_activation_bytes(graph, infos, set(init)),
        nodes=nodes,
        unsupported_ops=unsupported,
        input_shape=tuple(_dims(first) or ()) if first is not None else (),
        macs_by_op=macs_by_op,
    )


def _peak_activation_bytes(graph: onnx.GraphProto, infos: dict, init: set[str]) -> int:
    """Peak bytes of live activations along the topological order (tensor liveness).

    In a QDQ graph the float tensors between an op and its ``QuantizeLinear``, and the outputs
    of ``DequantizeLinear``, exist only in the exporter's graph: a device runtime fuses them
    into integer kernels. They count zero; the int8 ``QuantizeLinear`` outputs count instead,
    and stay live as long as any reader of their dequantized alias.
    """
    consumers: dict[str, list[str]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node.op_type)
    virtual = set()
    alias: dict[str, str] = {}
    for node in graph.node:
        if node.op_type == "DequantizeLinear":
            virtual.update(node.output)
            alias[node.output[0]] = node.input[0]
    for name, ops in consumers.items():
        if ops and all(op == "QuantizeLinear" for op in ops):
            virtual.add(name)
    # A float output consumed only by QuantizeLinear is written as int8 by its producer: the
    # int8 tensor is born when the producer runs, while the producer's inputs are still live.
    requant: dict[str, list[str]] = {}
    for node in graph.node:
        if node.op_type == "QuantizeLinear" and node.input[0] in virtual:
            requant.setdefault(node.input[0], []).append(node.output[0])

    def root(name: str) -> str:
        while name in alias:
            name = alias[name]
        return name

    def size(name: str) -> int:
        if name in virtual or name in init or not name:
            return 0
        vi = infos.get(name)
        dims = _dims(vi)
        return int(np.prod(dims)) * _itemsize(vi) if dims is not None else 0

    last_use: dict[str, int] = {}
    for i, node in enumerate(graph.node):
        for name in node.input:
            last_use[name] = i
            last_use[root(name)] = i
    for out in graph.output:
        last_use[out.name] = len(graph.node)
        last_use[root(out.name)] = len(graph.node)
    live = {i.name: size(i.name) for i in graph.input if i.name not in init}
    peak = sum(live.values())
    for i, node in enumerate(graph.node):
        for name in node.output:
            live[name] = size(name)
            for q in requant.get(name, ()):
                live[q] = size(q)
        peak = max(peak, sum(live.values()))
        for name in [n for n in live if last_use.get(n, -1) <= i]:
            del live[name]
    return int(peak)
