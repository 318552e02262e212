"""The LoRa channel's rules, one at a time, on hand-made frames against worked cases and
closed forms: capture, preamble lock, inter-SF rejection, the gateway's demodulator pool."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

import twin
from twin.physics import lora
from twin.sim.channel import LoRaChannel
from twin.sim.timebins import TimeBins


def _channel(rx_dbm, demodulators=(8,), capture_db=6.0, sf_orthogonal=True, grace_s=None):
    """One group whose node ``i`` is received at ``rx_dbm[i]`` by each gateway."""
    rx = np.asarray(rx_dbm, dtype=float).reshape(len(rx_dbm), -1)
    return LoRaChannel(
        [rx], [None], np.asarray(demodulators), lora.sensitivity_dbm(np.arange(7, 13)),
        capture_db, 10.0, TimeBins(1e6, 1e6), sf_orthogonal=sf_orthogonal, grace_s=grace_s,
    )  # fmt: skip


def _frames(start, end, sf=None, chan=None):
    m = len(start)
    return {
        "gid": np.zeros(m, dtype=np.int64),
        "node": np.arange(m, dtype=np.int64),
        "k": np.zeros(m, dtype=np.int64),
        "ts": np.asarray(start, dtype=float),
        "start": np.asarray(start, dtype=float),
        "end": np.asarray(end, dtype=float),
        "chan": np.zeros(m, dtype=np.int64) if chan is None else np.asarray(chan),
        "sf": np.full(m, 7, dtype=np.int64) if sf is None else np.asarray(sf),
        "kind": np.zeros(m, dtype=np.int64),
        "phy": np.zeros(m, dtype=np.int64),
        "r": np.zeros((m, 1), dtype=np.float32),
        "done": np.zeros(m, dtype=bool),
        "conf": np.zeros(m, dtype=bool),
        "att": np.ones(m, dtype=np.int64),
        "seen": np.zeros(m, dtype=bool),
    }


def _settle(ch, frames, t=1e9):
    ch.add(frames)
    fin, ok = ch.settle(t)
    out = np.empty(len(ok), dtype=bool)
    out[fin["node"]] = ok  # back in the order the frames were given
    return out


def test_infinite_capture_threshold_means_no_capture():
    # ``capture_threshold_db: .inf`` says "no frame survives an overlap". A lone frame must
    # still get through (it used to be lost: -inf + inf is NaN in the comparison).
    ch = _channel([-80.0, -100.0, -90.0], capture_db=math.inf)
    ok = _settle(ch, _frames([0.0, 0.5, 5.0], [1.0, 1.5, 6.0]))
    assert ok.tolist() == [False, False, True]


def test_capture_keeps_the_stronger_frame():
    ch = _channel([-80.0, -100.0], capture_db=6.0)
    assert _settle(ch, _frames([0.0, 0.5], [1.0, 1.5])).tolist() == [True, False]


def test_preamble_lock_worked_case():
    # SF7 at 125 kHz: a symbol is 1.024 ms; with an 8-symbol preamble the receiver needs only
    # the last 5, so an earlier frame ending up to 3 symbols (3.072 ms) into a later one's
    # preamble harms neither (Bor et al. 2016). Equal powers, so any real overlap kills both.
    grace = lora.preamble_grace_s(np.arange(7, 13), 8)[None, :]
    sym = float(lora.symbol_time_s(7))
    ch = _channel([-90.0, -90.0], grace_s=grace)
    assert _settle(ch, _frames([0.0, 1.0 - 2.9 * sym], [1.0, 2.0])).all()
    ch = _channel([-90.0, -90.0], grace_s=grace)
    assert not _settle(ch, _frames([0.0, 1.0 - 3.1 * sym], [1.0, 2.0])).any()
    # Without the rule (no grace) the first case collides too.
    ch = _channel([-90.0, -90.0])
    assert not _settle(ch, _frames([0.0, 1.0 - 2.9 * sym], [1.0, 2.0])).any()


def test_inter_sf_rejection_from_croce_2018():
    # A wanted SF12 frame survives an SF7 frame on its channel while it is no more than 25 dB
    # weaker (Croce et al. 2018, Table I: -25 dB); the SF7 frame survives the SF12 one above
    # -8 dB. 20 dB weaker: both survive; 30 dB weaker: the SF12 frame is lost.
    for gap_db, wanted_ok in ((20.0, True), (30.0, False)):
        ch = _channel([-100.0 - gap_db, -100.0], sf_orthogonal=False)
        ok = _settle(ch, _frames([0.0, 0.2], [1.5, 0.3], sf=[12, 7]))
        assert ok.tolist() == [wanted_ok, True]
    # Taken as orthogonal, nothing crosses spreading factors.
    ch = _channel([-130.0, -100.0], sf_orthogonal=True)
    assert _settle(ch, _frames([0.0, 0.2], [1.5, 0.3], sf=[12, 7])).all()


def test_a_blocked_frame_holds_no_demodulator():
    # One demodulator. A holds it; B arrives while A is on and is blocked; C arrives after A
    # ended while B is still on air: B never held a demodulator, so C gets the free one.
    # Different channels: no interference, only the pool.
    ch = _channel([-90.0, -90.0, -90.0], demodulators=(1,))
    ok = _settle(ch, _frames([0.0, 1.0, 10.5], [10.0, 11.0, 12.0], chan=[0, 1, 2]))
    assert ok.tolist() == [True, False, True]


def _erlang_b(load: float, servers: int) -> float:
    """Erlang's loss formula, by the recurrence B(E, n) = E B(E, n-1) / (n + E B(E, n-1))."""
    b = 1.0
    for n in range(1, servers + 1):
        b = load * b / (n + load * b)
    return b


@pytest.mark.parametrize("load", [4.0, 8.0])
def test_demodulator_pool_blocks_like_erlang_b(load):
    # Poisson arrivals of frames of fixed length T at a gateway with 8 demodulators, offered
    # load E = rate x T: the fraction blocked is Erlang B(E, 8) (0.030 at E = 4, 0.235 at
    # E = 8; insensitive to the length distribution). Frames on distinct channels so that
    # only the pool loses any. 40 000 frames: the sampling error of the fraction is ~0.003
    # (autocorrelated busy periods roughly double it), hence 0.012.
    rng = np.random.default_rng(7)
    n, length_s = 40_000, 1.0
    start = np.cumsum(rng.exponential(length_s / load, n))
    ch = _channel(np.full(n, -90.0), demodulators=(8,))
    frames = _frames(start, start + length_s, chan=np.arange(n))
    # Settled in two halves: a frame's demodulator is decided once and kept with it.
    half = n // 2
    part = {f: v[:half] for f, v in frames.items()}
    ch.add(part)
    fin1, ok1 = ch.settle(float(start[half]))
    ch.add({f: v[half:] for f, v in frames.items()})
    fin2, ok2 = ch.settle(1e12)
    blocked = 1.0 - (ok1.sum() + ok2.sum()) / n
    assert len(ok1) + len(ok2) == n
    assert blocked == pytest.approx(_erlang_b(load, 8), abs=0.012)


def test_pure_aloha_with_infinite_capture_threshold(farm_dict):
    # The same textbook setting as test_channel's, stated the natural way (.inf): frames get
    # through (none did before the fix) and as many as with a 1000 dB threshold.
    from tests.test_channel import _aloha_farm

    d = _aloha_farm(farm_dict, n=60)
    d["world"]["horizon_days"] = 0.25
    inf = copy.deepcopy(d)
    inf["channel"]["capture_threshold_db"] = math.inf
    a, b = twin.run(d).result("cloud"), twin.run(inf).result("cloud")
    assert a["uplink_delivered"] > 0
    assert a["uplink_delivered"] == b["uplink_delivered"]


@pytest.mark.parametrize("load", [0.05, 0.25, 0.5, 1.0])
def test_pure_aloha_closed_form_over_load(load):
    # Poisson starts, frames of length T on one channel and SF, no capture (.inf), more
    # demodulators than frames ever overlap: pure ALOHA delivers exp(-2G) (Abramson 1970).
    # With the preamble rule an overlap shorter than g (3 symbols) harms neither frame, so a
    # frame is vulnerable to starts in a window of 2T - 2g and delivers exp(-2G (T - g) / T).
    # 30 000 frames: sampling error below 0.005, hence 0.02.
    rng = np.random.default_rng(11)
    n, length_s = 30_000, 0.1
    start = np.cumsum(rng.exponential(length_s / load, n))
    grace_s = 0.01
    grace = np.full((1, 6), grace_s)
    with_grace = math.exp(-2 * load * (length_s - grace_s) / length_s)
    for g, expected in ((None, math.exp(-2 * load)), (grace, with_grace)):
        ch = _channel(np.full(n, -90.0), demodulators=(10**6,), capture_db=math.inf, grace_s=g)
        ok = _settle(ch, _frames(start, start + length_s))
        assert ok.mean() == pytest.approx(expected, abs=0.02)
