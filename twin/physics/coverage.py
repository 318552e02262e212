"""Coverage enhancement (CE) of NB-IoT and LTE-M: CE level, repetitions, and their cost.

A cellular IoT device far from the cell, or in a basement, is served by repeating every
transmission; the receiver combines the copies. These functions map a node's coupling loss
(path loss, penetration and antenna gains between the antenna ports [dB]) to its CE level and
repetition factor, and price the repeated airtime on top of a message measured at good coverage.

Rules and their sources:

* Maximum coupling loss (MCL). NB-IoT: 164 dB, 20 dB beyond the 144 dB of GPRS (3GPP TR 45.820,
  Rel-13 cellular IoT study, coverage objective; TR 36.802). LTE-M (Cat-M1): 155.7 dB, the 15 dB
  improvement on 140.7 dB of FDD LTE targeted in 3GPP TR 36.888 (20 dBm UE); the industry white
  paper "Coverage Analysis of LTE-M Category-M1" (v1.0, Jan 2017) shows it becomes 160.7 dB with a
  23 dBm UE and TR 45.820 noise figures, and 164 dB with the 21 dB gain it simulates.
* CE levels. NB-IoT has three (0, 1, 2); LTE-M has CE mode A (moderate) and B (deep). The
  boundaries are RSRP thresholds each cell broadcasts (TS 36.331, ``rsrp-ThresholdsPrachInfoList``),
  so they come from the profile, not from here.
* Repetition gain. Ideal chase combining of ``R`` copies adds ``10 log10(R)`` dB of SNR; ``R`` takes
  the smallest allowed value that covers the loss beyond what the link closes without repetition.
  Allowed values: NPUSCH 1..128 in powers of two (TS 36.213 Table 16.5.1.1-3), NPDSCH and NPDCCH up
  to 2048 (TS 36.213 Table 16.4.1.3-2; TS 36.331 ``npdcch-NumRepetitions``), NPRACH up to 128 per
  attempt (TS 36.331 ``numRepetitionsPerPreambleAttempt``); LTE-M PUSCH up to 32 in CE mode A and
  2048 in CE mode B (TS 36.331 ``pusch-maxNumRepetitionCEmodeA/B``; mode B also allows 192, 384,
  768 and 1536, TS 36.213 Table 8-2c). Real combining loses to channel estimation and frequency
  error at large ``R``: ``10 log10(R)`` is an upper bound on the gain, so ``R`` is a lower bound.
* Cost. Repetitions lengthen airtime only; the protocol latency of the measured exchange (PSM
  wake-up, scheduling, RRC tail) is kept as measured. Both technologies are half-duplex on
  these devices (HD-FDD, TS 36.306 Cat-NB1 / Cat-M1), so the repeated UL and DL airtimes add up.
  In deep coverage the UE transmits at full power (TS 36.213 16.2.1.1: NPUSCH with more than two
  repetitions at P_CMAX; CE mode B has no closed-loop power control).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

OUT_OF_COVERAGE = -1  # ce_level's marker: beyond the maximum coupling loss
NO_SERVICE = 0  # repetitions' marker: no allowed repetition factor closes the link

# Technology figures (module docstring for sources).
NBIOT_MCL_DB = 164.0
NBIOT_CE0_LOSS_DB = 144.0  # GPRS reference; NB-IoT's 164 dB = 144 dB + 20 dB of CE
LTEM_MCL_DB = 155.7
LTEM_CE0_LOSS_DB = 140.7  # FDD LTE reference of TR 36.888
NPUSCH_MAX_REPETITIONS = 128
NPDSCH_MAX_REPETITIONS = 2048
NPRACH_MAX_REPETITIONS = 128
PUSCH_MAX_REPETITIONS_CE_MODE_A = 32
PUSCH_MAX_REPETITIONS_CE_MODE_B = 2048

# One preamble repetition: NPRACH format 0 is 4 symbol groups of 66.7 us CP + 5 x 266.7 us
# (TS 36.211 10.1.6.1, Table 10.1.6.1-1); LTE-M PRACH format 0 fills one 1 ms subframe (TS 36.211
# 5.7.1, 0.903 ms of CP and sequence).
NPRACH_FORMAT0_S = 4 * (2048 + 5 * 8192) / 30.72e6
PRACH_FORMAT0_S = 1e-3


def powers_of_two(max_repetitions: int) -> np.ndarray:
    """The repetition factors 1, 2, 4, ... ``max_repetitions`` (a power of two)."""
    n = int(np.log2(max_repetitions))
    if max_repetitions < 1 or 2**n != max_repetitions:
        raise ValueError("max_repetitions must be a power of two >= 1")
    return 2 ** np.arange(n + 1)


def ce_level(
    coupling_loss_db: ArrayLike, thresholds_db: ArrayLike, max_coupling_loss_db: float
) -> np.ndarray:
    """CE level per node, or ``OUT_OF_COVERAGE`` beyond the maximum coupling loss.

    Parameters
    ----------
    coupling_loss_db : array_like
        Coupling loss per node [dB].
    thresholds_db : array_like
        Increasing losses [dB] at which the next level starts: NB-IoT ``[t1, t2]`` gives levels
        0, 1, 2; LTE-M ``[t]`` gives 0 = CE mode A, 1 = CE mode B. A loss equal to a threshold
        belongs to the higher level.
    max_coupling_loss_db : float
        The technology's MCL [dB]; a loss equal to it is still served.

    Returns
    -------
    numpy.ndarray of int
        Level per node (same shape as ``coupling_loss_db``).
    """
    loss = np.asarray(coupling_loss_db, dtype=np.float64)
    t = np.asarray(thresholds_db, dtype=np.float64)
    if t.ndim != 1 or np.any(np.diff(t) <= 0) or (t.size and t[-1] > max_coupling_loss_db):
        raise ValueError("thresholds_db must be 1-D, increasing and not beyond the MCL")
    if np.any(np.isnan(loss)):
        raise ValueError("coupling_loss_db must not be NaN")
    level = np.searchsorted(t, loss, side="right")
    return np.where(loss > max_coupling_loss_db, OUT_OF_COVERAGE, level).astype(np.int64)


def repetitions(coupling_loss_db: ArrayLike, ce0_loss_db: float, allowed: ArrayLike) -> np.ndarray:
    """Smallest allowed repetition factor whose combining gain covers the loss beyond CE0.

    ``R = min {r in allowed : 10 log10(r) >= loss - ce0_loss_db}``; a node within
    ``ce0_loss_db`` gets the smallest allowed value (1 where allowed). Where even the largest
    allowed value falls short, ``NO_SERVICE`` (0) is returned.

    Parameters
    ----------
    coupling_loss_db : array_like
        Coupling loss per node [dB].
    ce0_loss_db : float
        Loss the channel closes without repetition [dB] (the technology's reference link).
    allowed : array_like
        The channel's repetition factors, e.g. ``powers_of_two(NPUSCH_MAX_REPETITIONS)``.
    """
    loss = np.asarray(coupling_loss_db, dtype=np.float64)
    r = np.asarray(allowed, dtype=np.int64)
    if r.ndim != 1 or r.size == 0 or r[0] < 1 or np.any(np.diff(r) <= 0):
        raise ValueError("allowed must be a non-empty increasing list of factors >= 1")
    gain_db = 10.0 * np.log10(r)
    # 1e-9 dB: a loss exactly on 10 log10(r) (e.g. 3.0103 dB for r = 2) must not round up.
    i = np.searchsorted(gain_db, loss - ce0_loss_db - 1e-9, side="left")
    served = i < r.size
    return np.where(served, r[np.minimum(i, r.size - 1)], NO_SERVICE).astype(np.int64)


class CoverageCost(NamedTuple):
    """Extra time and charge of one message under repetition, per node, over its CE0 cost."""

    extra_s: np.ndarray
    extra_charge_c: np.ndarray
    extra_tx_s: np.ndarray
    extra_rx_s: np.ndarray


def exchange_cost(
    ul_bytes: float,
    dl_bytes: float,
    r_ul: ArrayLike,
    r_dl: ArrayLike,
    r_rach: ArrayLike,
    uplink_rate_bps: float,
    downlink_rate_bps: float,
    preamble_s: float,
    tx_current_a: float,
    rx_current_a: float,
) -> CoverageCost:
    """What repetitions add to a request/response exchange measured at good coverage.

    The measured exchange (CE0) already holds one copy of every transmission; each extra copy
    adds its airtime: the uplink bytes at ``uplink_rate_bps`` and the random-access preamble
    (``preamble_s``) at ``tx_current_a``, the downlink bytes at ``downlink_rate_bps`` at
    ``rx_current_a``. Scheduling and RRC latency are not scaled (they are network timers).
    Nodes with a ``NO_SERVICE`` factor get NaN, so they cannot be booked as served.

    Parameters
    ----------
    ul_bytes, dl_bytes : float
        Bytes on air per message in each direction, headers included [B].
    r_ul, r_dl, r_rach : array_like
        Repetition factors per node (``repetitions``) of the data and preamble channels.
    uplink_rate_bps, downlink_rate_bps : float
        Throughput at CE0 [bit/s], the rate the profile's measured exchange ran at.
    preamble_s : float
        Airtime of one preamble repetition [s] (``NPRACH_FORMAT0_S``, ``PRACH_FORMAT0_S``).
    tx_current_a, rx_current_a : float
        Supply current while transmitting at full power and while receiving [A].
    """
    r_ul, r_dl, r_rach = (np.asarray(r, dtype=np.float64) for r in (r_ul, r_dl, r_rach))
    dead = (r_ul <= 0) | (r_dl <= 0) | (r_rach <= 0)
    tx_s = (r_ul - 1.0) * 8.0 * ul_bytes / uplink_rate_bps + (r_rach - 1.0) * preamble_s
    rx_s = (r_dl - 1.0) * 8.0 * dl_bytes / downlink_rate_bps
    tx_s, rx_s = np.where(dead, np.nan, tx_s), np.where(dead, np.nan, rx_s)
    return CoverageCost(tx_s + rx_s, tx_s * tx_current_a + rx_s * rx_current_a, tx_s, rx_s)
