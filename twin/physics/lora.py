"""LoRa PHY and LoRaWAN MAC timing: time on air, duty cycle, class-A receive windows.

All functions are pure and vectorised over numpy arrays.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def symbol_time_s(spreading_factor: ArrayLike, bandwidth_hz: float = 125e3) -> np.ndarray:
    """Duration of one LoRa symbol, ``2**SF / BW`` [s]."""
    return np.exp2(np.asarray(spreading_factor, dtype=np.float64)) / bandwidth_hz


def time_on_air_s(
    phy_payload_bytes: ArrayLike,
    spreading_factor: ArrayLike,
    bandwidth_hz: float = 125e3,
    coding_rate: int = 1,
    preamble_symbols: int = 8,
    explicit_header: bool = True,
    crc: bool = True,
    low_data_rate_optimize: ArrayLike | None = None,
) -> np.ndarray:
    """Time on air of a LoRa frame [s] (Semtech AN1200.13, "LoRa Modem Designer's Guide").

    ``T = (n_preamble + 4.25) T_sym + (8 + max(ceil((8 PL - 4 SF + 28 + 16 CRC - 20 IH) /
    (4 (SF - 2 DE))) (CR + 4), 0)) T_sym``

    Parameters
    ----------
    phy_payload_bytes : array_like
        PHY payload [bytes] (for LoRaWAN: application payload + 13 bytes of MAC overhead).
    spreading_factor : array_like
        7 .. 12.
    bandwidth_hz : float
        Channel bandwidth [Hz].
    coding_rate : int
        1 .. 4 for CR 4/5 .. 4/8.
    preamble_symbols : int
        Programmed preamble length (8 in LoRaWAN).
    explicit_header, crc : bool
        Header mode and payload CRC (LoRaWAN uplinks: explicit header, CRC on).
    low_data_rate_optimize : array_like of bool, optional
        Defaults to on when the symbol time exceeds 16 ms (SF11/SF12 at 125 kHz).

    Examples
    --------
    >>> round(float(time_on_air_s(13, 9)) * 1e3, 3)
    164.864
    """
    pl = np.asarray(phy_payload_bytes, dtype=np.float64)
    sf = np.asarray(spreading_factor, dtype=np.float64)
    t_sym = symbol_time_s(sf, bandwidth_hz)
    if low_data_rate_optimize is None:
        de = (t_sym > 0.016).astype(np.float64)
    else:
        de = np.asarray(low_data_rate_optimize, dtype=np.float64)
    ih = 0.0 if explicit_header else 1.0
    num = 8 * pl - 4 * sf + 28 + 16 * float(crc) - 20 * ih
    n_payload = 8 + np.maximum(np.ceil(num / (4 * (sf - 2 * de))) * (coding_rate + 4), 0)
    return (preamble_symbols + 4.25) * t_sym + n_payload * t_sym


def duty_cycle_off_time_s(time_on_air: ArrayLike, duty_cycle: float) -> np.ndarray:
    """Silence required after a transmission under a duty-cycle limit [s].

    ETSI EN 300 220 limits a device to ``duty_cycle`` of the time per sub-band; LoRaWAN stacks
    enforce it as ``T_off = ToA (1 / duty_cycle - 1)`` after each frame.
    """
    return np.asarray(time_on_air, dtype=np.float64) * (1.0 / duty_cycle - 1.0)


def rx_window_s(
    spreading_factor: ArrayLike, window_symbols: int, bandwidth_hz: float = 125e3
) -> np.ndarray:
    """How long a class-A receive window keeps the receiver on when no frame arrives [s]."""
    return window_symbols * symbol_time_s(spreading_factor, bandwidth_hz)


# LoRa demodulator SNR limit per spreading factor [dB] (Semtech SX1276/77/78/79 datasheet,
# table "Range of spreading factors"; also Semtech AN1200.22 "LoRa Modulation Basics").
SNR_LIMIT_DB = {7: -7.5, 8: -10.0, 9: -12.5, 10: -15.0, 11: -17.5, 12: -20.0}


def sensitivity_dbm(
    spreading_factor: ArrayLike, bandwidth_hz: float = 125e3, noise_figure_db: float = 6.0
) -> np.ndarray:
    """Receiver sensitivity [dBm]: ``-174 + 10 log10(BW) + NF + SNR_limit(SF)``.

    Thermal noise floor at 290 K plus the receiver's noise figure plus the SNR the LoRa
    demodulator needs at that spreading factor (Semtech AN1200.22).

    Examples
    --------
    >>> round(float(sensitivity_dbm(12)), 1)
    -137.0
    """
    sf = np.asarray(spreading_factor)
    snr = np.vectorize(SNR_LIMIT_DB.__getitem__, otypes=[float])(sf)
    return -174.0 + 10 * np.log10(bandwidth_hz) + noise_figure_db + snr


# Signal-to-interference ratio a frame needs to survive one overlapping frame on the same
# channel [dB]: rows the wanted frame's SF 7..12, columns the interferer's SF 7..12. Measured
# off the diagonal ("imperfect orthogonality") by Croce, Gucciardo, Mangione, Santaromita and
# Tinnirello, "Impact of LoRa Imperfect Orthogonality: Analysis of Link-Level Performance",
# IEEE Communications Letters 22(4), 2018, Table I (the matrix ns-3's lorawan module and FLoRa
# use). The diagonal (co-SF capture) is the scenario's capture threshold instead.
SIR_DB = np.array(
    [
        [1.0, -8.0, -9.0, -9.0, -9.0, -9.0],
        [-11.0, 1.0, -11.0, -12.0, -13.0, -13.0],
        [-15.0, -13.0, 1.0, -13.0, -14.0, -15.0],
        [-19.0, -18.0, -17.0, 1.0, -17.0, -18.0],
        [-22.0, -22.0, -21.0, -20.0, 1.0, -20.0],
        [-25.0, -25.0, -25.0, -24.0, -23.0, 1.0],
    ]
)

# Preamble symbols a receiver needs clean to lock on a frame: the last 5 (Bor, Roedig, Voigt,
# Alonso, "Do LoRa Low-Power Wide-Area Networks Scale?", MSWiM 2016; LoRaSim's timing rule).
LOCK_SYMBOLS = 5


def preamble_grace_s(
    spreading_factor: ArrayLike, preamble_symbols: int = 8, bandwidth_hz: float = 125e3
) -> np.ndarray:
    """How long into a frame an interferer may still be on air without destroying it [s].

    A frame overlapped only in its first ``preamble_symbols - 5`` preamble symbols locks on
    the rest (Bor et al. 2016): 3 symbols for LoRaWAN's 8-symbol preamble.

    Examples
    --------
    >>> round(float(preamble_grace_s(7)) * 1e3, 3)  # 3 x 1.024 ms at SF7 / 125 kHz
    3.072
    """
    spare = max(preamble_symbols - LOCK_SYMBOLS, 0)
    return spare * symbol_time_s(spreading_factor, bandwidth_hz)


def log_distance_path_loss_db(
    distance_m: ArrayLike, path_loss_d0_db: float, d0_m: float, exponent: float
) -> np.ndarray:
    """Log-distance path loss [dB]: ``PL(d0) + 10 n log10(d / d0)`` (shadowing added apart)."""
    d = np.maximum(np.asarray(distance_m, dtype=np.float64), 1.0)
    return path_loss_d0_db + 10.0 * exponent * np.log10(d / d0_m)


def assign_spreading_factor(
    rx_power_dbm: ArrayLike, margin_db: float, bandwidth_hz: float = 125e3,
    noise_figure_db: float = 6.0,
) -> np.ndarray:  # fmt: skip
    """The fastest spreading factor whose sensitivity the link clears by ``margin_db``.

    What LoRaWAN's adaptive data rate converges to for a static node. Links too weak for
    SF12 get 12 too (they will mostly fail to reach a gateway).
    """
    rx = np.asarray(rx_power_dbm, dtype=np.float64)
    out = np.full(rx.shape, 12, dtype=np.int64)
    for sf in range(11, 6, -1):
        ok = rx >= sensitivity_dbm(sf, bandwidth_hz, noise_figure_db) + margin_db
        out = np.where(ok, sf, out)
    return out
