"""The DSP front end as its own compute stage."""

from __future__ import annotations

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
