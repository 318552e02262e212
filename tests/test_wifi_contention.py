"""802.11 DCF contention (twin.physics.wifi_contention) against published figures and limits."""

from __future__ import annotations

import numpy as np
import pytest

from twin.physics import wifi_contention as wc

N_REF = np.arange(5, 55, 5)

# ns-3's reference Bianchi curves, src/wifi/examples/reference/bianchi_11b_difs.txt ("1 Mbps -
# TC with DIFS") and bianchi_11g_difs.txt ("6 Mbps - TC with DIFS") in nsnam/ns-3-dev-git,
# produced by Bianchi11b.m / Bianchi11g.m there (generate_bianchi.m, University of Washington
# 2020) and used by examples/wifi-bianchi.cc to validate ns-3's DCF. Units: Mbit/s.
NS3_11B_1MBPS = [0.8437, 0.7861, 0.7496, 0.7226, 0.7016, 0.6847, 0.6686, 0.6549, 0.6435, 0.6336]
NS3_11G_6MBPS = [4.7087, 4.3453, 4.1397, 3.9899, 3.8802, 3.7824, 3.6961, 3.6276, 3.5712, 3.5071]


def _ns3_throughput_mbps(cw_min, slot_s, data_s, ack_s, sifs_s, difs_s):
    """The ns-3 scripts' formula: Bianchi eq. 13 with their 1/(1-B) correction, B = 1/(CWmin+1).

    They count the zero-backoff draw (probability B) as a slot in which a frame still goes out,
    scaling the payload and Ts by 1/(1-B) and adding a slot to Ts; Tc = DATA + DIFS.
    """
    b = 1.0 / (cw_min + 1)
    payload_bits = 1500 * 8 / (1 - b)
    ts = (data_s + sifs_s + ack_s + difs_s) / (1 - b) + slot_s
    tc = data_s + difs_s
    m = wc.backoff_stages(cw_min, 1023)
    tau, _ = wc.bianchi_fixed_point(N_REF, cw_min + 1, m)
    # Payload "time" in microseconds per bit makes S come out in Mbit/s.
    return wc.saturation_throughput_from_times(tau, N_REF, payload_bits * 1e-6, ts, tc, slot_s)


def test_reproduces_ns3_bianchi_reference_for_80211b():
    # 802.11b at 1 Mbit/s: 1500-byte frames, DATA 12480 us and ACK 304 us (the txDuration
    # values generate_bianchi.m passes), CWmin 31, CWmax 1023 (m = 5).
    s = _ns3_throughput_mbps(
        wc.CW_MIN_DSSS, wc.SLOT_DSSS_S, 12480e-6, 304e-6, wc.SIFS_DSSS_S, wc.DIFS_DSSS_S
    )
    # 0.2 %: the ns-3 script takes tau from a 10^4-point grid on [0, 1] (steps of 1e-4, up to
    # ~0.5 % of tau at n = 50), where bisection here solves to machine precision; observed
    # deviations are <= 0.16 %.
    np.testing.assert_allclose(s, NS3_11B_1MBPS, rtol=2e-3)


def test_reproduces_ns3_bianchi_reference_for_80211g():
    # 802.11g ERP-OFDM at 6 Mbit/s (24 data bits per 4 us symbol): DATA = 20 us preamble +
    # ceil((16 + 224 + 12000 + 48 + 6) / 24) = 513 symbols + 6 us signal extension = 2078 us;
    # ACK = 20 + ceil((16 + 112 + 6) / 24) x 4 + 6 = 50 us (Bianchi11g.m's PHY arithmetic).
    # Slot 9 us, SIFS 10 us, DIFS 28 us, CWmin 15, CWmax 1023 (m = 6): this module's defaults.
    s = _ns3_throughput_mbps(
        wc.CW_MIN_OFDM, wc.SLOT_OFDM_S, 2078e-6, 50e-6, wc.SIFS_OFDM_S, wc.DIFS_OFDM_S
    )
    # 0.3 %: the same 10^4-point tau grid in the ns-3 script; observed deviations <= 0.23 %.
    np.testing.assert_allclose(s, NS3_11G_6MBPS, rtol=3e-3)


def test_module_constants_match_the_standard_timings():
    # DIFS = SIFS + 2 slots: 50 us for 802.11b, 28 us for short-slot 802.11g/n (exact).
    assert wc.DIFS_DSSS_S == pytest.approx(50e-6, abs=1e-12)
    assert wc.DIFS_OFDM_S == pytest.approx(28e-6, abs=1e-12)
    assert wc.backoff_stages(wc.CW_MIN_DSSS, wc.CW_MAX_DSSS) == 5
    assert wc.backoff_stages(wc.CW_MIN_OFDM, wc.CW_MAX_OFDM) == 6
    with pytest.raises(ValueError):
        wc.backoff_stages(15, 1000)


# Bianchi 2000, Table II (FHSS PHY, the parameters behind his Figs. 5-7; as also used by the
# BianchiPy validation script, segmentation-fault/BianchiPy calculate_bianchi_tr.py):
# payload 8184 bits, MAC header 272 + PHY header 128 bits, ACK 112 bits + PHY header,
# 1 Mbit/s, slot 50 us, SIFS 28 us, DIFS 128 us, propagation delay 1 us.
BIANCHI_TABLE_II = dict(
    payload_s=8184e-6,
    header_s=400e-6,
    ack_s=240e-6,
    slot_s=50e-6,
    sifs_s=28e-6,
    difs_s=128e-6,
    propagation_s=1e-6,
)


def test_bianchi_optimal_tau_approximation():
    # Bianchi 2000 (maximum-throughput section; verify section number): throughput peaks at
    # tau_opt ~ 1 / (n sqrt(Tc* / 2)), Tc* = Tc / slot, an approximation for tau << 1.
    # Maximise eq. 13 over tau numerically and compare.
    p = BIANCHI_TABLE_II
    tc = p["header_s"] + p["payload_s"] + p["difs_s"] + p["propagation_s"]
    ts = tc + p["sifs_s"] + p["ack_s"] + p["propagation_s"]
    taus = np.linspace(1e-5, 0.05, 50_000)
    for n in (10, 20, 50):
        s = wc.saturation_throughput_from_times(taus, n, p["payload_s"], ts, tc, p["slot_s"])
        tau_best = taus[np.argmax(s)]
        tau_approx = 1.0 / (n * np.sqrt(tc / p["slot_s"] / 2.0))
        # 5 %: the approximation drops higher-order terms in tau; at these Tc* (~175 slots) and
        # n it is within 2.5 % of the exact maximiser (observed).
        assert tau_best == pytest.approx(tau_approx, rel=0.05)


def test_bianchi_table_ii_trends():
    # Qualitative findings of Bianchi 2000 Sec. V-VI for basic access with his Table II set-up:
    # with W = 32 the throughput falls as stations are added; a larger window (W = 128) loses
    # at few stations' idle slots but wins clearly at n = 50. (His figures' exact values are not
    # reproduced here: only curves are published, see the module report.)
    n = np.array([5, 10, 20, 50])
    s32 = wc.saturation_throughput(n, w=32, m=3, **BIANCHI_TABLE_II)
    s128 = wc.saturation_throughput(n, w=128, m=3, **BIANCHI_TABLE_II)
    assert np.all(np.diff(s32) < 0)
    assert s128[-1] > s32[-1] + 0.1
    assert np.all((s32 > 0.5) & (s32 < 0.85))  # his Fig. 6 basic-access curves lie in this band


def test_single_station_never_collides():
    tau, p = wc.bianchi_fixed_point(1, 32, 5)
    assert p == 0.0
    assert tau == pytest.approx(2.0 / 33.0)  # 1 / mean slots per attempt, (W - 1)/2 + 1
    assert wc.collision_probability(1, 10.0, 1e-3) == 0.0


def test_fixed_point_is_consistent_and_vectorised():
    n = np.array([2, 5, 10, 20, 50, 100])
    tau, p = wc.bianchi_fixed_point(n, 32, 5)
    assert tau.shape == p.shape == n.shape
    # Both of Bianchi's equations hold at the solution (float64 round-off).
    np.testing.assert_allclose(p, 1 - (1 - tau) ** (n - 1), atol=1e-12)
    closed = 2 * (1 - 2 * p) / ((1 - 2 * p) * 33 + p * 32 * (1 - (2 * p) ** 5))
    np.testing.assert_allclose(tau, closed, rtol=1e-9)
    assert np.all(np.diff(p) > 0) and np.all(np.diff(tau) < 0)
    with pytest.raises(ValueError):
        wc.bianchi_fixed_point(0)


def test_expected_attempts_and_drop_limits():
    p = np.array([0.0, 0.1, 0.3, 0.6])
    np.testing.assert_array_equal(wc.expected_attempts(p, 0), np.ones(4))
    np.testing.assert_allclose(wc.expected_attempts(p, 3), 1 + p + p**2 + p**3)
    # Geometric limit as R grows (p^(R+1) / (1 - p) remainder < 1e-12 at R = 200).
    np.testing.assert_allclose(wc.expected_attempts(p, 200), 1 / (1 - p), rtol=1e-12)
    assert float(wc.expected_attempts(1.0, 6)) == 7.0
    np.testing.assert_allclose(wc.drop_probability(p, 6), p**7)
    # Attempts x failure probability balance: E[attempts] (1 - p) + P(drop) = 1 exactly.
    np.testing.assert_allclose(
        wc.expected_attempts(p, 6) * (1 - p) + wc.drop_probability(p, 6), 1.0, rtol=1e-12
    )
    with pytest.raises(ValueError):
        wc.expected_attempts(0.1, -1)


def test_drop_probability_rises_with_stations():
    n = np.arange(1, 60)
    _, p = wc.bianchi_fixed_point(n, wc.CW_MIN_OFDM + 1, 6)
    drop = wc.drop_probability(p)
    assert drop[0] == 0.0
    assert np.all(np.diff(drop) > 0)
    p_light = wc.collision_probability(n, 1.0, 1e-3)
    assert np.all(np.diff(wc.drop_probability(p_light)) > 0)


def test_mean_backoff():
    slot = wc.SLOT_OFDM_S
    # No collisions: one draw from [0, 15], mean 7.5 slots.
    assert float(wc.mean_backoff_s(0.0)) == pytest.approx(7.5 * slot)
    # Every attempt collides: windows 15, 31, 63, 127, 255, 511, 1023 over R = 6, then capped.
    assert float(wc.mean_backoff_s(1.0)) == pytest.approx(
        sum([15, 31, 63, 127, 255, 511, 1023]) / 2 * slot
    )
    assert float(wc.mean_backoff_s(1.0, retry_limit=8)) == pytest.approx(
        (sum([15, 31, 63, 127, 255, 511, 1023]) + 2 * 1023) / 2 * slot
    )
    p = np.linspace(0, 1, 11)
    assert np.all(np.diff(wc.mean_backoff_s(p)) > 0)


def test_light_load_tends_to_no_collisions():
    # A 1 ms exchange every 10 s among 20 stations: q ~ 1e-4, p ~ (n - 1) q tau ~ 2e-5.
    p = wc.collision_probability(20, np.array([0.0, 1e-3, 0.1]), 1e-3)
    assert p[0] == 0.0
    assert np.all(np.diff(p) > 0)
    assert p[1] < 1e-5
    # First order in q: p ~ (n - 1) q tau(0), q = lambda (airtime + CWmin/2 slots); 1 % covers
    # the second-order terms at q ~ 1e-4.
    q = 0.1 * (1e-3 + 7.5 * wc.SLOT_OFDM_S)
    assert p[2] == pytest.approx(19 * q * 2 / 17, rel=0.01)


def test_heavy_load_tends_to_saturated_bianchi():
    n = np.array([2, 5, 10, 50])
    _, p_sat = wc.bianchi_fixed_point(n, wc.CW_MIN_OFDM + 1, 6)
    p_heavy = wc.collision_probability(n, 1e6, 1e-3)
    # q = min(1, ...) saturates at 1, leaving Bianchi's equations; bisection precision.
    np.testing.assert_allclose(p_heavy, p_sat, atol=1e-12)
    rates = np.logspace(-2, 4, 25)
    p = wc.collision_probability(10, rates, 1e-3)
    assert np.all(np.diff(p) >= 0) and p[-1] == pytest.approx(p_sat[2], abs=1e-12)
    assert np.all(p <= p_sat[2] + 1e-12)


def test_collision_probability_broadcasts_and_checks():
    p = wc.collision_probability(np.array([[5], [20]]), np.array([0.1, 1.0, 10.0]), 2e-3)
    assert p.shape == (2, 3)
    assert np.all(p[1] > p[0])
    with pytest.raises(ValueError):
        wc.collision_probability(5, -1.0, 1e-3)
    with pytest.raises(ValueError):
        wc.collision_probability(0, 1.0, 1e-3)
