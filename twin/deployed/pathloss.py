"""A log-distance path-loss model fitted to a fleet's measured links, heard and unheard.

Model (as :func:`twin.physics.lora.log_distance_path_loss_db`, shadowing log-normal)::

    rssi = tx_power - PL(d0) - 10 n log10(d / d0) + X,   X ~ N(0, sigma^2)

A link a gateway never heard is not missing at random: its received power was below the
gateway's sensitivity. Dropping those links would bias ``n`` and ``sigma`` low (only the
lucky far links are seen), so they enter as *censored* observations, ``rssi < sensitivity``:
the fit is a Tobit regression (Tobin 1958), solved by expectation-maximisation (Amemiya,
*Advanced Econometrics*, 1985, sec. 10.4): the censored links' expected power given that it
is below the threshold, then ordinary least squares, until the log-likelihood stops moving.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

_erfc = np.frompyfunc(math.erfc, 1, 1)


def _norm_cdf(z: np.ndarray) -> np.ndarray:
    return 0.5 * _erfc(-np.asarray(z, dtype=float) / math.sqrt(2.0)).astype(float)


def _norm_pdf(z: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


@dataclass(frozen=True)
class PathLossFit:
    """The fitted model and what it rests on."""

    path_loss_d0_db: float
    path_loss_exponent: float
    shadowing_sd_db: float
    d0_m: float
    links_heard: int
    links_censored: int
    exponent_se: float  # standard error of the exponent (observed links' least squares)
    iterations: int


def fit_log_distance(
    rssi_dbm: np.ndarray, distance_m: np.ndarray, heard: np.ndarray,
    threshold_dbm: np.ndarray, tx_power_dbm: float, d0_m: float,
    max_iterations: int = 500, tol: float = 1e-9,
) -> PathLossFit:  # fmt: skip
    """Fit ``PL(d0)``, ``n`` and ``sigma`` to links (flattened arrays of equal shape).

    Parameters
    ----------
    rssi_dbm : numpy.ndarray
        Mean received power of each heard link [dBm] (ignored where not heard).
    distance_m : numpy.ndarray
        Node-gateway distance [m].
    heard : numpy.ndarray of bool
        Whether the gateway heard the node at all.
    threshold_dbm : numpy.ndarray
        The power below which the gateway could not hear it (its sensitivity at the node's
        spreading factor) [dBm], for unheard links.
    tx_power_dbm, d0_m : float
        The nodes' transmit power [dBm] and the model's reference distance [m].
    """
    x = np.log10(np.maximum(np.ravel(distance_m), 1.0) / d0_m)
    heard = np.ravel(heard).astype(bool)
    y = np.where(heard, np.ravel(rssi_dbm), np.ravel(threshold_dbm)).astype(float)
    c = ~heard
    if heard.sum() < 3:
        raise ValueError("fewer than 3 heard links: the path loss cannot be fitted")
    design = np.column_stack([np.ones_like(x), x])
    beta, *_ = np.linalg.lstsq(design[heard], y[heard], rcond=None)
    sigma = float(np.std(y[heard] - design[heard] @ beta)) or 1.0
    ey, ey2 = y.copy(), y * y
    it = 0
    for it in range(1, max_iterations + 1):  # noqa: B007 (the count is reported)
        mu = design @ beta
        if c.any():
            z = (y[c] - mu[c]) / sigma
            lam = _norm_pdf(z) / np.maximum(_norm_cdf(z), 1e-300)
            ey[c] = mu[c] - sigma * lam
            var = sigma**2 * (1.0 - z * lam - lam**2)
            ey2[c] = ey[c] ** 2 + np.maximum(var, 0.0)
        new_beta, *_ = np.linalg.lstsq(design, ey, rcond=None)
        mu = design @ new_beta
        new_sigma = math.sqrt(float(np.mean(ey2 - 2 * ey * mu + mu * mu)))
        done = np.all(np.abs(new_beta - beta) < tol) and abs(new_sigma - sigma) < tol
        beta, sigma = new_beta, new_sigma
        if done:
            break
    xs = x[heard]
    se = sigma / math.sqrt(max(np.sum((xs - xs.mean()) ** 2), 1e-12)) / 10.0
    return PathLossFit(
        path_loss_d0_db=float(tx_power_dbm - beta[0]),
        path_loss_exponent=float(-beta[1] / 10.0),
        shadowing_sd_db=float(sigma),
        d0_m=float(d0_m),
        links_heard=int(heard.sum()),
        links_censored=int(c.sum()),
        exponent_se=float(se),
        iterations=it,
    )
