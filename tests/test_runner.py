"""The model runtime: int8 graphs compute what a microcontroller computes, on any host CPU."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from twin.ml.runner import OnnxModel


def _qdq_dot(k: int) -> onnx.ModelProto:
    """One QDQ MatMul: k int8 inputs times k int8 weights, scale 1, zero point 0."""
    inits = [
        numpy_helper.from_array(np.array(1.0, np.float32), "s"),
        numpy_helper.from_array(np.array(0, np.int8), "zp"),
        numpy_helper.from_array(np.full((k, 1), 127, np.int8), "w"),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s", "zp"], ["xq"]),
        helper.make_node("DequantizeLinear", ["xq", "s", "zp"], ["xd"]),
        helper.make_node("DequantizeLinear", ["w", "s", "zp"], ["wd"]),
        helper.make_node("MatMul", ["xd", "wd"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "dot",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_int8_sums_do_not_saturate_on_any_cpu(tmp_path):
    # 64 products of 127 x 127: a microcontroller's int32 accumulator gives 1,032,256.
    # onnxruntime's fused u8 x s8 kernels on x86 without VNNI add pairs of products in
    # saturating 16-bit lanes and give 8,160; the runner keeps Q/DQ unfused, so the exact sum
    # comes out wherever the tests run (on VNNI or ARM CPUs the fused path is exact too).
    path = tmp_path / "dot.onnx"
    onnx.save(_qdq_dot(64), str(path))
    model = OnnxModel(path, output="y", positive_index=0, threshold=1.0)
    score, decision = model.predict(np.full((3, 64), 127.0, np.float32))
    assert score.tolist() == [64 * 127 * 127] * 3
    assert decision.all()
