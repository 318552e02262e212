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

from twin.sim.metrics import LatencyHistogram

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
        # Events: episodes of positive ground truth, and when a positive decision meets them.
        self._observations: list[dict] = []
        self._last_observed = np.zeros(n, dtype=np.int8)  # as handed in (time order per node)
        self.truth_state = np.zeros(n, dtype=np.int8)  # as of the last resolved observation
        self.acting_seen = np.zeros(n, dtype=np.int8)  # acting decision in that same order
        self.episode_start_s = np.full(n, np.nan)  # open episode not yet detected
        self.in_episode = np.zeros(n, dtype=bool)
        self.episodes = 0
        self.detected = 0
        self.missed = 0
        self.false_alarms = 0
        self.detection_delay = LatencyHistogram()
        # Actuator reads: the decision acting at a node's control instant (see `control`).
        self._controls: list[dict] = []
        self.control_value = np.zeros(n, dtype=np.int8)
        self.control_pending = np.zeros(n, dtype=bool)
        # Every delivery as handed in, when the run records events (None: not kept).
        self.log: list[dict] | None = None

    def deliver(self, nodes: np.ndarray, t_s: np.ndarray, k: np.ndarray, decision) -> None:
        """Decisions about sample ``k`` of ``nodes`` reach their actuators at ``t_s``."""
        if len(nodes) == 0:
            return
        entry = {
            "node": np.asarray(nodes, dtype=np.int64),
            "t": np.broadcast_to(np.asarray(t_s, dtype=float), nodes.shape).copy(),
            "k": np.asarray(k, dtype=np.int64),
            "v": np.broadcast_to(np.asarray(decision, dtype=np.int8), nodes.shape).copy(),
        }
        self._deliveries.append(entry)
        if self.log is not None:
            self.log.append(entry)

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

    def control(self, nodes: np.ndarray, t_s: np.ndarray) -> None:
        """The actuator of ``nodes`` reads the decision acting at ``t_s`` (one read per node).

        The value lands in :attr:`control_value` once the timeline is resolved past ``t_s``;
        until then the node is flagged in :attr:`control_pending`, so the world cannot use a
        read that is not final.
        """
        if len(nodes) == 0:
            return
        self.control_pending[nodes] = True
        self._controls.append(
            {
                "node": np.asarray(nodes, dtype=np.int64),
                "t": np.broadcast_to(np.asarray(t_s, dtype=float), nodes.shape).copy(),
                "v": np.zeros(len(nodes), dtype=np.int8),
            }
        )

    def observe(self, nodes: np.ndarray, t_s: np.ndarray, truth: np.ndarray) -> None:
        """Ground truth of samples taken at ``t_s`` (for events and detection delays).

        A node's samples come in time order, so only changes of its truth are kept: the
        others cannot start or end an episode.
        """
        truth = np.asarray(truth, dtype=np.int8)
        changed = truth != self._last_observed[nodes]
        nodes, t_s, truth = nodes[changed], np.asarray(t_s)[changed], truth[changed]
        self._last_observed[nodes] = truth
        if len(nodes) == 0:
            return
        self._observations.append(
            {
                "node": np.asarray(nodes, dtype=np.int64),
                "t": np.asarray(t_s, dtype=float),
                "v": np.asarray(truth, dtype=np.int8),
            }
        )

    def close(self) -> None:
        """End of run: an episode still open and undetected counts as missed."""
        self.missed += int((self.in_episode & ~np.isnan(self.episode_start_s)).sum())
        self.episode_start_s[:] = np.nan

    def _take_due(self, buffer: str, until_s: float, inclusive: bool) -> dict | None:
        """Remove and return the entries of one buffer timed before ``until_s`` (or at it)."""
        parts = getattr(self, buffer)
        if not parts:
            return None
        x = _cat(parts)
        due, rest = _split(x, x["t"] <= until_s if inclusive else x["t"] < until_s)
        setattr(self, buffer, [rest] if len(rest["node"]) else [])
        return due

    def resolve(self, until_s: float, inclusive: bool = False) -> None:
        """Apply deliveries and score queries timed before ``until_s`` (or at it, if inclusive).

        The caller guarantees that every delivery timed before ``until_s`` has been handed in.
        A delivery and a query at the same instant: the delivery acts first. Two deliveries
        at the same instant: the one about the later sample wins.
        """
        due_d = self._take_due("_deliveries", until_s, inclusive)
        due_q = self._take_due("_queries", until_s, inclusive)
        due_o = self._take_due("_observations", until_s, inclusive)
        due_c = self._take_due("_controls", until_s, inclusive)
        if due_o is not None and len(due_o["node"]) or due_d is not None and len(due_d["node"]):
            self._events(due_d, due_o)
        nd = 0 if due_d is None else len(due_d["node"])
        # Reads of nodes without a delivery in this span see the acting decision as it is:
        # no ordering needed (the usual case: on the board, decisions change rarely).
        busy = np.zeros(self.n, dtype=bool)
        if nd:
            busy[due_d["node"]] = True
        due_q = self._read_quiet(due_q, busy, score=True)
        due_c = self._read_quiet(due_c, busy, score=False)
        nq = 0 if due_q is None else len(due_q["node"])
        nc = 0 if due_c is None else len(due_c["node"])
        if nd + nq + nc == 0:
            return
        empty_i, empty_b = np.empty(0, dtype=np.int64), np.empty(0, np.int8)
        node = np.concatenate(
            [
                due_d["node"] if nd else empty_i,
                due_q["node"] if nq else empty_i,
                due_c["node"] if nc else empty_i,
            ]
        )
        t = np.concatenate(
            [due_d["t"] if nd else [], due_q["t"] if nq else [], due_c["t"] if nc else []]
        )
        # Reads (scores and actuator controls) come after a delivery at the same instant.
        is_q = np.r_[np.zeros(nd, dtype=bool), np.ones(nq + nc, dtype=bool)]
        is_c = np.r_[np.zeros(nd + nq, dtype=bool), np.ones(nc, dtype=bool)]
        k = np.r_[due_d["k"] if nd else empty_i, np.zeros(nq + nc, dtype=np.int64)]
        val = np.concatenate(
            [due_d["v"] if nd else empty_b, due_q["v"] if nq else empty_b, np.zeros(nc, np.int8)]
        )
        order = np.lexsort((k, is_q, t, node))
        node, t, is_q, is_c, val = node[order], t[order], is_q[order], is_c[order], val[order]
        pos = np.arange(len(node))
        seg_start = np.r_[0, np.flatnonzero(np.diff(node)) + 1]
        seg_of = np.repeat(seg_start, np.diff(np.r_[seg_start, len(node)]))
        last = np.maximum.accumulate(np.where(~is_q, pos, -1))
        # The decision acting at each position: the node's last delivery so far, or its state.
        own = last >= seg_of
        acting = np.where(own, val[np.maximum(last, 0)], self.acting[node])
        if nq:
            score = is_q & ~is_c
            truth = val[score].astype(bool)
            dec = acting[score].astype(bool)
            cell = np.where(truth, np.where(dec, TP, FN), np.where(dec, FP, TN))
            np.add.at(self.confusion, (node[score], cell), 1)
        if nc:
            # A node's latest read wins (earlier ones were used by samples already taken).
            cn, cv = node[is_c][::-1], acting[is_c][::-1]
            _, first = np.unique(cn, return_index=True)
            self.control_value[cn[first]] = cv[first]
            self.control_pending[cn[first]] = False
        if nd:
            seg_end = np.r_[seg_start[1:], len(node)] - 1
            ends = seg_end[own[seg_end]]
            self.acting[node[ends]] = acting[ends]
            self.deliveries += nd

    def _read_quiet(self, due: dict | None, busy: np.ndarray, score: bool) -> dict | None:
        """Resolve the reads of nodes not in ``busy``; return the others (to be ordered)."""
        if due is None or not len(due["node"]):
            return due
        quiet = ~busy[due["node"]]
        if not quiet.any():
            return due
        q, rest = _split(due, quiet)
        nodes = q["node"]
        acting = self.acting[nodes]
        if score:
            truth, dec = q["v"].astype(bool), acting.astype(bool)
            cell = np.where(truth, np.where(dec, TP, FN), np.where(dec, FP, TN))
            counts = np.bincount(nodes * 4 + cell, minlength=4 * self.n)
            self.confusion += counts.reshape(self.n, 4)
        else:
            self.control_value[nodes] = acting
            self.control_pending[nodes] = False
        return rest

    def _events(self, d: dict | None, o: dict | None) -> None:
        """Episodes, detections and false alarms, from truth and deliveries in time order.

        An *episode* is a run of samples whose ground truth is positive; it starts at its
        first sample. It is *detected* when a positive decision is acting at its start (delay
        0) or starts acting before it ends (delay: that delivery's time minus the start), and
        *missed* otherwise. A *false alarm* is a decision turning positive while the truth is
        negative. Only the records where something changes are walked one by one.
        """
        empty_i, empty_f, empty_b = np.empty(0, np.int64), np.empty(0), np.empty(0, np.int8)
        d = d or {"node": empty_i, "t": empty_f, "k": empty_i, "v": empty_b}
        o = o or {"node": empty_i, "t": empty_f, "v": empty_b}
        nd, no = len(d["node"]), len(o["node"])
        node = np.r_[o["node"], d["node"]]
        t = np.r_[o["t"], d["t"]]
        is_d = np.r_[np.zeros(no, bool), np.ones(nd, bool)]
        k = np.r_[np.zeros(no, np.int64), d["k"]]
        v = np.r_[o["v"], d["v"]].astype(np.int8)
        # Truth first at equal times (a decision arriving with the onset detects it at 0 s).
        order = np.lexsort((k, is_d, t, node))
        node, t, is_d, v = node[order], t[order], is_d[order], v[order]
        pos = np.arange(len(node))
        seg_start = np.r_[0, np.flatnonzero(np.diff(node)) + 1]
        seg_of = np.repeat(seg_start, np.diff(np.r_[seg_start, len(node)]))
        last_o = np.maximum.accumulate(np.where(~is_d, pos, -1))
        last_d = np.maximum.accumulate(np.where(is_d, pos, -1))
        # Value of the other stream just before each record (from this chunk, or the state).
        prev_o = np.r_[-1, last_o[:-1]]
        prev_d = np.r_[-1, last_d[:-1]]
        truth_before = np.where(prev_o >= seg_of, v[np.maximum(prev_o, 0)], self.truth_state[node])
        acting_before = np.where(prev_d >= seg_of, v[np.maximum(prev_d, 0)], self.acting_seen[node])
        truth_at = np.where(is_d, truth_before, v)
        rising = is_d & (v == 1) & (acting_before == 0)
        onset = ~is_d & (v == 1) & (truth_before == 0)
        offset = ~is_d & (v == 0) & (truth_before == 1)
        self.false_alarms += int((rising & (truth_at == 0)).sum())
        walk = np.flatnonzero(onset | offset | (rising & (truth_at == 1)))
        start, in_ep = self.episode_start_s, self.in_episode
        delays = []
        for i in walk.tolist():
            n_ = node[i]
            if onset[i]:
                self.episodes += 1
                in_ep[n_] = True
                if acting_before[i]:
                    self.detected += 1
                    delays.append(0.0)
                    start[n_] = np.nan
                else:
                    start[n_] = t[i]
            elif offset[i]:
                if in_ep[n_] and not np.isnan(start[n_]):
                    self.missed += 1
                in_ep[n_] = False
                start[n_] = np.nan
            elif in_ep[n_] and not np.isnan(start[n_]):  # a positive decision arrives
                self.detected += 1
                delays.append(t[i] - start[n_])
                start[n_] = np.nan
        if delays:
            self.detection_delay.add(np.array(delays))
        seg_end = np.r_[seg_start[1:], len(node)] - 1
        ends = node[seg_end]
        lo = last_o[seg_end]
        ld = last_d[seg_end]
        has_o = lo >= seg_start
        has_d = ld >= seg_start
        self.truth_state[ends[has_o]] = v[lo[has_o]]
        self.acting_seen[ends[has_d]] = v[ld[has_d]]
