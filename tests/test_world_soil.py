"""Tests of the soil moisture world (twin.world.soil): batching independence, physics, dataset."""

from __future__ import annotations

import math

import numpy as np
import pytest

from twin.rng import NodeStream, child_seeds, stream_key
from twin.world.dataset import make_dataset
from twin.world.soil import DAY_S, HOUR_S, SoilParams, SoilWorld

PERIOD_S = 1800.0


def _world(
    seed: int,
    n_nodes: int,
    days: float,
    period_s: float = PERIOD_S,
    params: SoilParams | None = None,
    history_samples: int = 0,
) -> SoilWorld:
    ss_world, ss_stream, ss_phase = child_seeds(seed, 3)
    phase = np.random.default_rng(ss_phase).uniform(0, period_s, n_nodes)
    return SoilWorld(
        params or SoilParams(),
        n_nodes,
        period_s,
        phase,
        days * DAY_S,
        np.random.default_rng(ss_world),
        NodeStream(stream_key(ss_stream)),
        history_samples=history_samples,
    )


def _run(world: SoilWorld, n_steps: int) -> dict[str, np.ndarray]:
    """Sample every node ``n_steps`` times; arrays are indexed ``[k, node]``."""
    nodes = np.arange(world.n_nodes)
    theta, readings, truth = [], [], []
    for _ in range(n_steps):
        theta.append(world.true_moisture(nodes).copy())
        r, y = world.sample(nodes)
        readings.append(r)
        truth.append(y)
    k = np.arange(n_steps)[:, None]
    return {
        "theta": np.array(theta),
        "readings": np.array(readings),
        "truth": np.array(truth),
        "t": world.phase_s[None, :] + k * world.period_s,
    }


# --------------------------------------------------------------------------- (a) batching


@pytest.mark.parametrize("history_samples", [0, 5])
def test_readings_do_not_depend_on_batching(history_samples):
    n_nodes, n_steps = 24, 200
    days = n_steps * PERIOD_S / DAY_S
    ref_world = _world(11, n_nodes, days, history_samples=history_samples)
    ref = _run(ref_world, n_steps)

    world = _world(11, n_nodes, days, history_samples=history_samples)
    rng = np.random.default_rng(5)
    readings = np.full((n_steps, n_nodes, 2), np.nan, dtype=np.float32)
    truth = np.zeros((n_steps, n_nodes), dtype=bool)
    theta = np.full((n_steps, n_nodes), np.nan)
    done = np.zeros(n_nodes, dtype=np.int64)
    spread = 0
    while np.any(done < n_steps):
        pending = np.flatnonzero(done < n_steps)
        size = rng.integers(1, len(pending) + 1)
        nodes = rng.permutation(pending)[:size]  # random subset, random order
        k = done[nodes]
        theta[k, nodes] = world.true_moisture(nodes)
        r, y = world.sample(nodes)
        readings[k, nodes] = r
        truth[k, nodes] = y
        done[nodes] += 1
        spread = max(spread, int(done.max() - done.min()))

    # The subsets really were mixed: nodes ran well ahead of each other at some point.
    assert spread >= 10
    np.testing.assert_array_equal(readings, ref["readings"])
    np.testing.assert_array_equal(truth, ref["truth"])
    np.testing.assert_array_equal(theta, ref["theta"])


def test_different_seeds_give_different_worlds():
    a = _run(_world(1, 5, 1.0), 20)
    b = _run(_world(2, 5, 1.0), 20)
    assert not np.array_equal(a["readings"], b["readings"])


# --------------------------------------------------------------------------- (b) physics

N_NODES = 50
DAYS = 20


@pytest.fixture(scope="module")
def run():
    world = _world(2024, N_NODES, DAYS)
    return world, _run(world, int(DAYS * DAY_S // PERIOD_S))


def _et_bound_per_step(world: SoilWorld) -> float:
    """Largest moisture loss to evapotranspiration in one step [m3/m3] (generous bound).

    ET rate = et_mm_day * pi/24 * sin(...) * temp_factor * Ks per hour, with sin <= 1, Ks <= 1,
    temp_factor <= 1 + coeff * (max temperature above the mean).
    """
    p = world.params
    warmest = world.temp_offset_c.max() + world.day_temp_c.max() + p.temp_daily_amplitude_c
    temp_factor = 1 + p.et_temp_coeff_per_c * max(warmest, 0.0)
    rate_mm_h = world.et_mm_day.max() * math.pi / 24 * temp_factor
    return rate_mm_h * world.period_s / HOUR_S / p.root_depth_mm


def _rain_in_step(world: SoilWorld, t0: np.ndarray) -> np.ndarray:
    """True where a rain event falls in [t0 - 1 s, t0 + period + 1 s] (conservative)."""
    lo = np.searchsorted(world.rain_t, t0 - 1.0)
    hi = np.searchsorted(world.rain_t, t0 + world.period_s + 1.0)
    return hi > lo


def _first_trusted_step(world: SoilWorld) -> int:
    """First sample index from which step-to-step checks are made (every sample)."""
    return 0


def _crosses_irrigation_hour(world: SoilWorld, t0: np.ndarray) -> np.ndarray:
    h = world.params.irrigation_hour * HOUR_S
    t1 = t0 + world.period_s
    return np.floor((t1 - h) / DAY_S) > np.floor((t0 - h) / DAY_S)


def test_moisture_stays_between_wilting_floor_and_field_capacity(run):
    world, r = run
    theta = r["theta"]
    assert np.all(theta >= 0.8 * world.wp - 1e-12)
    assert np.all(theta <= world.fc + 1e-12)
    # Per-node soil properties are physically ordered.
    assert np.all(world.wp < world.crit) and np.all(world.crit < world.fc)
    np.testing.assert_allclose(world.crit, world.fc - 0.5 * (world.fc - world.wp))


def test_moisture_never_falls_at_night(run):
    # _step evaluates ET at the interval midpoint and only when it lies in (06:00, 18:00). A
    # step whose both ends lie in [18:00, 06:00] (period < 12 h) has its midpoint at night, so
    # only rain and irrigation act on it: moisture must not decrease.
    world, r = run
    theta, t0 = r["theta"], r["t"]
    h0 = (t0[:-1] % DAY_S) / HOUR_S
    h1 = ((t0[:-1] + world.period_s) % DAY_S) / HOUR_S
    night = ((h0 >= 18) | (h0 <= 6)) & ((h1 >= 18) | (h1 <= 6))
    assert night.sum() > 0.4 * night.size
    drop = theta[:-1] - theta[1:]
    assert np.all(drop[night] <= 1e-12)


def test_moisture_falls_in_daylight_without_rain(run):
    # Counterpart of the night check: in a dry midday step ET removes water unless the zone is
    # at or below the wilting point (Ks = 0).
    world, r = run
    theta, t0 = r["theta"], r["t"][:-1]
    hm = ((t0 + 0.5 * world.period_s) % DAY_S) / HOUR_S
    dry_midday = (hm > 10) & (hm < 14) & ~_rain_in_step(world, t0)
    wet_enough = theta[:-1] > world.wp + 0.01
    sel = dry_midday & wet_enough
    assert sel.sum() > 1000
    assert np.all(theta[1:][sel] < theta[:-1][sel])


def test_irrigation_only_at_six_and_only_below_refill_point(run):
    world, r = run
    s = _first_trusted_step(world)
    theta, t0 = r["theta"][s:], r["t"][s:-1]
    rise = theta[1:] - theta[:-1]
    no_rain = ~_rain_in_step(world, t0)
    at_six = _crosses_irrigation_hour(world, t0)
    et_max = _et_bound_per_step(world)
    below = theta[:-1] < world.crit

    # Without rain, moisture can only rise through irrigation, i.e. on a step crossing 06:00,
    # and irrigation needs moisture below crit after that step's ET: theta_k < crit + ET.
    irrigated = no_rain & (rise > 1e-12)
    assert irrigated.any()
    assert np.all(at_six[irrigated])
    crit_plus = np.broadcast_to(world.crit + et_max, rise.shape)
    assert np.all(theta[:-1][irrigated] < crit_plus[irrigated])
    # Conversely a zone below crit at 06:00 is irrigated: it rises by the irrigation depth
    # (less this step's ET) or up to field capacity.
    due = no_rain & at_six & below
    assert due.any()
    depth = world.params.irrigation_mm / world.params.root_depth_mm
    expected_min = np.minimum(theta[:-1] + depth - et_max, world.fc[None, :])
    assert np.all(theta[1:][due] >= expected_min[due] - 1e-12)
    # And a zone clearly above crit at 06:00 is not irrigated (no jump of the irrigation size).
    skip = no_rain & at_six & (theta[:-1] >= world.crit + et_max)
    assert skip.any()
    assert np.all(rise[skip] <= 1e-12)


def test_without_rain_every_rise_is_a_six_oclock_irrigation():
    # Same world with the rain switched off: any increase of moisture is an irrigation.
    params = SoilParams(rain_events_per_day=0.0)
    world = _world(7, 30, 10, params=params)
    r = _run(world, int(10 * DAY_S // PERIOD_S))
    assert len(world.rain_t) == 0
    s = _first_trusted_step(world)
    theta, t0 = r["theta"][s:], r["t"][s:-1]
    rising = theta[1:] > theta[:-1] + 1e-12
    assert rising.any()
    assert np.all(_crosses_irrigation_hour(world, t0)[rising])
    crit_plus = np.broadcast_to(world.crit + _et_bound_per_step(world), theta[:-1].shape)
    assert np.all(theta[:-1][rising] < crit_plus[rising])


def test_first_samples_use_each_nodes_own_moisture():
    # Each zone starts at its own moisture, drawn in [crit, fc] of that zone, and (rain off)
    # moisture changes continuously: no jump when the ring has been cycled once.
    world = _world(3, 20, 2.0, params=SoilParams(rain_events_per_day=0.0))
    nodes = np.arange(20)
    first = world.true_moisture(nodes)
    assert np.all((first >= world.crit) & (first <= world.fc))
    assert len(np.unique(first)) == 20
    r = _run(world, 2 * world.width)
    step = np.abs(np.diff(r["theta"], axis=0))
    irrigation = world.params.irrigation_mm / world.params.root_depth_mm
    assert np.all(step[world.width - 1] < 0.5 * irrigation)


def test_truth_is_moisture_below_crit_now_or_within_six_hours(run):
    world, r = run
    theta, truth = r["theta"], r["truth"]
    below = theta < world.crit
    # True whenever the zone is below the refill point now.
    assert np.all(truth[below])
    # Exactly: below crit at some sample within [t, t + 6 h].
    ahead = math.ceil(world.params.horizon_truth_s / world.period_s)
    n = len(theta) - ahead
    window_min = np.min(np.stack([theta[j : j + n] for j in range(ahead + 1)]), axis=0)
    np.testing.assert_array_equal(truth[:n], window_min < world.crit)
    # Some positives are predictive (not yet below crit): the lookahead is doing something.
    assert np.any(truth & ~below)


def test_positives_rate_plausible_and_both_classes(run):
    _, r = run
    truth = r["truth"]
    assert truth.any() and (~truth).any()
    assert 0.05 <= truth.mean() <= 0.40
    # Most zones see both states over 20 days (irrigation refills them).
    per_node = truth.mean(axis=0)
    assert np.mean((per_node > 0) & (per_node < 1)) > 0.5


def test_soil_temperature_peaks_in_the_afternoon(run):
    world, r = run
    temp = r["readings"][:, :, 1].astype(np.float64)
    hour = ((r["t"] % DAY_S) // HOUR_S).astype(int)
    means = np.array([temp[hour == h].mean() for h in range(24)])
    assert 12 <= int(np.argmax(means)) < 18
    assert int(np.argmin(means)) < 6 or int(np.argmin(means)) >= 21
    # Daily swing close to twice the configured amplitude (hourly bins blur it a little).
    swing = means.max() - means.min()
    amp = world.params.temp_daily_amplitude_c
    assert 1.6 * amp < swing < 2.4 * amp
    # The true (noise-free) cycle within one day also peaks in the afternoon.
    t = 3 * DAY_S + np.arange(0, DAY_S, 60.0)
    true = world.soil_temp_c(np.zeros(len(t), dtype=np.int64), t)
    assert 12 <= (t[np.argmax(true)] % DAY_S) / HOUR_S <= 18


def test_reading_noise_has_configured_sd(run):
    world, r = run
    p = world.params
    err_m = r["readings"][:, :, 0].astype(np.float64) - r["theta"]
    nodes = np.broadcast_to(np.arange(world.n_nodes), r["t"].shape)
    err_t = r["readings"][:, :, 1].astype(np.float64) - world.soil_temp_c(nodes, r["t"])
    n = err_m.size
    for err, sd, quantum in (
        (err_m, p.noise_moisture_vwc, 0.5**24),
        (err_t, p.noise_temp_c, 40 * 0.5**24),
    ):
        # Mean: 5 sigma of the sample mean. SD: for a normal sample the relative standard error
        # of s is 1/sqrt(2 n); 5 of those, plus float32 rounding of the readings (quantum).
        assert abs(err.mean()) < 5 * sd / math.sqrt(n) + quantum
        assert abs(err.std() / sd - 1) < 5 / math.sqrt(2 * n) + quantum / sd
    # The two channels' noises are independent (sample correlation sd 1/sqrt(n)).
    assert abs(np.corrcoef(err_m.ravel(), err_t.ravel())[0, 1]) < 5 / math.sqrt(n)


# --------------------------------------------------------------------------- (c) dataset


def test_make_dataset_layout_matches_a_replayed_world():
    n_nodes, days, period, window, stride, seed = 6, 3.0, 900.0, 16, 4, 42
    x, y = make_dataset("soil", n_nodes, days, period, window, seed, stride=stride)
    n_steps = int(days * DAY_S // period)
    emit = [k for k in range(window - 1, n_steps) if (k - window + 1) % stride == 0]
    assert x.shape == (len(emit) * n_nodes, window * 2)
    assert y.shape == (len(emit) * n_nodes,)
    assert set(np.unique(y)) <= {0, 1} and len(np.unique(y)) == 2
    assert x.dtype == np.float32

    # Replay the same world (make_dataset's seed layout: world, stream, phase children).
    ss_world, ss_stream, ss_phase = child_seeds(seed, 3)
    phase = np.random.default_rng(ss_phase).uniform(0, period, n_nodes)
    world = SoilWorld(
        SoilParams(),
        n_nodes,
        period,
        phase,
        days * DAY_S,
        np.random.default_rng(ss_world),
        NodeStream(stream_key(ss_stream)),
    )
    rec = _run(world, n_steps)
    rows = x.reshape(len(emit), n_nodes, window, 2)  # oldest first, channels interleaved
    for b, k in enumerate(emit):
        # Last reading of the row is the reading taken at that step; the row is the window.
        np.testing.assert_array_equal(rows[b, :, -1], rec["readings"][k])
        np.testing.assert_array_equal(
            rows[b], rec["readings"][k - window + 1 : k + 1].transpose(1, 0, 2)
        )
        np.testing.assert_array_equal(y.reshape(len(emit), n_nodes)[b], rec["truth"][k])


def test_make_dataset_windows_overlap_by_stride():
    # Property independent of any replay: consecutive windows of a node share window - stride
    # readings, shifted by stride; even columns are moisture, odd ones temperature.
    n_nodes, window, stride = 4, 12, 3
    x, _ = make_dataset("soil", n_nodes, 2.0, 1800.0, window, 7, stride=stride)
    rows = x.reshape(-1, n_nodes, window * 2)
    np.testing.assert_array_equal(rows[1:, :, : 2 * (window - stride)], rows[:-1, :, 2 * stride :])
    assert np.all((x[:, 0::2] > 0.0) & (x[:, 0::2] < 0.6))
    assert np.all((x[:, 1::2] > 5.0) & (x[:, 1::2] < 40.0))


def test_make_dataset_is_deterministic_per_seed():
    a = make_dataset("soil", 3, 1.0, 1800.0, 8, 5, stride=4)
    b = make_dataset("soil", 3, 1.0, 1800.0, 8, 5, stride=4)
    c = make_dataset("soil", 3, 1.0, 1800.0, 8, 6, stride=4)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
