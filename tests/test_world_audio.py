"""Tests of the smart-speaker audio world (twin.world.audio): batching, signal, features, data."""

from __future__ import annotations

import numpy as np
import pytest

from twin.physics.dsp import dct_matrix, mel_filterbank
from twin.rng import NodeStream, child_seeds, stream_key
from twin.world.audio import (
    CLIP_SAMPLES,
    FAN,
    MEL_HIGH_HZ,
    MEL_LOW_HZ,
    N_FFT,
    N_FRAMES,
    N_MELS,
    N_MFCC,
    PHONEMES,
    QUIET,
    SAMPLE_RATE_HZ,
    AudioParams,
    AudioWorld,
    features,
    synthesise,
)
from twin.world.dataset import make_dataset

PERIOD_S = 60.0
N_FEATURES = N_FRAMES * N_MFCC


def _world(
    seed: int,
    n_nodes: int,
    params: AudioParams | None = None,
    history_samples: int = 0,
    period_s: float = PERIOD_S,
) -> AudioWorld:
    ss_world, ss_stream, ss_phase = child_seeds(seed, 3)
    phase = np.random.default_rng(ss_phase).uniform(0, period_s, n_nodes)
    return AudioWorld(
        params or AudioParams(),
        n_nodes,
        period_s,
        phase,
        86_400.0,
        np.random.default_rng(ss_world),
        NodeStream(stream_key(ss_stream)),
        history_samples=history_samples,
    )


# --------------------------------------------------------------------------- (a) batching


@pytest.mark.parametrize("history_samples", [0, 3])
def test_windows_do_not_depend_on_batching(history_samples):
    # A high keyword rate so that keyword, other-speech and TV branches all run in subsets.
    params = AudioParams(keyword_rate_mean=0.3, other_speech_mean=0.5)
    n_nodes, n_steps = 12, 16
    ref_world = _world(11, n_nodes, params, history_samples)
    all_nodes = np.arange(n_nodes)
    ref = [ref_world.sample(all_nodes) for _ in range(n_steps)]
    ref_x = np.stack([r[0] for r in ref])
    ref_y = np.stack([r[1] for r in ref])
    assert ref_y.any() and not ref_y.all()

    world = _world(11, n_nodes, params, history_samples)
    rng = np.random.default_rng(5)
    x = np.full((n_steps, n_nodes, N_FEATURES), np.nan, dtype=np.float32)
    y = np.zeros((n_steps, n_nodes), dtype=bool)
    done = np.zeros(n_nodes, dtype=np.int64)
    spread = 0
    while np.any(done < n_steps):
        pending = np.flatnonzero(done < n_steps)
        nodes = rng.permutation(pending)[: rng.integers(1, len(pending) + 1)]
        k = done[nodes]
        obs, truth = world.sample(nodes)
        x[k, nodes] = obs
        y[k, nodes] = truth
        done[nodes] += 1
        spread = max(spread, int(done.max() - done.min()))
    assert spread >= 4
    np.testing.assert_array_equal(x, ref_x)
    np.testing.assert_array_equal(y, ref_y)

    # observe() is the same pure function of (node, k), in any order.
    k_obs = rng.integers(0, n_steps, 10)
    nodes = rng.integers(0, n_nodes, 10)
    obs, truth = _world(11, n_nodes, params, history_samples).observe(
        nodes, k_obs - history_samples
    )
    np.testing.assert_array_equal(obs, ref_x[k_obs, nodes])
    np.testing.assert_array_equal(truth, ref_y[k_obs, nodes])


def test_different_seeds_give_different_worlds():
    a, _ = _world(1, 4).observe(np.arange(4), np.zeros(4, dtype=np.int64))
    b, _ = _world(2, 4).observe(np.arange(4), np.zeros(4, dtype=np.int64))
    assert not np.array_equal(a, b)


# --------------------------------------------------------------------------- (b) signal


def test_feature_front_end_geometry():
    fb = mel_filterbank(SAMPLE_RATE_HZ, N_FFT, N_MELS, MEL_LOW_HZ, MEL_HIGH_HZ)
    assert fb.shape == (129, N_MELS)
    assert np.all(fb.sum(axis=0) > 0)  # no empty band
    centres = (fb * np.arange(129)[:, None]).sum(0) / fb.sum(0)
    assert np.all(np.diff(centres) > 0)  # bands in ascending frequency
    d = dct_matrix(N_MELS, N_MFCC)
    np.testing.assert_allclose(d.T @ d, np.eye(N_MFCC), atol=1e-12)  # orthonormal columns


def test_features_of_a_tone_and_of_loudness():
    n = np.arange(CLIP_SAMPLES)
    fb = mel_filterbank(SAMPLE_RATE_HZ, N_FFT, N_MELS, MEL_LOW_HZ, MEL_HIGH_HZ)
    freqs = np.arange(129) * SAMPLE_RATE_HZ / 256
    for f_hz in (300.0, 1000.0, 2500.0):
        tone = 0.1 * np.sin(2 * np.pi * f_hz * n / SAMPLE_RATE_HZ)[None, :]
        fr = tone[:, :240] * np.hanning(242)[1:-1]
        power = np.abs(np.fft.rfft(fr, n=256)) ** 2
        band = int(np.argmax(power @ fb))
        # The loudest mel band is the one whose triangle covers the tone's frequency.
        assert fb[np.argmin(np.abs(freqs - f_hz)), band] > 0
    # Scaling the signal by 10 adds log(100) to every log-mel value: only c0 moves, by
    # log(100) * sqrt(N_MELS) (orthonormal DCT); the spectral shape (c1..c9) is unchanged.
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, CLIP_SAMPLES)) * 0.05  # well above the log floor
    a, b = features(x), features(10 * x)
    np.testing.assert_allclose(b[..., 0] - a[..., 0], np.log(100) * np.sqrt(N_MELS), rtol=1e-4)
    np.testing.assert_allclose(b[..., 1:], a[..., 1:], atol=2e-3)


def _vowel(name: str, f0: float, scale: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(0)
    bank = rng.standard_normal((7, 16384 + CLIP_SAMPLES)).astype(np.float32)
    ph = np.full((1, 9), -1)
    ph[0, 0] = PHONEMES.index(name)
    return synthesise(
        ph,
        np.array([f0]),
        np.array([scale]),
        np.array([9.0]),  # long enough to fill the clip
        np.ones(1),
        np.zeros(1),
        np.zeros((1, 9)),
        np.zeros((1, 3)),
        np.zeros(1, dtype=np.int64),
        bank,
    )[0].astype(np.float64)


def test_synthesised_vowels_have_their_formants_and_pitch():
    f = np.fft.rfftfreq(4096, 1 / SAMPLE_RATE_HZ)

    def envelope(x):
        spec = np.abs(np.fft.rfft(x[2000:6096] * np.hanning(4096))) ** 2
        # Smooth over ~200 Hz to see the formant envelope rather than the harmonics.
        k = np.ones(103) / 103
        return np.convolve(spec, k, mode="same")

    a, i = envelope(_vowel("a", 110.0)), envelope(_vowel("i", 110.0))
    low = (f > 200) & (f < 1000)
    high = (f > 1500) & (f < 3000)
    # /a/: high F1 (730 Hz); /i/: low F1 (270 Hz) and high F2 (2290 Hz).
    assert 600 < f[low][np.argmax(a[low])] < 900
    assert f[low][np.argmax(i[low])] < 450
    assert 2000 < f[high][np.argmax(i[high])] < 2600
    # A larger formant scale (shorter vocal tract) moves F1 up proportionally.
    a_child = envelope(_vowel("a", 110.0, scale=1.2))
    assert f[low][np.argmax(a_child[low])] > 1.1 * f[low][np.argmax(a[low])]
    # Pitch: the autocorrelation peaks at the glottal period (the pitch declines by 16 %
    # over the utterance, so allow its range).
    x = _vowel("a", 150.0)[3000:5000]
    ac = np.correlate(x, x, mode="full")[len(x) - 1 :]
    lag = 20 + int(np.argmax(ac[20:120]))
    assert 0.85 / 150 < lag / SAMPLE_RATE_HZ < 1.15 / 150
    # A sustained vowel at level 1 has RMS ~ 1 (the synthesiser's normalisation).
    assert 0.7 < np.sqrt(np.mean(_vowel("a", 150.0) ** 2)) < 1.3


def test_keyword_windows_are_louder_than_background_in_quiet_homes():
    params = AudioParams(keyword_rate_mean=0.5, other_speech_mean=0.0, background_probs=(1, 0, 0))
    world = _world(3, 50, params)
    assert np.all(world.background == QUIET)
    nodes = np.repeat(np.arange(50), 4)
    k = np.tile(np.arange(1080, 1084), 50)  # around 18:00, the busiest hour
    audio, kw = world.audio(nodes, k)
    assert kw.any() and (~kw).any()
    rms_db = 10 * np.log10(np.mean(audio.astype(np.float64) ** 2, axis=1))
    assert rms_db[kw].min() > rms_db[~kw].max() + 3
    assert np.all(rms_db[~kw] < -50)  # microphone floor
    assert np.all(np.abs(audio) < 1.0)  # no clipping at full scale


def test_fan_homes_hum_at_their_fan_frequency():
    params = AudioParams(keyword_rate_mean=0.0, other_speech_mean=0.0, background_probs=(0, 1, 0))
    world = _world(4, 6, params)
    assert np.all(world.background == FAN)
    audio, kw = world.audio(np.arange(6), np.zeros(6, dtype=np.int64))
    assert not kw.any()
    spec = np.abs(np.fft.rfft(audio.astype(np.float64), axis=1))
    f = np.fft.rfftfreq(CLIP_SAMPLES, 1 / SAMPLE_RATE_HZ)  # 1 Hz bins
    for row, hum in zip(spec, world.fan_hum_hz, strict=True):
        peak = f[np.argmax(row[f < 400])]
        # The strongest low-frequency line is the hum fundamental (within a bin of leakage).
        assert abs(peak - hum) <= 1.5


# --------------------------------------------------------------------------- (c) routine, data


def test_keyword_rate_follows_the_daily_routine_and_is_rare():
    world = _world(5, 400)
    nodes = np.arange(400)
    t_evening = np.full(400, 19.5 * 3600.0)
    t_night = np.full(400, 3.5 * 3600.0)
    p_eve = world.keyword_probability(nodes, t_evening).mean()
    p_night = world.keyword_probability(nodes, t_night).mean()
    assert p_eve > 10 * p_night
    # Averaged over the day, a few % of windows hold the keyword.
    hours = np.arange(24) * 3600.0 + 1800.0
    p_day = np.mean([world.keyword_probability(nodes, np.full(400, h)).mean() for h in hours])
    assert 0.01 < p_day < 0.05


def test_make_dataset_positives_and_layout():
    x, y = make_dataset("audio", 60, 1.0, PERIOD_S, 1, 42, stride=30)
    assert x.shape == (48 * 60, N_FEATURES) and x.dtype == np.float32
    assert y.dtype == np.int64 and set(np.unique(y)) == {0, 1}
    assert 0.005 < y.mean() < 0.06
    # Rows are (k, node) in order and equal the world's windows.
    world = _world(42, 60)
    rows = np.array([5, 61, 2000])
    k, node = (rows // 60) * 30, rows % 60
    obs, truth = world.observe(node, k)
    np.testing.assert_array_equal(x[rows], obs)
    np.testing.assert_array_equal(y[rows], truth)
    # MFCC values are finite and in the range of log-mel energies of 16-bit-like audio.
    assert np.all(np.isfinite(x))
    c0 = x.reshape(-1, N_FRAMES, N_MFCC)[..., 0]
    assert -90 < c0.min() and c0.max() < 40


def test_make_dataset_is_deterministic_per_seed():
    a = make_dataset("audio", 4, 0.05, PERIOD_S, 1, 5)
    b = make_dataset("audio", 4, 0.05, PERIOD_S, 1, 5)
    c = make_dataset("audio", 4, 0.05, PERIOD_S, 1, 6)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
