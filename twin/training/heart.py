"""Zoo builder of the heart-rhythm anomaly detector (1-D CNN on 4 s ECG windows).

``build(out_dir)`` trains a small 1-D convolutional network in torch on windows of
:mod:`twin.world.heart` (training seed), exports it to ONNX (``heart_rhythm_fp32.onnx``),
quantizes it to static int8 QDQ with onnxruntime (``heart_rhythm_int8.onnx``), evaluates both
files with onnxruntime on a held-out world (different seed: different wearers, episode rates
and phases) and writes ``heart_rhythm.json`` in the format of ``soil_irrigation.json``.

Model: input ``window`` ``[N, 1, 256]`` (one lead, 4 s at 64 Hz, millivolts, oldest first),
five Conv1d + ReLU layers (8-16 channels, four of stride 2, receptive field 127 samples ~ 2 s,
enough to compare consecutive RR intervals), global average pooling, a 16 -> 2 linear layer
and a softmax: output ``probabilities`` ``[N, 2]``, column 1 = arrhythmia present. Training
uses batch normalisation after each conv (without it the net sits on the "always negative"
plateau for hundreds of steps); the export folds each batch norm into its conv, so the graph
is Conv/ReLU only.

Determinism: seeded world, ``torch.manual_seed``, one torch thread, deterministic algorithms,
seeded shuffling, MinMax calibration on fixed training rows. Needs torch (training only).
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from twin.training.common import (
    DEFAULT_OUT,
    binary_metrics,
    sha256,
    training_rows,
    versions,
)
from twin.training.common import predict_proba as _predict
from twin.training.quantize import CalibrationBatches
from twin.training.quantize import quantize_int8 as _quantize
from twin.world.dataset import make_dataset
from twin.world.heart import HeartParams

NAME = "heart_rhythm"
PERIOD_S = 300.0
N_SAMPLES = 256
CHANNELS = tuple(f"ecg_{i}" for i in range(N_SAMPLES))
INPUT_NAME = "window"
OUTPUT_NAME = "probabilities"
POSITIVE_INDEX = 1
THRESHOLD = 0.5
OPSET = 17

TRAIN_SEED = 20_250_301
HELDOUT_SEED = 20_250_302
TORCH_SEED = 0

# Full build: 160 wearers x 1.5 days at 5 min (~69k windows, ~6 s to generate) for training,
# 80 x 1.5 days (~35k) held out. Episode rates differ per wearer, so many wearers matter more
# than long records.
SIZES = {
    False: {"nodes": 160, "days": 1.5, "heldout_nodes": 80, "heldout_days": 1.5, "epochs": 8},
    True: {"nodes": 24, "days": 0.75, "heldout_nodes": 16, "heldout_days": 0.5, "epochs": 3},
}
BATCH = {False: 128, True: 64}
LEARNING_RATE = 3e-3
CALIBRATION_ROWS = 2_000
CALIBRATION_BATCH = 500
CONV_CHANNELS = (8, 16, 16, 16, 16)
CONV_KERNELS = (7, 5, 5, 5, 5)
CONV_STRIDES = (2, 2, 2, 2, 1)

BUILD_COMMAND = f"python -m twin.training {NAME}"

log = logging.getLogger(__name__)


def _network() -> Any:
    """The CNN (a ``torch.nn.Module``); softmax is part of the exported graph."""
    import torch
    from torch import nn

    class RhythmNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            layers: list[nn.Module] = []
            c_in = 1
            for c, k, s in zip(CONV_CHANNELS, CONV_KERNELS, CONV_STRIDES, strict=True):
                conv = nn.Conv1d(c_in, c, k, stride=s, padding=k // 2)
                layers += [conv, nn.BatchNorm1d(c), nn.ReLU()]
                c_in = c
            self.features = nn.Sequential(*layers)
            self.pool = nn.AdaptiveAvgPool1d(1)  # exported as GlobalAveragePool
            self.head = nn.Linear(c_in, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(torch.flatten(self.pool(self.features(x)), 1))

    return RhythmNet()


def _for_export(net: Any) -> Any:
    """The trained network with batch norms folded into the convs, followed by a softmax."""
    import copy

    import torch
    from torch import nn
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    net = copy.deepcopy(net).eval()
    mods = list(net.features)
    fused: list[nn.Module] = []
    for i, mod in enumerate(mods):
        if isinstance(mod, nn.BatchNorm1d):
            continue
        if isinstance(mod, nn.Conv1d) and isinstance(mods[i + 1], nn.BatchNorm1d):
            mod = fuse_conv_bn_eval(mod, mods[i + 1])
        fused.append(mod)
    net.features = nn.Sequential(*fused)

    class WithSoftmax(nn.Module):
        def __init__(self, inner: nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.softmax(self.inner(x), dim=1)

    return WithSoftmax(net).eval()


def train(
    X: np.ndarray, y: np.ndarray, epochs: int, batch: int = BATCH[False], seed: int = TORCH_SEED
) -> Any:
    """Train the CNN with Adam on cross-entropy.

    Parameters
    ----------
    X : numpy.ndarray
        ``(rows, 256)`` float32 ECG windows [mV].
    y : numpy.ndarray
        Labels (1 = arrhythmia present).
    epochs : int
        Passes over the data.
    batch : int
        Rows per optimiser step.
    seed : int
        Torch seed (weight init and shuffling).

    Returns
    -------
    torch.nn.Module
        The trained network in eval mode (logits output).
    """
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    net = _network()
    xt = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32)).unsqueeze(1)
    yt = torch.from_numpy(np.asarray(y, dtype=np.int64))
    opt = torch.optim.Adam(net.parameters(), lr=LEARNING_RATE)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    gen = torch.Generator().manual_seed(seed)
    loss_fn = torch.nn.CrossEntropyLoss()
    for epoch in range(epochs):
        net.train()
        order = torch.randperm(len(xt), generator=gen)
        total = 0.0
        for i in range(0, len(xt), batch):
            idx = order[i : i + batch]
            opt.zero_grad()
            loss = loss_fn(net(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        sched.step()
        log.info("%s epoch %d: loss %.4f", NAME, epoch + 1, total / len(xt))
    return net.eval()


def export_onnx(net: Any, path: Path) -> None:
    """Export the network with a softmax head to ONNX (input ``window`` ``[N, 1, 256]``).

    Parameters
    ----------
    net : torch.nn.Module
        Output of :func:`train`.
    path : pathlib.Path
        Destination file.
    """
    import onnx
    import torch

    model = _for_export(net)
    dummy = torch.zeros(1, 1, N_SAMPLES)
    with tempfile.TemporaryDirectory(prefix="twin-export-") as tmp:
        raw = Path(tmp) / "raw.onnx"
        # The TorchScript exporter (dynamo=False) is deprecated in torch >= 2.9 but gives a
        # plain, static opset-17 graph that the quantizer and graph analysis handle well.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(
                model,
                (dummy,),
                str(raw),
                dynamo=False,
                opset_version=OPSET,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: {0: "N"}, OUTPUT_NAME: {0: "N"}},
            )
        proto = onnx.load(str(raw))
    proto.graph.name = NAME
    onnx.checker.check_model(proto)
    onnx.save_model(proto, str(path))


def quantize_int8(fp32_path: Path, int8_path: Path, X_calib: np.ndarray) -> None:
    """Static int8 QDQ quantization (per-channel conv weights, MinMax calibration).

    Parameters
    ----------
    fp32_path : pathlib.Path
        Float model written by :func:`export_onnx`.
    int8_path : pathlib.Path
        Where to write the quantized model.
    X_calib : numpy.ndarray
        Calibration windows ``(rows, 1, 256)`` float32 from the training data.
    """
    reader = CalibrationBatches.of_rows(X_calib, INPUT_NAME, CALIBRATION_BATCH)
    # One scale per output channel of each conv (CMSIS-NN scheme).
    _quantize(fp32_path, int8_path, reader, per_channel=True)


def predict_proba(path: Path, X: np.ndarray, batch: int = 4096) -> np.ndarray:
    """P(arrhythmia) of each ``(rows, 256)`` window, computed by onnxruntime on the file."""
    return _predict(path, X, (1, N_SAMPLES), batch)


def build(out_dir: Path = DEFAULT_OUT, small: bool = False) -> dict[str, Any]:
    """Train, export, quantize and evaluate the heart-rhythm model; write the zoo files.

    Parameters
    ----------
    out_dir : pathlib.Path
        Directory for ``heart_rhythm_{fp32,int8}.onnx`` and ``heart_rhythm.json``.
    small : bool
        Tiny world and 3 epochs (a few seconds; for tests), instead of the shipped size.

    Returns
    -------
    dict
        The metadata written to ``heart_rhythm.json``.
    """
    size = SIZES[bool(small)]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    X, y = make_dataset("heart", size["nodes"], size["days"], PERIOD_S, 1, TRAIN_SEED)
    _, _, calib_idx = training_rows(X, y, TRAIN_SEED, CALIBRATION_ROWS)
    X_calib = np.ascontiguousarray(X[calib_idx].reshape(-1, 1, N_SAMPLES))
    t1 = time.perf_counter()
    batch = BATCH[bool(small)]
    net = train(X, y, size["epochs"], batch)
    t2 = time.perf_counter()

    fp32_path = out_dir / f"{NAME}_fp32.onnx"
    int8_path = out_dir / f"{NAME}_int8.onnx"
    export_onnx(net, fp32_path)
    quantize_int8(fp32_path, int8_path, X_calib)

    Xh, yh = make_dataset(
        "heart", size["heldout_nodes"], size["heldout_days"], PERIOD_S, 1, HELDOUT_SEED
    )
    variants = {}
    for key, path in (("int8", int8_path), ("fp32", fp32_path)):
        variants[key] = {
            "file": path.name,
            "bytes": path.stat().st_size,
            "sha256": sha256(path),
            "heldout": binary_metrics(yh, predict_proba(path, Xh) >= THRESHOLD),
        }
    n_params = int(sum(p.numel() for p in net.parameters()))
    p = HeartParams()
    meta: dict[str, Any] = {
        "name": NAME,
        "task": (
            "binary classification: is an arrhythmia present in this 4 s single-lead ECG "
            "window (atrial fibrillation episode, or a premature ventricular beat in the window)"
        ),
        "input": INPUT_NAME,
        "input_shape": [None, 1, N_SAMPLES],
        "input_layout": (
            f"one observation: {N_SAMPLES} ECG values [mV] at {p.sample_rate_hz:g} Hz, "
            "oldest first (channels ecg_0..ecg_255 are the samples of the window)"
        ),
        "output": OUTPUT_NAME,
        "positive_index": POSITIVE_INDEX,
        "threshold": THRESHOLD,
        "window_samples": 1,
        "channels": list(CHANNELS),
        "period_s": int(PERIOD_S),
        "train_seed": TRAIN_SEED,
        "heldout_seed": HELDOUT_SEED,
        "train_data": {
            "world": "twin.world.heart (HeartParams defaults)",
            "n_nodes": size["nodes"],
            "days": size["days"],
            "rows_generated": int(len(X)),
            "rows_used": int(len(X)),
            "positives_rate": round(float(np.mean(y)), 6),
            "calibration_rows": int(len(X_calib)),
        },
        "heldout_data": {
            "n_nodes": size["heldout_nodes"],
            "days": size["heldout_days"],
            "rows": int(len(Xh)),
        },
        "architecture": {
            "framework": "torch",
            "layers": [
                f"Conv1d({c}, k={k}, stride={s}) + ReLU (batch norm folded)"
                for c, k, s in zip(CONV_CHANNELS, CONV_KERNELS, CONV_STRIDES, strict=True)
            ]
            + ["GlobalAveragePool", "Linear(16, 2)", "Softmax"],
            "epochs": size["epochs"],
            "batch": batch,
            "optimizer": f"Adam lr {LEARNING_RATE:g}, cosine schedule",
            "torch_seed": TORCH_SEED,
            "parameters": n_params,
        },
        "quantization": {
            "tool": "onnxruntime.quantization.quantize_static",
            "format": "QDQ",
            "weights": "int8 symmetric, per-channel",
            "activations": "int8 asymmetric, per-tensor",
            "calibration": "MinMax",
        },
        "build_command": BUILD_COMMAND,
        "variants": variants,
        "versions": versions("torch"),
    }
    log.info(
        "%s: data %.1f s, training %.1f s (%d rows), total %.1f s",
        NAME,
        t1 - t0,
        t2 - t1,
        len(X),
        time.perf_counter() - t0,
    )
    (out_dir / f"{NAME}.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta
