"""IEEE 802.11 DCF contention: collision probability, retries, drops and backoff per message.

A station sharing an access point with ``n - 1`` others contends for the channel with the
distributed coordination function (CSMA/CA, binary exponential backoff). Two models:

* Bianchi's saturated model (G. Bianchi, "Performance analysis of the IEEE 802.11 distributed
  coordination function", IEEE JSAC 18(3):535-547, 2000): every station always has a frame to
  send. An upper bound on contention, and the limit the light-load model tends to.
* A light-load (non-saturated) variant for periodic IoT traffic: a station only contends while
  it has a message queued, which happens with probability ``q = min(1, lambda E[service])``.

All functions are pure and vectorised over numpy arrays (the backoff-stage counts ``m`` and
retry limits are plain integers).

Notation follows Bianchi: ``W = CWmin + 1`` is the minimum window [slots], ``m`` the number of
window doublings, so that ``CWmax + 1 = 2**m W``; ``tau`` is the probability a station
transmits in a randomly chosen slot and ``p`` the probability one transmission collides.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

# --------------------------------------------------------------------------- PHY/MAC constants
#
# IEEE Std 802.11-2016; the same values carry over to 802.11-2020, whose clause numbers match
# for these PHYs. DIFS = aSIFSTime + 2 aSlotTime (802.11-2016 10.3.2.3.7; verify subclause).

# 802.11b, HR/DSSS PHY at 2.4 GHz (802.11-2016 Clause 16, Table 16-4 "HR/DSSS PHY
# characteristics"; verify table number): long slot, CWmin 31.
SLOT_DSSS_S = 20e-6
SIFS_DSSS_S = 10e-6
DIFS_DSSS_S = SIFS_DSSS_S + 2 * SLOT_DSSS_S  # 50 us
CW_MIN_DSSS = 31
CW_MAX_DSSS = 1023

# 802.11g ERP-OFDM (Clause 18, Table 18-5 "ERP characteristics"; verify table number) and
# 802.11n HT at 2.4 GHz (Clause 19, Table 19-25 "HT PHY characteristics"; verify table
# number), with the short slot an ERP/HT-only BSS uses: 9 us slot, CWmin 15.
SLOT_OFDM_S = 9e-6
SIFS_OFDM_S = 10e-6  # 2.4 GHz; the 5 GHz OFDM PHY (Clause 17) uses 16 us instead
DIFS_OFDM_S = SIFS_OFDM_S + 2 * SLOT_OFDM_S  # 28 us
CW_MIN_OFDM = 15
CW_MAX_OFDM = 1023

# dot11ShortRetryLimit's default (802.11-2016 Annex C MIB; 10.3.4.4): the frame is discarded
# once its short retry count, incremented on every failed attempt, reaches the limit, i.e.
# after 7 transmission attempts in all (verify: implementations differ on attempts vs
# retransmissions). The ``retry_limit`` arguments below count retransmissions R after the
# first attempt, so the standard's default is R = 7 - 1.
DOT11_SHORT_RETRY_LIMIT = 7
DEFAULT_RETRY_LIMIT = DOT11_SHORT_RETRY_LIMIT - 1

# Bisection halves [0, 1) each step; 64 steps leave an interval below 1e-19, past float64
# resolution of p, and cost nothing next to a simulation step.
_BISECTION_STEPS = 64


def backoff_stages(cw_min: int, cw_max: int) -> int:
    """Bianchi's ``m``: how many times the window doubles from CWmin before it stops at CWmax.

    ``m = log2((CWmax + 1) / (CWmin + 1))``: 5 for 802.11b (31 .. 1023), 6 for 802.11g/n
    (15 .. 1023).
    """
    m = np.log2((cw_max + 1) / (cw_min + 1))
    if not np.isclose(m, np.round(m)) or m < 0:
        raise ValueError(f"CWmax + 1 must be CWmin + 1 times a power of 2, got {cw_min}, {cw_max}")
    return int(np.round(m))


def attempt_probability(p: ArrayLike, w: ArrayLike, m: int) -> np.ndarray:
    """Probability a saturated station transmits in a slot, given its collision probability [-].

    Bianchi 2000 eq. (7) (equation numbers in this module are from memory: verify),
    ``tau = 2 (1 - 2p) / ((1 - 2p)(W + 1) + p W (1 - (2p)^m))``, written as
    ``2 / (1 + W + p W sum_{i<m} (2p)^i)`` (the same polynomial divided through by
    ``1 - 2p``), which has no 0/0 at ``p = 1/2``. Retries are unlimited, as in Bianchi.

    Parameters
    ----------
    p : array_like
        Collision probability of one attempt, in [0, 1] [-].
    w : array_like
        Minimum window ``W = CWmin + 1`` [slots].
    m : int
        Number of window doublings (see `backoff_stages`).
    """
    p = np.asarray(p, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    geometric = np.zeros(np.broadcast(p, w).shape)
    for i in range(m):
        geometric = geometric + (2.0 * p) ** i
    return 2.0 / (1.0 + w + p * w * geometric)


def bianchi_fixed_point(
    n_stations: ArrayLike, w: ArrayLike = CW_MIN_OFDM + 1, m: int = 6
) -> tuple[np.ndarray, np.ndarray]:
    """Saturated DCF operating point ``(tau, p)`` for ``n`` stations (Bianchi 2000 eqs. 7-9).

    Solves ``p = 1 - (1 - tau(p))^(n - 1)`` by bisection on ``p`` in [0, 1). ``tau(p)``
    falls as ``p`` rises, so the right-hand side falls and the root is unique: bisection
    cannot miss it or oscillate, unlike the fixed-point iteration often used.

    Parameters
    ----------
    n_stations : array_like
        Contending stations including this one, >= 1 [-].
    w : array_like
        Minimum window ``W = CWmin + 1`` [slots]; the default is 802.11g/n's 16.
    m : int
        Number of window doublings; the default 6 takes 16 to 1024 (CWmax 1023).

    Returns
    -------
    tau, p : numpy.ndarray
        Per-slot transmission probability and per-attempt collision probability [-], the
        broadcast shape of ``n_stations`` and ``w``. One station alone gets ``p = 0``.
    """
    n = np.asarray(n_stations, dtype=np.float64)
    if np.any(n < 1):
        raise ValueError("n_stations must be >= 1")

    def excess(p: np.ndarray) -> np.ndarray:
        return 1.0 - (1.0 - attempt_probability(p, w, m)) ** (n - 1.0) - p

    p = _bisect_root(excess, np.broadcast(n, np.asarray(w)).shape)
    return attempt_probability(p, w, m), p


def _bisect_root(excess, shape: tuple[int, ...]) -> np.ndarray:
    """Elementwise root in [0, 1] of ``excess(p)``, which is >= 0 at 0 and < 0 at 1."""
    lo = np.zeros(shape)
    hi = np.ones(shape)
    for _ in range(_BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        above = excess(mid) > 0.0  # the root lies above mid
        lo = np.where(above, mid, lo)
        hi = np.where(above, hi, mid)
    # A root at exactly 0 (one station, or no traffic) would otherwise come back as 2^-65.
    return np.where(excess(np.zeros(shape)) <= 0.0, 0.0, 0.5 * (lo + hi))


def saturation_throughput_from_times(
    tau: ArrayLike,
    n_stations: ArrayLike,
    payload_s: ArrayLike,
    success_s: ArrayLike,
    collision_s: ArrayLike,
    slot_s: float,
) -> np.ndarray:
    """Bianchi's normalised saturation throughput for given busy-channel times [-].

    Bianchi 2000 eq. (13): ``S = Ps Ptr E[P] / ((1 - Ptr) sigma + Ptr Ps Ts + Ptr (1 - Ps) Tc)``
    with ``Ptr = 1 - (1 - tau)^n`` (some station transmits in a slot) and
    ``Ps = n tau (1 - tau)^(n - 1) / Ptr`` (exactly one does).

    Parameters
    ----------
    tau : array_like
        Per-slot transmission probability of each station [-].
    n_stations : array_like
        Contending stations [-].
    payload_s : array_like
        Air time of the payload alone, ``E[P]`` over the bit rate [s].
    success_s, collision_s : array_like
        Time the channel is busy for a success ``Ts`` and for a collision ``Tc`` [s].
    slot_s : float
        Empty slot duration ``sigma`` [s].

    Returns
    -------
    numpy.ndarray
        Fraction of time spent carrying payload bits [-].
    """
    tau = np.asarray(tau, dtype=np.float64)
    n = np.asarray(n_stations, dtype=np.float64)
    p_tr = 1.0 - (1.0 - tau) ** n
    p_s = n * tau * (1.0 - tau) ** (n - 1.0) / p_tr
    busy = p_tr * p_s * success_s + p_tr * (1.0 - p_s) * collision_s
    return p_s * p_tr * np.asarray(payload_s) / ((1.0 - p_tr) * slot_s + busy)


def saturation_throughput(
    n_stations: ArrayLike,
    payload_s: ArrayLike,
    header_s: float,
    ack_s: float,
    slot_s: float = SLOT_OFDM_S,
    sifs_s: float = SIFS_OFDM_S,
    difs_s: float = DIFS_OFDM_S,
    propagation_s: float = 0.0,
    w: ArrayLike = CW_MIN_OFDM + 1,
    m: int = 6,
) -> np.ndarray:
    """Normalised saturation throughput of basic access (DATA-ACK) for ``n`` stations [-].

    Bianchi 2000 eq. (13) with his basic-access busy times
    ``Ts = H + E[P] + SIFS + delta + ACK + DIFS + delta`` and ``Tc = H + E[P*] + DIFS + delta``,
    every station sending the same payload, so the longest frame in a collision ``E[P*]`` is
    ``E[P]``.

    Parameters
    ----------
    n_stations : array_like
        Contending stations, >= 1 [-].
    payload_s : array_like
        Payload air time [s].
    header_s : float
        PHY + MAC header air time ``H`` [s].
    ack_s : float
        ACK air time including its PHY header [s].
    slot_s, sifs_s, difs_s : float
        Slot, SIFS and DIFS [s] (802.11g/n short-slot defaults).
    propagation_s : float
        One-way propagation delay ``delta`` [s] (about 0.1 us across a room).
    w : array_like
        Minimum window ``CWmin + 1`` [slots].
    m : int
        Number of window doublings.

    Returns
    -------
    numpy.ndarray
        Fraction of channel time carrying payload [-].
    """
    tau, _ = bianchi_fixed_point(n_stations, w, m)
    payload = np.asarray(payload_s, dtype=np.float64)
    ts = header_s + payload + sifs_s + propagation_s + ack_s + difs_s + propagation_s
    tc = header_s + payload + difs_s + propagation_s
    return saturation_throughput_from_times(tau, n_stations, payload, ts, tc, slot_s)


# --------------------------------------------------------------------------- per-message costs


def expected_attempts(p: ArrayLike, retry_limit: int = DEFAULT_RETRY_LIMIT) -> np.ndarray:
    """Mean transmission attempts per message, retries cut off at ``retry_limit`` [-].

    ``sum_{k=0}^{R} p^k``: attempt ``k + 1`` happens only if the ``k`` before it all
    collided. Tends to ``1 / (1 - p)`` as ``R`` grows. Counts attempts of dropped messages too,
    since they spend the energy as well.

    Parameters
    ----------
    p : array_like
        Per-attempt collision (failure) probability, in [0, 1] [-].
    retry_limit : int
        Retransmissions ``R`` allowed after the first attempt, >= 0 (``R + 1`` attempts).
    """
    p = np.asarray(p, dtype=np.float64)
    total = np.zeros(p.shape)
    for k in range(_check_retry_limit(retry_limit) + 1):
        total = total + p**k
    return total


def drop_probability(p: ArrayLike, retry_limit: int = DEFAULT_RETRY_LIMIT) -> np.ndarray:
    """Probability a message is discarded after all ``R + 1`` attempts collided, ``p^(R+1)`` [-]."""
    return np.asarray(p, dtype=np.float64) ** (_check_retry_limit(retry_limit) + 1)


def mean_backoff_s(
    p: ArrayLike,
    cw_min: int = CW_MIN_OFDM,
    cw_max: int = CW_MAX_OFDM,
    slot_s: float = SLOT_OFDM_S,
    retry_limit: int = DEFAULT_RETRY_LIMIT,
) -> np.ndarray:
    """Expected backoff time per message, summed over its attempts [s].

    Before attempt ``k`` (0-based) the station draws uniformly from ``[0, CW_k]`` slots,
    mean ``CW_k / 2``, with ``CW_k = min(2^k (CWmin + 1) - 1, CWmax)``; it reaches attempt
    ``k`` with probability ``p^k``. Counting the backoff before the first attempt is what a
    station does after a busy medium or its own previous frame (post-backoff); a station
    finding the medium idle for DIFS may skip it, so this errs long by at most
    ``CWmin / 2`` slots.

    Time the counter spends frozen while other stations transmit is not included: under the
    light load IoT stations see, the channel is idle almost every slot.

    Parameters
    ----------
    p : array_like
        Per-attempt collision probability, in [0, 1] [-].
    cw_min, cw_max : int
        Contention window limits [slots].
    slot_s : float
        Slot time [s].
    retry_limit : int
        Retransmissions ``R`` after the first attempt.
    """
    p = np.asarray(p, dtype=np.float64)
    total_slots = np.zeros(p.shape)
    for k in range(_check_retry_limit(retry_limit) + 1):
        cw_k = min(2**k * (cw_min + 1) - 1, cw_max)
        total_slots = total_slots + p**k * (cw_k / 2.0)
    return total_slots * slot_s


def service_time_s(
    p: ArrayLike,
    airtime_s: ArrayLike,
    cw_min: int = CW_MIN_OFDM,
    cw_max: int = CW_MAX_OFDM,
    slot_s: float = SLOT_OFDM_S,
    retry_limit: int = DEFAULT_RETRY_LIMIT,
) -> np.ndarray:
    """Mean time from a message reaching the head of the queue to its success or drop [s].

    ``E[attempts] airtime + E[backoff]``; ``airtime_s`` should hold everything one attempt
    keeps the station busy for (DIFS + DATA + SIFS + ACK, or the ACK timeout on a collision).
    """
    attempts = expected_attempts(p, retry_limit)
    backoff = mean_backoff_s(p, cw_min, cw_max, slot_s, retry_limit)
    return attempts * np.asarray(airtime_s, dtype=np.float64) + backoff


def collision_probability(
    n_stations: ArrayLike,
    message_rate_hz: ArrayLike,
    airtime_s: ArrayLike,
    cw_min: int = CW_MIN_OFDM,
    cw_max: int = CW_MAX_OFDM,
    slot_s: float = SLOT_OFDM_S,
    retry_limit: int = DEFAULT_RETRY_LIMIT,
) -> np.ndarray:
    """Per-attempt collision probability of light-load (non-saturated) stations [-].

    Each of the ``n`` stations offers messages at ``lambda`` per second and contends only while
    it has one queued. The queue is non-empty with probability
    ``q = min(1, lambda E[service](p))`` (the M/G/1 utilisation; `service_time_s`), and a
    station's per-slot attempt probability is ``q tau(p)`` with Bianchi's saturated
    ``tau(p)`` (`attempt_probability`). The fixed point
    ``p = 1 - (1 - q(p) tau(p))^(n - 1)`` is solved by bisection on ``p``.

    This is the utilisation-scaled Bianchi approximation used e.g. by Zhai, Kwon and Fang,
    "Performance analysis of IEEE 802.11 MAC protocols in wireless LANs", Wireless
    Communications and Mobile Computing 4(8), 2004 (verify the exact form there). It is simpler
    than Malone, Duffy and Leith, IEEE/ACM ToN 15(1), 2007, which also models a station that
    empties its queue mid-backoff and transmits on arrival to an idle medium.

    Assumptions: stations are identical and in range of each other (no hidden terminals),
    arrivals are independent (periodic sensors with unsynchronised clocks look Poisson to the
    channel), frames fail only by collision, and ``E[service]`` omits backoff freeze time, so
    ``q`` is low as the channel approaches saturation. Tends to 0 as ``lambda -> 0`` and to
    Bianchi's saturated ``p`` once ``q`` reaches 1. Retries in ``tau`` are unlimited (Bianchi);
    ``retry_limit`` enters only ``E[service]``.

    Parameters
    ----------
    n_stations : array_like
        Stations on the access point including this one, >= 1 [-].
    message_rate_hz : array_like
        Messages each station offers per second, >= 0 [1/s].
    airtime_s : array_like
        Channel time one attempt takes (DIFS + DATA + SIFS + ACK) [s].
    cw_min, cw_max : int
        Contention window limits [slots] (802.11g/n defaults; 802.11b: 31, 1023).
    slot_s : float
        Slot time [s].
    retry_limit : int
        Retransmissions after the first attempt.

    Returns
    -------
    numpy.ndarray
        Probability one transmission attempt collides [-], the broadcast shape of the inputs.
    """
    n = np.asarray(n_stations, dtype=np.float64)
    rate = np.asarray(message_rate_hz, dtype=np.float64)
    airtime = np.asarray(airtime_s, dtype=np.float64)
    if np.any(n < 1):
        raise ValueError("n_stations must be >= 1")
    if np.any(rate < 0) or np.any(airtime < 0):
        raise ValueError("message_rate_hz and airtime_s must be >= 0")
    w = cw_min + 1
    m = backoff_stages(cw_min, cw_max)

    def excess(p: np.ndarray) -> np.ndarray:
        service = service_time_s(p, airtime, cw_min, cw_max, slot_s, retry_limit)
        q = np.minimum(1.0, rate * service)
        return 1.0 - (1.0 - q * attempt_probability(p, w, m)) ** (n - 1.0) - p

    # excess(0) >= 0 and excess(1) < 0 whenever q tau < 1, so a root lies in [0, 1]. Unlike the
    # saturated case q rises with p, and near saturation there may be more than one root
    # (the known bistability of non-saturated DCF); bisection returns one of them.
    return _bisect_root(excess, np.broadcast(n, rate, airtime).shape)


def _check_retry_limit(retry_limit: int) -> int:
    r = int(retry_limit)
    if r != retry_limit or r < 0:
        raise ValueError(f"retry_limit must be a whole number >= 0, got {retry_limit!r}")
    return r
