"""MLPerf Tiny reference architectures as ONNX graphs, for testing the compute cost model.

The four closed-division MLPerf Tiny v1.x models are rebuilt layer by layer with
:mod:`onnx.helper` (no training framework): fp32, a dynamic batch dimension ``"N"`` (NCHW for
the convolutional models) and seeded random weights (He-normal weights, small random biases).
Weights are random, so the graphs are useless as classifiers; their *shapes* -- and therefore
their MACs, parameter counts, flash and activation memory -- are those of the reference models.

BatchNormalization is folded into the preceding Conv/Gemm (a Conv or Gemm with bias), as the
int8 TFLite models that MLPerf Tiny submissions run do. 'same' padding follows TensorFlow's
convention (any odd padding goes to the bottom/right), so every layer has the padding and output
size of the Keras reference models (in NCHW layout rather than Keras' NHWC).

Published MACs (:data:`PUBLISHED_MACS_M`) are the Silicon Labs MLTK tool reports, given to three
decimals in millions; the layer-by-layer counts of these builders are exact integers
(:func:`twin.physics.compute.analyse_graph`) that round to the published figures.

:func:`quantize_int8` produces the static int8 QDQ variant with onnxruntime's quantizer, so the
cost model can also be checked on quantised graphs.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

__all__ = [
    "PUBLISHED_MACS_M",
    "PUBLISHED_MACS_SOURCE",
    "REFERENCE_WEIGHT_COUNTS",
    "REFERENCE_BIAS_COUNTS",
    "INPUT_SHAPES",
    "ds_cnn_kws",
    "mobilenet_v1_025_vww",
    "resnet8_ic",
    "fc_autoencoder_ad",
    "build_all",
    "quantize_int8",
]

OPSET = 17
IR_VERSION = 8  # IR 8 covers opset 17 and every onnxruntime >= 1.10 loads it
BATCH = "N"
DEFAULT_SEED = 0

# MLPerf Tiny reference-model MACs in millions, as published (three decimals).
PUBLISHED_MACS_M: dict[str, float] = {"kws": 2.657, "vww": 7.490, "ic": 12.502, "ad": 0.264}
PUBLISHED_MACS_SOURCE = (
    "Silicon Labs MLTK model summaries (tool report, 3 decimals in M MAC): "
    "SiliconLabs/mltk: mltk/models/tinyml/{keyword_spotting,visual_wake_words,"
    "image_classification,anomaly_detection}.py; via hardware reference section 1.1"
)
# Weights (excluding biases) and biases, derived in the hardware reference section 1.1 by summing
# the tensor shapes of the MLTK int8 TFLite summaries (BatchNorm folded, so every Conv/Dense has
# a bias). Type: derived (not a published figure).
REFERENCE_WEIGHT_COUNTS: dict[str, int] = {
    "kws": 22_016,
    "vww": 208_112,
    "ic": 77_360,
    "ad": 264_192,
}
REFERENCE_BIAS_COUNTS: dict[str, int] = {"kws": 588, "vww": 2_738, "ic": 346, "ad": 1_672}

# Input shape of one sample (without the batch dimension).
INPUT_SHAPES: dict[str, tuple[int, ...]] = {
    "kws": (1, 49, 10),
    "vww": (3, 96, 96),
    "ic": (3, 32, 32),
    "ad": (640,),
}


class _GraphBuilder:
    """Accumulates nodes and seeded initializers of one fp32 graph."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._count: dict[str, int] = {}

    def name(self, prefix: str) -> str:
        i = self._count.get(prefix, 0)
        self._count[prefix] = i + 1
        return f"{prefix}_{i}"

    def weight(self, name: str, shape: Sequence[int], fan_in: int) -> str:
        w = self.rng.normal(0.0, np.sqrt(2.0 / fan_in), size=tuple(shape)).astype(np.float32)
        self.inits.append(numpy_helper.from_array(w, name))
        return name

    def bias(self, name: str, n: int) -> str:
        b = self.rng.normal(0.0, 0.01, size=(n,)).astype(np.float32)
        self.inits.append(numpy_helper.from_array(b, name))
        return name

    def conv(
        self,
        x: str,
        c_in: int,
        c_out: int,
        kernel: tuple[int, int],
        stride: int,
        in_hw: tuple[int, int],
        group: int = 1,
        relu: bool = True,
        prefix: str = "conv",
    ) -> tuple[str, tuple[int, int]]:
        """Conv (BN folded into the bias) with TF 'same' padding, optional ReLU."""
        name = self.name(prefix)
        pads, out_hw = _same_pads(in_hw, kernel, stride)
        w = self.weight(
            f"{name}.weight", (c_out, c_in // group, *kernel), c_in // group * kernel[0] * kernel[1]
        )
        b = self.bias(f"{name}.bias", c_out)
        y = f"{name}.out"
        self.nodes.append(
            helper.make_node(
                "Conv",
                [x, w, b],
                [y],
                name=name,
                kernel_shape=list(kernel),
                strides=[stride, stride],
                pads=pads,
                group=group,
            )
        )
        return (self.relu(y) if relu else y), out_hw

    def gemm(self, x: str, n_in: int, n_out: int, relu: bool, prefix: str = "fc") -> str:
        """Fully connected layer ``x @ W.T + b`` (Gemm, transB=1, as PyTorch exports it)."""
        name = self.name(prefix)
        w = self.weight(f"{name}.weight", (n_out, n_in), n_in)
        b = self.bias(f"{name}.bias", n_out)
        y = f"{name}.out"
        self.nodes.append(helper.make_node("Gemm", [x, w, b], [y], name=name, transB=1))
        return self.relu(y) if relu else y

    def relu(self, x: str) -> str:
        name = self.name("relu")
        self.nodes.append(helper.make_node("Relu", [x], [f"{name}.out"], name=name))
        return f"{name}.out"

    def add(self, a: str, b: str) -> str:
        name = self.name("add")
        self.nodes.append(helper.make_node("Add", [a, b], [f"{name}.out"], name=name))
        return f"{name}.out"

    def head(self, x: str, channels: int, classes: int) -> str:
        """Global average pool, flatten, FC, softmax."""
        gap = self.name("gap")
        self.nodes.append(helper.make_node("GlobalAveragePool", [x], [f"{gap}.out"], name=gap))
        flat = self.name("flatten")
        self.nodes.append(
            helper.make_node("Flatten", [f"{gap}.out"], [f"{flat}.out"], name=flat, axis=1)
        )
        logits = self.gemm(f"{flat}.out", channels, classes, relu=False)
        self.nodes.append(
            helper.make_node("Softmax", [logits], ["probabilities"], name="softmax", axis=-1)
        )
        return "probabilities"

    def model(self, graph_name: str, x_shape: Sequence[int], y: str, y_shape: Sequence[int]):
        graph = helper.make_graph(
            self.nodes,
            graph_name,
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, [BATCH, *x_shape])],
            [helper.make_tensor_value_info(y, TensorProto.FLOAT, [BATCH, *y_shape])],
            self.inits,
        )
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", OPSET)],
            producer_name="twin.ml.reference_models",
        )
        model.ir_version = IR_VERSION
        onnx.checker.check_model(model, full_check=True)
        return model


def _same_pads(
    in_hw: tuple[int, int], kernel: tuple[int, int], stride: int
) -> tuple[list[int], tuple[int, int]]:
    """TensorFlow 'same' padding: ONNX ``pads`` (begins, ends) and the output size."""
    begins, ends, out = [], [], []
    for size, k in zip(in_hw, kernel, strict=True):
        o = -(-size // stride)  # ceil
        total = max((o - 1) * stride + k - size, 0)
        begins.append(total // 2)
        ends.append(total - total // 2)
        out.append(o)
    return begins + ends, (out[0], out[1])


def ds_cnn_kws(
    seed: int = DEFAULT_SEED, input_frames: int = 49, filters: int = 64, classes: int = 12
) -> onnx.ModelProto:
    """MLPerf Tiny keyword-spotting DS-CNN (small), fp32, input ``(N, 1, frames, 10)`` MFCC.

    Conv 10x4 stride 2 'same' -> 64 channels + ReLU; 4 x [depthwise 3x3 + ReLU, pointwise
    1x1 64 + ReLU]; global average pool; FC 12; softmax. BatchNorm is folded into the biases.

    Input size: the MLPerf reference (mlcommons/tiny) uses 49 x 10 MFCC frames, the MLTK
    variant 50 x 10. With TF 'same' padding both give a 25 x 5 feature map after the stride-2
    first conv (ceil(49/2) = ceil(50/2) = 25), so both reproduce MLTK's per-layer figures --
    conv 25*5*64*(10*4) = 320,000, depthwise 25*5*64*9 = 72,000, pointwise 25*5*64*64 = 512,000,
    FC 64*12 = 768 -- and the total 2,656,768 = 2.657 M MAC. 'valid' padding would not: the map
    shrinks to 20 x 4 (49 x 10 input) or 21 x 4 (50 x 10), giving a first conv of 204,800 or
    215,040 MAC and totals of 1.701 M or 1.786 M. So the input size cannot be told from the MAC
    count. The default is the MLPerf 49 x 10 input (TF pads 4 rows on top, 5 below; MLTK's 50 x 10
    is ``input_frames=50``, 4 and 4). MACs, weights and flash are the same for both; only the
    input buffer is one frame larger.

    Parameters
    ----------
    seed : int
        Seed of the random weights.
    input_frames : int
        MFCC frames (rows) of the input: 49 (MLPerf reference) or 50 (MLTK).
    filters : int
        Channels of every conv layer (64 in the reference model).
    classes : int
        Output classes (12: 10 keywords, silence, unknown).

    Returns
    -------
    onnx.ModelProto
        The fp32 graph; input ``"input"`` ``(N, 1, frames, 10)``, output ``"probabilities"``
        ``(N, classes)``.
    """
    g = _GraphBuilder(seed)
    x, hw = g.conv("input", 1, filters, (10, 4), 2, (input_frames, 10))
    for _ in range(4):
        x, hw = g.conv(x, filters, filters, (3, 3), 1, hw, group=filters, prefix="dw")
        x, hw = g.conv(x, filters, filters, (1, 1), 1, hw, prefix="pw")
    y = g.head(x, filters, classes)
    return g.model("ds_cnn_kws", (1, input_frames, 10), y, (classes,))


def mobilenet_v1_025_vww(
    seed: int = DEFAULT_SEED,
    resolution: int = 96,
    alpha: float = 0.25,
    classes: int = 2,
    channels: int = 3,
) -> onnx.ModelProto:
    """MLPerf Tiny visual-wake-words MobileNetV1 (alpha 0.25), fp32, input ``(N, 3, 96, 96)``.

    Conv 3x3 stride 2 -> 8 channels; 13 depthwise-separable blocks (depthwise 3x3 + ReLU,
    pointwise 1x1 + ReLU) with 16, 32, 32, 64, 64, 128 x 6, 256, 256 output channels and stride 2
    in blocks 2, 4, 6 and 12; global average pool (3 x 3); FC 2; softmax. TF 'same' padding,
    BatchNorm folded. 7,489,664 MAC (published 7.490 M).

    Parameters
    ----------
    seed : int
        Seed of the random weights.
    resolution : int
        Input height and width (96 in the reference model).
    alpha : float
        Width multiplier (0.25 in the reference model).
    classes : int
        Output classes (2: person / no person).
    channels : int
        Input channels: 3 for RGB (MLPerf Tiny), 1 for the grayscale person-detection variant
        TFLM and ESP-NN ship (espressif/esp-tflite-micro examples).

    Returns
    -------
    onnx.ModelProto
        The fp32 graph; input ``"input"`` ``(N, 3, res, res)``, output ``"probabilities"``
        ``(N, classes)``.
    """
    g = _GraphBuilder(seed)
    c = int(32 * alpha)
    x, hw = g.conv("input", channels, c, (3, 3), 2, (resolution, resolution))
    blocks = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)]
    blocks += [(512, 1)] * 5 + [(1024, 2), (1024, 1)]
    for width, stride in blocks:
        c_out = int(width * alpha)
        x, hw = g.conv(x, c, c, (3, 3), stride, hw, group=c, prefix="dw")
        x, hw = g.conv(x, c, c_out, (1, 1), 1, hw, prefix="pw")
        c = c_out
    y = g.head(x, c, classes)
    return g.model("mobilenet_v1_025_vww", (channels, resolution, resolution), y, (classes,))


def resnet8_ic(seed: int = DEFAULT_SEED, classes: int = 10) -> onnx.ModelProto:
    """MLPerf Tiny image-classification ResNet-8 (CIFAR-10), fp32, input ``(N, 3, 32, 32)``.

    Conv 3x3 16 + ReLU; three residual stacks of two 3x3 convs with 16, 32 and 64 filters (the
    first conv of stacks 2 and 3 has stride 2, and their shortcut is a 1x1 stride-2 conv with
    bias, no BatchNorm, as in mlcommons/tiny's ``resnet_v1_eembc``); Add then ReLU after each
    stack; global average pool (8 x 8); FC 10; softmax. TF 'same' padding, BatchNorm folded.
    12,501,632 MAC (published 12.502 M).

    Parameters
    ----------
    seed : int
        Seed of the random weights.
    classes : int
        Output classes (10 for CIFAR-10).

    Returns
    -------
    onnx.ModelProto
        The fp32 graph; input ``"input"`` ``(N, 3, 32, 32)``, output ``"probabilities"``
        ``(N, classes)``.
    """
    g = _GraphBuilder(seed)
    x, hw = g.conv("input", 3, 16, (3, 3), 1, (32, 32))
    c = 16
    for filters, stride in [(16, 1), (32, 2), (64, 2)]:
        y, out_hw = g.conv(x, c, filters, (3, 3), stride, hw)
        y, out_hw = g.conv(y, filters, filters, (3, 3), 1, out_hw, relu=False)
        if stride != 1 or c != filters:
            x, _ = g.conv(x, c, filters, (1, 1), stride, hw, relu=False, prefix="shortcut")
        x = g.relu(g.add(x, y))
        c, hw = filters, out_hw
    y = g.head(x, c, classes)
    return g.model("resnet8_ic", (3, 32, 32), y, (classes,))


def fc_autoencoder_ad(seed: int = DEFAULT_SEED, features: int = 640) -> onnx.ModelProto:
    """MLPerf Tiny anomaly-detection FC autoencoder, fp32, input ``(N, 640)``.

    640-128-128-128-128-8-128-128-128-128-640: ten Gemm layers (BatchNorm folded), ReLU after
    all but the last (linear reconstruction). 264,192 MAC (published 0.264 M).

    Parameters
    ----------
    seed : int
        Seed of the random weights.
    features : int
        Input and output width (5 frames x 128 log-mel bins = 640).

    Returns
    -------
    onnx.ModelProto
        The fp32 graph; input ``"input"`` ``(N, 640)``, output ``"reconstruction"``
        ``(N, 640)``.
    """
    g = _GraphBuilder(seed)
    widths = [features, 128, 128, 128, 128, 8, 128, 128, 128, 128, features]
    x = "input"
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        x = g.gemm(x, n_in, n_out, relu=i < len(widths) - 2)
    g.nodes.append(helper.make_node("Identity", [x], ["reconstruction"], name="output"))
    return g.model("fc_autoencoder_ad", (features,), "reconstruction", (features,))


_BUILDERS = {
    "kws": ds_cnn_kws,
    "vww": mobilenet_v1_025_vww,
    "ic": resnet8_ic,
    "ad": fc_autoencoder_ad,
}


def build_all(seed: int = DEFAULT_SEED) -> dict[str, onnx.ModelProto]:
    """All four reference models, fp32.

    Parameters
    ----------
    seed : int
        Seed of the random weights (the same for every model).

    Returns
    -------
    dict[str, onnx.ModelProto]
        ``{"kws": DS-CNN, "vww": MobileNetV1-0.25, "ic": ResNet-8, "ad": FC autoencoder}``.
    """
    return {key: build(seed=seed) for key, build in _BUILDERS.items()}


def quantize_int8(
    model: onnx.ModelProto, calibration_batches: Iterable[np.ndarray], per_channel: bool = True
) -> onnx.ModelProto:
    """Static int8 QDQ quantisation of a (single-input) model with onnxruntime.

    Weights and activations are int8 (signed, symmetric weights), biases int32, MinMax
    calibration -- the TFLite-style scheme of the MLPerf Tiny int8 models. onnxruntime's
    pre-processing runs first with ONNX shape inference only (no graph optimisation, no
    sympy-based symbolic shapes), so the op structure is unchanged: each Conv/Gemm keeps its
    node and gets DequantizeLinear inputs, and a ReLU is folded into the QuantizeLinear of its
    producer. The model passes through temporary files because the quantizer reads and writes
    paths.

    Parameters
    ----------
    model : onnx.ModelProto
        The fp32 model (one graph input).
    calibration_batches : Iterable[numpy.ndarray]
        Input batches for the activation ranges, each shaped like the model input.
    per_channel : bool
        Per-output-channel weight scales (as TFLite does for convolutions).

    Returns
    -------
    onnx.ModelProto
        The QDQ model (QuantizeLinear/DequantizeLinear around the float ops, int8 weights).
    """
    from twin.training.quantize import CalibrationBatches
    from twin.training.quantize import quantize_int8 as _quantize

    init_names = {i.name for i in model.graph.initializer}
    inputs = [i.name for i in model.graph.input if i.name not in init_names]
    if len(inputs) != 1:
        raise ValueError(f"quantize_int8 needs a single-input model, got inputs {inputs}")
    reader = CalibrationBatches(
        [{inputs[0]: np.asarray(b, dtype=np.float32)} for b in calibration_batches]
    )
    with tempfile.TemporaryDirectory() as tmp:
        raw, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        onnx.save(model, raw)
        _quantize(
            raw, dst, reader, per_channel=per_channel,
            extra_options={"WeightSymmetric": True, "ActivationSymmetric": False},
        )  # fmt: skip
        return onnx.load(dst)
