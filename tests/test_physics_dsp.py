"""The DSP front end as its own compute stage."""

from __future__ import annotations

import numpy as np
import pytest

from twin import api
from twin.physics import dsp


def test_fft_operation_count():
    # A radix-2 complex FFT of N points takes 5 N log2 N flops (the count FFTW's benchmarks use
    # to report MFLOPS); a real-input FFT about half. N = 1024: 51,200 / 2.
    assert dsp.fft_ops(1024) == pytest.approx(25_600)


def test_mfcc_work_is_dominated_by_the_fft():
    total = dsp.mfcc_ops(49, 240, 256, 40, 10)
    fft = 49 * dsp.fft_ops(256)
    assert 0.5 < fft / total < 0.9
    # Doubling the frames doubles the work.
    assert dsp.mfcc_ops(98, 240, 256, 40, 10) == pytest.approx(2 * total)


def test_front_end_is_priced_per_core():
    # Keyword spotting computes MFCCs on the device before the network runs.
    _, m4 = api.profile("keyword_spotting", "nano33ble")
    _, m0 = api.profile("keyword_spotting", "pico")
    assert m4.latency_by_class_s["frontend"] > 0
    # Edge Impulse measured the same spectral pipeline at 14.8x the cycles on a Cortex-M0+
    # (no FPU) as on a Cortex-M4F; twin's per-core costs carry that ratio.
    cycles = {e.board: e.latency_by_class_s["frontend"] * hz for e, hz in ((m4, 64e6), (m0, 133e6))}
    assert cycles["pico"] / cycles["nano33ble"] == pytest.approx(14.8, rel=0.01)
    # A model without a front end has none, and --frontend-ops adds one to any model.
    _, soil = api.profile("soil_irrigation", "nano33ble")
    assert "frontend" not in soil.latency_by_class_s
    _, soil_fe = api.profile("soil_irrigation", "nano33ble", frontend_ops=1e6)
    assert soil_fe.latency_s == pytest.approx(soil.latency_s + 1e6 * 2.0 / 64e6)


def test_mfcc_layout_and_loudness():
    # 1 s at 8 kHz, 30 ms frames every 20 ms: the MLPerf Tiny KWS layout of 49 x 10.
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 8000)) * 0.05
    args = (8000, 240, 160, 256, 40, 10, 20.0, 4000.0)
    f = dsp.mfcc(x, *args)
    assert f.shape == (3, 49, 10) and f.dtype == np.float32
    # Per clip, and independent of the batch it comes in.
    np.testing.assert_array_equal(dsp.mfcc(x[1:2], *args), f[1:2])
    # A 10x louder clip adds log(100) to every log-mel value: only c0 moves (orthonormal DCT).
    g = dsp.mfcc(10 * x, *args)
    np.testing.assert_allclose(g[..., 0] - f[..., 0], np.log(100) * np.sqrt(40), rtol=1e-4)
    # The work counted for this front end covers the same frames.
    assert dsp.mfcc_ops(49, 240, 256, 40, 10) > 49 * dsp.fft_ops(256)


def test_mel_filterbank_and_dct():
    fb = dsp.mel_filterbank(16_000, 512, 40, 20.0, 8000.0)
    assert fb.shape == (257, 40) and np.all(fb.sum(axis=0) > 0)  # no empty band
    assert dsp.hz_to_mel(1000.0) == pytest.approx(1000.0, abs=0.1)  # HTK: 1 kHz ~ 1000 mel
    assert dsp.mel_to_hz(dsp.hz_to_mel(440.0)) == pytest.approx(440.0)
    d = dsp.dct_matrix(40, 13)
    np.testing.assert_allclose(d.T @ d, np.eye(13), atol=1e-12)
