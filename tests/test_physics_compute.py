"""ONNX graph analysis and the on-board cost model against published figures."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from twin.ml.runner import ZOO_DIR
from twin.physics import compute


def _conv_model(c_in, hw, c_out, kernel, stride, pads, group=1):
    w = numpy_helper.from_array(
        np.zeros((c_out, c_in // group, *kernel), dtype=np.float32), name="w"
    )
    node = helper.make_node(
        "Conv",
        ["x", "w"],
        ["y"],
        kernel_shape=list(kernel),
        strides=[stride, stride],
        pads=list(pads),
        group=group,
    )
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", c_in, *hw])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [w],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_ds_cnn_layer_macs_match_mltk_profile():
    # MLPerf Tiny KWS DS-CNN, per-layer MACs from the Silicon Labs MLTK on-device profile
    # (hardware reference section 1.2): conv 10x4 stride 2 on 49x10 MFCC -> 320 k MAC; each
    # depthwise 3x3 on 25x5x64 -> 72 k MAC; each pointwise 1x1 64->64 -> 512 k MAC. Counting is
    # exact, so the comparison is exact.
    first = compute.analyse_graph(_conv_model(1, (49, 10), 64, (10, 4), 2, (4, 1, 5, 1)))
    assert first.macs == 320_000
    dw = compute.analyse_graph(_conv_model(64, (25, 5), 64, (3, 3), 1, (1, 1, 1, 1), group=64))
    assert dw.macs == 72_000
    pw = compute.analyse_graph(_conv_model(64, (25, 5), 64, (1, 1), 1, (0, 0, 0, 0)))
    assert pw.macs == 512_000


def test_fc_macs_and_flash():
    # The DS-CNN classifier: 64 -> 12 fully connected = 768 MACs (MLTK profile, section 1.2).
    w = numpy_helper.from_array(np.zeros((64, 12), dtype=np.int8), name="w")
    b = numpy_helper.from_array(np.zeros((12,), dtype=np.int32), name="b")
    dq = helper.make_node("DequantizeLinear", ["w", "s", "z"], ["wf"])
    s = numpy_helper.from_array(np.array(0.1, dtype=np.float32), name="s")
    z = numpy_helper.from_array(np.array(0, dtype=np.int8), name="z")
    mm = helper.make_node("MatMul", ["x", "wf"], ["y"])
    graph = helper.make_graph(
        [dq, mm],
        "fc",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [w, b, s, z],
    )
    cost = compute.analyse_graph(helper.make_model(graph))
    assert cost.macs == 768
    # Flash holds weights at their stored precision: 768 int8 + 12 int32 + scale + zero point.
    assert cost.flash_bytes == 768 + 48 + 4 + 1
    assert cost.unsupported_ops == ()


def test_unknown_ops_are_reported_not_counted_as_free():
    node = helper.make_node("LSTM", ["x", "w", "r"], ["y"], hidden_size=4)
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [
            numpy_helper.from_array(np.zeros((1, 16, 3), np.float32), "w"),
            numpy_helper.from_array(np.zeros((1, 16, 4), np.float32), "r"),
        ],
    )
    cost = compute.analyse_graph(helper.make_model(graph))
    assert "LSTM" in cost.unsupported_ops


def test_zoo_model_cost():
    model = onnx.load(str(ZOO_DIR / "soil_irrigation_int8.onnx"))
    cost = compute.analyse_graph(model)
    # 192 -> 32 -> 16 -> 1 (sklearn's binary MLP has one logistic output unit).
    assert cost.macs == 192 * 32 + 32 * 16 + 16 * 1
    assert cost.unsupported_ops == ()
    # int8 weights: the weight bytes are at least one byte per MAC-weight, far below fp32's 4.
    fp32 = compute.analyse_graph(onnx.load(str(ZOO_DIR / "soil_irrigation_fp32.onnx")))
    assert cost.macs <= cost.flash_bytes < fp32.flash_bytes / 2
    assert cost.ram_bytes > 0


def test_energy_is_active_power_times_latency():
    # MLPerf Tiny v1.0 ST, NUCLEO-L4R5ZI at 1.8 V (X-CUBE-AI 7.3): KWS 75.1 ms and 3371.7 uJ,
    # i.e. 44.9 mW, 24.9 mA at 1.8 V. Using that current reproduces the energy of IC
    # (226.9 ms -> 10681.6 uJ measured) within 10 %: average inference power is nearly
    # model-independent per board (reference section 1.4: +-10 %).
    current_a = 3371.7e-6 / 0.0751 / 1.8
    assert compute.inference_energy_j(0.2269, current_a, 1.8) == pytest.approx(10681.6e-6, rel=0.10)


def test_units_by_precision_split_the_mac_work():
    # An fp32 graph's MACs are all fp32, an int8 QDQ graph's all int8; op classes (element-wise,
    # pooling) are not split by precision, the cost model prices them the same at either.
    fp32 = compute.analyse_graph(onnx.load(str(ZOO_DIR / "keyword_spotting_fp32.onnx")))
    int8 = compute.analyse_graph(onnx.load(str(ZOO_DIR / "keyword_spotting_int8.onnx")))
    for cost, precision, other in ((fp32, "fp32", "int8"), (int8, "int8", "fp32")):
        assert cost.precision == precision
        assert sum(cost.units_by_class(precision).values()) == cost.macs
        assert sum(cost.units_by_class(other).values()) == 0
