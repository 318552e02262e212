"""Per-node sliding windows of readings, the model's input, without per-sample gathers.

Each reading is stored twice, at ``k % W`` and ``k % W + W``, so the window ending at sample
``k`` is the contiguous slice ``[(k + 1) % W, (k + 1) % W + W)``. A batch of nodes shares one
or two offsets, so building the model input is a handful of slice copies instead of a
``(batch x W)`` fancy-index gather.
"""

from __future__ import annotations

import numpy as np


def as_slice(nodes: np.ndarray) -> slice | np.ndarray:
    """``nodes`` as a slice when they are a run of consecutive indices (the usual batch).

    Indexing with a slice reads and writes in place; a fancy index gathers a copy first.
    """
    n = len(nodes)
    if n > 1 and nodes[-1] - nodes[0] == n - 1 and nodes[0] >= 0:
        if np.all(np.diff(nodes) == 1):
            return slice(int(nodes[0]), int(nodes[-1]) + 1)
    return nodes


class WindowBuffer:
    """The last ``window`` readings of ``channels`` values for each of ``n`` nodes."""

    def __init__(self, n: int, window: int, channels: int) -> None:
        self.window = window
        self.buf = np.zeros((n, 2 * window, channels), dtype=np.float32)

    def write(self, nodes: np.ndarray, k: np.ndarray, values: np.ndarray) -> None:
        """Store reading ``k`` of each node (``values``: ``(len(nodes), channels)``)."""
        slot = np.asarray(k) % self.window
        rows = as_slice(nodes)
        if isinstance(rows, slice) and slot.min() == slot.max():
            s = int(slot[0])  # one slot for the whole run: two strided slice writes
            self.buf[rows, s] = values
            self.buf[rows, s + self.window] = values
            return
        self.buf[nodes, slot] = values
        self.buf[nodes, slot + self.window] = values

    def fill_from(self, nodes: np.ndarray, src_slot: np.ndarray, dst_slot: np.ndarray) -> None:
        """Copy the reading in ``src_slot`` to ``dst_slot`` (slots taken modulo the window)."""
        src = np.asarray(src_slot) % self.window
        dst = np.asarray(dst_slot) % self.window
        values = self.buf[nodes, src]
        self.buf[nodes, dst] = values
        self.buf[nodes, dst + self.window] = values

    def windows(self, nodes: np.ndarray, k: np.ndarray) -> np.ndarray:
        """Model input rows: the window ending at sample ``k`` (oldest first)."""
        w = self.window
        start = (np.asarray(k) + 1) % w
        out = np.empty((len(nodes), w * self.buf.shape[2]), dtype=np.float32)
        offsets = np.unique(start)
        if len(offsets) == 1 and len(nodes) > 1:
            s, sel = int(offsets[0]), nodes
            if sel[-1] - sel[0] == len(sel) - 1 and np.all(np.diff(sel) == 1):
                out[:] = self.buf[sel[0] : sel[-1] + 1, s : s + w].reshape(len(sel), -1)
                return out
        for s in offsets:
            m = start == s
            sel = nodes[m]
            if len(sel) > 1 and sel[-1] - sel[0] == len(sel) - 1 and np.all(np.diff(sel) == 1):
                # A run of consecutive nodes (the usual batch): slice copies beat a gather.
                rows = self.buf[sel[0] : sel[-1] + 1, s : s + w]
            else:
                rows = self.buf[sel, s : s + w]
            out[m] = rows.reshape(len(sel), -1)
        return out

    def copy(self) -> WindowBuffer:
        """An independent copy (the cloud starts with the same history as the device)."""
        twin = WindowBuffer.__new__(WindowBuffer)
        twin.window = self.window
        twin.buf = self.buf.copy()
        return twin
