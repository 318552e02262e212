"""Export the zoo's MLP classifiers from ONNX to TensorFlow Lite (build-time only).

No TensorFlow converter is available offline, so the flatbuffer is written directly with the
object API that ships with ``ai_edge_litert``. The exporter knows the ops of the zoo's
scikit-learn MLPs (``Sub``/``Div`` scaling, ``MatMul``/``Gemm`` + ``Add``, ``Relu``,
``Sigmoid``, ``Softmax``, ``Concat``) and refuses anything else by name.

* An fp32 graph becomes an fp32 TFLite graph; ``MatMul`` + constant ``Add`` become one
  ``FULLY_CONNECTED`` with a bias.
* An int8 QDQ graph becomes an int8 TFLite graph with the *same* scales and zero points
  (uint8 zero point ``z`` becomes int8 ``z - 128``): each ``DequantizeLinear -> op ->
  QuantizeLinear`` chain becomes one integer kernel writing the quantized tensor. The float
  scaling in front of the first ``QuantizeLinear`` stays float (it is the device's feature
  scaling) and ends in ``QUANTIZE``. When the ONNX graph requantizes the ``MatMul`` result
  before adding an int8 bias (what ``quantize_static`` does for sklearn MLPs), the TFLite
  graph does the same (``FULLY_CONNECTED`` without bias, then an int8 ``ADD``), so both
  round at the same places; an int32 bias with scale ``s_in * s_w`` is folded into the
  ``FULLY_CONNECTED`` instead.

Only the nodes the requested outputs depend on are exported (the ``label`` branch of an
sklearn graph, ``ArgMax`` -> ``ArrayFeatureExtractor``, is dropped).
"""

from __future__ import annotations

from pathlib import Path

import flatbuffers
import numpy as np
import onnx
from ai_edge_litert import schema_py_generated as schema
from onnx import helper, numpy_helper

from twin.physics.graph import load_model

_BO = schema.BuiltinOperator
_OPTS = schema.BuiltinOptions
_TT = schema.TensorType
_NP_TO_TT = {
    np.dtype(np.float32): _TT.FLOAT32, np.dtype(np.int8): _TT.INT8,
    np.dtype(np.int32): _TT.INT32, np.dtype(np.int64): _TT.INT64,
}  # fmt: skip
# TFLite's int8 LOGISTIC and SOFTMAX kernels require this output quantisation.
_UNIT_SCALE, _UNIT_ZP = 1.0 / 256.0, -128


class ExportError(ValueError):
    """The ONNX graph uses an op or a layout the exporter does not handle."""


class _Builder:
    """Accumulates tensors, buffers and operators of one TFLite subgraph."""

    def __init__(self) -> None:
        self.tensors: list[schema.TensorT] = []
        self.buffers: list[schema.BufferT] = [schema.BufferT()]  # buffer 0: the empty one
        self.ops: list[schema.OperatorT] = []
        self.codes: dict[int, int] = {}

    def tensor(self, name, shape, dtype, data=None, quant=None) -> int:
        t = schema.TensorT()
        t.name, t.shape, t.type = name, np.asarray(shape, np.int32), _NP_TO_TT[np.dtype(dtype)]
        if data is not None:
            raw = np.ascontiguousarray(data, dtype=dtype)
            self.buffers.append(schema.BufferT(data=np.frombuffer(raw.tobytes(), np.uint8)))
            t.buffer = len(self.buffers) - 1
        if quant is not None:
            scale, zp, axis = quant
            q = schema.QuantizationParametersT()
            q.scale = [float(s) for s in np.atleast_1d(scale)]
            q.zeroPoint = [int(z) for z in np.atleast_1d(zp)]
            q.quantizedDimension = int(axis)
            t.quantization = q
        self.tensors.append(t)
        return len(self.tensors) - 1

    def op(self, code: int, inputs, outputs, opts_type: int = 0, opts=None) -> None:
        index = self.codes.setdefault(code, len(self.codes))
        op = schema.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = index, list(inputs), list(outputs)
        op.builtinOptionsType, op.builtinOptions = opts_type, opts
        self.ops.append(op)

    def _prune(self, inputs: list[int], outputs: list[int]) -> tuple[list[int], list[int]]:
        """Drop tensors (and their buffers) no operator reads or writes.

        ONNX lists weights before their readers decide the layout (an FC transposes them),
        so some constants are created and never used.
        """
        used = {*inputs, *outputs}
        for op in self.ops:
            used.update(i for i in [*op.inputs, *op.outputs] if i >= 0)
        keep = sorted(used)
        remap = {old: new for new, old in enumerate(keep)}
        self.tensors = [self.tensors[i] for i in keep]
        buffers = [self.buffers[0]]
        for t in self.tensors:
            if t.buffer > 0:
                buffers.append(self.buffers[t.buffer])
                t.buffer = len(buffers) - 1
        self.buffers = buffers
        for op in self.ops:
            op.inputs = [remap[i] if i >= 0 else -1 for i in op.inputs]
            op.outputs = [remap[i] for i in op.outputs]
        return [remap[i] for i in inputs], [remap[i] for i in outputs]

    def finish(self, inputs: list[int], outputs: list[int]) -> bytes:
        inputs, outputs = self._prune(inputs, outputs)
        sub = schema.SubGraphT()
        sub.tensors, sub.operators, sub.inputs, sub.outputs = (
            self.tensors,
            self.ops,
            inputs,
            outputs,
        )
        sub.name = "main"
        model = schema.ModelT()
        model.version, model.subgraphs, model.buffers = 3, [sub], self.buffers
        model.description = "twin.training.export_tflite"
        model.operatorCodes = []
        for code in sorted(self.codes, key=self.codes.get):
            oc = schema.OperatorCodeT()
            oc.builtinCode, oc.deprecatedBuiltinCode, oc.version = code, min(code, 127), 1
            model.operatorCodes.append(oc)
        fb = flatbuffers.Builder(1024)
        fb.Finish(model.Pack(fb), file_identifier=b"TFL3")
        return bytes(fb.Output())


def _to_int8(q: np.ndarray, zp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """uint8 data and zero point as int8 (same real values: both shift by -128)."""
    if q.dtype == np.uint8:
        return (q.astype(np.int16) - 128).astype(np.int8), zp.astype(np.int16) - 128
    return q, zp


class _Converter:
    """Walks the ONNX graph in order and emits the equivalent TFLite operators."""

    def __init__(self, model: onnx.ModelProto, outputs: tuple[str, ...]) -> None:
        self.g = model.graph
        self.b = _Builder()
        self.init = {i.name: numpy_helper.to_array(i) for i in self.g.initializer}
        infos = [*self.g.value_info, *self.g.input, *self.g.output]
        self.shapes = {
            vi.name: [d.dim_value or 1 for d in vi.type.tensor_type.shape.dim] for vi in infos
        }
        self.producer = {o: n for n in self.g.node for o in n.output}
        self.consumers: dict[str, list[onnx.NodeProto]] = {}
        for n in self.g.node:
            for i in n.input:
                self.consumers.setdefault(i, []).append(n)
        self.needed = self._needed(outputs)
        self.env: dict[str, int] = {}  # ONNX tensor -> TFLite tensor (int8 after a DQ alias)
        self.done: set[str] = set()  # nodes already folded into an earlier operator
        # A float tensor read only by one QuantizeLinear is written quantized by its producer.
        self.out_quant = {}
        for n in self.g.node:
            if n.op_type == "QuantizeLinear" and len(self.consumers[n.input[0]]) == 1:
                self.out_quant[n.input[0]] = n

    def _needed(self, outputs: tuple[str, ...]) -> set[str]:
        seen, stack = set(), list(outputs)
        while stack:
            name = stack.pop()
            node = self.producer.get(name)
            if node is not None and node.name + node.output[0] not in seen:
                seen.add(node.name + node.output[0])
                stack.extend(i for i in node.input if i)
        return seen

    # -- tensors ---------------------------------------------------------------------------

    def qparams(self, qnode: onnx.NodeProto) -> tuple[np.ndarray, np.ndarray, int]:
        scale = self.init[qnode.input[1]].astype(np.float32)
        zp = self.init[qnode.input[2]] if len(qnode.input) > 2 else np.zeros_like(scale, np.int8)
        _, zp = _to_int8(np.zeros(0, zp.dtype), zp)
        axis = next((a.i for a in qnode.attribute if a.name == "axis"), 1)
        return scale, zp, int(axis)

    def is_quant(self, name: str) -> bool:
        return name in self.env and self.b.tensors[self.env[name]].type == _TT.INT8

    def const(self, name: str, quant: bool) -> int:
        """A float initializer as a TFLite constant, quantized exactly for an int8 op."""
        if name in self.env:
            return self.env[name]
        value = self.init[name].astype(np.float32)
        if quant:
            # A float constant feeding an int8 op (sklearn's ``1 - p``): a symmetric scale
            # with the largest magnitude on 127 represents it exactly.
            scale = max(float(np.abs(value).max()), 1e-12) / 127.0
            q = np.clip(np.round(value / scale), -127, 127).astype(np.int8)
            idx = self.b.tensor(name, value.shape, np.int8, q, (scale, 0, 0))
        else:
            idx = self.b.tensor(name, value.shape, np.float32, value)
        self.env[name] = idx
        return idx

    def output(self, name: str, quant_ok: bool) -> int:
        """TFLite tensor for an op's output: int8 if the ONNX graph quantizes it next."""
        shape = self.shapes.get(name)
        qnode = self.out_quant.get(name)
        if quant_ok and qnode is not None:
            scale, zp, _ = self.qparams(qnode)
            idx = self.b.tensor(qnode.output[0], shape, np.int8, quant=(scale, zp, 0))
            self.env[qnode.output[0]] = idx
            self.done.add(qnode.output[0])
        else:
            idx = self.b.tensor(name, shape, np.float32)
        self.env[name] = idx
        return idx

    def requant(self, idx: int, scale: float, zp: int, name: str) -> int:
        """``idx`` requantized to (scale, zp) unless it already has them."""
        q = self.b.tensors[idx].quantization
        if np.isclose(q.scale[0], scale, rtol=0, atol=0) and q.zeroPoint[0] == zp:
            return idx
        out = self.b.tensor(name, self.b.tensors[idx].shape, np.int8, quant=(scale, zp, 0))
        self.b.op(_BO.QUANTIZE, [idx], [out])
        return out

    # -- ops -------------------------------------------------------------------------------

    def run(self, input_name: str, output_names: tuple[str, ...]) -> bytes:
        vi = next(i for i in self.g.input if i.name == input_name)
        shape = [d.dim_value or 1 for d in vi.type.tensor_type.shape.dim]
        inp = self.b.tensor(input_name, shape, np.float32)
        self.b.tensors[inp].shapeSignature = np.asarray([-1, *shape[1:]], np.int32)
        self.env[input_name] = inp
        for node in self.g.node:
            if node.name + node.output[0] in self.needed and node.output[0] not in self.done:
                self._node(node)
        outs = []
        for name in output_names:
            idx = self.env[name]
            self.b.tensors[idx].name = name  # the runner selects outputs by this name
            if self.b.tensors[idx].shape is not None:
                self.b.tensors[idx].shapeSignature = np.asarray(
                    [-1, *self.b.tensors[idx].shape[1:]], np.int32
                )
            outs.append(idx)
        return self.b.finish([inp], outs)

    def _node(self, node: onnx.NodeProto) -> None:  # noqa: C901 - one branch per op
        op = node.op_type
        if op == "DequantizeLinear":
            self._dequantize(node)
        elif op == "QuantizeLinear":
            self._quantize(node)
        elif op in ("Cast", "Identity", "Dropout"):
            self.env[node.output[0]] = self.env[node.input[0]]
        elif op in ("MatMul", "Gemm"):
            self._matmul(node)
        elif op in ("Add", "Sub", "Mul", "Div"):
            self._binary(node)
        elif op in ("Relu", "Sigmoid", "Softmax", "Tanh"):
            self._unary(node)
        elif op == "Concat":
            self._concat(node)
        else:
            raise ExportError(
                f"ONNX op {op!r} (node {node.name or node.output[0]!r}) is not supported"
            )

    def _dequantize(self, node: onnx.NodeProto) -> None:
        src = node.input[0]
        if src in self.init:
            scale, zp, axis = self.qparams(node)
            q, _ = _to_int8(self.init[src], zp)
            dtype = np.int32 if q.dtype == np.int32 else np.int8
            idx = self.b.tensor(src, q.shape, dtype, q, (scale, zp, axis if scale.size > 1 else 0))
            self.env[src] = idx
        self.env[node.output[0]] = self.env[src]  # readers use the integer tensor itself

    def _quantize(self, node: onnx.NodeProto) -> None:
        src, dst = node.input[0], node.output[0]
        scale, zp, _ = self.qparams(node)
        if self.is_quant(src):
            self.env[dst] = self.requant(self.env[src], float(scale), int(zp), dst)
            return
        out = self.b.tensor(dst, self.shapes.get(src), np.int8, quant=(scale, zp, 0))
        self.b.op(_BO.QUANTIZE, [self.env[src]], [out])
        self.env[dst] = out

    def _weights(self, node: onnx.NodeProto) -> tuple[int, np.ndarray | None, int]:
        """FULLY_CONNECTED weights [units, k]: index, float weights (fp32) and units."""
        w_name = node.input[1]
        trans_b = node.op_type == "Gemm" and any(a.name == "transB" and a.i for a in node.attribute)
        if w_name in self.init:  # fp32
            w = self.init[w_name].astype(np.float32)
            w = w if trans_b else w.T
            return self.b.tensor(w_name, w.shape, np.float32, w), w, w.shape[0]
        dq = self.producer.get(w_name)
        if dq is None or dq.op_type != "DequantizeLinear" or dq.input[0] not in self.init:
            raise ExportError(f"{node.op_type} {node.name!r}: weights must be a constant")
        scale, zp, axis = self.qparams(dq)
        q, zp = _to_int8(self.init[dq.input[0]], zp)
        if np.any(zp != 0):
            raise ExportError(f"{node.op_type} {node.name!r}: TFLite needs symmetric weights")
        if not trans_b:
            q, axis = q.T, 1 - axis
        quant = (scale, zp, axis if scale.size > 1 else 0)
        idx = self.b.tensor(dq.input[0], q.shape, np.int8, np.ascontiguousarray(q), quant)
        return idx, None, q.shape[0]

    def _bias_add(self, node: onnx.NodeProto, quant: bool) -> onnx.NodeProto | None:
        """The ``Add`` of a constant right after a MatMul, if it can fold into the FC bias."""
        if quant and node.output[0] in self.out_quant:
            return None  # the ONNX graph rounds the MatMul result before adding the bias
        readers = self.consumers.get(node.output[0], [])
        if len(readers) != 1 or readers[0].op_type != "Add":
            return None
        add = readers[0]
        other = add.input[1] if add.input[0] == node.output[0] else add.input[0]
        if other in self.init:
            return None if quant else add
        dq = self.producer.get(other)
        if dq is not None and dq.op_type == "DequantizeLinear" and dq.input[0] in self.init:
            return add if self.init[dq.input[0]].dtype == np.int32 else None
        return None

    def _matmul(self, node: onnx.NodeProto) -> None:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if (
            attrs.get("transA", 0)
            or attrs.get("alpha", 1.0) != 1.0
            or attrs.get("beta", 1.0) != 1.0
        ):
            raise ExportError(f"Gemm {node.name!r}: only transB, alpha = beta = 1 are exported")
        x = self.env[node.input[0]]
        quant = self.is_quant(node.input[0])
        w_idx, _, units = self._weights(node)
        bias_src = node.input[2] if node.op_type == "Gemm" and len(node.input) > 2 else None
        add = None if bias_src else self._bias_add(node, quant)
        if add is not None:
            bias_src = add.input[1] if add.input[0] == node.output[0] else add.input[0]
        bias = -1
        if bias_src is not None:
            bias = self._bias(bias_src, units, quant)
        out_name = add.output[0] if add is not None else node.output[0]
        out = self.output(out_name, quant)
        if add is not None:
            self.env[node.output[0]] = out
            self.done.add(add.output[0])
        opts = schema.FullyConnectedOptionsT()
        self.b.op(_BO.FULLY_CONNECTED, [x, w_idx, bias], [out], _OPTS.FullyConnectedOptions, opts)

    def _bias(self, name: str, units: int, quant: bool) -> int:
        if not quant:
            b = self.init[name].astype(np.float32).reshape(units)
            return self.b.tensor(name, [units], np.float32, b)
        dq = self.producer[name]
        scale, zp, _ = self.qparams(dq)
        q = self.init[dq.input[0]].reshape(units).astype(np.int32)
        return self.b.tensor(dq.input[0], [units], np.int32, q, (scale, zp * 0, 0))

    def _binary(self, node: onnx.NodeProto) -> None:
        quant = any(self.is_quant(i) for i in node.input if i not in self.init)
        if quant and node.op_type == "Div":
            raise ExportError(f"Div {node.name!r}: int8 DIV is not exported")
        inputs = []
        for name in node.input:
            if name in self.init:
                inputs.append(self.const(name, quant))
            elif self.is_quant(name) != quant:
                raise ExportError(f"{node.op_type} {node.name!r}: mixes float and int8 inputs")
            else:
                inputs.append(self.env[name])
        out = self.output(node.output[0], quant)
        code, opts_type, opts = {
            "Add": (_BO.ADD, _OPTS.AddOptions, schema.AddOptionsT()),
            "Sub": (_BO.SUB, _OPTS.SubOptions, schema.SubOptionsT()),
            "Mul": (_BO.MUL, _OPTS.MulOptions, schema.MulOptionsT()),
            "Div": (_BO.DIV, _OPTS.DivOptions, schema.DivOptionsT()),
        }[node.op_type]
        self.b.op(code, inputs, [out], opts_type, opts)

    def _unary(self, node: onnx.NodeProto) -> None:
        x = self.env[node.input[0]]
        quant = self.is_quant(node.input[0])
        op = node.op_type
        code = {
            "Relu": _BO.RELU,
            "Sigmoid": _BO.LOGISTIC,
            "Softmax": _BO.SOFTMAX,
            "Tanh": _BO.TANH,
        }[op]
        opts_type, opts = (
            (_OPTS.SoftmaxOptions, schema.SoftmaxOptionsT(beta=1.0))
            if op == "Softmax"
            else (0, None)
        )
        if quant and op in ("Sigmoid", "Softmax"):
            # The int8 kernel writes 1/256 steps; requantize to the ONNX graph's scale so the
            # following ops see the same integers as onnxruntime.
            unit = self.b.tensor(f"{node.output[0]}_unit", self.shapes.get(node.output[0]), np.int8,
                                 quant=(_UNIT_SCALE, _UNIT_ZP, 0))  # fmt: skip
            self.b.op(code, [x], [unit], opts_type, opts)
            qnode = self.out_quant.get(node.output[0])
            if qnode is None:
                raise ExportError(f"{op} {node.name!r}: int8 output without QuantizeLinear")
            scale, zp, _ = self.qparams(qnode)
            self.env[node.output[0]] = self.env[qnode.output[0]] = self.requant(
                unit, float(scale), int(zp), qnode.output[0]
            )
            self.done.add(qnode.output[0])
            return
        out = self.output(node.output[0], quant)
        self.b.op(code, [x], [out], opts_type, opts)

    def _concat(self, node: onnx.NodeProto) -> None:
        axis = int(helper.get_attribute_value(node.attribute[0]))
        quant = all(self.is_quant(i) for i in node.input)
        out = self.output(node.output[0], quant)
        inputs = [self.env[i] for i in node.input]
        if quant:
            # TFLite's int8 CONCATENATION needs every input at the output's quantisation.
            q = self.b.tensors[out].quantization
            inputs = [
                self.requant(i, q.scale[0], q.zeroPoint[0], f"{node.input[k]}_requant")
                for k, i in enumerate(inputs)
            ]
        opts = schema.ConcatenationOptionsT(axis=axis)
        self.b.op(_BO.CONCATENATION, inputs, [out], _OPTS.ConcatenationOptions, opts)


def onnx_to_tflite(
    onnx_path: str | Path, tflite_path: str | Path, outputs: tuple[str, ...] = ("probabilities",)
) -> Path:
    """Write a ``.tflite`` equivalent of an ONNX MLP classifier.

    Parameters
    ----------
    onnx_path : str or Path
        fp32 or int8 QDQ ONNX model (one float input).
    tflite_path : str or Path
        Where to write the TFLite flatbuffer.
    outputs : tuple of str
        ONNX outputs to export (the ``label`` branch of sklearn graphs is not needed).

    Returns
    -------
    Path
        ``tflite_path``. Raises :class:`ExportError` on an op the exporter does not know.
    """
    model = load_model(str(onnx_path))  # batch 1 and inferred shapes
    inits = {i.name for i in model.graph.initializer}
    inputs = [i.name for i in model.graph.input if i.name not in inits]
    if len(inputs) != 1:
        raise ExportError(f"expected one graph input, got {inputs}")
    data = _Converter(model, outputs).run(inputs[0], outputs)
    tflite_path = Path(tflite_path)
    tflite_path.write_bytes(data)
    return tflite_path
