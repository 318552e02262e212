"""Feature extraction (the DSP front end) as its own compute stage.

Many TinyML models do not see raw samples: keyword spotting runs on MFCCs, vibration models on
a spectrum. On small cores that front end can cost more than the network (Edge Impulse's
gesture pipeline on a Cortex-M0+: 370 ms of DSP for 2 ms of neural network). Its work is
counted in floating-point operations from the pipeline's parameters and priced per core in
``device_profiles/frontend_costs.yaml``.
"""

from __future__ import annotations

import math


def fft_ops(n_fft: int) -> float:
    """Floating-point operations of one real-input FFT of ``n_fft`` points.

    A radix-2 complex FFT takes ``5 N log2 N`` flops (Cooley-Tukey operation count); a real
    input of length N costs about half of that.
    """
    return 2.5 * n_fft * math.log2(n_fft)


def mfcc_ops(frames: int, frame_samples: int, n_fft: int, n_mels: int, n_coef: int) -> float:
    """Operations of an MFCC front end: window, FFT, power, mel filterbank, log, DCT.

    Per frame: ``frame_samples`` window multiplies, one real FFT, 3 operations per power bin,
    2 multiply-adds per bin into (at most two) overlapping triangular mel filters, one log per
    mel band, and an ``n_mels x n_coef`` DCT.
    """
    bins = n_fft // 2 + 1
    per_frame = frame_samples + fft_ops(n_fft) + 3 * bins + 2 * 2 * bins + n_mels
    per_frame += 2 * n_mels * n_coef
    return frames * per_frame


def spectrum_ops(samples: int, n_bins: int) -> float:
    """Operations of a magnitude spectrum averaged into ``n_bins`` bands (window, FFT, |X|)."""
    bins = samples // 2 + 1
    return samples + fft_ops(samples) + 4 * bins + n_bins
