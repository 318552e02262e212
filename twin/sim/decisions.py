"""When each node's decision acts, scored in time order whatever the batching.

A decision *acts* from the moment it reaches the actuator: at once for an on-device decision,
when a downlink arrives for a cloud one. Sample ``k`` is scored by comparing its ground truth
with the decision acting when sample ``k + 1`` is taken (the valve state the next reading
sees). Downlinks can arrive at any time (a BLE connection event, a Wi-Fi beacon, an LTE
paging occasion), so scoring at the moment a batch is processed would depend on how the batch
was cut. Instead, deliveries and score queries are buffered and resolved together, in per-node
time order, once every delivery before the resolution time is known.
"""

from __future__ import annotations

import numpy as np

# Confusion columns.
TP, FP, FN, TN = range(4)


def _cat(parts: list[dict]) -> dict:
    return {f: np.concatenate([p[f] for p in parts]) for f in parts[0]}


def _split(d: dict, mask: np.ndarray) -> tuple[dict, dict]:
    return {f: v[mask] for f, v in d.items()}, {f: v[~mask] for f, v in d.items()}


class DecisionTimeline:
    """The acting decision of every node of a group, and the confusion counts it earns.

    Parameters
    ----------
    n : int
        Number of nodes.
    """

    def __init__(self, n: int) -> None:
        self.n = n
        self.acting = np.zeros(n, dtype=np.int8)  # after every resolved delivery
        self.confusion = np.zeros((n, 4), dtype=np.int64)
        self.deliveries = 0
        self._deliveries: list[dict] = []
        self._queries: list[dict] = []

    def deliver(self, nodes: np.ndarray, t_s: np.ndarray, k: np.ndarray, decision) -> None:
        """Decisions about sample ``k`` of ``nodes`` reach their actuators at ``t_s``."""
        if len(nodes) == 0:
            return
        self._deliveries.append(
            {
                "node": np.asarray(nodes, dtype=np.int64),
                "t": np.broadcast_to(np.asarray(t_s, dtype=float), nodes.shape).copy(),
                "k": np.asarray(k, dtype=np.int64),
                "v": np.broadcast_to(np.asarray(decision, dtype=np.int8), nodes.shape).copy(),
            }
        )

    def query(self, nodes: np.ndarray, t_s: np.ndarray, truth: np.ndarray) -> None:
        """Score a sample whose ground truth is ``truth`` against the decision acting at ``t_s``."""
        if len(nodes) == 0:
            return
        self._queries.append(
            {
                "node": np.asarray(nodes, dtype=np.int64),
                "t": np.broadcast_to(np.asarray(t_s, dtype=float), nodes.shape).copy(),
                "v": np.asarray(truth, dtype=np.int8),
            }
        )

    def resolve(self, until_s: float, inclusive: bool = False) -> None:
        """Apply deliveries and score queries timed before ``until_s`` (or at it, if inclusive).

        The caller guarantees that every delivery timed before ``until_s`` has been handed in.
        A delivery and a query at the same instant: the delivery acts first. Two deliveries
        at the same instant: the one about the later sample wins.
        """
        due_d = due_q = None
        if self._deliveries:
            d = _cat(self._deliveries)
            m = d["t"] <= until_s if inclusive else d["t"] < until_s
            due_d, rest = _split(d, m)
            self._deliveries = [rest] if len(rest["node"]) else []
        if self._queries:
            q = _cat(self._queries)
            m = q["t"] <= until_s if inclusive else q["t"] < until_s
            due_q, rest = _split(q, m)
            self._queries = [rest] if len(rest["node"]) else []
        nd = 0 if due_d is None else len(due_d["node"])
        nq = 0 if due_q is None else len(due_q["node"])
        if nd + nq == 0:
            return
        empty_i = np.empty(0, dtype=np.int64)
        node = np.concatenate([due_d["node"] if nd else empty_i, due_q["node"] if nq else empty_i])
        t = np.concatenate([due_d["t"] if nd else [], due_q["t"] if nq else []])
        is_q = np.r_[np.zeros(nd, dtype=bool), np.ones(nq, dtype=bool)]
        k = np.r_[due_d["k"] if nd else empty_i, np.zeros(nq, dtype=np.int64)]
        val = np.concatenate(
            [due_d["v"] if nd else np.empty(0, np.int8), due_q["v"] if nq else np.empty(0, np.int8)]
        )
        order = np.lexsort((k, is_q, t, node))
        node, t, is_q, val = node[order], t[order], is_q[order], val[order]
        pos = np.arange(len(node))
        seg_start = np.r_[0, np.flatnonzero(np.diff(node)) + 1]
        seg_of = np.repeat(seg_start, np.diff(np.r_[seg_start, len(node)]))
        last = np.maximum.accumulate(np.where(~is_q, pos, -1))
        # The decision acting at each position: the node's last delivery so far, or its state.
        own = last >= seg_of
        acting = np.where(own, val[np.maximum(last, 0)], self.acting[node])
        if nq:
            truth = val[is_q].astype(bool)
            dec = acting[is_q].astype(bool)
            cell = np.where(truth, np.where(dec, TP, FN), np.where(dec, FP, TN))
            np.add.at(self.confusion, (node[is_q], cell), 1)
        if nd:
            seg_end = np.r_[seg_start[1:], len(node)] - 1
            ends = seg_end[own[seg_end]]
            self.acting[node[ends]] = acting[ends]
            self.deliveries += nd
