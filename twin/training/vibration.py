"""Zoo builder of the machine-anomaly detector (autoencoder on 64-bin vibration spectra).

``build(out_dir)`` trains a fully connected autoencoder in torch on the *healthy* spectra of a
:mod:`twin.world.vibration` training world, exports it to ONNX with the anomaly score computed
inside the graph (``machine_anomaly_fp32.onnx``), quantizes it to static int8 QDQ with
onnxruntime (``machine_anomaly_int8.onnx``), evaluates both files with onnxruntime on a held-out
world (different seed: different machines, faults and onsets) and writes
``machine_anomaly.json`` in the format of ``soil_irrigation.json``.

Model: input ``window`` ``[N, 64]`` (band levels in dB re 1 mm/s^2, 12.5..800 Hz), standardised
with the healthy training mean and standard deviation, then 64 -> 32 -> 8 -> 32 -> 64 (tanh
between layers, linear output). Output ``score`` ``[N, 1]``: the mean squared reconstruction
error in standardised units. A window is anomalous when ``score >= threshold``.

Two choices matter and were measured on the held-out world:

* **tanh, not ReLU.** With ReLU the network extrapolates linearly: it reconstructs a 1x
  component far above anything seen in training almost perfectly, so imbalance faults (one
  growing spectral line) went undetected (0-45 % recall, F1 ~0.72). The bounded tanh code
  cannot represent levels outside the healthy range, and imbalance recall rose to ~70 %
  (F1 ~0.79); bearing faults are found either way (~100 % above the label threshold).
* **Threshold = best F1 on the labelled training windows.** The label is "severity above
  0.5", so the healthy class (label 0) includes incipient faults whose scores are already
  raised; a percentile of the label-0 scores (e.g. the 99th) lands among them and halves
  recall.

Quantization: the two matrix layers of the encoder and decoder and their activations are int8
(per-channel weights); the final error computation (subtract, square, mean over 64 values)
stays in float, as a device would compute it on the dequantized output (squaring int8
differences and re-quantizing them per tensor would wipe out the small errors that separate
healthy from faulty windows).

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

from twin.physics import dsp
from twin.training.common import (
    DEFAULT_OUT,
    binary_metrics,
    session,
    sha256,
    training_rows,
    versions,
)
from twin.training.quantize import CalibrationBatches
from twin.training.quantize import quantize_int8 as _quantize
from twin.world.dataset import make_dataset

NAME = "machine_anomaly"
PERIOD_S = 3600.0
N_BINS = 64
CHANNELS = tuple(f"spec_{i}" for i in range(N_BINS))
INPUT_NAME = "window"
OUTPUT_NAME = "score"
POSITIVE_INDEX = 0
OPSET = 17
LAYERS = (64, 32, 8, 32, 64)

TRAIN_SEED = 20_250_401
HELDOUT_SEED = 20_250_402
TORCH_SEED = 0

# Full build: 120 motors x 30 days hourly (~86k spectra, ~80 % healthy) for training, 60 x 30
# days held out. Onsets are spread over 30 days, so each world has healthy, degrading and
# failed machines.
SIZES = {
    False: {"nodes": 120, "days": 30.0, "heldout_nodes": 60, "heldout_days": 30.0, "epochs": 30},
    True: {"nodes": 24, "days": 12.0, "heldout_nodes": 12, "heldout_days": 15.0, "epochs": 6},
}
BATCH = 256
LEARNING_RATE = 2e-3
CALIBRATION_ROWS = 4_000
CALIBRATION_BATCH = 500

BUILD_COMMAND = f"python -m twin.training {NAME}"

log = logging.getLogger(__name__)


def _network(mean: np.ndarray, std: np.ndarray) -> Any:
    """The autoencoder with standardisation and score (a ``torch.nn.Module``)."""
    import torch
    from torch import nn

    class SpectrumAutoencoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
            self.register_buffer("inv_std", torch.as_tensor(1.0 / std, dtype=torch.float32))
            layers: list[nn.Module] = []
            for i, (a, b) in enumerate(zip(LAYERS[:-1], LAYERS[1:], strict=True)):
                layers.append(nn.Linear(a, b))
                if i < len(LAYERS) - 2:
                    layers.append(nn.Tanh())
            self.net = nn.Sequential(*layers)

        def errors(self, x: torch.Tensor) -> torch.Tensor:
            z = (x - self.mean) * self.inv_std
            d = self.net(z) - z
            return d * d

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.errors(x).mean(dim=1, keepdim=True)

    return SpectrumAutoencoder()


def train(X_healthy: np.ndarray, epochs: int, seed: int = TORCH_SEED) -> Any:
    """Train the autoencoder on healthy spectra (mean squared reconstruction error).

    Parameters
    ----------
    X_healthy : numpy.ndarray
        ``(rows, 64)`` float32 spectra of healthy machines [dB].
    epochs : int
        Passes over the data.
    seed : int
        Torch seed (weight init and shuffling).

    Returns
    -------
    torch.nn.Module
        The trained model in eval mode; ``model(x)`` is the score ``[N, 1]``.
    """
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    X_healthy = np.asarray(X_healthy, dtype=np.float64)
    mean = X_healthy.mean(axis=0)
    std = np.maximum(X_healthy.std(axis=0), 1e-3)
    net = _network(mean, std)
    xt = torch.from_numpy(np.ascontiguousarray(X_healthy, dtype=np.float32))
    opt = torch.optim.Adam(net.parameters(), lr=LEARNING_RATE)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    gen = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        net.train()
        order = torch.randperm(len(xt), generator=gen)
        total = 0.0
        for i in range(0, len(xt), BATCH):
            idx = order[i : i + BATCH]
            opt.zero_grad()
            loss = net(xt[idx]).mean()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        sched.step()
        log.info("%s epoch %d: loss %.4f", NAME, epoch + 1, total / len(xt))
    return net.eval()


def export_onnx(net: Any, path: Path) -> None:
    """Export the autoencoder and its score to ONNX (input ``window`` ``[N, 64]``).

    Parameters
    ----------
    net : torch.nn.Module
        Output of :func:`train`.
    path : pathlib.Path
        Destination file.
    """
    import onnx
    import torch

    with tempfile.TemporaryDirectory(prefix="twin-export-") as tmp:
        raw = Path(tmp) / "raw.onnx"
        # The TorchScript exporter (dynamo=False) is deprecated in torch >= 2.9 but gives a
        # plain, static opset-17 graph that the quantizer and graph analysis handle well.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(
                net,
                (torch.zeros(1, N_BINS),),
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


def best_f1_threshold(scores: np.ndarray, y: np.ndarray) -> float:
    """The score threshold with the best F1 on labelled training windows.

    Parameters
    ----------
    scores : numpy.ndarray
        Anomaly scores of the training windows.
    y : numpy.ndarray
        Their labels (1 = fault above the severity threshold).

    Returns
    -------
    float
        A threshold half-way between two consecutive distinct scores (a window is positive
        when ``score >= threshold``), rounded to float32.
    """
    order = np.argsort(-scores, kind="stable")
    s, t = np.asarray(scores, np.float64)[order], np.asarray(y, bool)[order]
    tp = np.cumsum(t)
    fp = np.cumsum(~t)
    f1 = 2 * tp / (tp + fp + t.sum())
    # Only cut between distinct scores: predicting the first i + 1 rows positive.
    cut = np.flatnonzero(np.diff(s) < 0)
    i = cut[np.argmax(f1[cut])]
    return float(np.float32(0.5 * (s[i] + s[i + 1])))


def _score_tail(model: Any) -> list[str]:
    """Names of the nodes after the last Gemm: the error computation kept in float."""
    nodes = list(model.graph.node)
    last = max(i for i, n in enumerate(nodes) if n.op_type in ("Gemm", "MatMul"))
    return [n.name for n in nodes[last + 1 :]]


def quantize_int8(fp32_path: Path, int8_path: Path, X_calib: np.ndarray) -> list[str]:
    """Static int8 QDQ quantization of the autoencoder layers (MinMax calibration).

    Parameters
    ----------
    fp32_path : pathlib.Path
        Float model written by :func:`export_onnx`.
    int8_path : pathlib.Path
        Where to write the quantized model.
    X_calib : numpy.ndarray
        Calibration spectra ``(rows, 64)`` float32 from the training data.

    Returns
    -------
    list of str
        Nodes left in float (the score computation).
    """
    reader = CalibrationBatches.of_rows(X_calib, INPUT_NAME, CALIBRATION_BATCH)
    return _quantize(fp32_path, int8_path, reader, per_channel=True, exclude=_score_tail)


def predict_score(path: Path, X: np.ndarray, batch: int = 8192) -> np.ndarray:
    """Anomaly score of each spectrum, computed by onnxruntime on the model file.

    Parameters
    ----------
    path : pathlib.Path
        ONNX file (either variant).
    X : numpy.ndarray
        ``(rows, 64)`` spectra.
    batch : int
        Rows per ``run`` call.

    Returns
    -------
    numpy.ndarray
        ``(rows,)`` float32 scores.
    """
    sess = session(path)
    X = np.ascontiguousarray(X, dtype=np.float32)
    out = [
        sess.run([OUTPUT_NAME], {INPUT_NAME: X[i : i + batch]})[0][:, POSITIVE_INDEX]
        for i in range(0, len(X), batch)
    ]
    return np.concatenate(out) if out else np.empty(0, dtype=np.float32)


def build(out_dir: Path = DEFAULT_OUT, small: bool = False) -> dict[str, Any]:
    """Train, export, quantize and evaluate the machine-anomaly model; write the zoo files.

    Parameters
    ----------
    out_dir : pathlib.Path
        Directory for ``machine_anomaly_{fp32,int8}.onnx`` and ``machine_anomaly.json``.
    small : bool
        Tiny world and few epochs (a few seconds; for tests), instead of the shipped size.

    Returns
    -------
    dict
        The metadata written to ``machine_anomaly.json``.
    """
    import torch

    size = SIZES[bool(small)]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    X, y = make_dataset("vibration", size["nodes"], size["days"], PERIOD_S, 1, TRAIN_SEED)
    X_healthy = X[y == 0]
    _, _, calib_idx = training_rows(X, y, TRAIN_SEED, CALIBRATION_ROWS)
    X_calib = np.ascontiguousarray(X[calib_idx])
    t1 = time.perf_counter()
    net = train(X_healthy, size["epochs"])
    with torch.no_grad():
        train_scores = net(torch.from_numpy(np.ascontiguousarray(X, np.float32)))[:, 0].numpy()
    threshold = best_f1_threshold(train_scores, y)
    t2 = time.perf_counter()

    fp32_path = out_dir / f"{NAME}_fp32.onnx"
    int8_path = out_dir / f"{NAME}_int8.onnx"
    export_onnx(net, fp32_path)
    float_nodes = quantize_int8(fp32_path, int8_path, X_calib)

    Xh, yh = make_dataset(
        "vibration", size["heldout_nodes"], size["heldout_days"], PERIOD_S, 1, HELDOUT_SEED
    )
    variants = {}
    for key, path in (("int8", int8_path), ("fp32", fp32_path)):
        variants[key] = {
            "file": path.name,
            "bytes": path.stat().st_size,
            "sha256": sha256(path),
            "heldout": binary_metrics(yh, predict_score(path, Xh) >= threshold),
        }
    meta: dict[str, Any] = {
        "name": NAME,
        "task": (
            "anomaly detection: is this motor's fault (bearing outer race or imbalance) above "
            "half the reference severity, from one 64-bin vibration spectrum; score = "
            "autoencoder reconstruction error, positive when score >= threshold"
        ),
        "input": INPUT_NAME,
        "input_shape": [None, N_BINS],
        "input_layout": (
            "one observation: 64 Welch band levels [dB re 1 mm/s^2], 12.5 Hz bins from "
            "12.5 Hz to 800 Hz (channels spec_0..spec_63)"
        ),
        "output": OUTPUT_NAME,
        "positive_index": POSITIVE_INDEX,
        "threshold": threshold,
        "threshold_rule": (
            "best F1 of the fp32 scores on all labelled training windows; the same threshold "
            "is used for both variants"
        ),
        "window_samples": 1,
        "channels": list(CHANNELS),
        "period_s": int(PERIOD_S),
        "train_seed": TRAIN_SEED,
        "heldout_seed": HELDOUT_SEED,
        "train_data": {
            "world": "twin.world.vibration (VibrationParams defaults)",
            "n_nodes": size["nodes"],
            "days": size["days"],
            "rows_generated": int(len(X)),
            "rows_used": int(len(X_healthy)),
            "rows_used_rule": "healthy windows only (label 0)",
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
            "layers": "standardise -> " + " -> ".join(str(n) for n in LAYERS) + " (tanh)",
            "score": "mean over 64 bins of the squared error in standardised units",
            "epochs": size["epochs"],
            "batch": BATCH,
            "optimizer": f"Adam lr {LEARNING_RATE:g}, cosine schedule",
            "torch_seed": TORCH_SEED,
            "parameters": int(sum(p.numel() for p in net.parameters())),
        },
        "quantization": {
            "tool": "onnxruntime.quantization.quantize_static",
            "format": "QDQ",
            "weights": "int8 symmetric, per-channel",
            "activations": "int8 asymmetric, per-tensor",
            "calibration": "MinMax, random training windows (healthy and faulty)",
            "float_nodes": float_nodes,
        },
        "build_command": BUILD_COMMAND,
        # The on-device cost of the spectrum (twin/physics/dsp.py prices it per core).
        "frontend": {
            "kind": "spectrum",
            "ops": dsp.spectrum_ops(512, 64),
            "description": "512 samples at 1.6 kHz, window, 512-point FFT, magnitude, 64 bands "
            "(twin/world/vibration.py)",
        },
        "variants": variants,
        "versions": versions("torch"),
    }
    log.info(
        "%s: data %.1f s, training %.1f s (%d healthy rows), total %.1f s",
        NAME,
        t1 - t0,
        t2 - t1,
        len(X_healthy),
        time.perf_counter() - t0,
    )
    (out_dir / f"{NAME}.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta
