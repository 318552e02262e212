"""KiBaM: closed forms against the two-well ODE, limits, and a rate-capacity point out of sample."""

from __future__ import annotations

import math

import numpy as np
import pytest

from twin.physics import kibam

MAH_C = 3.6  # coulombs per mAh


def _rk4_wells(y1, y2, current_a, c, k_prime, dt, steps):
    """RK4 of the wells themselves (not of delta): dy1 = -I + k (h2 - h1), dy2 = -k (h2 - h1)."""
    k = k_prime * c * (1.0 - c)

    def rate(a, b):
        flow = k * (b / (1.0 - c) - a / c)
        return -current_a + flow, -flow

    path = [(y1, y2)]
    for _ in range(steps):
        a1, b1 = rate(y1, y2)
        a2, b2 = rate(y1 + 0.5 * dt * a1, y2 + 0.5 * dt * b1)
        a3, b3 = rate(y1 + 0.5 * dt * a2, y2 + 0.5 * dt * b2)
        a4, b4 = rate(y1 + dt * a3, y2 + dt * b3)
        y1 += dt * (a1 + 2 * a2 + 2 * a3 + a4) / 6
        y2 += dt * (b1 + 2 * b2 + 2 * b3 + b4) / 6
        path.append((y1, y2))
    return np.array(path)


def _gap_of(y1, y2, c):
    """(1 - c) delta = (1 - c) (h2 - h1), from the wells' contents."""
    return (1.0 - c) * (y2 / (1.0 - c) - y1 / c)


def test_gap_closed_form_matches_direct_integration():
    # A load stretch from a non-zero gap, then a rest (the recovery). RK4 with k' dt = 0.01 has a
    # global error ~(k' dt)^4 ~ 1e-8 of the gap; rtol 1e-7 leaves room for that and nothing more
    # (a wrong sign or a missing (1 - c) factor is off by tens of percent).
    c, kp, cap = 0.3, 2e-4, 9000.0
    y1, y2 = c * cap * 0.9, (1 - c) * cap  # available well partly drawn: gap0 = 0.1 c C
    gap0 = _gap_of(y1, y2, c)
    dt, n = 50.0, 400  # 20 000 s = 4 time constants
    load = _rk4_wells(y1, y2, 0.05, c, kp, dt, n)
    t = dt * np.arange(n + 1)
    ode_gap = _gap_of(load[:, 0], load[:, 1], c)
    np.testing.assert_allclose(kibam.well_gap_c(0.05, t, c, kp, gap0), ode_gap, rtol=1e-7)
    rest = _rk4_wells(*load[-1], 0.0, c, kp, dt, n)
    ode_rest = _gap_of(rest[:, 0], rest[:, 1], c)
    np.testing.assert_allclose(kibam.well_gap_c(0.0, t, c, kp, ode_gap[-1]), ode_rest, rtol=1e-7)
    assert ode_rest[-1] < 0.05 * ode_rest[0]  # the rest really does return stranded charge


def test_capacity_matches_direct_integration_to_empty():
    # Run the wells from full until the available well is dry; the crossing is located by linear
    # interpolation within one step, an error ~ y1'' dt^2 / 8, below 1e-7 of C with these steps.
    c, kp, cap, amps = 0.4, 1e-3, 5000.0, 0.8
    dt = 0.5
    path = _rk4_wells(c * cap, (1 - c) * cap, amps, c, kp, dt, int(cap / amps / dt) + 2)
    y1 = path[:, 0]
    j = int(np.argmax(y1 <= 0))
    assert j > 0
    t_empty = dt * (j - 1 + y1[j - 1] / (y1[j - 1] - y1[j]))
    got = kibam.capacity_at_current_c(cap, amps, c, kp)
    assert got == pytest.approx(amps * t_empty, rel=1e-6)
    assert c * cap < got < cap  # the rate effect is there, and bounded as the model says


def _bisect_capacity(cap, amps, c, kp):
    """Reference root of C - q = g(q / I) by 200 bisection steps in plain floats."""
    s = amps * (1 - c) / (c * kp)

    def f(q):
        return q - cap + s * -math.expm1(-kp * q / amps)

    lo, hi = c * cap, cap
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if f(mid) < 0 else (lo, mid)
    return 0.5 * (lo + hi)


@pytest.mark.parametrize(
    "cap,amps,c,kp",
    [(10_000, 0.025, 0.23, 3e-4), (10_000, 1.0, 0.23, 3e-4), (800, 1e-5, 0.9, 1e-7),
     (3600, 50.0, 0.05, 1e-2), (2.6e3 * MAH_C, 0.002, 0.999, 1e-9)],
)  # fmt: skip
def test_capacity_is_the_root_to_1e9(cap, amps, c, kp):
    # Exact to 1e-9 relative, over regimes from "barely any rate effect" to "only c C comes out".
    got = float(kibam.capacity_at_current_c(cap, amps, c, kp))
    assert got == pytest.approx(_bisect_capacity(cap, amps, c, kp), rel=1e-9)


def test_vectorised_over_every_argument():
    amps = np.array([[0.001], [0.1], [1.0]])
    c = np.array([0.2, 0.5, 1.0])
    got = kibam.capacity_at_current_c(1e4, amps, c, 1e-3)
    assert got.shape == (3, 3)
    for i in range(3):
        for j in range(3):
            one = kibam.capacity_at_current_c(1e4, amps[i, 0], c[j], 1e-3)
            assert got[i, j] == pytest.approx(float(one), rel=1e-12)


def test_limits_give_full_capacity_or_the_available_well():
    cap = 9000.0
    # No bound well (c = 1), an ideal valve (k' -> inf) or no load: all of C comes out.
    assert float(kibam.capacity_at_current_c(cap, 2.0, 1.0, 1e-4)) == pytest.approx(cap)
    assert float(kibam.capacity_at_current_c(cap, 2.0, 0.3, np.inf)) == pytest.approx(cap)
    assert float(kibam.capacity_at_current_c(cap, 2.0, 0.3, 1e6)) == pytest.approx(cap, rel=1e-6)
    assert float(kibam.capacity_at_current_c(cap, 0.0, 0.3, 1e-4)) == pytest.approx(cap)
    # A shut valve (k' -> 0) delivers only the available well.
    assert float(kibam.capacity_at_current_c(cap, 2.0, 0.3, 1e-12)) == pytest.approx(0.3 * cap)
    assert np.all(kibam.steady_gap_c(2.0, 1.0, [1e-4, np.inf]) == 0.0)


def test_capacity_falls_with_current_and_gap_tends_to_its_steady_value():
    amps = np.geomspace(1e-4, 10.0, 50)
    q = kibam.capacity_at_current_c(1e4, amps, 0.25, 3e-4)
    assert np.all(np.diff(q) < 0)
    assert q[0] == pytest.approx(1e4 - float(kibam.steady_gap_c(1e-4, 0.25, 3e-4)), rel=1e-9)
    assert q[-1] > 0.25 * 1e4
    long = kibam.well_gap_c(0.3, 1e6, 0.25, 3e-4, gap0_c=500.0)
    assert float(long) == pytest.approx(float(kibam.steady_gap_c(0.3, 0.25, 3e-4)), rel=1e-12)


def test_total_capacity_inverts_capacity_at_current():
    cap = np.array([2000.0, 1e4, 5e4])
    amps = np.array([0.01, 0.5, 3.0])
    q = kibam.capacity_at_current_c(cap, amps, 0.3, 2e-4)
    np.testing.assert_allclose(kibam.total_capacity_c(q, amps, 0.3, 2e-4), cap, rtol=1e-10)


def test_fit_recovers_known_parameters():
    c, kp, cap = 0.3, 2e-4, 1.1e4
    amps = np.array([0.02, 0.2, 0.6, 1.5])
    points = np.c_[amps, kibam.capacity_at_current_c(cap, amps, c, kp)]
    got = kibam.fit(points)
    assert got.c == pytest.approx(c, rel=1e-3)
    assert got.k_prime_per_s == pytest.approx(kp, rel=1e-3)
    assert got.capacity_c == pytest.approx(cap, rel=1e-4)
    assert got.rms_log_error < 1e-5
    # Two points and C given fix c and k'; two points and c given fix k' and C.
    two = kibam.fit(points[[0, 3]], capacity_c=cap)
    assert (two.c, two.k_prime_per_s) == pytest.approx((c, kp), rel=1e-3)
    two = kibam.fit(points[[0, 3]], c=c)
    assert (two.capacity_c, two.k_prime_per_s) == pytest.approx((cap, kp), rel=1e-3)


def test_fit_refuses_underdetermined_or_impossible_input():
    with pytest.raises(ValueError, match=">= 3 points"):
        kibam.fit([[0.1, 9000.0], [1.0, 4000.0]])
    with pytest.raises(ValueError, match="below a published capacity"):
        kibam.fit([[0.1, 9000.0], [1.0, 4000.0]], capacity_c=8000.0)
    with pytest.raises(ValueError):
        kibam.capacity_at_current_c(1e4, 0.1, 0.0, 1e-3)
    with pytest.raises(ValueError):
        kibam.capacity_at_current_c(1e4, 0.1, 0.5, -1.0)


# AA alkaline capacity to 0.8 V at 21 C, read off the makers' curves by
# http://www.kurokatta.org/grumble/2019/01/lithium-aa-batteries (stored copy read): mAh at
# 25 / 100 / 500 / 1000 mA constant current.
AA_CURVES = {
    "Energizer E91": (3000, 2600, 1600, 1000),
    "Duracell Coppertop": (3000, 2700, 1650, 1250),
    "Duracell Quantum": (3125, 2900, 1900, 1400),
    "Duracell Procell": (3000, 2450, 1375, 1000),
}
AA_AMPS = np.array([0.025, 0.1, 0.5, 1.0])


@pytest.mark.parametrize("brand", sorted(AA_CURVES))
def test_fit_predicts_a_held_out_datasheet_point(brand):
    # Fit C, c and k' to the 25, 500 and 1000 mA points of a published curve and predict the
    # 100 mA point, not used in the fit. Tolerance 12 %: the points are graph readings (the page
    # says "approximated to how best I could read the graphs", ~50-100 mAh, 2-4 %, on each), and
    # a 3-point fit amplifies them; the worst case here is +10.4 % (Procell). A 500 mA hold-out
    # fares worse (-3 % to -23 %): KiBaM's single bound well does not follow the alkaline knee.
    mah = np.array(AA_CURVES[brand], dtype=float)
    used = [0, 2, 3]
    got = kibam.fit(np.c_[AA_AMPS[used], mah[used] * MAH_C])
    pred_mah = float(kibam.capacity_at_current_c(got.capacity_c, 0.1, got.c, got.k_prime_per_s))
    assert pred_mah / MAH_C == pytest.approx(mah[1], rel=0.12)


def test_four_point_fit_follows_the_energizer_curve():
    # All four Energizer points: the profile's fit. 5 %: the 2-4 % graph-reading error plus the
    # shape mismatch above; the fitted c and k' are the values proposed for aa-alkaline-2s.
    mah = np.array(AA_CURVES["Energizer E91"], dtype=float)
    got = kibam.fit(np.c_[AA_AMPS, mah * MAH_C])
    model = kibam.capacity_at_current_c(got.capacity_c, AA_AMPS, got.c, got.k_prime_per_s)
    np.testing.assert_allclose(model / MAH_C, mah, rtol=0.05)
    assert 0.15 < got.c < 0.35 and 1e-4 < got.k_prime_per_s < 1e-3


def test_two_point_fit_keeps_to_the_physical_branch():
    # LG MJ1 0.2C / 1C capacities (4 cells' means, micahmartin.com, see /tmp parameter notes):
    # with c held, two points have a second exact solution with C ~ 5.8 x the cell's charge,
    # reachable only by microamp loads. The capacity bound must rule it out.
    points = np.array([[0.7, 3407.5 * MAH_C], [3.5, 3297.5 * MAH_C]])
    got = kibam.fit(points, c=0.166)
    assert got.capacity_c < 1.05 * points[:, 1].max()
    assert got.rms_log_error < 1e-4
    assert got.k_prime_per_s * got.capacity_c > 10 * 3.5  # low-rate regime: I << k' C
