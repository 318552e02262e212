"""Cloud inference service: time per batch of requests on one worker, and what it costs.

A worker answers a batch of ``b`` requests for a model of ``m`` multiply-accumulates (MACs) in

``t(b) = call_overhead_s + b * (request_overhead_s + m / macs_per_s)``

``call_overhead_s`` is paid once per inference call (session dispatch, thread wake-up),
``request_overhead_s`` once per request (parsing, framework dispatch) and the MACs at the
worker's sustained rate. Batching spreads the call overhead over the batch. The figures of a
worker live in a :class:`twin.profiles.Server` profile; ``call_overhead_s`` and
``macs_per_s`` of the shipped profile were fitted with :func:`fit_server` to onnxruntime
timings (``benchmarks/cloud_service.py``).

All functions are pure and vectorised over numpy arrays.
"""

from __future__ import annotations

from itertools import combinations
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from twin.profiles import Server


def batch_service_time_s(
    batch_size: ArrayLike,
    macs: ArrayLike,
    call_overhead_s: ArrayLike,
    request_overhead_s: ArrayLike,
    macs_per_s: ArrayLike,
) -> np.ndarray:
    """Time one worker takes to answer a batch of requests [s].

    Parameters
    ----------
    batch_size : array_like
        Requests answered by one inference call (>= 1).
    macs : array_like
        Multiply-accumulates of one inference of the model (batch of 1).
    call_overhead_s : array_like
        Fixed time per inference call [s].
    request_overhead_s : array_like
        Time per request on top of the model's arithmetic [s].
    macs_per_s : array_like
        Sustained multiply-accumulates per second of one worker.

    Returns
    -------
    numpy.ndarray
        ``call_overhead_s + batch_size * (request_overhead_s + macs / macs_per_s)``,
        broadcast over the arguments.
    """
    b = np.asarray(batch_size, dtype=np.float64)
    if np.any(b < 1):
        raise ValueError("batch_size must be at least 1")
    per_request_s = np.asarray(request_overhead_s, dtype=np.float64) + np.asarray(
        macs, dtype=np.float64
    ) / np.asarray(macs_per_s, dtype=np.float64)
    return np.asarray(call_overhead_s, dtype=np.float64) + b * per_request_s


def service_time_s(server: Server, macs: ArrayLike, batch_size: ArrayLike = 1) -> np.ndarray:
    """Time one worker of ``server`` takes to answer a batch of ``batch_size`` requests [s].

    Parameters
    ----------
    server : Server
        Server profile (``load_profile("server", id)``).
    macs : array_like
        Multiply-accumulates of one inference of the model (batch of 1).
    batch_size : array_like
        Requests per inference call.

    Returns
    -------
    numpy.ndarray
        Service time of the whole batch [s]; divide by ``batch_size`` for the time per request.
    """
    return batch_service_time_s(
        batch_size, macs, server.call_overhead_s, server.request_overhead_s, server.macs_per_s
    )


def throughput_per_s(server: Server, macs: ArrayLike, batch_size: ArrayLike = 1) -> np.ndarray:
    """Requests per second one busy worker of ``server`` answers at a fixed batch size."""
    return np.asarray(batch_size, dtype=np.float64) / service_time_s(server, macs, batch_size)


def cost_usd(
    requests: ArrayLike, gigabytes: ArrayLike, worker_hours: ArrayLike, server: Server
) -> dict[str, np.ndarray]:
    """What serving the requests costs at the server profile's list prices [USD].

    Parameters
    ----------
    requests : array_like
        Number of requests (each one an uplink message and its answer).
    gigabytes : array_like
        Data billed as transfer [GB] (1 GB = 1e9 bytes).
    worker_hours : array_like
        Hours of worker time paid for (provisioned, not only busy).
    server : Server
        Server profile with the prices.

    Returns
    -------
    dict of numpy.ndarray
        ``requests_usd``, ``transfer_usd``, ``compute_usd`` and their sum ``total_usd``.
    """
    million_requests = np.asarray(requests, dtype=np.float64) / 1e6
    requests_usd = million_requests * server.price_per_million_requests_usd
    transfer_usd = np.asarray(gigabytes, dtype=np.float64) * server.price_per_gb_usd
    compute_usd = np.asarray(worker_hours, dtype=np.float64) * server.price_per_worker_hour_usd
    return {
        "requests_usd": requests_usd,
        "transfer_usd": transfer_usd,
        "compute_usd": compute_usd,
        "total_usd": requests_usd + transfer_usd + compute_usd,
    }


class ServerFit(NamedTuple):
    """Worker figures fitted to measured batch times (see :func:`fit_server`)."""

    call_overhead_s: float
    request_overhead_s: float
    macs_per_s: float
    rms_relative_error: float


def fit_server(macs: ArrayLike, batch_size: ArrayLike, time_s: ArrayLike) -> ServerFit:
    """Fit ``call_overhead_s``, ``request_overhead_s`` and ``macs_per_s`` to measured times.

    The model ``t = c + b * r + b * m * k`` is linear in ``(c, r, k)`` with ``k = 1 /
    macs_per_s``. It is fitted by least squares on the *relative* error (each row divided by
    its measured time): the times span three orders of magnitude, and an absolute fit would
    match only the largest batches of the largest model. The coefficients are constrained to
    be non-negative (a negative overhead has no meaning); with three of them the constrained
    optimum is found by trying every subset of free coefficients.

    Parameters
    ----------
    macs : array_like
        Multiply-accumulates of one inference, per measurement.
    batch_size : array_like
        Batch size, per measurement.
    time_s : array_like
        Measured time of one inference call on the whole batch [s], per measurement.

    Returns
    -------
    ServerFit
        The three figures (``macs_per_s`` is ``inf`` if the MAC term fits as zero) and the
        root-mean-square relative error of the fit.
    """
    m = np.asarray(macs, dtype=np.float64).ravel()
    b = np.asarray(batch_size, dtype=np.float64).ravel()
    t = np.asarray(time_s, dtype=np.float64).ravel()
    if not (len(m) == len(b) == len(t)) or len(t) < 3:
        raise ValueError("need at least three measurements, with equal-length columns")
    if np.any(t <= 0):
        raise ValueError("measured times must be positive")
    design = np.column_stack([np.ones_like(b), b, b * m]) / t[:, None]
    target = np.ones_like(t)
    best: tuple[float, np.ndarray] | None = None
    for k in (3, 2, 1):
        for free in combinations(range(3), k):
            coef = np.zeros(3)
            coef[list(free)] = np.linalg.lstsq(design[:, free], target, rcond=None)[0]
            if np.any(coef < 0):
                continue
            sse = float(np.sum((design @ coef - target) ** 2))
            if best is None or sse < best[0]:
                best = (sse, coef)
    if best is None:  # pragma: no cover - a single positive column always fits
        raise ValueError("no non-negative fit found")
    sse, (c, r, k_s_per_mac) = best
    return ServerFit(
        call_overhead_s=float(c),
        request_overhead_s=float(r),
        macs_per_s=float(1.0 / k_s_per_mac) if k_s_per_mac > 0 else float("inf"),
        rms_relative_error=float(np.sqrt(sse / len(t))),
    )
