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

Every op onnxruntime's QOperator quantizer emits is priced: the ONNX-domain ``QLinearConv``,
``QLinearMatMul``, ``ConvInteger``, ``MatMulInteger`` and ``DynamicQuantizeLinear``, and the
``com.microsoft`` ops (``QGemm``, ``QLinearAdd``/``Mul``/``Sigmoid``/``LeakyRelu``/``Softmax``/
``Where``, ``QLinearConcat``, ``QLinearAveragePool``, ``QLinearGlobalAveragePool``). ONNX's
shape inference does not know the contrib ops, so :func:`load_model` shapes them like their
float counterparts; without that, every tensor downstream of one would be shapeless. The
transformer and recurrent contrib ops (``QAttention``, ``DynamicQuantizeLSTM``) stay
unsupported, as their float forms are.

Each MAC node gets a *precision*: ``int8`` when it runs on quantized tensors (a QOperator or
integer op, or a QDQ float op whose activation and weight both come from
``DequantizeLinear``), ``fp32`` otherwise; the graph's precision is that of its MAC nodes
(``mixed`` when they differ). The cost model prices fp32 MACs apart from int8 ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import onnx
from onnx import TensorProto, defs, helper, numpy_helper, shape_inference

MAC_CLASSES = ("conv", "depthwise", "pointwise", "fc")
OP_CLASSES = ("elementwise", "pool")

_FREE = {
    "QuantizeLinear", "DequantizeLinear", "QLinearConcat", "Cast", "Reshape", "Flatten",
    "Squeeze", "Unsqueeze", "Identity", "Transpose", "Concat", "Shape", "Gather", "Slice",
    "Constant", "ConstantOfShape", "Pad", "ArrayFeatureExtractor", "ZipMap", "Split", "Expand",
    "Dropout", "Tile",
}  # fmt: skip
_ELEMENTWISE = {
    "Relu", "LeakyRelu", "PRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Softmax",
    "LogSoftmax", "Add", "Sub", "Mul", "Div", "Clip", "Max", "Min", "Sqrt", "Neg", "Exp", "Log",
    "Abs", "Pow", "Erf", "BatchNormalization", "QLinearAdd", "QLinearMul", "QLinearSigmoid",
    "QLinearLeakyRelu", "QLinearWhere", "QLinearSoftmax", "Sum", "Mean", "Where", "Equal",
    "Less", "Greater", "Not", "Sign", "Floor", "Ceil", "Round", "Reciprocal",
}  # fmt: skip
_REDUCE = {"ArgMax", "ArgMin", "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceL2"}
_POOL = {"MaxPool", "AveragePool", "QLinearAveragePool"}
_GLOBAL_POOL = {"GlobalAveragePool", "GlobalMaxPool", "QLinearGlobalAveragePool"}
_CONV = {"Conv", "ConvInteger", "QLinearConv", "ConvTranspose"}
_FC = {"Gemm", "MatMul", "MatMulInteger", "QLinearMatMul", "QGemm"}
# MAC ops whose arithmetic is integer by definition (QOperator format, dynamic quantization).
_INTEGER_MAC = {"QLinearConv", "ConvInteger", "QLinearMatMul", "MatMulInteger", "QGemm"}
# Index of the weight input of each MAC op (QOperator ops put the input's scale and zero point
# first: QLinearConv(x, x_scale, x_zp, w, ...), QGemm(A, a_scale, a_zp, B, ...)).
_WEIGHT_INPUT = {"QLinearConv": 3, "QLinearMatMul": 3, "QGemm": 3}
_QUANTIZED_GLUE = {"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"}
# Two operations per output: exp then normalise (softmax), scale then shift (batch norm).
_TWO_PER_OUTPUT = {"BatchNormalization", "Softmax", "LogSoftmax", "QLinearSoftmax"}

# com.microsoft QOperator ops, shaped like their float counterpart for shape inference:
# (float op, the inputs it takes, the attributes it keeps, index of the output zero point,
# whose type is the output's). QLinearConcat's inputs are (Y_scale, Y_zp, X0, X0_scale,
# X0_zp, X1, ...); its data inputs are every third from index 2.
_CONTRIB_SHAPES = {
    "QGemm": ("Gemm", (0, 3, 6), ("transA", "transB"), 8),
    "QLinearAdd": ("Add", (0, 3), (), 7),
    "QLinearMul": ("Mul", (0, 3), (), 7),
    "QLinearSigmoid": ("Sigmoid", (0,), (), 4),
    "QLinearLeakyRelu": ("LeakyRelu", (0,), (), 4),
    "QLinearSoftmax": ("Identity", (0,), (), 4),
    "QLinearGlobalAveragePool": ("GlobalAveragePool", (0,), (), 4),
    "QLinearAveragePool": (
        "AveragePool", (0,),
        ("kernel_shape", "strides", "pads", "auto_pad", "ceil_mode", "count_include_pad"), 4,
    ),
    "QLinearConcat": ("Concat", None, ("axis",), 1),
    "QLinearWhere": ("Where", (0, 1, 4), (), 8),
}  # fmt: skip


@dataclass(frozen=True)
class NodeCost:
    """Work of one graph node for one inference."""

    name: str
    op_type: str
    op_class: str  # conv, depthwise, pointwise, fc, elementwise, pool, free, unsupported
    macs: int = 0
    ops: int = 0
    precision: str = ""  # of a MAC node: "int8" (quantized kernels) or "fp32"; else ""


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
    # "int8", "fp32" or "mixed": the precision of the MAC nodes. The default is the one the cost
    # model is calibrated at (every MLPerf Tiny row is int8), so a hand-made GraphCost without
    # per-node precision is priced as before.
    precision: str = "int8"

    def units_by_class(self, precision: str | None = None) -> dict[str, int]:
        """MACs per MAC class and operations per op class, summed over the graph.

        With ``precision`` ("int8", "fp32"), only the MACs of MAC nodes at that precision (op
        classes count zero): the cost model prices fp32 MACs apart from int8 ones.
        """
        out = dict.fromkeys(MAC_CLASSES + OP_CLASSES, 0)
        for n in self.nodes:
            if precision is not None:
                if n.op_class in MAC_CLASSES and (n.precision or self.precision) == precision:
                    out[n.op_class] += n.macs
            elif n.op_class in MAC_CLASSES:
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
    return _shape_contrib_ops(shape_inference.infer_shapes(model, strict_mode=False))


def _shape_contrib_ops(model: onnx.ModelProto) -> onnx.ModelProto:
    """Shapes of the com.microsoft QOperator outputs, then inference again downstream of them.

    Each pass shapes every contrib node whose inputs are shaped; ONNX's inference then carries
    the shapes through the standard ops after it, which may shape further contrib nodes.
    """
    graph = model.graph
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 17)
    for _ in range(len(graph.node)):
        types: dict[str, onnx.TypeProto] = {}
        for i in graph.initializer:
            types[i.name] = helper.make_tensor_type_proto(i.data_type, list(i.dims))
        for vi in [*graph.input, *graph.value_info, *graph.output]:
            if _dims(vi) is not None:
                types[vi.name] = vi.type
        added = []
        for node in graph.node:
            if node.op_type not in _CONTRIB_SHAPES or not node.output:
                continue
            if node.output[0] in types:
                continue
            vi = _contrib_output(node, types, opset)
            if vi is not None:
                types[vi.name] = vi.type
                added.append(vi)
        if not added:
            return model
        graph.value_info.extend(added)
        model = shape_inference.infer_shapes(model, strict_mode=False)
        graph = model.graph
    return model


def _contrib_output(node: onnx.NodeProto, types: dict, opset: int) -> onnx.ValueInfoProto | None:
    """The output of a contrib QOperator node, shaped by ONNX's rule for its float op."""
    float_op, inputs, keep, zp_index = _CONTRIB_SHAPES[node.op_type]
    if inputs is None:  # QLinearConcat: X0, X1, ... at every third input from 2
        inputs = tuple(range(2, len(node.input), 3))
    names = [node.input[i] for i in inputs if i < len(node.input) and node.input[i]]
    if any(n not in types for n in names):
        return None
    channels_last = bool(_attr(node, "channels_last", 0))
    feeds = {}
    for i, name in zip(inputs, names, strict=False):
        dims = [d.dim_value for d in types[name].tensor_type.shape.dim]
        if channels_last and i == 0:
            dims = [dims[0], dims[-1], *dims[1:-1]]  # NHWC -> NCHW for the float rule
        elem = TensorProto.BOOL if float_op == "Where" and i == 0 else TensorProto.FLOAT
        feeds[name] = helper.make_tensor_type_proto(elem, dims)
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute if a.name in keep}
    proxy = helper.make_node(float_op, names, [node.output[0]], **attrs)
    try:
        out = shape_inference.infer_node_outputs(defs.get_schema(float_op, opset), proxy, feeds)
    except Exception:  # noqa: BLE001 - an unshapeable node stays shapeless (and unsupported)
        return None
    if node.output[0] not in out:
        return None
    dims = [d.dim_value for d in out[node.output[0]].tensor_type.shape.dim]
    if channels_last:
        dims = [dims[0], *dims[2:], dims[1]]
    zp = node.input[zp_index] if zp_index < len(node.input) else ""
    elem = types[zp].tensor_type.elem_type if zp in types else TensorProto.FLOAT
    return helper.make_tensor_value_info(node.output[0], elem, dims)


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
        w = shape(node.input[_WEIGHT_INPUT.get(op, 1)])
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
        per = 2 if op in _TWO_PER_OUTPUT else 1
        return NodeCost(name, op, "elementwise", ops=n_out * per)
    if op == "DynamicQuantizeLinear":
        # Not glue a runtime can fuse away: the range is found at run time, so a pass for the
        # min/max and a pass to quantize, two operations per element.
        return NodeCost(name, op, "elementwise", ops=2 * n_out)
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
    infos: dict[str, onnx.ValueInfoProto] = {}
    for vi in [*graph.value_info, *graph.input, *graph.output]:
        # A graph output declared without a shape must not hide the shape inferred for it.
        if vi.name not in infos or _dims(vi) is not None:
            infos[vi.name] = vi
    init = {i.name: i for i in graph.initializer}

    def shape(name: str) -> list[int] | None:
        if name in init:
            return list(init[name].dims)
        return _dims(infos.get(name))

    producer = {out: n.op_type for n in graph.node for out in n.output}
    nodes = tuple(_with_precision(_node_cost(n, shape), n, producer) for n in graph.node)
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
        precision=graph_precision(
            nodes, "int8" if any(n.op_type in _QUANTIZED_GLUE for n in graph.node) else "fp32"
        ),
    )


def _with_precision(cost: NodeCost, node: onnx.NodeProto, producer: dict[str, str]) -> NodeCost:
    """A MAC node's precision: int8 if its kernel computes on quantized tensors."""
    if cost.op_class not in MAC_CLASSES:
        return cost
    if node.op_type in _INTEGER_MAC:
        return replace(cost, precision="int8")
    # QDQ: the float op between DequantizeLinear inputs and a QuantizeLinear output is what a
    # device runs as one integer kernel. A weight-only DQ (float activations) runs in float.
    w = node.input[_WEIGHT_INPUT.get(node.op_type, 1)] if len(node.input) > 1 else ""
    quantized = producer.get(node.input[0]) == producer.get(w) == "DequantizeLinear"
    return replace(cost, precision="int8" if quantized else "fp32")


def graph_precision(nodes: tuple[NodeCost, ...], without_macs: str) -> str:
    """The MAC nodes' precision: "int8" or "fp32" if all run at it, "mixed" if they differ.

    ``without_macs`` is the answer for a graph without MAC nodes (its precision then prices
    nothing, but is still reported).
    """
    found = {n.precision for n in nodes if n.op_class in MAC_CLASSES and n.precision}
    if len(found) == 1:
        return found.pop()
    return "mixed" if found else without_macs


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
