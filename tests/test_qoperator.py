"""QOperator ONNX: every op onnxruntime's QOperator quantizer emits is priced, as its QDQ twin.

Before this, ``twin profile`` refused the zoo models in QOperator form: ONNX shape inference
does not know the com.microsoft ops (QGemm, QLinearAdd, QLinearMul, QLinearSigmoid,
QLinearSoftmax, QLinearConcat, QLinearGlobalAveragePool), so they and every standard op after
them (Sub, Tanh, Mul, ReduceMean, ArgMax) had no shape and were listed as unsupported.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from twin.ml.runner import ZOO_DIR
from twin.physics.graph import analyse_graph

pytest.importorskip("onnxruntime.quantization")

# The shipped builders' settings (twin/training/*.py): per-channel weights for convolutions
# and the autoencoder, and the anomaly score after the last Gemm kept in float.
ZOO = {
    "heart_rhythm": (True, False),
    "keyword_spotting": (True, False),
    "machine_anomaly": (True, True),
    "person_detection": (True, False),
    "room_occupancy": (False, False),
    "soil_irrigation": (False, False),
}


class _Feeds:
    """Calibration inputs for quantize_static (a CalibrationDataReader)."""

    def __init__(self, feeds: list[dict]) -> None:
        self.feeds, self.i = feeds, 0

    def get_next(self):
        self.i += 1
        return self.feeds[self.i - 1] if self.i <= len(self.feeds) else None

    def rewind(self) -> None:
        self.i = 0


def _qoperator(name: str, per_channel: bool, float_tail: bool) -> onnx.ModelProto:
    """The zoo model's fp32 graph quantized to int8 QOperator format, as the zoo's recipe."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    CalibrationDataReader.register(_Feeds)
    fp32 = ZOO_DIR / f"{name}_fp32.onnx"
    inp = onnx.load(str(fp32)).graph.input[0]
    dims = [d.dim_value or 1 for d in inp.type.tensor_type.shape.dim]
    rng = np.random.default_rng(0)
    # Random calibration rows: the scales they give do not change any size or MAC count.
    feeds = [{inp.name: rng.normal(size=[4, *dims[1:]]).astype(np.float32)} for _ in range(4)]
    with tempfile.TemporaryDirectory() as tmp:
        pre, out = Path(tmp) / "pre.onnx", Path(tmp) / "qop.onnx"
        quant_pre_process(str(fp32), str(pre), skip_optimization=True, skip_symbolic_shape=True)
        exclude = None
        if float_tail:
            nodes = list(onnx.load(str(pre)).graph.node)
            last = max(i for i, n in enumerate(nodes) if n.op_type in ("Gemm", "MatMul"))
            exclude = [n.name for n in nodes[last + 1 :]]
        quantize_static(
            str(pre), str(out), _Feeds(feeds), quant_format=QuantFormat.QOperator,
            activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
            per_channel=per_channel, calibrate_method=CalibrationMethod.MinMax,
            nodes_to_exclude=exclude,
        )  # fmt: skip
        return onnx.load(str(out))


@pytest.fixture(scope="module")
def qop() -> dict[str, onnx.ModelProto]:
    return {name: _qoperator(name, *settings) for name, settings in ZOO.items()}


def _bias_dequantize_bytes(model: onnx.ModelProto) -> int:
    """Bytes of the scales and zero points a QDQ file stores to dequantize its int32 biases."""
    init = {i.name: i for i in model.graph.initializer}
    total = 0
    for n in model.graph.node:
        bias = init.get(n.input[0]) if n.op_type == "DequantizeLinear" else None
        if bias is not None and bias.data_type == TensorProto.INT32:
            total += sum(numpy_helper.to_array(init[x]).nbytes for x in n.input[1:] if x in init)
    return total


@pytest.mark.parametrize("name", sorted(ZOO))
def test_qoperator_zoo_model_costs_as_its_qdq_twin(qop, name):
    q = analyse_graph(qop[name])
    qdq_model = onnx.load(str(ZOO_DIR / f"{name}_int8.onnx"))
    qdq = analyse_graph(qdq_model)
    assert q.unsupported_ops == ()
    assert q.precision == qdq.precision == "int8"
    # Same network, same kernels on a device: the same MACs and operations in every class,
    # so the cost model gives the same latency.
    assert q.macs == qdq.macs
    assert q.units_by_class() == qdq.units_by_class()
    # Activations are int8 tensors in both, and the same tensors are live: same arena.
    assert q.ram_bytes == qdq.ram_bytes
    # Flash: int8 weights and int32 biases at their stored size in both. The QDQ file also
    # stores each int32 bias's dequantisation scale and zero point (4 + 4 bytes per bias
    # value with per-channel scales), which QOperator derives as x_scale * w_scale; that is
    # the whole difference (up to 22 % of a small CNN's flash), so the comparison is exact.
    assert q.flash_bytes == qdq.flash_bytes - _bias_dequantize_bytes(qdq_model)


def test_qoperator_weights_read_at_their_input_index(qop):
    # QGemm(A, a_scale, a_zp, B, ...): the weight is input 3. KWS's classifier is 48 -> 1
    # (48 MACs); reading input 1 (a scalar scale) would give no shape or a wrong count.
    kws = analyse_graph(qop["keyword_spotting"])
    gemm = [n for n in kws.nodes if n.op_type == "QGemm"]
    assert [n.macs for n in gemm] == [48]
    assert all(n.precision == "int8" and n.op_class == "fc" for n in gemm)
    # QLinearConv(x, x_scale, x_zp, w, ...): the same conv MACs as the fp32 graph's Conv.
    fp32 = analyse_graph(ZOO_DIR / "keyword_spotting_fp32.onnx")
    assert [n.macs for n in kws.nodes if n.op_type == "QLinearConv"] == [
        n.macs for n in fp32.nodes if n.op_type == "Conv"
    ]


def _contrib_graph(channels_last: int) -> onnx.ModelProto:
    """Pools, LeakyRelu, Concat, Where and Mul of com.microsoft on an 8x8x4 int8 tensor."""
    s = numpy_helper.from_array(np.array(0.1, np.float32), "s")
    z = numpy_helper.from_array(np.array(0, np.int8), "z")
    cond = numpy_helper.from_array(np.array([True, False, True, False]), "cond")
    shape = [1, 8, 8, 4] if channels_last else [1, 4, 8, 8]
    ms = "com.microsoft"
    nodes = [
        helper.make_node("QLinearAveragePool", ["x", "s", "z", "s", "z"], ["p"], domain=ms,
                         kernel_shape=[2, 2], strides=[2, 2], channels_last=channels_last),
        helper.make_node("QLinearGlobalAveragePool", ["p", "s", "z", "s", "z"], ["g"],
                         domain=ms, channels_last=channels_last),
        helper.make_node("QLinearLeakyRelu", ["g", "s", "z", "s", "z"], ["l"], domain=ms,
                         alpha=0.1),
        helper.make_node("QLinearMul", ["l", "s", "z", "g", "s", "z", "s", "z"], ["m"],
                         domain=ms),
        helper.make_node("QLinearConcat", ["s", "z", "m", "s", "z", "g", "s", "z"], ["c"],
                         domain=ms, axis=3 if channels_last else 1),
        helper.make_node("Flatten", ["c"], ["f"]),
        helper.make_node("Slice", ["f", "st", "en"], ["h"]),
        helper.make_node("QLinearWhere", ["cond", "h", "s", "z", "h", "s", "z", "s", "z"],
                         ["w"], domain=ms),
    ]  # fmt: skip
    starts = numpy_helper.from_array(np.array([0, 0], np.int64), "st")
    ends = numpy_helper.from_array(np.array([1, 4], np.int64), "en")
    graph = helper.make_graph(
        nodes, "contrib",
        [helper.make_tensor_value_info("x", TensorProto.INT8, shape)],
        [helper.make_tensor_value_info("w", TensorProto.INT8, None)],
        [s, z, cond, starts, ends],
    )  # fmt: skip
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid(ms, 1)]
    return helper.make_model(graph, opset_imports=opsets)


@pytest.mark.parametrize("channels_last", [0, 1])
def test_contrib_ops_are_shaped_and_priced(channels_last):
    cost = analyse_graph(_contrib_graph(channels_last))
    assert cost.unsupported_ops == ()
    ops = {n.op_type: n.ops for n in cost.nodes}
    # 2x2 stride-2 pool of 8x8x4: 4x4x4 outputs x 4 taps; the global pool reads its 64 inputs
    # (whichever axis holds the channels); the rest one operation per output (4 channels).
    assert ops["QLinearAveragePool"] == 4 * 4 * 4 * 4
    assert ops["QLinearGlobalAveragePool"] == 64
    assert ops["QLinearLeakyRelu"] == ops["QLinearMul"] == ops["QLinearWhere"] == 4
    assert ops["QLinearConcat"] == 0  # data movement, as Concat
    # Every tensor shaped and int8: input 256 B + pool output 64 B live at the peak.
    assert cost.ram_bytes == 256 + 64


def test_dynamic_quantization_is_priced():
    # quantize_dynamic: DynamicQuantizeLinear + ConvInteger / MatMulInteger. The range is
    # computed at run time (2 operations per element), the MACs are integer.
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    fp32_path = ZOO_DIR / "keyword_spotting_fp32.onnx"
    with tempfile.TemporaryDirectory() as tmp:
        pre, out = Path(tmp) / "pre.onnx", Path(tmp) / "dyn.onnx"
        quant_pre_process(
            str(fp32_path), str(pre), skip_optimization=True, skip_symbolic_shape=True
        )
        quantize_dynamic(
            str(pre), str(out), weight_type=QuantType.QInt8,
            op_types_to_quantize=["Conv", "MatMul", "Gemm"],
        )  # fmt: skip
        dyn = analyse_graph(onnx.load(str(out)))
    fp32 = analyse_graph(fp32_path)
    assert dyn.unsupported_ops == ()
    assert dyn.macs == fp32.macs and dyn.precision == "int8"
    quantize = [n for n in dyn.nodes if n.op_type == "DynamicQuantizeLinear"]
    assert quantize and all(n.op_class == "elementwise" and n.ops > 0 for n in quantize)
