"""Zoo builder: wake-word spotter for a smart speaker (``keyword_spotting``).

Input: one 1 s detection window as an MFCC map, ``[N, 1, 49, 10]`` (49 frames of 30 ms every
20 ms, 10 coefficients from 40 log-mel bands -- the MLPerf Tiny KWS layout), produced by the
world :mod:`twin.world.audio`. Output: softmax ``probabilities`` ``[N, 2]``, column 1 =
"the keyword 'hey nova' is in the window".

Model: a small DS-CNN in the spirit of Zhang et al., "Hello Edge: Keyword spotting on
microcontrollers" (2017) and the MLPerf Tiny KWS reference, shrunk for a one-keyword task:
input standardisation (per-coefficient mean and standard deviation of the training data,
Sub/Div in the graph) -> Conv 10x4 stride 2 (24 channels) -> 3 depthwise-separable blocks
(3x3 depthwise + 1x1 pointwise, 24 channels, ReLU) -> global average pool -> fully connected
-> softmax. Batch normalisation is used in training and folded into the convolutions before
export. Trained with torch (Adam, fixed seed, one thread, deterministic algorithms).

Class balance: keywords are rare in the world (~2-3 % of windows). Training uses a world with
a higher keyword rate (``TRAIN_KEYWORD_RATE``, ~12 % of windows, i.e. positives weighted ~5x)
so that the model sees enough positives and recall is meaningful; evaluation uses the default
world, whose rate is the deployment one. The model is therefore tuned towards recall;
precision at the shipped threshold is what the fleet will see on real (rare) keyword traffic.
Most false accepts are keyword-like phrases ("hey Noah", "hey, no" -- the latter is also what
a keyword clipped by the window edge sounds like) and TV speech.

Quantization: onnxruntime static int8 QDQ, QInt8 weights per output channel for the
convolutions and the dense layer, QInt8 activations (per-tensor), MinMax calibration on
training windows. The standardisation (Sub, Div) stays in float, so the first quantized
tensor is the standardised input of the first convolution.
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from twin.training.common import binary_metrics, sha256, training_rows, versions
from twin.training.common import predict_proba as _predict
from twin.training.quantize import CalibrationBatches
from twin.training.quantize import quantize_int8 as _quantize
from twin.world.audio import N_FRAMES, N_MFCC, AudioParams, AudioWorld
from twin.world.dataset import make_dataset

NAME = "keyword_spotting"
WINDOW_SAMPLES = 1  # one observation (a whole 1 s feature map) per decision
PERIOD_S = 60.0  # one detection window per minute (see twin.world.audio)
CHANNELS = AudioWorld.channels
INPUT_NAME = "window"
OUTPUT_NAME = "probabilities"
INPUT_SHAPE = (1, N_FRAMES, N_MFCC)
POSITIVE_INDEX = 1
THRESHOLD = 0.5
OPSET = 17

TRAIN_SEED = 20_250_401
HELDOUT_SEED = 20_250_402  # other homes, speakers, TV content and noise banks
TORCH_SEED = 0
TRAIN_KEYWORD_RATE = 0.12  # mean share of keyword windows in the training world
CHANNELS_CNN = 24
N_BLOCKS = 3

# Windows are sampled every STRIDE minutes across a day so the daily routine is covered.
SIZES = {
    False: {
        "n_nodes": 400,
        "days": 1.0,
        "stride": 24,
        "heldout_nodes": 200,
        "heldout_days": 1.0,
        "heldout_stride": 20,
        "epochs": 4,
    },
    True: {
        "n_nodes": 24,
        "days": 1.0,
        "stride": 60,
        "heldout_nodes": 20,
        "heldout_days": 1.0,
        "heldout_stride": 120,
        "epochs": 8,
    },
}
BATCH = 128
LEARNING_RATE = 3e-3
CALIBRATION_ROWS = 2_000
CALIBRATION_BATCH = 500

BUILD_COMMAND = f"python -m twin.training {NAME}"

log = logging.getLogger(__name__)


def _model(mean: np.ndarray, std: np.ndarray) -> Any:
    """The DS-CNN with the input standardisation built in (torch module, training form)."""
    import torch
    from torch import nn

    class DSCNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            c = CHANNELS_CNN
            self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 1, 1, -1))
            self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 1, 1, -1))
            layers: list[nn.Module] = [
                nn.Conv2d(1, c, (10, 4), stride=(2, 2), padding=(5, 1), bias=False),
                nn.BatchNorm2d(c),
                nn.ReLU(),
            ]
            for _ in range(N_BLOCKS):
                layers += [
                    nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False),
                    nn.BatchNorm2d(c),
                    nn.ReLU(),
                    nn.Conv2d(c, c, 1, bias=False),
                    nn.BatchNorm2d(c),
                    nn.ReLU(),
                ]
            self.features = nn.Sequential(*layers)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(c, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:  # logits
            x = (x - self.mean) / self.std
            x = self.pool(self.features(x)).flatten(1)
            return self.fc(x)

    return DSCNN()


def _fold_batchnorm(model: Any) -> Any:
    """Eval-mode copy with every Conv+BatchNorm pair fused into one Conv (with bias)."""
    import copy

    from torch import nn
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    model = copy.deepcopy(model).eval()
    layers = list(model.features)
    fused: list[nn.Module] = []
    i = 0
    while i < len(layers):
        if (
            isinstance(layers[i], nn.Conv2d)
            and i + 1 < len(layers)
            and isinstance(layers[i + 1], nn.BatchNorm2d)
        ):
            fused.append(fuse_conv_bn_eval(layers[i], layers[i + 1]))
            i += 2
        else:
            fused.append(layers[i])
            i += 1
    model.features = nn.Sequential(*fused)
    return model


def train_model(X: np.ndarray, y: np.ndarray, epochs: int, seed: int = TORCH_SEED) -> Any:
    """Train the DS-CNN on feature maps.

    Parameters
    ----------
    X : numpy.ndarray
        ``(rows, 490)`` float32 feature maps.
    y : numpy.ndarray
        Labels (1 = keyword).
    epochs : int
        Passes over the data.
    seed : int
        Torch seed (weights, batch order).

    Returns
    -------
    torch.nn.Module
        Trained model (training form, with batch normalisation).
    """
    import torch
    from torch import nn

    torch.manual_seed(seed)
    # One thread: CPU kernels are then deterministic (same bytes on every rebuild here).
    torch.set_num_threads(1)
    maps = X.reshape(-1, *INPUT_SHAPE)
    mean = maps.mean(axis=(0, 1, 2))
    std = maps.std(axis=(0, 1, 2)) + 1e-3
    model = _model(mean, std)
    xt = torch.from_numpy(np.ascontiguousarray(maps, dtype=np.float32))
    yt = torch.from_numpy(y.astype(np.int64))
    # Class balance comes from the training world (keyword ~5x more frequent than deployed);
    # an extra loss weight on top was tried and only traded precision for recall.
    loss_fn = nn.CrossEntropyLoss()
    opt = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    steps = epochs * int(np.ceil(len(xt) / BATCH))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LEARNING_RATE, total_steps=steps)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(xt), generator=gen)
        for a in range(0, len(xt), BATCH):
            idx = order[a : a + BATCH]
            opt.zero_grad()
            loss = loss_fn(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
            sched.step()
    return model.eval()


class _Exported:
    """Wraps the folded model: logits -> softmax probabilities (the exported graph)."""

    @staticmethod
    def module(model: Any) -> Any:
        import torch
        from torch import nn

        class WithSoftmax(nn.Module):
            def __init__(self, inner: nn.Module) -> None:
                super().__init__()
                self.inner = inner

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return torch.softmax(self.inner(x), dim=1)

        return WithSoftmax(_fold_batchnorm(model)).eval()


def export_onnx(model: Any, path: Path) -> None:
    """Export the trained model to ONNX fp32 (input ``window`` ``[N, 1, 49, 10]``).

    Parameters
    ----------
    model : torch.nn.Module
        Output of :func:`train_model`.
    path : pathlib.Path
        Destination file.
    """
    import torch

    net = _Exported.module(model)
    dummy = torch.zeros(1, *INPUT_SHAPE)
    with torch.no_grad(), warnings.catch_warnings():
        # The TorchScript exporter is deprecated but still the one that writes plain opset-17
        # graphs without the dynamo toolchain; its deprecation notice is expected.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            net,
            (dummy,),
            str(path),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "N"}, OUTPUT_NAME: {0: "N"}},
            opset_version=OPSET,
            dynamo=False,
        )


def quantize_int8(fp32_path: Path, int8_path: Path, X_calib: np.ndarray) -> None:
    """Static int8 QDQ quantization (per-channel conv weights, MinMax calibration).

    Parameters
    ----------
    fp32_path : pathlib.Path
        Float model from :func:`export_onnx`.
    int8_path : pathlib.Path
        Where to write the quantized model.
    X_calib : numpy.ndarray
        Calibration inputs ``(rows, 1, 49, 10)`` float32.
    """
    X_calib = np.ascontiguousarray(X_calib, dtype=np.float32)
    reader = CalibrationBatches.of_rows(X_calib, INPUT_NAME, CALIBRATION_BATCH)
    _quantize(fp32_path, int8_path, reader, per_channel=True)


def predict_proba(path: Path, X: np.ndarray, batch: int = 4096) -> np.ndarray:
    """P(keyword) for each ``(rows, 490)`` feature map, computed by onnxruntime (one thread)."""
    return _predict(path, X, INPUT_SHAPE, batch)


def heldout_data(meta: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Regenerate the held-out set recorded in ``meta`` (default world parameters).

    Parameters
    ----------
    meta : dict
        Metadata returned by :func:`build` (or read from ``keyword_spotting.json``).

    Returns
    -------
    tuple of numpy.ndarray
        ``X`` ``(rows, 490)`` and ``y``.
    """
    cfg = meta["heldout_data"]
    return make_dataset(
        "audio", cfg["n_nodes"], cfg["days"], meta["period_s"], 1, meta["heldout_seed"],
        stride=cfg["stride"],
    )  # fmt: skip


def build(out_dir: Path, small: bool = False) -> dict[str, Any]:
    """Train, export, quantize and evaluate the keyword spotter.

    Parameters
    ----------
    out_dir : pathlib.Path
        Directory for ``keyword_spotting_{fp32,int8}.onnx`` and ``keyword_spotting.json``.
    small : bool
        Tiny data and few epochs (seconds), for tests of the recipe.

    Returns
    -------
    dict
        The metadata written to ``keyword_spotting.json``.
    """
    size = SIZES[bool(small)]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()

    train_params = AudioParams(keyword_rate_mean=TRAIN_KEYWORD_RATE)
    X, y = make_dataset(
        "audio", size["n_nodes"], size["days"], PERIOD_S, 1, TRAIN_SEED, stride=size["stride"],
        params=train_params,
    )  # fmt: skip
    t_data = time.perf_counter()
    model = train_model(X, y, size["epochs"])
    t_train = time.perf_counter()

    fp32_path = out_dir / f"{NAME}_fp32.onnx"
    int8_path = out_dir / f"{NAME}_int8.onnx"
    export_onnx(model, fp32_path)
    # Calibration rows: a seeded subset of the training windows (keywords included).
    _, _, calib = training_rows(X, y, TRAIN_SEED, CALIBRATION_ROWS)
    quantize_int8(fp32_path, int8_path, X[calib].reshape(-1, *INPUT_SHAPE))

    meta: dict[str, Any] = {
        "name": NAME,
        "task": (
            "binary classification: is the wake word 'hey nova' spoken in this 1 s window, "
            "from its MFCC map (49 frames x 10 coefficients), for an always-listening "
            "smart speaker (one detection window per minute in the simulation)"
        ),
        "input": INPUT_NAME,
        "input_shape": [None, *INPUT_SHAPE],
        "input_layout": "frame-major MFCC map: value t * 10 + c is frame t, coefficient c",
        "output": OUTPUT_NAME,
        "positive_index": POSITIVE_INDEX,
        "threshold": THRESHOLD,
        "window_samples": WINDOW_SAMPLES,
        "channels": list(CHANNELS),
        "period_s": int(PERIOD_S),
        "train_seed": TRAIN_SEED,
        "heldout_seed": HELDOUT_SEED,
        "world": "twin.world.audio",
        "train_data": {
            "n_nodes": size["n_nodes"],
            "days": size["days"],
            "stride": size["stride"],
            "keyword_rate_mean": TRAIN_KEYWORD_RATE,
            "rows": int(len(X)),
            "positives_rate": round(float(np.mean(y)), 6),
            "calibration_rows": int(len(calib)),
        },
        "heldout_data": {
            "n_nodes": size["heldout_nodes"],
            "days": size["heldout_days"],
            "stride": size["heldout_stride"],
            "keyword_rate_mean": AudioParams().keyword_rate_mean,
        },
    }
    Xh, yh = heldout_data(meta)
    meta["heldout_data"]["rows"] = int(len(Xh))
    variants = {}
    for key, path in (("int8", int8_path), ("fp32", fp32_path)):
        pred = predict_proba(path, Xh) >= THRESHOLD
        variants[key] = {
            "file": path.name,
            "bytes": path.stat().st_size,
            "sha256": sha256(path),
            "heldout": binary_metrics(yh, pred),
        }
    n_params = int(sum(p.numel() for p in _fold_batchnorm(model).parameters()))
    meta["architecture"] = {
        "model": "DS-CNN",
        "layers": (
            f"standardise -> Conv 10x4/2 ({CHANNELS_CNN}) -> {N_BLOCKS} x [depthwise 3x3 + "
            f"pointwise 1x1 ({CHANNELS_CNN})] -> global average pool -> Dense(2) -> softmax"
        ),
        "channels": CHANNELS_CNN,
        "blocks": N_BLOCKS,
        "parameters": n_params,
        "epochs": size["epochs"],
        "batch": BATCH,
        "optimizer": f"Adam, one-cycle learning rate, max {LEARNING_RATE}",
        "loss": "cross-entropy (balance from the training world's keyword rate)",
        "torch_seed": TORCH_SEED,
    }
    meta["quantization"] = {
        "tool": "onnxruntime.quantization.quantize_static",
        "format": "QDQ",
        "weights": "int8 symmetric, per-channel",
        "activations": "int8 asymmetric, per-tensor",
        "calibration": "MinMax",
    }
    meta["build_command"] = BUILD_COMMAND
    # The on-device cost of computing the MFCCs (twin/physics/dsp.py prices it per core).
    from twin.physics import dsp

    meta["frontend"] = {
        "kind": "mfcc",
        "ops": dsp.mfcc_ops(49, 240, 256, 40, 10),
        "description": "49 frames of 30 ms at 8 kHz (240 samples), Hann window, 256-point FFT, "
        "40 mel bands, log, DCT to 10 coefficients (twin.physics.dsp.mfcc)",
    }
    meta["variants"] = variants
    meta["versions"] = versions("torch")
    log.info(
        "%s: data %.1f s, trained on %d rows in %.1f s, built in %.1f s",
        NAME,
        t_data - t_start,
        len(X),
        t_train - t_data,
        time.perf_counter() - t_start,
    )
    (out_dir / f"{NAME}.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta
