"""MLPerf Tiny reference architectures against the published MACs and parameter counts."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper, shape_inference
from onnx.utils import Extractor

from twin.physics.compute import analyse_graph
from twin.training import reference_models as rm

KEYS = ("kws", "vww", "ic", "ad")


@pytest.fixture(scope="module")
def fp32() -> dict[str, onnx.ModelProto]:
    return rm.build_all()


@pytest.fixture(scope="module")
def int8(fp32) -> dict[str, onnx.ModelProto]:
    out = {}
    for key, model in fp32.items():
        rng = np.random.default_rng(1)
        batches = [rng.normal(size=(8, *rm.INPUT_SHAPES[key])).astype(np.float32) for _ in range(2)]
        out[key] = rm.quantize_int8(model, batches)
    return out


def _params(model: onnx.ModelProto) -> tuple[int, int]:
    """(weights, biases) of a fp32 graph, from the Conv/Gemm inputs (not from tensor names)."""
    init = {i.name: int(np.prod(i.dims)) for i in model.graph.initializer}
    weights = biases = 0
    for node in model.graph.node:
        if node.op_type in ("Conv", "Gemm"):
            weights += init[node.input[1]]
            biases += init[node.input[2]] if len(node.input) > 2 else 0
    return weights, biases


def _run(model: onnx.ModelProto, key: str, batch: int) -> np.ndarray:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(2).normal(size=(batch, *rm.INPUT_SHAPES[key])).astype(np.float32)
    return sess.run(None, {"input": x})[0]


@pytest.mark.parametrize("key", KEYS)
def test_macs_match_published(fp32, key):
    cost = analyse_graph(fp32[key])
    # The published MLTK figures are given to 3 decimals in millions of MACs, so rounding the
    # exact count to 3 decimals makes the comparison exact at the published precision.
    assert round(cost.macs / 1e6, 3) == rm.PUBLISHED_MACS_M[key]
    assert cost.unsupported_ops == ()


def test_exact_mac_counts(fp32):
    # Layer-by-layer sums (derived in the builders' docstrings); pin them so a change in either
    # the builders or the cost model is noticed below the published 3-decimal precision.
    macs = {k: analyse_graph(m).macs for k, m in fp32.items()}
    assert macs == {"kws": 2_656_768, "vww": 7_489_664, "ic": 12_501_632, "ad": 264_192}


@pytest.mark.parametrize("frames", [49, 50])
def test_ds_cnn_per_layer_macs_match_mltk_profile(frames):
    # MLTK on-device profile of KWS (hardware reference section 1.2): conv 10x4 320 k MAC, each
    # depthwise 3x3 72 k, each pointwise 1x1 512 k, FC 768. Each layer is cut out of the full
    # graph as a single-node model and analysed on its own. 49 (MLPerf) and 50 (MLTK) input
    # frames both give a 25 x 5 map under TF 'same' padding, hence identical per-layer MACs.
    model = rm.ds_cnn_kws(input_frames=frames)
    fixed = onnx.ModelProto.FromString(model.SerializeToString())
    fixed.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 1
    extractor = Extractor(shape_inference.infer_shapes(fixed))
    layers = [n for n in fixed.graph.node if n.op_type in ("Conv", "Gemm")]
    got = [analyse_graph(extractor.extract_model([n.input[0]], [n.output[0]])).macs for n in layers]
    assert got == [320_000] + [72_000, 512_000] * 4 + [768]


@pytest.mark.parametrize("key", KEYS)
def test_weight_counts_match_hardware_reference(fp32, key):
    # Hardware reference section 1.1 derives weights and biases from the MLTK int8 summaries
    # with BatchNorm folded into the preceding Conv/Dense. The builders fold BN the same way
    # (every Conv/Gemm has a bias, no BN nodes), so both counts must agree exactly: no
    # tolerance is needed.
    assert _params(fp32[key]) == (rm.REFERENCE_WEIGHT_COUNTS[key], rm.REFERENCE_BIAS_COUNTS[key])
    assert not any(n.op_type == "BatchNormalization" for n in fp32[key].graph.node)


@pytest.mark.parametrize("key", KEYS)
def test_models_are_valid_and_run_with_dynamic_batch(fp32, int8, key):
    for model in (fp32[key], int8[key]):
        onnx.checker.check_model(model, full_check=True)
        assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == rm.BATCH
        one, four = _run(model, key, 1), _run(model, key, 4)
        assert one.shape[0] == 1 and four.shape[0] == 4
        assert np.isfinite(four).all()
        np.testing.assert_allclose(four[:1], one, rtol=1e-5, atol=1e-6)  # same seed, same row
    if key != "ad":
        np.testing.assert_allclose(_run(fp32[key], key, 4).sum(axis=1), 1.0, rtol=1e-5)


def test_builders_are_deterministic():
    a, b = rm.resnet8_ic(seed=3), rm.resnet8_ic(seed=3)
    assert a.SerializeToString() == b.SerializeToString()
    c = rm.resnet8_ic(seed=4)
    assert numpy_helper.to_array(c.graph.initializer[0]).tolist() != (
        numpy_helper.to_array(a.graph.initializer[0]).tolist()
    )


@pytest.mark.parametrize("key", KEYS)
def test_int8_same_macs_smaller_flash(fp32, int8, key):
    f, q = analyse_graph(fp32[key]), analyse_graph(int8[key])
    assert q.macs == f.macs
    assert q.unsupported_ops == ()
    weights, biases = rm.REFERENCE_WEIGHT_COUNTS[key], rm.REFERENCE_BIAS_COUNTS[key]
    # fp32: every initializer is a weight or bias, 4 bytes each.
    assert f.flash_bytes == 4 * (weights + biases)
    # int8: the weight tensors (the only initializers of rank >= 2) hold one byte per weight.
    int8_weights = [
        i
        for i in int8[key].graph.initializer
        if i.data_type == onnx.TensorProto.INT8 and len(i.dims) >= 2
    ]
    assert sum(int(np.prod(i.dims)) for i in int8_weights) == weights
    # Roughly 1/4 of fp32: the int8 weights alone are ~1/4; int32 biases, ORT's int32 bias zero
    # points and per-channel float scales add about 2-11 % of the fp32 size. DS-CNN is the
    # worst case: a depthwise channel has 9 int8 weights but ~17 bytes of bias and
    # quantisation parameters.
    assert f.flash_bytes / 4 < q.flash_bytes < 0.4 * f.flash_bytes


def test_int8_ds_cnn_arena_holds_input_and_output(int8):
    # The widest DS-CNN layers read and write 25 x 5 x 64 int8 activations: an int8 kernel keeps
    # both, 8,000 + 8,000 bytes (the fp32 graph counts 2 x 32,000 = 64,000).
    assert analyse_graph(int8["kws"]).ram_bytes == 16_000
