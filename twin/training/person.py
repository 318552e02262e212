"""Zoo builder: person detection (visual wake word) on 32 x 32 grayscale camera frames.

Trains a small MobileNet-like CNN on frames of :mod:`twin.world.camera` and ships

* ``person_detection_fp32.onnx`` -- the float graph (BatchNorm folded into the convolutions by
  the exporter), input ``window`` ``[N, 1, 32, 32]`` (pixel values in ``[0, 1]``), output
  ``probabilities`` ``[N, 2]`` (softmax; column 1 = person in view);
* ``person_detection_int8.onnx`` -- static int8 QDQ quantization by onnxruntime (int8 weights
  per output channel, int8 activations, MinMax calibration on training frames);
* ``person_detection_cloud.onnx`` -- a much larger fp32 CNN for the cloud (same input and
  output as the device model, so the simulator can send it the same frame);
* ``person_detection.json`` -- metadata in the format of ``soil_irrigation.json``, plus the cloud
  variant under ``variants.cloud`` and its network under ``cloud_architecture``.

Architecture (MLPerf Tiny VWW MobileNetV1 in miniature): conv 3x3 stride 2 to 8 channels, then
four depthwise-separable blocks (depthwise 3x3 + BN + ReLU, pointwise 1x1 + BN + ReLU) to 16,
32 (stride 2), 32 and 64 (stride 2) channels, global average pool, FC 64 -> 2, softmax. About
0.23 M MACs and 5.2 k parameters.

Data: cameras of the world sampled every 30 s, one frame kept every hour (``stride`` 120) so
that rows are nearly independent and cover all hours of the day; training and held-out worlds
have different seeds, hence different cameras, scenes and routines. Training: Adam with a
one-cycle learning-rate schedule, random horizontal flips, fixed seeds, one thread, so a rebuild
on the same machine gives the same weights.

Cloud model: a server has no microcontroller limits, so the cloud variant is a VGG-style CNN that
keeps the full 32 x 32 resolution in its first layer (tiny, distant persons cover only a few
pixels; the device model halves the resolution at once): conv 3x3 12 at 32 x 32, then three
stages of conv 3x3 stride 2 + conv 3x3 (24 ch at 16 x 16, 48 at 8 x 8, 96 at 4 x 4), global
average pool, FC 96 -> 2, softmax. About 6.1 M MACs (26x the device model) and 164 k parameters.
It is trained on the same training frames, after the device model (whose training is untouched),
with AdamW, a one-cycle schedule and label-preserving augmentation: horizontal flips, circular
shifts of up to 2 px (a roll keeps every pixel, so the visible silhouette area, hence the label,
is unchanged) and exposure gain jitter. With flips alone a width-16 version overfit the 24 k
frames (F1 0.87 on a separate validation world, seed 777, against 0.91 with the augmentation);
widths and epochs were chosen on that validation world, not on the held-out one.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from twin.training.common import (
    DEFAULT_OUT,
    binary_metrics,
    predict_proba,
    sha256,
    training_rows,
    versions,
)
from twin.training.quantize import CalibrationBatches
from twin.training.quantize import quantize_int8 as _quantize
from twin.world.camera import SIDE_PX, CameraWorld
from twin.world.dataset import make_dataset

NAME = "person_detection"
INPUT_NAME = "window"
OUTPUT_NAME = "probabilities"
POSITIVE_INDEX = 1
THRESHOLD = 0.5
PERIOD_S = 30.0  # one frame every 30 s (periodic duty-cycled capture)
STRIDE = 120  # keep one frame per camera every hour for the data sets
INPUT_SHAPE = (1, SIDE_PX, SIDE_PX)
OPSET = 17

TRAIN_SEED = 20_240_701
HELDOUT_SEED = 20_240_702
TORCH_SEED = 0

TRAIN_NODES = 1000
TRAIN_DAYS = 1.0
HELDOUT_NODES = 500
HELDOUT_DAYS = 1.0
EPOCHS = 12
BATCH = 256
LEARNING_RATE = 6e-3
CALIBRATION_ROWS = 1_000
CALIBRATION_BATCH = 250

# Cloud model (no MCU limits). Width 12 with 8 epochs trains in 2-3 min on one thread; in trials
# width 16 (10.8 M MACs) gained ~0.01 F1 for twice the time, width 8 (2.7 M MACs) lost ~0.015.
CLOUD_SEED = 1
CLOUD_WIDTH = 12
CLOUD_EPOCHS = 8
CLOUD_BATCH = 128
CLOUD_LEARNING_RATE = 3e-3
CLOUD_WEIGHT_DECAY = 5e-4
CLOUD_SHIFT_PX = 2  # circular shift, the same for a whole batch
CLOUD_GAIN_SD_LOG = 0.15  # exposure jitter: frames scaled by exp(N(0, sd)), clipped to [0, 1]

# small=True: a tiny, fast build for tests (seconds), same code path.
SMALL = {
    "n_nodes": 60,
    "days": 1.0,
    "heldout_nodes": 30,
    "heldout_days": 1.0,
    "epochs": 2,
    "cloud_epochs": 1,
}

BUILD_COMMAND = f"python -m twin.training {NAME}"

log = logging.getLogger(__name__)


def _network() -> Any:
    """The CNN (torch ``nn.Sequential``), randomly initialised from the current torch seed."""
    from torch import nn

    def conv_bn(c_in: int, c_out: int, k: int, stride: int, groups: int = 1) -> list:
        return [
            nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=groups, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(),
        ]

    layers = conv_bn(1, 8, 3, 2)
    c = 8
    for c_out, stride in ((16, 1), (32, 2), (32, 1), (64, 2)):
        layers += conv_bn(c, c, 3, stride, groups=c)  # depthwise
        layers += conv_bn(c, c_out, 1, 1)  # pointwise
        c = c_out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, 2)]
    return nn.Sequential(*layers)


def train_network(X: np.ndarray, y: np.ndarray, epochs: int = EPOCHS, seed: int = TORCH_SEED):
    """Train the CNN on frames ``X`` ``(rows, 1024)`` with labels ``y``.

    Parameters
    ----------
    X : numpy.ndarray
        Training frames, float32 in ``[0, 1]``.
    y : numpy.ndarray
        Labels (1 = person in view).
    epochs : int
        Passes over the training set.
    seed : int
        Torch seed (weight initialisation, shuffling, flips).

    Returns
    -------
    torch.nn.Module
        The trained network in eval mode, producing logits ``[N, 2]``.
    """
    import torch
    from torch import nn

    torch.manual_seed(seed)
    torch.set_num_threads(1)
    # channels-last memory layout: ~2.5x faster depthwise convolutions on CPU.
    net = _network().to(memory_format=torch.channels_last)
    xt = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32).reshape(-1, *INPUT_SHAPE))
    yt = torch.from_numpy(np.asarray(y, dtype=np.int64))
    steps = epochs * int(np.ceil(len(xt) / BATCH))
    opt = torch.optim.Adam(net.parameters(), lr=LEARNING_RATE, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LEARNING_RATE, total_steps=steps)
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(seed)
    net.train()
    for epoch in range(epochs):
        order = torch.randperm(len(xt), generator=gen)
        total = 0.0
        for i in range(0, len(xt), BATCH):
            idx = order[i : i + BATCH]
            xb = xt[idx]
            flip = torch.rand(len(idx), generator=gen) < 0.5
            xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb)
            xb = xb.contiguous(memory_format=torch.channels_last)
            opt.zero_grad()
            loss = loss_fn(net(xb), yt[idx])
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        log.info("epoch %d: loss %.4f", epoch + 1, total / len(xt))
    return net.to(memory_format=torch.contiguous_format).eval()


def _cloud_network(width: int = CLOUD_WIDTH) -> Any:
    """The cloud CNN (torch ``nn.Sequential``), randomly initialised from the current torch seed."""
    from torch import nn

    def conv_bn(c_in: int, c_out: int, stride: int) -> list:
        return [nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]

    w = width
    layers = conv_bn(1, w, 1)  # full resolution: small persons are a few pixels
    c = w
    for c_out in (2 * w, 4 * w, 8 * w):
        layers += conv_bn(c, c_out, 2) + conv_bn(c_out, c_out, 1)
        c = c_out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, 2)]
    return nn.Sequential(*layers)


def train_cloud_network(
    X: np.ndarray, y: np.ndarray, epochs: int = CLOUD_EPOCHS, seed: int = CLOUD_SEED
):
    """Train the cloud CNN on frames ``X`` ``(rows, 1024)`` with labels ``y``.

    Seeded and single-threaded with torch's deterministic algorithms switched on for the
    duration (the previous setting is restored), so a rebuild gives the same weights.

    Parameters
    ----------
    X : numpy.ndarray
        Training frames, float32 in ``[0, 1]``.
    y : numpy.ndarray
        Labels (1 = person in view).
    epochs : int
        Passes over the training set.
    seed : int
        Torch seed (weight initialisation, shuffling, augmentation).

    Returns
    -------
    torch.nn.Module
        The trained network in eval mode, producing logits ``[N, 2]``.
    """
    import torch
    from torch import nn

    was_deterministic = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        torch.manual_seed(seed)
        torch.set_num_threads(1)
        net = _cloud_network().to(memory_format=torch.channels_last)
        xt = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32).reshape(-1, *INPUT_SHAPE))
        yt = torch.from_numpy(np.asarray(y, dtype=np.int64))
        steps = epochs * int(np.ceil(len(xt) / CLOUD_BATCH))
        opt = torch.optim.AdamW(
            net.parameters(), lr=CLOUD_LEARNING_RATE, weight_decay=CLOUD_WEIGHT_DECAY
        )
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=CLOUD_LEARNING_RATE, total_steps=steps
        )
        loss_fn = nn.CrossEntropyLoss()
        gen = torch.Generator().manual_seed(seed)
        s = CLOUD_SHIFT_PX
        net.train()
        for epoch in range(epochs):
            order = torch.randperm(len(xt), generator=gen)
            total = 0.0
            for i in range(0, len(xt), CLOUD_BATCH):
                idx = order[i : i + CLOUD_BATCH]
                n = len(idx)
                xb = xt[idx]
                flip = torch.rand(n, generator=gen) < 0.5
                xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb)
                dy, dx = torch.randint(-s, s + 1, (2,), generator=gen).tolist()
                xb = torch.roll(xb, (dy, dx), (2, 3))
                gain = torch.exp(CLOUD_GAIN_SD_LOG * torch.randn(n, 1, 1, 1, generator=gen))
                xb = (xb * gain).clamp(0.0, 1.0).contiguous(memory_format=torch.channels_last)
                opt.zero_grad()
                loss = loss_fn(net(xb), yt[idx])
                loss.backward()
                opt.step()
                sched.step()
                total += float(loss.detach()) * n
            log.info("cloud epoch %d: loss %.4f", epoch + 1, total / len(xt))
    finally:
        torch.use_deterministic_algorithms(was_deterministic)
    return net.to(memory_format=torch.contiguous_format).eval()


def to_onnx(net: Any, path: Path) -> None:
    """Export the trained network with a softmax head to ONNX (opset 17, dynamic batch).

    Parameters
    ----------
    net : torch.nn.Module
        Output of :func:`train_network` or :func:`train_cloud_network` (eval mode: BatchNorm
        is folded into the convs).
    path : pathlib.Path
        Destination file.
    """
    import torch

    model = torch.nn.Sequential(net, torch.nn.Softmax(dim=1)).eval()
    dummy = torch.zeros(1, *INPUT_SHAPE)
    torch.onnx.export(
        model,
        (dummy,),
        str(path),
        dynamo=False,
        opset_version=OPSET,
        input_names=[INPUT_NAME],
        output_names=[OUTPUT_NAME],
        dynamic_axes={INPUT_NAME: {0: "N"}, OUTPUT_NAME: {0: "N"}},
        do_constant_folding=True,
    )


def quantize_int8(fp32_path: Path, int8_path: Path, X_calib: np.ndarray) -> None:
    """Static int8 QDQ quantization (per-channel int8 weights, int8 activations, MinMax).

    Parameters
    ----------
    fp32_path : pathlib.Path
        Float model written by :func:`to_onnx`.
    int8_path : pathlib.Path
        Where to write the quantized model.
    X_calib : numpy.ndarray
        Calibration frames ``(rows, 1024)`` from the training data.
    """
    X_calib = np.ascontiguousarray(X_calib, dtype=np.float32).reshape(-1, *INPUT_SHAPE)
    reader = CalibrationBatches.of_rows(X_calib, INPUT_NAME, CALIBRATION_BATCH)
    # Per-output-channel weight scales, as CMSIS-NN / TFLite Micro use for convolutions:
    # depthwise filters of very different magnitudes share no single scale well.
    _quantize(fp32_path, int8_path, reader, per_channel=True)


def build(out_dir: Path = DEFAULT_OUT, small: bool = False) -> dict[str, Any]:
    """Train, export, quantize and evaluate the person detection model.

    Parameters
    ----------
    out_dir : pathlib.Path
        Directory for the three ONNX files and the JSON metadata (created if missing).
    small : bool
        Build a tiny version (few cameras, one or two epochs) in seconds, for tests.

    Returns
    -------
    dict
        The metadata written to ``person_detection.json``.
    """
    cfg = {
        "n_nodes": TRAIN_NODES,
        "days": TRAIN_DAYS,
        "heldout_nodes": HELDOUT_NODES,
        "heldout_days": HELDOUT_DAYS,
        "epochs": EPOCHS,
        "cloud_epochs": CLOUD_EPOCHS,
    }
    if small:
        cfg.update(SMALL)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()

    X, y = make_dataset(
        "camera", cfg["n_nodes"], cfg["days"], PERIOD_S, 1, TRAIN_SEED, stride=STRIDE
    )
    _, _, calib_idx = training_rows(X, y, TRAIN_SEED, CALIBRATION_ROWS)
    t_data = time.perf_counter()
    net = train_network(X, y, epochs=cfg["epochs"])
    t_train = time.perf_counter()

    fp32_path = out_dir / f"{NAME}_fp32.onnx"
    int8_path = out_dir / f"{NAME}_int8.onnx"
    to_onnx(net, fp32_path)
    quantize_int8(fp32_path, int8_path, X[calib_idx])

    # The cloud model trains after the device model, so the device files do not depend on it.
    t_cloud = time.perf_counter()
    cloud_net = train_cloud_network(X, y, epochs=cfg["cloud_epochs"])
    cloud_path = out_dir / f"{NAME}_cloud.onnx"
    to_onnx(cloud_net, cloud_path)
    t_cloud = time.perf_counter() - t_cloud

    Xh, yh = make_dataset(
        "camera", cfg["heldout_nodes"], cfg["heldout_days"], PERIOD_S, 1, HELDOUT_SEED,
        stride=STRIDE,
    )  # fmt: skip
    Xh4 = Xh.reshape(-1, *INPUT_SHAPE)
    variants = {}
    for key, path in (("int8", int8_path), ("fp32", fp32_path), ("cloud", cloud_path)):
        pred = predict_proba(path, Xh4) >= THRESHOLD
        variants[key] = {
            "file": path.name,
            "bytes": path.stat().st_size,
            "sha256": sha256(path),
            "heldout": binary_metrics(yh, pred),
        }

    from twin.physics.graph import analyse_graph

    cloud_macs = int(analyse_graph(str(cloud_path)).macs)
    variants["cloud"]["macs"] = cloud_macs
    n_params = int(sum(p.numel() for p in net.parameters()))
    meta: dict[str, Any] = {
        "name": NAME,
        "task": (
            "binary classification: is a person in view of this camera (visible silhouette "
            ">= 0.5 % of the frame, after the Visual Wake Words rule), from one 32 x 32 "
            "grayscale frame"
        ),
        "input": INPUT_NAME,
        "input_shape": [None, *INPUT_SHAPE],
        "input_layout": "one frame, row-major pixels in [0, 1] (8-bit level / 255)",
        "output": OUTPUT_NAME,
        "positive_index": POSITIVE_INDEX,
        "threshold": THRESHOLD,
        "window_samples": 1,
        "channels": list(CameraWorld.channels),
        "period_s": int(PERIOD_S),
        "train_seed": TRAIN_SEED,
        "heldout_seed": HELDOUT_SEED,
        "train_data": {
            "n_nodes": cfg["n_nodes"],
            "days": cfg["days"],
            "stride": STRIDE,
            "rows_generated": int(len(X)),
            "rows_used": int(len(X)),
            "positives_rate": round(float(np.mean(y)), 6),
            "calibration_rows": int(len(calib_idx)),
        },
        "heldout_data": {
            "n_nodes": cfg["heldout_nodes"],
            "days": cfg["heldout_days"],
            "stride": STRIDE,
            "rows": int(len(Xh)),
        },
        "architecture": {
            "network": (
                "conv3x3/2 8 -> dw-sep 16 -> dw-sep 32 /2 -> dw-sep 32 -> dw-sep 64 /2 -> "
                "global average pool -> FC 2 -> softmax (BatchNorm folded, ReLU)"
            ),
            "framework": "torch",
            "seed": TORCH_SEED,
            "epochs": cfg["epochs"],
            "batch": BATCH,
            "optimizer": f"Adam, one-cycle lr max {LEARNING_RATE}, weight decay 1e-4",
            "augmentation": "random horizontal flip",
            "parameters": n_params,
        },
        "cloud_architecture": {
            "network": (
                f"conv3x3 {CLOUD_WIDTH} -> conv3x3/2 {2 * CLOUD_WIDTH} -> conv3x3 "
                f"{2 * CLOUD_WIDTH} -> conv3x3/2 {4 * CLOUD_WIDTH} -> conv3x3 {4 * CLOUD_WIDTH} "
                f"-> conv3x3/2 {8 * CLOUD_WIDTH} -> conv3x3 {8 * CLOUD_WIDTH} -> global average "
                "pool -> FC 2 -> softmax (BatchNorm folded, ReLU), fp32, not quantized"
            ),
            "framework": "torch",
            "seed": CLOUD_SEED,
            "epochs": cfg["cloud_epochs"],
            "batch": CLOUD_BATCH,
            "optimizer": (
                f"AdamW, one-cycle lr max {CLOUD_LEARNING_RATE}, weight decay {CLOUD_WEIGHT_DECAY}"
            ),
            "augmentation": (
                f"random horizontal flip, circular shift up to {CLOUD_SHIFT_PX} px per batch, "
                f"exposure gain exp(N(0, {CLOUD_GAIN_SD_LOG})) per frame, clipped to [0, 1]"
            ),
            "train_data": "the device model's training frames",
            "parameters": int(sum(p.numel() for p in cloud_net.parameters())),
            "macs": cloud_macs,
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
        "%s: %d training frames generated in %.1f s, device model trained in %.1f s, cloud model "
        "in %.1f s, built in %.1f s",
        NAME,
        len(X),
        t_data - t_start,
        t_train - t_data,
        t_cloud,
        time.perf_counter() - t_start,
    )
    (out_dir / f"{NAME}.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta
