"""When a BLE, Wi-Fi or cellular node can reach its hub, and what it keeps while it cannot.

A direct link knows at once that its hub is gone (a BLE supervision timeout, a failed
association, no cell), unlike a LoRaWAN node that must infer it from unanswered link checks.
So a message due while the node's hub is out (:meth:`twin.faults.FaultPlan.hub_down_for`)
is either lost, or, with ``store_and_forward``, kept in the node's buffer and sent when the
hub is back, in its order; once an outage's messages fill the buffer, the rest of that
outage's are dropped (the newest, unlike LoRaWAN's store, which drops the oldest: a direct
link's buffer is a queue the firmware stops filling). Decisions for a node that listens
periodically wait at the hub until the node is back. Limits: a kept message is charged when
it was due, not when it leaves, and the burst of kept messages does not occupy the radio.
"""

from __future__ import annotations

import numpy as np

from twin.faults import NodeSpans


class HubAvailability:
    """The outages of one group's hubs, and each node's buffer through them.

    Parameters
    ----------
    spans : NodeSpans
        Each node's hub outages.
    n : int
        Nodes in the group.
    buffer_bytes : int or None
        Payload bytes a node keeps through an outage (None: no store-and-forward).
    horizon_s : float
        Simulated time [s].
    """

    def __init__(self, spans: NodeSpans, n: int, buffer_bytes: int | None, horizon_s: float):
        self.spans = spans
        self.buffer_bytes = buffer_bytes
        self.horizon_s = horizon_s
        self.held_until = np.full(n, -np.inf)  # end of the outage a node is holding for
        self.held_bytes = np.zeros(n, dtype=np.int64)
        self.stored = 0  # messages kept and forwarded
        self.lost = 0  # messages no hub took and nothing kept
        self.dropped = 0  # messages that found the buffer full
        # Time kept messages waited, in integer nanoseconds: the same sum whatever the batching.
        self.held_ns = 0

    def back_s(self, nodes: np.ndarray, t: np.ndarray) -> np.ndarray:
        """``t``, or when the node's hub comes back if it is out at ``t``."""
        end = self.spans.end_if_inside(nodes, t)
        return np.where(np.isnan(end), t, end)

    def route(
        self, nodes: np.ndarray, start: np.ndarray, payload_bytes: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per message: the wait until the hub is back [s] (0: reachable), and whether it goes.

        Messages of one node must come in time order across calls (each batch holds every
        message due before its end).
        """
        end = self.spans.end_if_inside(nodes, start)
        out = ~np.isnan(end)
        wait = np.where(out, end - start, 0.0)
        goes = np.ones(len(nodes), dtype=bool)
        if not out.any():
            return wait, goes
        idx = np.flatnonzero(out)
        if self.buffer_bytes is None:
            goes[idx] = False
            self.lost += len(idx)
            return wait, goes
        idx = idx[np.lexsort((start[idx], nodes[idx]))]
        nd, e, b = nodes[idx], end[idx], payload_bytes[idx].astype(np.int64)
        # Runs of one node and one outage; a run continues what the node already holds.
        first = np.r_[True, (nd[1:] != nd[:-1]) | (e[1:] != e[:-1])]
        run = np.cumsum(first) - 1
        carried = np.where(self.held_until[nd] == e, self.held_bytes[nd], 0)[first]
        csum = np.cumsum(b)
        before = (csum - b)[first]
        total = carried[run] + csum - before[run]
        keep = total <= self.buffer_bytes
        goes[idx[~keep]] = False
        last = np.r_[first[1:], True]
        self.held_until[nd[last]] = e[last]
        self.held_bytes[nd[last]] = total[last]
        self.stored += int(keep.sum())
        self.dropped += int((~keep).sum())
        self.held_ns += int(np.round(wait[idx[keep]] * 1e9).astype(np.int64).sum())
        return wait, goes

    def summary(self) -> dict:
        """The outages and what the nodes kept, lost and dropped, for the results."""
        n = len(self.held_until)
        return {
            "outages": len(self.spans),
            # Share of node-time without a hub over the run.
            "down_fraction": self.spans.down_s(self.horizon_s) / (n * self.horizon_s),
            "store_and_forward": self.buffer_bytes is not None,
            "messages_stored": self.stored,
            "messages_lost": self.lost,
            "messages_dropped_buffer_full": self.dropped,
            "stored_wait_mean_s": self.held_ns / 1e9 / self.stored if self.stored else None,
        }
