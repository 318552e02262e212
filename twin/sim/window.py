"""Per-node sliding windows of readings, the model's input, without per-sample gathers.

Node ``i`` keeps its last ``L`` readings in ring ``buf[i]``, reading ``k`` in slot ``k % L``. A
batch of nodes is a few runs of consecutive nodes at the same sample (see :func:`runs`), so
storing a reading is one strided slice write per run, and the model input for a run is the
run's block of rings rotated by the shared offset: two slice copies that read the block
front to back, instead of a ``(batch x L)`` fancy-index gather.

A model window of ``W`` readings taken every ``stride``-th reading (a node that reads more often
than its model was trained to see) spans ``L = (W - 1) * stride + 1`` readings of the ring.
"""

from __future__ import annotations

import numpy as np

from twin.arrays import runs

__all__ = ["WindowBuffer", "runs"]


class WindowBuffer:
    """The readings of ``channels`` values a model window of each of ``n`` nodes spans.

    Parameters
    ----------
    n : int
        Nodes.
    window : int
        Readings in one model window.
    channels : int
        Values per reading.
    stride : int
        Readings from one window entry to the next (1: consecutive readings).

    Attributes
    ----------
    window : int
        Readings the ring holds (``(window - 1) * stride + 1``): slots are taken modulo it.
    features : int
        Values in one model input row (``window * channels``).
    """

    def __init__(self, n: int, window: int, channels: int, stride: int = 1) -> None:
        self.stride = int(stride)
        self.window = (window - 1) * self.stride + 1
        self.features = window * channels
        self.buf = np.zeros((n, self.window, channels), dtype=np.float32)

    def write(self, nodes: np.ndarray, k: np.ndarray, values: np.ndarray) -> None:
        """Store reading ``k`` of each node (``values``: ``(len(nodes), channels)``)."""
        w = self.window
        for i0, i1, rows, kk in runs(np.asarray(nodes), np.asarray(k)):
            self.buf[rows, kk % w] = values[i0:i1]

    def fill_from(self, nodes: np.ndarray, src_slot: np.ndarray, dst_slot: np.ndarray) -> None:
        """Copy the reading in ``src_slot`` to ``dst_slot`` (slots taken modulo the window)."""
        src = np.asarray(src_slot) % self.window
        dst = np.asarray(dst_slot) % self.window
        self.buf[nodes, dst] = self.buf[nodes, src]

    def windows(self, nodes: np.ndarray, k: np.ndarray) -> np.ndarray:
        """Model input rows: the window ending at sample ``k`` (oldest first)."""
        out = self._rings(nodes, k)
        if self.stride > 1:
            out = out[:, :: self.stride]  # slot 0 is the oldest entry, slot -1 reading k
        return np.ascontiguousarray(out).reshape(len(out), self.features)

    def recent(self, nodes: np.ndarray, k: np.ndarray, count: int) -> np.ndarray:
        """The last ``count`` readings up to sample ``k`` of each node, oldest first, flat."""
        out = self._rings(nodes, k)[:, -count:]
        return np.ascontiguousarray(out).reshape(len(out), -1)

    def _rings(self, nodes: np.ndarray, k: np.ndarray) -> np.ndarray:
        """Each node's whole ring rotated to end at sample ``k``: ``(len(nodes), L, channels)``."""
        w = self.window
        nodes, k = np.asarray(nodes), np.asarray(k)
        out = np.empty((len(nodes), w, self.buf.shape[2]), dtype=np.float32)
        for i0, i1, rows, kk in runs(nodes, k):
            if isinstance(rows, slice):
                # A run at one sample: the ring rows rotated by two slice copies.
                s = (kk + 1) % w
                out[i0:i1, : w - s] = self.buf[rows, s:]
                out[i0:i1, w - s :] = self.buf[rows, :s]
            else:
                # Scattered nodes: per distinct offset, gather their rings, scatter rotated.
                start = (kk + 1) % w
                for s in np.unique(start).tolist():
                    m = np.flatnonzero(start == s)
                    ring = self.buf[rows[m]]
                    # Positions in the batch are usually a block (the batch is sorted by k).
                    dst = slice(i0 + m[0], i0 + m[-1] + 1) if m[-1] - m[0] == len(m) - 1 else i0 + m
                    out[dst, : w - s] = ring[:, s:]
                    out[dst, w - s :] = ring[:, :s]
        return out

    def copy(self) -> WindowBuffer:
        """An independent copy (the cloud starts with the same history as the device)."""
        twin = WindowBuffer.__new__(WindowBuffer)
        twin.window = self.window
        twin.stride = self.stride
        twin.features = self.features
        twin.buf = self.buf.copy()
        return twin
