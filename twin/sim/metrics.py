"""Streaming metrics: fixed-bin histograms and confusion counts, flat in memory over time."""

from __future__ import annotations

import numpy as np

# Log-spaced latency bins: 10 us .. 1e6 s, 40 bins per decade (bin width ~6 %).
_LAT_EDGES_S = np.logspace(-5, 6, 11 * 40 + 1)


# Stages of a decision's latency (LatencyHistogram.stage_ns), in order.
STAGES = (
    "on_device",  # sensing to a decision taken on the node
    "uplink",  # sample to the request reaching the cloud (any waits, air, backhaul)
    "cloud_queue",  # waiting for a cloud worker
    "cloud_service",  # the cloud model's call
    "downlink_backhaul",  # the answer back to the network server
    "rx_window_wait",  # waiting for the node's receive window, and the downlink itself
)


class LatencyHistogram:
    """Histogram of decision latencies with exact count, sum, min and max."""

    def __init__(self) -> None:
        self.edges_s = _LAT_EDGES_S
        self.counts = np.zeros(len(self.edges_s) - 1, dtype=np.int64)
        self.count = 0
        # Sum kept in integer nanoseconds: exact, so the mean cannot depend on how the
        # latencies were batched (float sums depend on the order of addition).
        self.sum_ns = 0
        # Where the time went, summed the same way: see STAGES (the stages add up to sum_ns).
        self.stage_ns = np.zeros(len(STAGES), dtype=np.int64)
        self.min_s = np.inf
        self.max_s = -np.inf

    def add(self, latency_s: np.ndarray, cloud_stages_s: np.ndarray | None = None) -> None:
        """Record a batch of latencies [s], and which stages they were spent in.

        Without ``cloud_stages_s`` the decisions were taken on the device (the whole latency
        is the device's); with it, an (n, 4) array of the cloud path's uplink, queue,
        service and downlink-backhaul times [s], the rest being the wait for a receive
        window and the downlink itself.
        """
        latency_s = np.asarray(latency_s, dtype=np.float64)
        if latency_s.size == 0:
            return
        total_ns = np.round(latency_s * 1e9).astype(np.int64)
        if cloud_stages_s is None:
            self.stage_ns[0] += int(total_ns.sum(dtype=np.int64))
        else:
            parts = np.round(np.asarray(cloud_stages_s) * 1e9).astype(np.int64)
            self.stage_ns[1:5] += parts.sum(axis=0, dtype=np.int64)
            self.stage_ns[5] += int((total_ns - parts.sum(axis=1)).sum(dtype=np.int64))
        idx = np.clip(
            np.searchsorted(self.edges_s, latency_s, side="right") - 1, 0, len(self.counts) - 1
        )
        self.counts += np.bincount(idx, minlength=len(self.counts))
        self.count += latency_s.size
        self.sum_ns += int(total_ns.sum(dtype=np.int64))
        self.min_s = min(self.min_s, float(latency_s.min()))
        self.max_s = max(self.max_s, float(latency_s.max()))

    def quantile(self, q: float) -> float | None:
        """Quantile, interpolated log-linearly inside its bin and clamped to [min, max]."""
        if self.count == 0:
            return None
        target = q * self.count
        cum = np.cumsum(self.counts)
        i = int(np.searchsorted(cum, target, side="left"))
        i = min(i, len(self.counts) - 1)
        before = cum[i - 1] if i > 0 else 0
        frac = (target - before) / self.counts[i] if self.counts[i] else 0.0
        lo, hi = np.log(self.edges_s[i]), np.log(self.edges_s[i + 1])
        value = float(np.exp(lo + frac * (hi - lo)))
        return float(min(max(value, self.min_s), self.max_s))

    def summary(self) -> dict:
        """p50, p95, p99, mean and count."""
        return {
            "p50": self.quantile(0.50),
            "p95": self.quantile(0.95),
            "p99": self.quantile(0.99),
            "mean": self.sum_ns / 1e9 / self.count if self.count else None,
            "count": int(self.count),
        }

    def breakdown(self) -> dict[str, float | None]:
        """Mean time per delivered decision spent in each stage [s] (they add up to the mean)."""
        if not self.count:
            return {name: None for name in STAGES}
        shares = zip(STAGES, self.stage_ns, strict=True)
        return {name: int(ns) / 1e9 / self.count for name, ns in shares}

    def trimmed(self) -> dict:
        """Non-empty range of the histogram (edges and counts) for the report."""
        nz = np.nonzero(self.counts)[0]
        if nz.size == 0:
            return {"edges_s": [], "counts": []}
        a, b = int(nz[0]), int(nz[-1]) + 1
        return {"edges_s": self.edges_s[a : b + 1].tolist(), "counts": self.counts[a:b].tolist()}


def confusion_summary(tp: int, fp: int, fn: int, tn: int) -> dict:
    """Precision, recall and F1 from confusion counts (None where undefined)."""
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "tp": int(tp),
        "fp": int(fp),
        "fn": int(fn),
        "tn": int(tn),
    }
