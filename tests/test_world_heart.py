"""Tests of the heart rhythm world (twin.world.heart): batching, physiology, episodes, dataset."""

from __future__ import annotations

import math

import numpy as np
import pytest

from twin.rng import NodeStream, child_seeds, stream_key
from twin.world.dataset import make_dataset
from twin.world.heart import DAY_S, HeartParams, HeartWorld

PERIOD_S = 300.0


def _world(
    seed: int,
    n_nodes: int,
    period_s: float = PERIOD_S,
    params: HeartParams | None = None,
    history_samples: int = 0,
) -> HeartWorld:
    ss_world, ss_stream, ss_phase = child_seeds(seed, 3)
    phase = np.random.default_rng(ss_phase).uniform(0, period_s, n_nodes)
    return HeartWorld(
        params or HeartParams(),
        n_nodes,
        period_s,
        phase,
        DAY_S,
        np.random.default_rng(ss_world),
        NodeStream(stream_key(ss_stream)),
        history_samples=history_samples,
    )


def _run(world: HeartWorld, n_steps: int) -> dict[str, np.ndarray]:
    """Sample every node ``n_steps`` times; arrays are indexed ``[k, node, ...]``."""
    nodes = np.arange(world.n_nodes)
    out: dict[str, list] = {"ecg": [], "truth": []}
    for _ in range(n_steps):
        x, y, d = world.sample_details(nodes)
        out["ecg"].append(x)
        out["truth"].append(y)
        for key, value in d.items():
            out.setdefault(key, []).append(value)
    return {k: np.array(v) for k, v in out.items()}


# --------------------------------------------------------------------------- (a) batching


@pytest.mark.parametrize("history_samples", [0, 4])
def test_windows_do_not_depend_on_batching(history_samples):
    n_nodes, n_steps = 16, 60
    ref = _run(_world(11, n_nodes, history_samples=history_samples), n_steps)

    world = _world(11, n_nodes, history_samples=history_samples)
    rng = np.random.default_rng(5)
    ecg = np.full((n_steps, n_nodes, 256), np.nan, dtype=np.float32)
    truth = np.zeros((n_steps, n_nodes), dtype=bool)
    af = np.zeros((n_steps, n_nodes), dtype=bool)
    done = np.zeros(n_nodes, dtype=np.int64)
    spread = 0
    while np.any(done < n_steps):
        pending = np.flatnonzero(done < n_steps)
        size = rng.integers(1, len(pending) + 1)
        nodes = rng.permutation(pending)[:size]  # random subset, random order
        k = done[nodes]
        af[k, nodes] = world.in_af(nodes)
        x, y = world.sample(nodes)
        ecg[k, nodes] = x
        truth[k, nodes] = y
        done[nodes] += 1
        spread = max(spread, int(done.max() - done.min()))

    assert spread >= 10  # nodes really ran ahead of each other
    np.testing.assert_array_equal(ecg, ref["ecg"])
    np.testing.assert_array_equal(truth, ref["truth"])
    np.testing.assert_array_equal(af, ref["af"])
    # Episodes did change state during the run, so the Markov state was exercised.
    assert np.any(ref["af"][1:] != ref["af"][:-1])


def test_different_seeds_give_different_worlds():
    a = _run(_world(1, 4), 3)
    b = _run(_world(2, 4), 3)
    assert not np.array_equal(a["ecg"], b["ecg"])


# --------------------------------------------------------------------------- (b) signal

N_NODES = 100
N_STEPS = 240  # 20 h at 5 min


@pytest.fixture(scope="module")
def run():
    world = _world(2024, N_NODES)
    return world, _run(world, N_STEPS)


def test_truth_is_af_or_pvc_in_window(run):
    world, r = run
    in_window = (r["beat_t_s"] >= 0) & (r["beat_t_s"] < world.params.window_s)
    pvc_in = np.any(r["pvc"] & in_window, axis=-1)
    np.testing.assert_array_equal(r["pvc_in_window"], pvc_in)
    np.testing.assert_array_equal(r["truth"], r["af"] | pvc_in)
    # PACs alone never make a window positive, and they exist (the confounder is active).
    pac_in = np.any(r["pac"] & in_window, axis=-1)
    assert np.any(pac_in & ~r["truth"])
    assert not np.any(r["pac"] & r["pvc"])
    assert not np.any(np.any(r["pac"], axis=-1) & r["af"])  # no PACs drawn in AF


def test_positives_rate_plausible_and_mixed(run):
    _, r = run
    truth = r["truth"]
    # AF-prone share 0.45 x mean burden 0.25 ~ 11 % AF, plus ~3-5 % windows with a PVC.
    assert 0.08 <= truth.mean() <= 0.30
    assert 0.03 <= r["af"].mean() <= 0.25
    assert 0.01 <= (r["pvc_in_window"] & ~r["af"]).mean() <= 0.10


def test_ecg_amplitude_and_beats_cover_the_window(run):
    world, r = run
    ecg = r["ecg"]
    assert ecg.dtype == np.float32 and ecg.shape == (N_STEPS, N_NODES, 256)
    assert np.all(np.abs(ecg) <= world.params.adc_range_mv)
    # Typical peak-to-peak of a clean window is about the R amplitude (0.5-2 mV).
    clean = ~r["artefact"]
    ptp = np.ptp(ecg, axis=-1)[clean]
    assert 0.5 < np.median(ptp) < 2.5
    # The rendered beats span the window: one before it, one after it.
    bt = r["beat_t_s"]
    assert np.all(bt[..., 0] < 0) and np.all(bt[..., -1] > world.params.window_s)


def test_r_peaks_are_where_the_beats_are():
    # Without noise, wander, artefacts and f-waves, each sinus R peak is a local maximum of the
    # window within one sample of the beat time (positive QRS in this lead).
    params = HeartParams(
        noise_mv_range=(0.0, 0.0),
        resp_wander_mv_range=(0.0, 0.0),
        motion_wander_mv=0.0,
        artefact_base_prob=0.0,
        artefact_activity_prob=0.0,
        pvc_per_beat_median=0.0,
        af_node_fraction=0.0,
    )
    world = _world(3, 40, params=params)
    fs = params.sample_rate_hz
    for _ in range(5):
        x, y, d = world.sample_details(np.arange(40))
        assert not y.any()
        bt = d["beat_t_s"]
        inside = (bt > 0.1) & (bt < params.window_s - 0.1)
        rows, cols = np.nonzero(inside)
        idx = np.round(bt[rows, cols] * fs).astype(int)
        best = np.array(
            [idx[i] - 1 + np.argmax(x[rows[i], idx[i] - 1 : idx[i] + 2]) for i in range(len(rows))]
        )
        assert np.all(np.abs(best / fs - bt[rows, cols]) <= 1.0 / fs + 1e-9)
        # ... and it stands out: the R sample exceeds the window median by > 0.3 mV.
        assert np.all(x[rows, best] - np.median(x[rows], axis=1) > 0.3)


def test_heart_rate_follows_sleep_and_activity(run):
    world, r = run
    hr, asleep, act = r["heart_rate_bpm"], r["asleep"], r["activity"]
    assert np.all((hr >= 40) & (hr <= 175))
    assert 0.25 < asleep.mean() < 0.40  # 7.5 h of 24
    # Nocturnal dip (~10 bpm) and activity (up to +55 bpm): clear ordering of the means.
    awake_rest = ~asleep & (act < 0.05)
    assert hr[asleep].mean() < hr[awake_rest].mean() - 5
    assert hr[~asleep & (act > 0.5)].mean() > hr[awake_rest].mean() + 25
    # The RR intervals of sinus windows match the drawn heart rate (RSA and jitter average out).
    sinus = ~r["af"] & ~np.any(r["pvc"] | r["pac"], axis=-1)
    rr = np.diff(r["beat_t_s"], axis=-1)[..., :8].mean(axis=-1)
    ratio = rr[sinus] / (60.0 / hr[sinus])
    assert abs(np.median(ratio) - 1) < 0.02


def test_af_rr_intervals_are_irregular(run):
    _, r = run
    rr = np.diff(r["beat_t_s"], axis=-1)[..., :8]
    # Successive-difference irregularity (RMSSD / mean RR), the classic AF marker.
    irr = np.sqrt(np.mean(np.diff(rr, axis=-1) ** 2, axis=-1)) / rr.mean(axis=-1)
    ectopy = np.any(r["pvc"] | r["pac"], axis=-1)
    sinus = ~r["af"] & ~ectopy
    af = r["af"] & ~ectopy
    assert np.median(irr[af]) > 3 * np.median(irr[sinus])
    # Healthy RMSSD is ~20-60 ms at RR ~0.9 s; strong respiratory arrhythmia in some nodes
    # (up to 12 % of RR) pushes the median to ~0.065.
    assert np.median(irr[sinus]) < 0.1
    assert np.median(irr[af]) > 0.15


def test_artefacts_are_more_frequent_when_active(run):
    world, r = run
    p = world.params
    art, act, asleep = r["artefact"], r["activity"], r["asleep"]
    rest = art[asleep]
    busy = art[act > 0.5]
    # Expected rates: base at rest; base + gain * activity when active (activity in (0.5, 1]).
    tol = 4 * math.sqrt(p.artefact_base_prob / rest.size)
    assert abs(rest.mean() - p.artefact_base_prob) < tol
    assert busy.mean() > p.artefact_base_prob + 0.5 * p.artefact_activity_prob - 0.05


def test_episode_transitions_follow_the_markov_rates():
    # Over many node-steps, the observed off->on and on->off transition frequencies match the
    # exact per-period probabilities (binomial, 5 sigma).
    # A 30 min period makes transitions per step likelier (more of them to count).
    world = _world(9, 200, period_s=1800.0)
    nodes = np.arange(200)
    states = []
    for _ in range(150):
        states.append(world.in_af(nodes))
        world.sample(nodes)
    s = np.array(states)
    prev, nxt = s[:-1], s[1:]
    for mask, p_node, target in (
        (~prev, world._p_start, True),
        (prev, world._p_stop, False),
    ):
        p = np.broadcast_to(p_node, prev.shape)[mask]
        observed = np.sum(nxt[mask] == target)
        expected = p.sum()
        sd = math.sqrt(np.sum(p * (1 - p)))
        assert abs(observed - expected) < 5 * sd + 1, (observed, expected)
    # Stationary start: the initial AF share matches the burden.
    b = world.af_burden
    assert abs(s[0].mean() - b.mean()) < 5 * math.sqrt(np.sum(b * (1 - b))) / len(b)
    # Nodes that are not AF-prone never fibrillate.
    assert not s[:, ~world.af_prone].any()


def test_pvc_rate_matches_per_node_probability(run):
    world, r = run
    # Each drawn beat is a PVC with the node's probability (before timing changes).
    pvc = r["pvc"]
    n_beats = pvc.shape[0] * pvc.shape[2]
    expected = world.pvc_prob * n_beats
    observed = pvc.sum(axis=(0, 2))
    sd = np.sqrt(world.pvc_prob * (1 - world.pvc_prob) * n_beats)
    assert abs(observed.sum() - expected.sum()) < 5 * math.sqrt(np.sum(sd**2))


# --------------------------------------------------------------------------- (c) dataset


def test_make_dataset_layout_and_determinism():
    x, y = make_dataset("heart", 5, 0.1, PERIOD_S, 1, 42)
    n_steps = int(0.1 * DAY_S // PERIOD_S)
    assert x.shape == (5 * n_steps, 256) and x.dtype == np.float32
    assert y.shape == (5 * n_steps,) and y.dtype == np.int64
    x2, y2 = make_dataset("heart", 5, 0.1, PERIOD_S, 1, 42)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    x3, _ = make_dataset("heart", 5, 0.1, PERIOD_S, 1, 43)
    assert not np.array_equal(x, x3)
    # Stride keeps every other step of the same world.
    xs, ys = make_dataset("heart", 5, 0.1, PERIOD_S, 1, 42, stride=2)
    np.testing.assert_array_equal(xs, x.reshape(n_steps, 5, 256)[::2].reshape(-1, 256))
    np.testing.assert_array_equal(ys, y.reshape(n_steps, 5)[::2].ravel())


def test_make_dataset_matches_a_replayed_world():
    x, y = make_dataset("heart", 4, 0.05, PERIOD_S, 1, 7)
    ss_world, ss_stream, ss_phase = child_seeds(7, 3)
    phase = np.random.default_rng(ss_phase).uniform(0, PERIOD_S, 4)
    world = HeartWorld(
        HeartParams(),
        4,
        PERIOD_S,
        phase,
        0.05 * DAY_S,
        np.random.default_rng(ss_world),
        NodeStream(stream_key(ss_stream)),
    )
    r = _run(world, len(y) // 4)
    np.testing.assert_array_equal(x, r["ecg"].reshape(-1, 256))
    np.testing.assert_array_equal(y, r["truth"].ravel())
