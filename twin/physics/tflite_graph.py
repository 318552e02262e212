"""TensorFlow Lite graph analysis: per-operator work, constant bytes (flash), peak activations.

The TFLite counterpart of :mod:`twin.physics.graph`, with the same conventions so that a
model costs the same whichever format it ships in:

* ``CONV_2D`` (k x k: ``conv``; 1 x 1: ``pointwise``), ``DEPTHWISE_CONV_2D`` (``depthwise``)
  and ``FULLY_CONNECTED``/``BATCH_MATMUL`` (``fc``) are counted in multiply-accumulates;
* activations and arithmetic are ``elementwise`` operations, pools are ``pool`` operations;
* data movement and quantisation glue (``RESHAPE``, ``QUANTIZE``, ``PAD``, ...) is free.

A TFLite file is already what a device runs: int8 tensors are stored as int8, there are no
exporter-only float tensors to discount (unlike an ONNX QDQ graph), so flash is the bytes of
the constant buffers at their stored precision and RAM the peak of live activation tensors
along the operator order. Parsing uses the flatbuffers object API that ships with
``ai_edge_litert``; no interpreter is needed.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from twin.physics.graph import MAC_CLASSES, GraphCost, NodeCost, graph_precision

_OP_NAMES = {
    v: k
    for k, v in vars(schema.BuiltinOperator).items()
    if not k.startswith("_") and isinstance(v, int)
}
_ITEMSIZE = {
    schema.TensorType.FLOAT32: 4, schema.TensorType.FLOAT16: 2, schema.TensorType.INT32: 4,
    schema.TensorType.UINT8: 1, schema.TensorType.INT64: 8, schema.TensorType.BOOL: 1,
    schema.TensorType.INT16: 2, schema.TensorType.INT8: 1, schema.TensorType.FLOAT64: 8,
    schema.TensorType.UINT32: 4, schema.TensorType.UINT16: 2, schema.TensorType.UINT64: 8,
}  # fmt: skip

# Activation types that run integer kernels (int16: the 16x8 scheme).
_INTEGER_TYPES = {schema.TensorType.INT8, schema.TensorType.UINT8, schema.TensorType.INT16}

_FREE = {
    "RESHAPE", "QUANTIZE", "DEQUANTIZE", "PAD", "PADV2", "CONCATENATION", "SQUEEZE",
    "EXPAND_DIMS", "TRANSPOSE", "CAST", "GATHER", "SLICE", "STRIDED_SLICE", "SPLIT", "SPLIT_V",
    "SHAPE", "TILE", "PACK", "UNPACK", "BROADCAST_TO", "MIRROR_PAD",
}  # fmt: skip
_ELEMENTWISE = {
    "ADD", "SUB", "MUL", "DIV", "RELU", "RELU6", "RELU_N1_TO_1", "RELU_0_TO_1", "LEAKY_RELU",
    "PRELU", "LOGISTIC", "TANH", "HARD_SWISH", "SOFTMAX", "LOG_SOFTMAX", "MAXIMUM", "MINIMUM",
    "SQRT", "RSQRT", "NEG", "EXP", "LOG", "ABS", "POW", "SQUARED_DIFFERENCE", "GELU", "ELU",
    "SQUARE", "FLOOR", "CEIL", "ROUND", "SIGN", "EQUAL", "LESS", "GREATER", "LOGICAL_NOT",
    "SELECT", "SELECT_V2", "ADD_N",
}  # fmt: skip
# Two operations per output, as the ONNX analysis counts Softmax (exp, then normalise).
_TWO_PER_OUTPUT = {"SOFTMAX", "LOG_SOFTMAX"}
_REDUCE = {"ARG_MAX", "ARG_MIN", "SUM", "REDUCE_MAX", "REDUCE_MIN", "REDUCE_PROD"}
_POOL = {"AVERAGE_POOL_2D", "MAX_POOL_2D", "L2_POOL_2D"}
_FC = {"FULLY_CONNECTED", "BATCH_MATMUL"}
_CONV = {"CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV"}

# Activations TFLite fuses into the producing op; the ONNX graph has them as separate nodes
# (one operation per output), so they are counted the same way here.
_FUSED_NONE = schema.ActivationFunctionType.NONE


def load_tflite(path_or_bytes: str | Path | bytes) -> schema.ModelT:
    """Parse a ``.tflite`` flatbuffer into the schema's object API.

    Parameters
    ----------
    path_or_bytes : str, Path or bytes
        File path, or the file's bytes.

    Returns
    -------
    ModelT
        The model; raises ``ValueError`` if the bytes are not a TFLite flatbuffer.
    """
    buf = path_or_bytes if isinstance(path_or_bytes, bytes) else Path(path_or_bytes).read_bytes()
    # The file identifier sits at bytes 4..8; checking it first turns random bytes into a
    # clear error instead of an arbitrary flatbuffers exception (or a bogus model).
    if len(buf) < 8 or not schema.Model.ModelBufferHasIdentifier(buf, 0):
        raise ValueError("not a TFLite flatbuffer (file identifier 'TFL3' missing)")
    try:
        model = schema.ModelT.InitFromPackedBuf(bytearray(buf), 0)
    except Exception as exc:  # flatbuffers raises several types on truncated buffers
        raise ValueError(f"corrupt TFLite flatbuffer: {exc}") from None
    if not model.subgraphs:
        raise ValueError("TFLite model has no subgraph")
    return model


def op_name(model: schema.ModelT, op: schema.OperatorT) -> str:
    """Builtin operator name (``CONV_2D``) or custom op code of an operator."""
    code = model.operatorCodes[op.opcodeIndex]
    # Codes above 127 live in builtinCode; older files only fill the deprecated int8 field.
    builtin = max(int(code.builtinCode), int(code.deprecatedBuiltinCode))
    if builtin == schema.BuiltinOperator.CUSTOM:
        custom = code.customCode
        return custom.decode() if isinstance(custom, bytes) else str(custom)
    return _OP_NAMES.get(builtin, f"BUILTIN_{builtin}")


def _buffer_bytes(model: schema.ModelT, tensor: schema.TensorT) -> int:
    if tensor.buffer <= 0 or tensor.buffer >= len(model.buffers or ()):
        return 0
    buf = model.buffers[tensor.buffer]
    if buf.data is not None and len(buf.data):
        return len(buf.data)
    return int(buf.size)  # large models keep data outside the flatbuffer (offset, size)


def _shape(tensor: schema.TensorT) -> list[int]:
    # ``shape`` is the static shape (batch 1 when the signature has -1), as on a device.
    return [max(int(d), 1) for d in (tensor.shape if tensor.shape is not None else ())]


def _tensor_bytes(tensor: schema.TensorT) -> int:
    return int(np.prod(_shape(tensor))) * _ITEMSIZE.get(tensor.type, 4)


def _fused(op: schema.OperatorT) -> bool:
    act = getattr(op.builtinOptions, "fusedActivationFunction", _FUSED_NONE)
    return act not in (None, _FUSED_NONE)


def _node_cost(name: str, op_type: str, op: schema.OperatorT, tensors) -> NodeCost:  # noqa: C901
    def shape(i: int) -> list[int] | None:
        return _shape(tensors[i]) if 0 <= i < len(tensors) else None

    if op_type in _FREE:
        return NodeCost(name, op_type, "free")
    out = shape(op.outputs[0]) if op.outputs is not None and len(op.outputs) else None
    if out is None:
        return NodeCost(name, op_type, "unsupported")
    n_out = int(np.prod(out))
    act_ops = n_out if _fused(op) else 0
    if op_type in _CONV:
        w, x = shape(op.inputs[1]), shape(op.inputs[0])
        if w is None or x is None or len(w) != 4:
            return NodeCost(name, op_type, "unsupported")
        # Filters: CONV_2D [O, H, W, I], DEPTHWISE_CONV_2D [1, H, W, C*M], TRANSPOSE_CONV
        # [O, H, W, I]; kernel x input channels per group, as ONNX counts w[1] x kernel.
        kernel = w[1] * w[2]
        if op_type == "DEPTHWISE_CONV_2D":
            return NodeCost(name, op_type, "depthwise", macs=n_out * kernel, ops=act_ops)
        if op_type == "TRANSPOSE_CONV":
            x = shape(op.inputs[2]) or x  # inputs: output_shape, weights, input
            return NodeCost(name, op_type, "conv", macs=int(np.prod(x)) * w[0] * kernel)
        cls = "pointwise" if kernel == 1 and x[-1] == w[3] else "conv"
        return NodeCost(name, op_type, cls, macs=n_out * w[3] * kernel, ops=act_ops)
    if op_type in _FC:
        a = shape(op.inputs[0])
        if a is None:
            return NodeCost(name, op_type, "unsupported")
        if op_type == "FULLY_CONNECTED":
            w = shape(op.inputs[1])
            k = w[-1] if w else a[-1]  # weights [units, k]; the input may be flattened
        else:
            adj_x = getattr(op.builtinOptions, "adjX", False)
            k = a[-2] if adj_x else a[-1]
        return NodeCost(name, op_type, "fc", macs=n_out * k, ops=act_ops)
    if op_type in _ELEMENTWISE:
        per = 2 if op_type in _TWO_PER_OUTPUT else 1
        return NodeCost(name, op_type, "elementwise", ops=n_out * per + act_ops)
    if op_type in _REDUCE:
        x = shape(op.inputs[0])
        return NodeCost(name, op_type, "elementwise", ops=int(np.prod(x)) if x else n_out)
    if op_type == "MEAN":
        # Keras' GlobalAveragePooling2D becomes MEAN over H, W: priced as the global pool
        # ONNX exports for it (one operation per input element).
        x = shape(op.inputs[0])
        return NodeCost(name, op_type, "pool", ops=int(np.prod(x)) if x else n_out)
    if op_type in _POOL:
        opts = op.builtinOptions
        kernel = int(opts.filterHeight * opts.filterWidth) if opts is not None else 1
        return NodeCost(name, op_type, "pool", ops=n_out * kernel + act_ops)
    return NodeCost(name, op_type, "unsupported")


def analyse_tflite(path_or_bytes: str | Path | bytes) -> GraphCost:
    """Work per operator, flash (constant buffers) and RAM (peak live activations).

    Parameters
    ----------
    path_or_bytes : str, Path or bytes
        A ``.tflite`` file or its bytes. Only the first subgraph (the model's main
        function) is analysed, at the batch of its static shape (1 for a device model).

    Returns
    -------
    GraphCost
        Same fields and conventions as :func:`twin.physics.graph.analyse_graph`.
    """
    model = load_tflite(path_or_bytes)
    sub = model.subgraphs[0]
    tensors = sub.tensors or []
    ops = sub.operators or []
    nodes = []
    for op in ops:
        op_type = op_name(model, op)
        first_out = (
            tensors[op.outputs[0]].name if op.outputs is not None and len(op.outputs) else ""
        )
        first_out = first_out.decode() if isinstance(first_out, bytes) else str(first_out)
        nodes.append(_node_cost(f"{op_type}:{first_out}", op_type, op, tensors))
    nodes = [_with_precision(n, op, tensors) for n, op in zip(nodes, ops, strict=True)]
    macs_by_op: dict[str, int] = {}
    for n in nodes:
        if n.macs:
            macs_by_op[n.op_type] = macs_by_op.get(n.op_type, 0) + n.macs
    unsupported = tuple(sorted({n.op_type for n in nodes if n.op_class == "unsupported"}))
    # Each buffer once: two tensors may share one constant.
    const_buffers = {t.buffer: _buffer_bytes(model, t) for t in tensors if _buffer_bytes(model, t)}
    inputs = list(sub.inputs if sub.inputs is not None else [])
    return GraphCost(
        macs=sum(n.macs for n in nodes),
        ops=sum(n.ops for n in nodes),
        flash_bytes=int(sum(const_buffers.values())),
        ram_bytes=_peak_activation_bytes(model, sub),
        nodes=tuple(nodes),
        unsupported_ops=unsupported,
        input_shape=tuple(_shape(tensors[inputs[0]])) if inputs else (),
        macs_by_op=macs_by_op,
        precision=graph_precision(
            tuple(nodes),
            "int8" if inputs and tensors[inputs[0]].type in _INTEGER_TYPES else "fp32",
        ),
    )


def _with_precision(cost: NodeCost, op: schema.OperatorT, tensors) -> NodeCost:
    """A MAC operator's precision from the type of its input activation tensor.

    An int8 (or uint8, or int16 in 16x8 models) activation runs an integer kernel; a float
    activation a float kernel: fp16-weight models dequantize their weights to float, and
    hybrid ones (int8 weights, float activations), which TFLite Micro does not run, are
    priced as float.
    """
    if cost.op_class not in MAC_CLASSES or op.inputs is None or not len(op.inputs):
        return cost
    x = tensors[op.inputs[0]] if 0 <= op.inputs[0] < len(tensors) else None
    if x is None:
        return cost
    return replace(cost, precision="int8" if x.type in _INTEGER_TYPES else "fp32")


def _peak_activation_bytes(model: schema.ModelT, sub: schema.SubGraphT) -> int:
    """Peak bytes of live activation tensors along the operator order (tensor liveness).

    A tensor is born when its producer runs (the graph inputs at the start) and dies after
    its last reader (the graph outputs at the end); constants live in flash and count zero.
    """
    tensors = sub.tensors or []
    ops = sub.operators or []

    def size(i: int) -> int:
        if i < 0 or _buffer_bytes(model, tensors[i]):
            return 0
        return _tensor_bytes(tensors[i])

    last_use: dict[int, int] = {}
    for k, op in enumerate(ops):
        for i in op.inputs if op.inputs is not None else ():
            last_use[int(i)] = k
    for i in sub.outputs if sub.outputs is not None else ():
        last_use[int(i)] = len(ops)
    live = {int(i): size(int(i)) for i in (sub.inputs if sub.inputs is not None else ())}
    peak = sum(live.values())
    for k, op in enumerate(ops):
        for i in op.outputs if op.outputs is not None else ():
            live[int(i)] = size(int(i))
        peak = max(peak, sum(live.values()))
        for i in [i for i in live if last_use.get(i, -1) <= k]:
            del live[i]
    return int(peak)
