"""Streaming metrics: fixed-bin histograms and confusion counts, flat in memory over time."""

from __future__ import annotations

import numpy as np

# Log-spaced latency bins: 10 us .. 1e6 s, 40 bins per decade (bin width ~6 %).
_LAT_EDGES_S = np.logspace(-5, 6, 11 * 40 + 1)


class LatencyHistogram:
    """Histogram of decision latencies with exact count, sum, min and max."""

    def __init__(self) -> None:
        self.edges_s = _LAT_EDGES_S
        self.counts = np.zeros(len(self.edges_s) - 1, dtype=np.int64)
        self.count = 0
        # Sum kept in integer nanoseconds: exact, so the mean cannot depend on how the
        # latencies were batched (float sums depend on the order of addition).
        self.sum_ns = 0
        self.min_s = np.inf
        self.max_s = -np.inf

    def add(self, latency_s: np.ndarray) -> None:
        """Record a batch of latencies [s]."""
        latency_s = np.asarray(latency_s, dtype=np.float64)
        if latency_s.size == 0:
            return
        idx = np.clip(
            np.searchsorted(self.edges_s, latency_s, side="right") - 1, 0, len(self.counts) - 1
        )
        self.counts += np.bincount(idx, minlength=len(self.counts))
        self.count += latency_s.size
        self.sum_ns += int(np.round(latency_s * 1e9).astype(np.int64).sum(dtype=np.int64))
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
