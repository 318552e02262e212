"""Which int8 arithmetic onnxruntime runs here: a probe shared by the zoo tests.

The shipped int8 models are QDQ graphs with int8 activations and int8 weights using the full
range (|w| up to 127, ``reduce_range`` off). With its default graph optimisation onnxruntime
fuses each Q/DQ pair with its Conv/MatMul into an integer kernel; on x86 those kernels shift
int8 activations to uint8 (+128) and multiply u8 x s8. Without VNNI (AVX2, AVX-512 without
VNNI) the multiply is VPMADDUBSW, which adds two adjacent u8 x s8 products into a saturating
int16: 255 x 127 x 2 = 64,770 > 32,767. With VNNI (VPDPBUSD) or on ARM the sums are exact
int32. Tests therefore grade the models on the Q/DQ reference path (Q/DQ fusion off: the
float op between exact dequantised values, the same on every CPU), and compare the fused
kernels with it separately.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper


def session(path: Path, fused: bool = False) -> ort.InferenceSession:
    """One-thread session on the Q/DQ reference path, or with the fused integer kernels."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    if not fused:
        opts.add_session_config_entry("session.disable_quant_qdq", "1")
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


@functools.cache
def fused_int8_saturates() -> bool:
    """True where onnxruntime's fused int8 kernels saturate pair sums (x86 without VNNI).

    One QDQ MatMul of 64 inputs at +127 with weights at +127: the exact result is
    64 x 127 x 127 = 1,032,256; saturating pairs give 32 x 32,767 - 128 x 64 x 127 = 8,160.
    """
    k = 64
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
        "probe",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"x": np.full((1, k), 127.0, np.float32)})[0].item()
    return got != k * 127 * 127
