"""Feature extraction (the DSP front end) as its own compute stage.

Many TinyML models do not see raw samples: keyword spotting runs on MFCCs, vibration models on
a spectrum. On small cores that front end can cost more than the network (Edge Impulse's
gesture pipeline on a Cortex-M0+: 370 ms of DSP for 2 ms of neural network). Its work is
counted in floating-point operations from the pipeline's parameters and priced per core in
``device_profiles/frontend_costs.yaml``.

The module also holds the front ends themselves where a world needs one to produce its model
input (:func:`mfcc` for the keyword-spotting audio world), so that the operations counted and
the operations run are described in one place.
"""

from __future__ import annotations

import functools
import math

import numpy as np


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


# -- the MFCC front end itself -------------------------------------------------------------------
# The operation counts above price a front end; the functions below compute one, for worlds whose
# model input is a feature map (keyword spotting). Tables are float32 because the front end of a
# device runs in float32, and cached because a world calls the front end on every batch.


def hz_to_mel(freq_hz: np.ndarray | float) -> np.ndarray:
    """Mel value of a frequency, HTK scale ``2595 log10(1 + f / 700)``.

    Parameters
    ----------
    freq_hz : array_like
        Frequency [Hz].

    Returns
    -------
    numpy.ndarray
        Mel value [mel].

    References
    ----------
    S. Young et al., *The HTK Book* (v3.4), Cambridge University, 2006, sec. 5.4.
    """
    return 2595.0 * np.log10(1.0 + np.asarray(freq_hz) / 700.0)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    """Frequency of a mel value, the inverse of :func:`hz_to_mel` [Hz]."""
    return 700.0 * (10.0 ** (np.asarray(mel) / 2595.0) - 1.0)


def mel_filterbank(
    sample_rate_hz: float, n_fft: int, n_mels: int, low_hz: float, high_hz: float
) -> np.ndarray:
    """Triangular mel filters on the rfft bins, ``(n_fft // 2 + 1, n_mels)``.

    HTK mel scale, ``n_mels`` filters with edges equally spaced in mel between ``low_hz`` and
    ``high_hz``; each triangle is evaluated at the bin centres, and the narrowest low filters
    are widened to at least one bin on each side so that none is empty.

    Parameters
    ----------
    sample_rate_hz : float
        Sampling rate of the audio [Hz].
    n_fft : int
        FFT length [samples].
    n_mels : int
        Number of mel bands.
    low_hz, high_hz : float
        Lower and upper edge of the filterbank [Hz].

    Returns
    -------
    numpy.ndarray
        Filter weights (float64, unnormalised: peak 1 per filter).

    References
    ----------
    S. B. Davis and P. Mermelstein, "Comparison of parametric representations for monosyllabic
    word recognition in continuously spoken sentences", IEEE Trans. ASSP 28(4), 1980.
    """
    bin_hz = np.arange(n_fft // 2 + 1) * sample_rate_hz / n_fft
    edges_hz = mel_to_hz(np.linspace(hz_to_mel(low_hz), hz_to_mel(high_hz), n_mels + 2))
    spacing_hz = sample_rate_hz / n_fft
    fb = np.zeros((len(bin_hz), n_mels))
    for m in range(n_mels):
        lo, c, hi = edges_hz[m], edges_hz[m + 1], edges_hz[m + 2]
        lo = min(lo, c - spacing_hz)
        hi = max(hi, c + spacing_hz)
        up = (bin_hz - lo) / (c - lo)
        down = (hi - bin_hz) / (hi - c)
        fb[:, m] = np.clip(np.minimum(up, down), 0.0, None)
    return fb


def dct_matrix(n_mels: int, n_coef: int) -> np.ndarray:
    """Orthonormal DCT-II from ``n_mels`` log-mel values to the first ``n_coef`` coefficients.

    Parameters
    ----------
    n_mels : int
        Number of log-mel values (DCT length).
    n_coef : int
        Number of cepstral coefficients kept.

    Returns
    -------
    numpy.ndarray
        ``(n_mels, n_coef)`` matrix (float64); ``logmel @ d`` gives the coefficients.
    """
    n = np.arange(n_mels)[:, None]
    k = np.arange(n_coef)[None, :]
    d = np.cos(np.pi * (n + 0.5) * k / n_mels) * np.sqrt(2.0 / n_mels)
    d[:, 0] /= np.sqrt(2.0)
    return d


@functools.lru_cache(maxsize=8)
def _mfcc_tables(
    n_samples: int,
    sample_rate_hz: float,
    frame_samples: int,
    hop_samples: int,
    n_fft: int,
    n_mels: int,
    n_coef: int,
    low_hz: float,
    high_hz: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Frame indices, window, filterbank and DCT of one front-end configuration (cached)."""
    n_frames = 1 + (n_samples - frame_samples) // hop_samples
    frame_idx = hop_samples * np.arange(n_frames)[:, None] + np.arange(frame_samples)[None, :]
    window = np.hanning(frame_samples + 2)[1:-1].astype(np.float32)  # Hann without zero ends
    fb = mel_filterbank(sample_rate_hz, n_fft, n_mels, low_hz, high_hz).astype(np.float32)
    dct = dct_matrix(n_mels, n_coef).astype(np.float32)
    for a in (frame_idx, window, fb, dct):
        a.flags.writeable = False  # shared by every caller through the cache
    return frame_idx, window, fb, dct


def mfcc(
    audio: np.ndarray,
    sample_rate_hz: float,
    frame_samples: int,
    hop_samples: int,
    n_fft: int,
    n_mels: int,
    n_coef: int,
    low_hz: float,
    high_hz: float,
    log_floor: float = 1e-6,
) -> np.ndarray:
    """MFCC feature maps of equal-length clips: framing, Hann window, FFT, mel, log, DCT.

    Runs in float32, like a device's front end. Frames start every ``hop_samples`` and only
    whole frames are kept: ``1 + (n_samples - frame_samples) // hop_samples`` of them.

    Parameters
    ----------
    audio : numpy.ndarray
        ``(n, n_samples)`` waveforms (full scale = 1).
    sample_rate_hz : float
        Sampling rate [Hz].
    frame_samples, hop_samples : int
        Frame length and frame step [samples].
    n_fft : int
        FFT length [samples] (frames are zero-padded to it).
    n_mels, n_coef : int
        Mel bands, and cepstral coefficients kept.
    low_hz, high_hz : float
        Edges of the mel filterbank [Hz].
    log_floor : float
        Added to each mel energy before the log (silence stays finite).

    Returns
    -------
    numpy.ndarray
        ``(n, frames, n_coef)`` float32.

    References
    ----------
    S. B. Davis and P. Mermelstein, IEEE Trans. ASSP 28(4), 1980 (MFCC); C. Banbury et al.,
    "MLPerf Tiny Benchmark", NeurIPS Datasets and Benchmarks 2021 (the keyword-spotting layout:
    30 ms frames every 20 ms, 40 mel bands, 10 coefficients).
    """
    audio = np.asarray(audio, dtype=np.float32)
    frame_idx, window, fb, dct = _mfcc_tables(
        audio.shape[-1], float(sample_rate_hz), frame_samples, hop_samples, n_fft, n_mels,
        n_coef, float(low_hz), float(high_hz),
    )  # fmt: skip
    frames = audio[:, frame_idx] * window  # (n, frames, frame_samples)
    spec = np.fft.rfft(frames, n=n_fft, axis=-1)
    power = spec.real**2 + spec.imag**2
    logmel = np.log(power @ fb + np.float32(log_floor))
    return (logmel @ dct).astype(np.float32)
