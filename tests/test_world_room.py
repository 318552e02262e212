"""Tests of the room occupancy world (twin.world.room): batching independence, physics, data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from twin.rng import NodeStream, child_seeds, stream_key
from twin.world.dataset import make_dataset
from twin.world.room import (
    DAY_S,
    HOUR_S,
    RoomParams,
    RoomWorld,
    _poisson,
    saturation_vapour_density_g_m3,
)

PERIOD_S = 300.0


def _world(
    seed: int,
    n_nodes: int,
    days: float,
    period_s: float = PERIOD_S,
    params: RoomParams | None = None,
    history_samples: int = 0,
) -> RoomWorld:
    ss_world, ss_stream, ss_phase = child_seeds(seed, 3)
    phase = np.random.default_rng(ss_phase).uniform(0, period_s, n_nodes)
    return RoomWorld(
        params or RoomParams(),
        n_nodes,
        period_s,
        phase,
        days * DAY_S,
        np.random.default_rng(ss_world),
        NodeStream(stream_key(ss_stream)),
        history_samples=history_samples,
    )


def _run(world: RoomWorld, n_steps: int) -> dict[str, np.ndarray]:
    """Sample every node ``n_steps`` times; arrays are indexed ``[k, node]``."""
    nodes = np.arange(world.n_nodes)
    readings, truth, co2, hum, temp, people = [], [], [], [], [], []
    for _ in range(n_steps):
        r, y = world.sample(nodes)
        s = world.true_state(nodes)
        readings.append(r)
        truth.append(y)
        co2.append(s["co2_ppm"])
        hum.append(s["abs_humidity_g_m3"])
        temp.append(s["temp_c"])
        people.append(s["people_avg"])
    k = np.arange(n_steps)[:, None] - world.history_samples
    return {
        "readings": np.array(readings),
        "truth": np.array(truth),
        "co2": np.array(co2),
        "hum": np.array(hum),
        "temp": np.array(temp),
        "people": np.array(people),
        "t": world.phase_s[None, :] + k * world.period_s,
    }


# --------------------------------------------------------------------------- (a) batching


@pytest.mark.parametrize("history_samples", [0, 12])
def test_readings_do_not_depend_on_batching(history_samples):
    n_nodes, n_steps = 24, 400  # ~1.4 days: crosses routine-day boundaries
    days = n_steps * PERIOD_S / DAY_S
    ref = _run(_world(11, n_nodes, days, history_samples=history_samples), n_steps)

    world = _world(11, n_nodes, days, history_samples=history_samples)
    rng = np.random.default_rng(5)
    readings = np.full((n_steps, n_nodes, 5), np.nan, dtype=np.float32)
    truth = np.zeros((n_steps, n_nodes), dtype=bool)
    co2 = np.full((n_steps, n_nodes), np.nan)
    done = np.zeros(n_nodes, dtype=np.int64)
    spread = 0
    while np.any(done < n_steps):
        pending = np.flatnonzero(done < n_steps)
        size = rng.integers(1, len(pending) + 1)
        nodes = rng.permutation(pending)[:size]  # random subset, random order
        k = done[nodes]
        r, y = world.sample(nodes)
        readings[k, nodes] = r
        truth[k, nodes] = y
        co2[k, nodes] = world.true_state(nodes)["co2_ppm"]
        done[nodes] += 1
        spread = max(spread, int(done.max() - done.min()))

    assert spread >= 10  # nodes really ran ahead of each other
    np.testing.assert_array_equal(readings, ref["readings"])
    np.testing.assert_array_equal(truth, ref["truth"])
    np.testing.assert_array_equal(co2, ref["co2"])


def test_occupancy_is_a_function_of_node_and_time():
    # The truth returned by sample() equals occupied() evaluated afresh at the same times,
    # in any order and for any subset (day plans are keyed by node and routine day only).
    world = _world(3, 16, 3.0)
    r = _run(world, int(3 * DAY_S // PERIOD_S))
    other = _world(3, 16, 3.0)
    rng = np.random.default_rng(0)
    ks = rng.integers(0, r["t"].shape[0], 500)
    nodes = rng.integers(0, 16, 500)
    np.testing.assert_array_equal(other.occupied(nodes, r["t"][ks, nodes]), r["truth"][ks, nodes])


def test_different_seeds_give_different_worlds():
    a = _run(_world(1, 5, 1.0), 30)
    b = _run(_world(2, 5, 1.0), 30)
    assert not np.array_equal(a["readings"], b["readings"])


def test_period_limit():
    with pytest.raises(ValueError):
        _world(1, 2, 1.0, period_s=7 * HOUR_S)


# --------------------------------------------------------------------------- (b) physics

N_NODES = 60
DAYS = 7


@pytest.fixture(scope="module")
def run():
    world = _world(2025, N_NODES, DAYS)
    return world, _run(world, int(DAYS * DAY_S // PERIOD_S))


def test_co2_relaxes_to_outdoor_when_empty(run):
    world, r = run
    p = world.params
    co2, truth = r["co2"], r["truth"]
    assert np.all(co2 > p.co2_outdoor_ppm - 1e-9)
    # Nobody in the room during a whole period: CO2 only decays towards outdoor air.
    empty = r["people"][1:] == 0
    drop = co2[:-1] - co2[1:]
    assert empty.sum() > 10_000
    assert np.all(drop[empty] >= -1e-9)
    # And somebody present at the sample time means people were there during the period.
    assert np.all(r["people"][truth] > 0)
    # Occupied rooms hold more CO2, and CO2 rises over a long occupied stretch.
    assert co2[truth].mean() > co2[~truth].mean() + 300
    held = truth[:-12].copy()
    for j in range(1, 13):
        held &= truth[j : len(truth) - 12 + j]
    assert np.mean(co2[12:][held] > co2[:-12][held]) > 0.7


def test_co2_steady_state_matches_mass_balance():
    # One person in a sealed-off steady state: C_eq = C_out + g n 1e6 / (a V). Check the
    # exponential step against the closed form for a room held occupied for a long time.
    world = _world(4, 200, 2.0)
    r = _run(world, int(2 * DAY_S // PERIOD_S))
    p = world.params
    hi = r["co2"].max(axis=0)
    # Upper bound: all residents awake in the room, lowest ventilation of the day (x 0.7).
    bound = p.co2_outdoor_ppm + world.residents * p.co2_per_person_m3_per_h * 1e6 / (
        0.7 * world.ach_per_h * world.volume_m3
    )
    assert np.all(hi <= bound + 1e-6)
    assert np.median(hi) > 800  # people do raise CO2 well above outdoor levels


def test_sensor_ranges_are_physical(run):
    world, r = run
    x = r["readings"].astype(np.float64)
    temp, rh, co2, pir, lux = (x[..., i] for i in range(5))
    assert 12.0 < temp.min() and temp.max() < 28.0
    assert 0.0 <= rh.min() and rh.max() <= 100.0
    assert 25.0 < np.median(rh) < 65.0
    assert np.mean(rh > 85.0) < 0.01
    # Outdoor air minus the largest calibration offset (2.5 sd) and 5 sd of reading noise.
    floor = world.params.co2_outdoor_ppm - 2.5 * 40.0 - 5 * world.params.noise_co2_ppm
    assert co2.min() > floor and np.percentile(co2, 99) < 4000.0
    assert np.all(pir >= 0) and np.all(pir == np.round(pir))
    assert lux.min() >= 0.0 and lux.max() < 2000.0
    # Relative humidity is the absolute humidity over saturation at the true temperature.
    rh_true = 100 * r["hum"] / saturation_vapour_density_g_m3(r["temp"])
    err = rh - np.clip(rh_true, 0, 100)
    inside = (rh_true > 5) & (rh_true < 95)
    assert abs(err[inside].std() / world.params.noise_rh_pct - 1) < 0.05


def test_occupants_show_in_motion_light_and_humidity(run):
    world, r = run
    x = r["readings"].astype(np.float64)
    truth = r["truth"]
    pir = x[..., 3]
    assert pir[truth].mean() > 3 * pir[~truth].mean()
    # Without a pet, an empty room's PIR only sees rare false triggers.
    no_pet = np.broadcast_to(world.pet_counts == 0, truth.shape)
    assert pir[~truth & no_pet].mean() < 0.2
    hum = r["hum"]
    assert hum[truth].mean() > hum[~truth].mean()
    # At night (01:00-05:00 local) an empty room is dark: lamps off, no daylight.
    hour = (r["t"] % DAY_S) / HOUR_S
    night = (hour > 1) & (hour < 5) & ~truth
    assert np.median(x[..., 4][night]) < 5.0


def test_daily_routine_by_room_kind(run):
    world, r = run
    truth = r["truth"]
    hour = (r["t"] % DAY_S) / HOUR_S
    day = np.floor((r["t"] - 4 * HOUR_S) / DAY_S)
    weekday = (day % 7) < 5
    kind = np.broadcast_to(world.room_kind, truth.shape)

    def rate(mask):
        return truth[mask].mean()

    living, bedroom, office = kind == 0, kind == 1, kind == 2
    night = (hour >= 2) & (hour < 5)
    evening = (hour >= 19.5) & (hour < 21)
    workday_morning = (hour >= 10) & (hour < 11.5) & weekday
    assert rate(bedroom & night) > 0.85
    assert rate(living & night) < 0.1
    assert rate(living & evening) > 0.6
    assert rate(living & workday_morning) < rate(living & evening) - 0.3
    assert rate(office & night) < 0.05
    assert rate(office & workday_morning) > rate(office & night) + 0.1


def test_positives_rate_plausible(run):
    _, r = run
    truth = r["truth"]
    assert 0.12 <= truth.mean() <= 0.40
    per_node = truth.mean(axis=0)
    assert np.mean((per_node > 0.02) & (per_node < 0.9)) > 0.9


def test_poisson_counts_have_poisson_moments():
    rng = np.random.default_rng(0)
    for lam in (0.1, 2.0, 15.0):
        n = 200_000
        x = _poisson(rng.uniform(size=n), np.full(n, lam))
        se = math.sqrt(lam / n)
        assert abs(x.mean() - lam) < 5 * se
        assert abs(x.var() / lam - 1) < 5 * math.sqrt(2 / n) + 0.01


# --------------------------------------------------------------------------- (c) dataset


def test_make_dataset_layout_matches_a_replayed_world():
    n_nodes, days, window, stride, seed = 6, 1.0, 12, 3, 42
    x, y = make_dataset("room", n_nodes, days, PERIOD_S, window, seed, stride=stride)
    n_steps = int(days * DAY_S // PERIOD_S)
    emit = [k for k in range(window - 1, n_steps) if (k - window + 1) % stride == 0]
    assert x.shape == (len(emit) * n_nodes, window * 5)
    assert x.dtype == np.float32 and y.dtype == np.int64
    assert set(np.unique(y)) == {0, 1}
    ss_world, ss_stream, ss_phase = child_seeds(seed, 3)
    phase = np.random.default_rng(ss_phase).uniform(0, PERIOD_S, n_nodes)
    world = RoomWorld(
        RoomParams(),
        n_nodes,
        PERIOD_S,
        phase,
        days * DAY_S,
        np.random.default_rng(ss_world),
        NodeStream(stream_key(ss_stream)),
    )
    rec = _run(world, n_steps)
    rows = x.reshape(len(emit), n_nodes, window, 5)  # oldest first, channels interleaved
    for b, k in enumerate(emit):
        np.testing.assert_array_equal(
            rows[b], rec["readings"][k - window + 1 : k + 1].transpose(1, 0, 2)
        )
        np.testing.assert_array_equal(y.reshape(len(emit), n_nodes)[b], rec["truth"][k])


def test_make_dataset_is_deterministic_per_seed():
    a = make_dataset("room", 3, 0.5, PERIOD_S, 12, 5, stride=3)
    b = make_dataset("room", 3, 0.5, PERIOD_S, 12, 5, stride=3)
    c = make_dataset("room", 3, 0.5, PERIOD_S, 12, 6, stride=3)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
