"""Tests of the camera world (twin.world.camera): batching independence, routine, sensor, data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from twin.rng import NodeStream, child_seeds, stream_key
from twin.world.camera import (
    DAY_S,
    DOORBELL,
    HOUR_S,
    KINDS,
    N_PIXELS,
    OFFICE,
    CameraParams,
    CameraWorld,
)
from twin.world.dataset import make_dataset

PERIOD_S = 600.0

# No distractors and no people: frames differ only by illumination and sensor noise.
QUIET = CameraParams(
    arrivals_per_hour=(0.0, 0.0, 0.0, 0.0),
    pet_camera_probability=0.0,
    shadow_probability=0.0,
    swing_camera_probability=0.0,
    tv_probability=0.0,
)


def _world(
    seed: int,
    n_nodes: int,
    period_s: float = PERIOD_S,
    params: CameraParams | None = None,
    history_samples: int = 0,
    phase_s: np.ndarray | None = None,
) -> CameraWorld:
    ss_world, ss_stream, ss_phase = child_seeds(seed, 3)
    if phase_s is None:
        phase_s = np.random.default_rng(ss_phase).uniform(0, period_s, n_nodes)
    return CameraWorld(
        params or CameraParams(),
        n_nodes,
        period_s,
        phase_s,
        DAY_S,
        np.random.default_rng(ss_world),
        NodeStream(stream_key(ss_stream)),
        history_samples=history_samples,
    )


def _run(world: CameraWorld, n_steps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frames ``[k, node, px]``, truth and occupancy ``[k, node]`` sampling all nodes per step."""
    nodes = np.arange(world.n_nodes)
    frames, truth, occ = [], [], []
    for _ in range(n_steps):
        x, y = world.sample(nodes)
        frames.append(x)
        truth.append(y)
        occ.append(world.occupied(nodes))
    return np.array(frames), np.array(truth), np.array(occ)


# --------------------------------------------------------------------------- (a) batching


@pytest.mark.parametrize("history_samples", [0, 3])
def test_frames_do_not_depend_on_batching(history_samples):
    n_nodes, n_steps = 24, 72  # 12 h at 10 min: day and evening, visits start and end
    ref_frames, ref_truth, _ = _run(_world(11, n_nodes, history_samples=history_samples), n_steps)
    assert ref_truth.any() and (~ref_truth).any()

    world = _world(11, n_nodes, history_samples=history_samples)
    rng = np.random.default_rng(5)
    frames = np.full((n_steps, n_nodes, N_PIXELS), np.nan, dtype=np.float32)
    truth = np.zeros((n_steps, n_nodes), dtype=bool)
    done = np.zeros(n_nodes, dtype=np.int64)
    spread = 0
    while np.any(done < n_steps):
        pending = np.flatnonzero(done < n_steps)
        size = rng.integers(1, len(pending) + 1)
        nodes = rng.permutation(pending)[:size]  # random subset, random order
        k = done[nodes]
        x, y = world.sample(nodes)
        frames[k, nodes] = x
        truth[k, nodes] = y
        done[nodes] += 1
        spread = max(spread, int(done.max() - done.min()))

    assert spread >= 10  # nodes really ran ahead of each other
    np.testing.assert_array_equal(frames, ref_frames)
    np.testing.assert_array_equal(truth, ref_truth)


def test_skipped_frames_do_not_change_later_frames():
    n_nodes, n_steps = 16, 30
    ref_frames, ref_truth, _ = _run(_world(3, n_nodes), n_steps)
    world = _world(3, n_nodes)
    nodes = np.arange(n_nodes)
    for k in range(n_steps):
        if k % 3:
            world.skip(nodes)
            continue
        x, y = world.sample(nodes)
        np.testing.assert_array_equal(x, ref_frames[k])
        np.testing.assert_array_equal(y, ref_truth[k])


def test_different_seeds_give_different_worlds():
    a, _, _ = _run(_world(1, 4), 3)
    b, _, _ = _run(_world(2, 4), 3)
    assert not np.array_equal(a, b)


# --------------------------------------------------------------------------- (b) frames


@pytest.fixture(scope="module")
def day_run():
    # 200 cameras over one day at 20 min: 14k frames (~2 s).
    world = _world(2024, 200, period_s=1200.0)
    frames, truth, occ = _run(world, int(DAY_S // 1200.0))
    return world, frames, truth, occ


def test_frames_are_8_bit_levels_in_unit_range(day_run):
    _, frames, _, _ = day_run
    assert frames.dtype == np.float32
    assert frames.shape[2] == N_PIXELS == 32 * 32
    assert frames.min() >= 0.0 and frames.max() <= 1.0
    levels = frames[::7].astype(np.float64) * 255.0
    assert np.abs(levels - np.round(levels)).max() < 1e-3
    # Frames use the range: not all black or all clipped.
    mean = frames.mean(axis=2)
    assert 0.2 < np.median(mean) < 0.6


def test_truth_is_occupancy_with_a_visible_person(day_run):
    world, _, truth, occ = day_run
    # A person in view means the camera is occupied ...
    assert not np.any(truth & ~occ)
    # ... and most occupied frames show the person; a few are cropped out at the frame edge or
    # hidden behind foreground furniture (visible part < 0.5 % of the frame).
    shown = truth[occ].mean()
    assert 0.8 < shown < 1.0, shown


def test_positives_rate_plausible_and_routine_by_kind(day_run):
    world, _, truth, occ = day_run
    assert 0.1 <= truth.mean() <= 0.35
    t = world.phase_s[None, :] + np.arange(len(truth))[:, None] * world.period_s
    hour = (t % DAY_S) / HOUR_S
    night = (hour >= 1) & (hour < 5)
    kind = np.broadcast_to(world.scene_kind, truth.shape)
    for k in range(len(KINDS)):
        sel = kind == k
        # Every kind has people in view sometimes, and far more by day/evening than at night.
        assert truth[sel].mean() > 0.03, KINDS[k]
        assert truth[sel & night].mean() < 0.5 * truth[sel & ~night].mean(), KINDS[k]
    # Long stays in living rooms and offices, short visits elsewhere.
    long_stay = truth[np.isin(kind, (2, 3))].mean()
    short = truth[np.isin(kind, (0, 1))].mean()
    assert long_stay > 1.5 * short
    # Offices are used in working hours.
    office = kind == OFFICE
    work = (hour >= 9) & (hour < 17)
    off = (hour < 6) | (hour >= 21)
    assert truth[office & work].mean() > 5 * truth[office & off].mean()


@pytest.mark.parametrize(
    ("kind", "hour", "period_s"),
    [(OFFICE, 11.5, 1800.0), (DOORBELL, 12.5, 30.0), (DOORBELL, 12.5, 1800.0)],
)
def test_occupancy_is_the_markov_chain_in_equilibrium(kind, hour, period_s):
    # Where the hourly profile is flat for hours (offices 09-12, doorbells 10-17), the chain
    # reaches its equilibrium: P(occupied) = lambda / (lambda + mu) per camera, the same for any
    # capture period because transitions are exact over one period.
    weights = [0.0] * 4
    weights[kind] = 1.0
    params = CameraParams(kind_weights=tuple(weights))
    n = 3000
    world = _world(7, n, period_s=period_s, params=params, phase_s=np.zeros(n))
    nodes = np.arange(n)
    for _ in range(int(round(hour * HOUR_S / period_s))):
        world.skip(nodes)
    world.skip(nodes)  # the sample at `hour`
    t = np.full(n, hour * HOUR_S)
    lam, mu = world._rates(nodes, t)
    pi = lam / (lam + mu)
    got = world.occupied(nodes).mean()
    # Sum of independent Bernoulli(pi_i): 5 standard deviations.
    sd = math.sqrt(np.sum(pi * (1 - pi))) / n
    assert abs(got - pi.mean()) < 5 * sd, (got, pi.mean(), sd)


def test_auto_exposure_and_noise_by_day_and_night():
    # Quiet scenes (no people, no distractors); two frames 60 s apart see the same light, so
    # their difference is sensor noise (and 8-bit rounding).
    period = 60.0
    n = 200
    world = _world(9, n, period_s=period, params=QUIET, phase_s=np.zeros(n))
    nodes = np.arange(n)
    stats = {}
    for name, hour in (("night", 3.0), ("noon", 12.5)):
        while world._k_next[0] * period < hour * HOUR_S:
            world.skip(nodes)
        a, _ = world.sample(nodes)
        b, _ = world.sample(nodes)
        stats[name] = (a.mean(axis=1), (a - b).std(axis=1) / math.sqrt(2))
    indoor = world.scene_kind != DOORBELL
    noon_mean, noon_sd = stats["noon"]
    _, night_sd = stats["night"]
    lit = world.daylight(nodes, np.full(n, 12.5 * HOUR_S)) * world.window_gain > 0.3
    # Auto exposure holds bright daytime frames at the target mean (clipping and the gain floor
    # of 0.5 allow a little slack).
    np.testing.assert_allclose(np.median(noon_mean[lit]), world.params.target_mean, atol=0.05)
    # At night (IR illuminator, dim lamps) the gain is high: the noise is amplified.
    assert np.median(night_sd[indoor]) > 1.5 * np.median(noon_sd[indoor])
    # Daytime noise close to the model: read noise x gain and shot noise at signal ~ target.
    p = world.params
    sd_model = math.sqrt(p.read_noise**2 + p.shot_noise**2 * p.target_mean)
    assert 0.6 * sd_model < np.median(noon_sd[lit]) < 2.0 * sd_model


# --------------------------------------------------------------------------- (c) dataset


def test_make_dataset_matches_a_replayed_world():
    n_nodes, days, period, stride, seed = 5, 0.25, 300.0, 4, 42
    x, y = make_dataset("camera", n_nodes, days, period, 1, seed, stride=stride)
    n_steps = int(days * DAY_S // period)
    emit = list(range(0, n_steps, stride))
    assert x.shape == (len(emit) * n_nodes, N_PIXELS) and x.dtype == np.float32
    assert y.shape == (len(emit) * n_nodes,) and y.dtype == np.int64
    ss_world, ss_stream, ss_phase = child_seeds(seed, 3)
    world = CameraWorld(
        CameraParams(),
        n_nodes,
        period,
        np.random.default_rng(ss_phase).uniform(0, period, n_nodes),
        days * DAY_S,
        np.random.default_rng(ss_world),
        NodeStream(stream_key(ss_stream)),
    )
    frames, truth, _ = _run(world, n_steps)
    np.testing.assert_array_equal(x.reshape(len(emit), n_nodes, -1), frames[emit])
    np.testing.assert_array_equal(y.reshape(len(emit), n_nodes), truth[emit])


def test_make_dataset_is_deterministic_per_seed():
    a = make_dataset("camera", 3, 0.1, 600.0, 1, 5)
    b = make_dataset("camera", 3, 0.1, 600.0, 1, 5)
    c = make_dataset("camera", 3, 0.1, 600.0, 1, 6)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
