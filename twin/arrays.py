"""Array helpers the vectorised layers share: runs of consecutive nodes."""

from __future__ import annotations

import numpy as np

# Below this many nodes per run on average, gathering the whole batch at once is cheaper than
# one set of slice operations per run (each costs a few dozen numpy calls).
_MIN_RUN_NODES = 1024


def runs(nodes: np.ndarray, k: np.ndarray) -> list[tuple[int, int, slice | np.ndarray, object]]:
    """Split a batch into runs of consecutive nodes at the same sample index.

    Returns ``(i0, i1, rows, k)`` per run: batch positions ``i0:i1`` are nodes ``rows`` (a
    ``slice``) at sample ``k`` (an ``int``). An engine batch is one or two runs (it wraps
    around the node index once per period). When runs are short (scattered nodes), returns a
    single entry ``(0, n, nodes, k)`` with the index arrays, for one gather instead.
    """
    n = len(nodes)
    if n == 0:
        return []
    k = np.broadcast_to(k, nodes.shape)
    brk = np.flatnonzero((nodes[1:] - nodes[:-1] != 1) | (k[1:] != k[:-1])) + 1
    if len(brk) + 1 > max(2, n // _MIN_RUN_NODES):
        return [(0, n, nodes, k)]
    bounds = [0, *brk.tolist(), n]
    out: list[tuple[int, int, slice | np.ndarray, object]] = []
    for i0, i1 in zip(bounds[:-1], bounds[1:], strict=True):
        first = int(nodes[i0])
        if first < 0:  # a negative index is not the start of a slice
            return [(0, n, nodes, k)]
        out.append((i0, i1, slice(first, first + i1 - i0), int(k[i0])))
    return out
