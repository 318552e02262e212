"""Tests of the machine vibration world (twin.world.vibration): batching, spectra, faults."""

from __future__ import annotations

import math

import numpy as np
import pytest

from twin.rng import NodeStream, child_seeds, stream_key
from twin.world.dataset import make_dataset
from twin.world.vibration import DAY_S, HOUR_S, VibrationParams, VibrationWorld

PERIOD_S = 3600.0


def _world(
    seed: int,
    n_nodes: int,
    period_s: float = PERIOD_S,
    params: VibrationParams | None = None,
    history_samples: int = 0,
) -> VibrationWorld:
    ss_world, ss_stream, ss_phase = child_seeds(seed, 3)
    phase = np.random.default_rng(ss_phase).uniform(0, period_s, n_nodes)
    return VibrationWorld(
        params or VibrationParams(),
        n_nodes,
        period_s,
        phase,
        30 * DAY_S,
        np.random.default_rng(ss_world),
        NodeStream(stream_key(ss_stream)),
        history_samples=history_samples,
    )


def _run(world: VibrationWorld, n_steps: int, keep_capture: bool = False) -> dict:
    """Sample every node ``n_steps`` times; arrays are indexed ``[k, node, ...]``."""
    nodes = np.arange(world.n_nodes)
    out: dict[str, list] = {"spec": [], "truth": []}
    for _ in range(n_steps):
        x, y, d = world.sample_details(nodes)
        if not keep_capture:
            del d["capture"]
        out["spec"].append(x)
        out["truth"].append(y)
        for key, value in d.items():
            out.setdefault(key, []).append(value)
    return {k: np.array(v) for k, v in out.items()}


# --------------------------------------------------------------------------- (a) batching


@pytest.mark.parametrize("history_samples", [0, 3])
def test_spectra_do_not_depend_on_batching(history_samples):
    # A 12 h period and onsets within 3 days make faults develop during the 40 steps.
    params = VibrationParams(fault_onset_max_days=3.0, fault_grow_days_range=(2.0, 4.0))
    n_nodes, n_steps, period = 16, 40, 12 * HOUR_S
    ref = _run(_world(11, n_nodes, period, params, history_samples), n_steps)

    world = _world(11, n_nodes, period, params, history_samples)
    rng = np.random.default_rng(5)
    spec = np.full((n_steps, n_nodes, 64), np.nan, dtype=np.float32)
    truth = np.zeros((n_steps, n_nodes), dtype=bool)
    done = np.zeros(n_nodes, dtype=np.int64)
    spread = 0
    while np.any(done < n_steps):
        pending = np.flatnonzero(done < n_steps)
        size = rng.integers(1, len(pending) + 1)
        nodes = rng.permutation(pending)[:size]  # random subset, random order
        k = done[nodes]
        x, y = world.sample(nodes)
        spec[k, nodes] = x
        truth[k, nodes] = y
        done[nodes] += 1
        spread = max(spread, int(done.max() - done.min()))

    assert spread >= 10
    np.testing.assert_array_equal(spec, ref["spec"])
    np.testing.assert_array_equal(truth, ref["truth"])
    # Bearing impacts (drawn only for rows with a developing bearing fault) were exercised.
    assert np.any(ref["bearing"] & (ref["severity"] > 0))
    assert ref["truth"].any()


def test_different_seeds_give_different_worlds():
    a = _run(_world(1, 4), 2)
    b = _run(_world(2, 4), 2)
    assert not np.array_equal(a["spec"], b["spec"])


# --------------------------------------------------------------------------- (b) spectrum


@pytest.fixture(scope="module")
def world1() -> VibrationWorld:
    return _world(0, 1)


def test_spectrum_of_a_tone_carries_its_power(world1):
    # A sine of amplitude A at 200 Hz (bin centre, index 15) has mean square A^2 / 2; the Hann
    # main lobe spreads it over three bins whose band powers add up to exactly that.
    fs = world1.params.sample_rate_hz
    t = np.arange(world1.params.capture_samples) / fs
    a = 2.0
    x = a * np.sin(2 * np.pi * 200.0 * t + 0.3)[None, :]
    spec = world1.spectrum_db(x)[0]
    assert int(np.argmax(spec)) == 15
    power = 10 ** (spec / 10) * 1e-6
    np.testing.assert_allclose(power[14:17].sum(), a**2 / 2, rtol=1e-3)
    # Hann's equivalent noise bandwidth is 1.5 bins: the peak bin holds 2/3 of the power.
    np.testing.assert_allclose(power[15], a**2 / 2 / 1.5, rtol=1e-3)
    assert np.all(spec[20:] < spec[15] - 60)  # far sidelobes are tiny


def test_spectrum_of_white_noise_is_flat_at_the_density(world1):
    # White noise of variance s^2 spreads s^2 over 0..800 Hz: s^2 * 12.5 / 800 per bin.
    rng = np.random.default_rng(1)
    s = 0.1
    x = s * rng.standard_normal((400, world1.params.capture_samples))
    power = 10 ** (world1.spectrum_db(x) / 10) * 1e-6
    per_bin = power.mean(axis=0)
    expected = s**2 * 12.5 / 800.0
    # 400 captures x 7 half-overlapping segments: relative error of a bin mean ~2-3 %. The
    # 12.5 Hz bin reads ~18 % low: removing each segment's mean also removes the part of the
    # noise that the Hann main lobe of that bin shares with DC. The Nyquist bin is half-width.
    assert np.all(np.abs(per_bin[1:-1] / expected - 1) < 0.1)
    assert abs(per_bin[1:-1].mean() / expected - 1) < 0.02
    assert 0.7 < per_bin[0] / expected < 0.9
    assert 0.4 < per_bin[-1] / expected < 0.6


def test_capture_power_matches_its_spectrum():
    # Parseval on the world's own captures: the 64 band powers add up to the capture's mean
    # square (windowing weights the middle of each segment more, so single rows scatter).
    world = _world(3, 60)
    x, _, d = world.sample_details(np.arange(60))
    cap = d["capture"]
    ms = np.mean((cap - cap.mean(axis=1, keepdims=True)) ** 2, axis=1)
    ratio = (10 ** (x.astype(np.float64) / 10) * 1e-6).sum(axis=1) / ms
    assert abs(np.median(ratio) - 1) < 0.05
    assert np.all((ratio > 0.7) & (ratio < 1.4))


# --------------------------------------------------------------------------- (c) machines

N_NODES = 60
RUN_PERIOD_S = 4 * HOUR_S  # 6 samples a day over 36 days
N_STEPS = 216


@pytest.fixture(scope="module")
def run():
    world = _world(2024, N_NODES, RUN_PERIOD_S)
    return world, _run(world, N_STEPS)


def test_severity_grows_from_onset_and_sets_the_truth(run):
    world, r = run
    sev, t = r["severity"], r["t_s"]
    onset = world.onset_s[None, :]
    assert np.all(sev[t <= onset] == 0)
    assert np.all(sev[t > onset + DAY_S] > 0)
    assert np.all(np.diff(sev, axis=0) >= 0)  # wear never heals
    assert sev.max() <= world.params.fault_max_severity
    assert not sev[:, ~world.faulty].any()  # healthy machines stay healthy
    np.testing.assert_array_equal(r["truth"], sev > world.params.severity_threshold)
    # Exact growth law after onset.
    age = np.clip(t - onset, 0, None)
    expected = np.minimum((age / world.grow_s) ** 2, world.params.fault_max_severity)
    np.testing.assert_allclose(sev[np.isfinite(expected)], expected[np.isfinite(expected)])


def test_positives_rate_plausible(run):
    world, r = run
    truth = r["truth"]
    # 60 % of machines fail, onsets uniform over 30 days, threshold reached 3-8 days after.
    assert 0.10 <= truth.mean() <= 0.45
    assert 0.35 <= world.faulty.mean() <= 0.85
    ever = truth.any(axis=0)
    assert np.all(world.faulty[ever])
    assert (~ever).sum() >= 0.15 * N_NODES  # some machines never fail in the horizon


def test_shaft_speed_follows_motor_type_and_load(run):
    world, r = run
    f_r, load = r["shaft_hz"], r["load"]
    sync = world.params.line_hz / world.pole_pairs[None, :]
    slip = 1 - f_r / sync
    assert np.all((slip > 0) & (slip < 0.05))
    # Slip is proportional to load, per node.
    np.testing.assert_allclose(slip, world.rated_slip[None, :] * load)
    hour = (r["t_s"] % DAY_S) / HOUR_S
    day = (hour >= 6) & (hour < 22)
    assert load[day].mean() > load[~day].mean() + 0.3
    assert np.all((load > 0) & (load <= 1.1))


def _bin(f_hz: np.ndarray) -> np.ndarray:
    """Spectrum index of the bin containing ``f_hz`` (bins centred on 12.5 * (i + 1) Hz)."""
    return np.clip(np.round(f_hz / 12.5).astype(int) - 1, 0, 63)


def test_imbalance_raises_the_1x_line(run):
    world, r = run
    spec = r["spec"]
    nodes = np.flatnonzero(world.faulty & ~world.bearing)
    assert len(nodes) >= 5
    rise = []
    for i in nodes:
        sev = r["severity"][:, i]
        late, healthy = sev > 1.0, sev == 0
        if late.sum() < 3 or healthy.sum() < 3:
            continue
        b = _bin(r["shaft_hz"][:, i])
        level = spec[np.arange(N_STEPS), i, b]
        rise.append(level[late].mean() - level[healthy].mean())
    assert len(rise) >= 3
    # Severity > 1 adds > 4.5 mm/s to a residual of 0.3-1.5 mm/s: > 8 dB at the 1x bin.
    assert min(rise) > 6.0


def test_bearing_fault_raises_energy_near_the_resonance(run):
    world, r = run
    spec = r["spec"].astype(np.float64)
    nodes = np.flatnonzero(world.faulty & world.bearing)
    rise, rise_far = [], []
    for i in nodes:
        sev = r["severity"][:, i]
        late, healthy = sev > 1.0, sev == 0
        if late.sum() < 3 or healthy.sum() < 3:
            continue
        b = int(_bin(world.resonance_hz[i]))
        near = spec[:, i, max(b - 2, 0) : b + 3].mean(axis=1)
        rise.append(near[late].mean() - near[healthy].mean())
        rise_far.append(spec[late, i, :4].mean() - spec[healthy, i, :4].mean())
    assert len(rise) >= 3
    assert min(rise) > 10.0  # impacts ringing the housing dominate its resonance band
    assert np.mean(rise) > np.mean(rise_far) + 5  # ... more than the shaft-rate bins


def test_healthy_spectra_sit_above_the_sensor_floor(run):
    world, r = run
    p = world.params
    healthy = r["severity"] == 0
    spec = r["spec"][healthy]
    floor_db = 10 * math.log10(p.sensor_noise_ms2_per_rthz**2 * 12.5 / 1e-6)  # ~18.9 dB
    # Every band holds at least the sensor's noise: per-bin medians over healthy captures sit
    # no lower than the floor (the median of a 7-segment average is ~0.5 dB below its mean;
    # bin 0 and the half-width Nyquist bin excluded, see the white-noise test). Levels stay
    # physical (below 1 g in any band).
    medians = np.median(spec, axis=0)[1:-1]
    assert np.all(medians > floor_db - 1.0)
    assert spec.max() < 20 * math.log10(9.81 / 1e-3)


# --------------------------------------------------------------------------- (d) dataset


def test_make_dataset_layout_and_determinism():
    x, y = make_dataset("vibration", 5, 0.25, PERIOD_S, 1, 42)
    assert x.shape == (5 * 6, 64) and x.dtype == np.float32
    assert y.shape == (5 * 6,) and y.dtype == np.int64
    x2, y2 = make_dataset("vibration", 5, 0.25, PERIOD_S, 1, 42)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    assert not np.array_equal(x, make_dataset("vibration", 5, 0.25, PERIOD_S, 1, 43)[0])
    # Rows are step-major: the replayed world gives the same spectra.
    ss_world, ss_stream, ss_phase = child_seeds(42, 3)
    phase = np.random.default_rng(ss_phase).uniform(0, PERIOD_S, 5)
    world = VibrationWorld(
        VibrationParams(),
        5,
        PERIOD_S,
        phase,
        0.25 * DAY_S,
        np.random.default_rng(ss_world),
        NodeStream(stream_key(ss_stream)),
    )
    r = _run(world, 6)
    np.testing.assert_array_equal(x, r["spec"].reshape(-1, 64))
