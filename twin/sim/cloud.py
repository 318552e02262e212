"""The cloud inference service: a FIFO queue with k workers, and the cloud model's decisions.

A request costs the call overhead (once per model call) plus its own part: a fixed service
time, or the server's per-request overhead and the group's cloud model MACs at the server's
rate (:mod:`twin.physics.cloud`). The cloud keeps its own copy of each node's model window,
updated from the readings that reach it, and decides on it.
"""

from __future__ import annotations

import numpy as np

from twin.faults import FaultPlan
from twin.plan import CloudPlan, Delay
from twin.policies import BATCH, WINDOW
from twin.sim.metrics import LatencyHistogram
from twin.sim.timebins import TimeBins
from twin.sim.uplink import PURPOSE_DOWN_LATENCY

_Z95 = 1.6448536269514722  # standard normal 95th percentile


def lognormal_s(dist: Delay, z: np.ndarray) -> np.ndarray:
    """Delays [s] of a lognormal given by median and p95, from standard normal draws ``z``."""
    sigma = np.log(dist.p95_s / dist.median_s) / _Z95
    return dist.median_s * np.exp(sigma * z)


class CloudQueue:
    """k identical FIFO workers; a free worker takes up to ``max_batch`` waiting requests.

    Parameters
    ----------
    workers, max_batch : int
        Workers, and requests one model call may take.
    call_s : float
        Time of a model call, paid once per call [s].
    request_s : numpy.ndarray
        Time each group's request adds to a call [s].
    bins : TimeBins
        Time-series steps (worker busy time per step).
    faults : FaultPlan, optional
        Cloud outages (queued requests wait them out).
    """

    def __init__(self, workers, max_batch, call_s, request_s, bins: TimeBins, faults=None):
        self.workers = workers
        self.max_batch = max_batch
        self.call_s = call_s
        self.request_s = np.asarray(request_s, dtype=float)
        self.bins = bins
        self.faults = faults
        self._last_starts = np.full(workers, -np.inf)
        self._worker_free = np.full(workers, -np.inf)
        self._jobs = 0
        self.calls = 0
        self.busy_ns = 0
        self.busy_ns_bins = bins.zeros()

    def fifo_equal(self, arrive: np.ndarray, s: float) -> np.ndarray:
        """Start times of one-request calls of equal length ``s`` on k FIFO workers."""
        w = self.workers
        start = np.empty_like(arrive)
        # Residue class r of the global job counter runs on "its" worker; within a class the
        # single-server recursion start_j = max(a_j, start_{j-1} + s) is a running maximum.
        jobs = self._jobs + np.arange(len(arrive))
        for r in range(w):
            m = jobs % w == r
            if not m.any():
                continue
            j = np.arange(int(m.sum()))
            b = np.maximum.accumulate(arrive[m] - s * j)
            start[m] = s * j + np.maximum(b, self._last_starts[r] + s)
            self._last_starts[r] = start[m][-1]
        self._jobs += len(arrive)
        self.calls += len(arrive)
        self.busy_ns += len(arrive) * int(round(s * 1e9))
        np.add.at(self.busy_ns_bins, self.bins.of(start), int(round(s * 1e9)))
        return start

    def fifo_batched(self, arrive: np.ndarray, gid: np.ndarray, t: float):
        """Greedy batching on k FIFO workers: a worker that frees takes what is waiting.

        A call starts when a worker is free and a request waits, and takes every waiting
        request up to ``max_batch``. Only calls that start by ``t`` are formed (a later call
        could still take requests that have not arrived yet), so the schedule does not depend
        on how time was cut. Returns start and done times of the requests served, a prefix of
        ``arrive``. Also used when groups' requests differ in cost (unequal service times
        break the residue-class shortcut of :meth:`fifo_equal`).
        """
        free = self._worker_free
        cap = self.max_batch
        start = np.empty(len(arrive))
        done = np.empty(len(arrive))
        i, n = 0, len(arrive)
        while i < n:
            w = int(np.argmin(free))
            begin = max(free[w], arrive[i])
            if self.faults is not None and len(self.faults.cloud_down):
                begin = self.faults.cloud_resumes_s(begin)  # queued requests wait it out
            if begin > t:
                break
            j = min(int(np.searchsorted(arrive, begin, side="right")), i + cap)
            dur = self.call_s + float(self.request_s[gid[i:j]].sum())
            start[i:j] = begin
            done[i:j] = begin + dur
            free[w] = begin + dur
            self.calls += 1
            self.busy_ns += int(round(dur * 1e9))
            self.busy_ns_bins[self.bins.of(np.array([begin]))[0]] += int(round(dur * 1e9))
            i = j
        self._jobs += i
        return start[:i], done[:i]


class CloudService:
    """Requests arriving from every group, served in FIFO order, decided by the cloud models.

    Parameters
    ----------
    cloud : CloudPlan
        Workers, batching, server, backhaul delays.
    models : list of Classifier
        Per group, the cloud model.
    windows : list of WindowBuffer
        Per group, the nodes' history at t = 0 (the cloud's copy starts from it).
    batch_readings : list of int
        Per group, readings per ``BATCH`` message.
    reading_counts : list of int, optional
        Per group, readings per ``READING`` message (the readings since the node's previous
        decision; default one).
    streams : list of NodeStream
        Per group, the counter-based stream (downlink backhaul delays).
    bins : TimeBins
        Time-series steps.
    faults : FaultPlan, optional
        Cloud outages and backhaul spikes.
    """

    def __init__(self, cloud: CloudPlan, models, windows, batch_readings, streams, bins,
                 faults: FaultPlan | None = None, reading_counts=None) -> None:  # fmt: skip
        self.cloud = cloud
        self.models = models
        self.batch_readings = batch_readings
        self.reading_counts = reading_counts or [1] * len(models)
        self.streams = streams
        self.faults = faults
        self.bins = bins
        n = len(models)
        server = cloud.server
        if cloud.service_time_s is not None:
            call_s, request_s = 0.0, np.full(n, cloud.service_time_s)
        else:
            call_s = server.call_overhead_s
            request_s = np.array(
                [server.request_overhead_s + m.cost.macs / server.macs_per_s for m in models]
            )
        self.queue = CloudQueue(cloud.workers, cloud.max_batch, call_s, request_s, bins, faults)
        self.wait = LatencyHistogram()
        # The cloud over time: requests arriving (per group), their queueing wait, and worker
        # busy time (a call counts in the step it starts in; calls last milliseconds).
        # Integer nanoseconds keep sums independent of batching.
        self.requests_bins = np.zeros((n, bins.n), dtype=np.int64)
        self.wait_ns_bins = bins.zeros()
        self.wait_max_s_bins = np.zeros(bins.n)
        self.requests = np.zeros(n, dtype=np.int64)
        # Requests that reached the cloud while it was down (lost with their decision).
        self.refused = np.zeros(n, dtype=np.int64)
        self.rings = [w.copy() for w in windows]
        self.last_k = [np.full(w.buf.shape[0], -1, dtype=np.int64) for w in windows]
        self._arrivals: list[dict] = []

    def arrive(self, requests: dict) -> None:
        """Requests on their way (fields gid, node, k, ts, arrive, r, kind)."""
        self._arrivals.append(requests)

    def has_arrivals(self) -> bool:
        """Whether requests are on their way or waiting."""
        return any(len(a["node"]) for a in self._arrivals)

    def serve(self, t: float) -> list[tuple]:
        """Serve every request that a call starting by ``t`` takes.

        Returns, per group with decisions, ``(gid, nodes, k, sample_s, ready_s, decision)``:
        each decision is ready at the network server at ``ready_s`` (after the call and the
        backhaul back).
        """
        if not self._arrivals:
            return []
        a = {f: np.concatenate([x[f] for x in self._arrivals]) for f in self._arrivals[0]}
        cloud_down = self.faults is not None and len(self.faults.cloud_down) > 0
        if cloud_down:
            # Requests reaching a cloud that is down are lost (integrations do not retry).
            refused = self.faults.cloud_is_down(a["arrive"])
            if refused.any():
                self.refused += np.bincount(a["gid"][refused], minlength=len(self.models))
                a = {f: v[~refused] for f, v in a.items()}
        order = np.lexsort((a["k"], a["node"], a["gid"], a["arrive"]))
        a = {f: v[order] for f, v in a.items()}
        q = self.queue
        service = q.call_s + q.request_s[a["gid"]]
        if q.max_batch == 1 and len(np.unique(q.request_s)) == 1 and not cloud_down:
            n_due = int(np.searchsorted(a["arrive"], t, side="right"))
            start = q.fifo_equal(a["arrive"][:n_due], float(service[0]))
            done = start + service[:n_due]
        else:
            start, done = q.fifo_batched(a["arrive"], a["gid"], t)
            n_due = len(start)
        rest = {f: v[n_due:] for f, v in a.items()}
        self._arrivals = [rest] if len(rest["node"]) else []
        if n_due == 0:
            return []
        a = {f: v[:n_due] for f, v in a.items()}
        return self._decide_served(a, start, done)

    def _decide_served(self, a: dict, start: np.ndarray, done: np.ndarray) -> list[tuple]:
        arrive = a["arrive"]
        self.wait.add(start - arrive)
        arrive_bin = self.bins.of(arrive)
        np.add.at(self.wait_ns_bins, arrive_bin, np.round((start - arrive) * 1e9).astype(np.int64))
        np.maximum.at(self.wait_max_s_bins, arrive_bin, start - arrive)
        out = []
        for gi, stream in enumerate(self.streams):
            m = a["gid"] == gi
            if not m.any():
                continue
            self.requests[gi] += int(m.sum())
            np.add.at(self.requests_bins[gi], arrive_bin[m], 1)
            decision = self._decide(gi, a["node"][m], a["k"][m], a["r"][m], a["kind"][m])
            z = stream.normal(a["node"][m], a["k"][m].astype(np.uint64), PURPOSE_DOWN_LATENCY)
            ready = done[m] + lognormal_s(self.cloud.downlink_latency, z) + self.spike_s(done[m])
            # Where each answer's time went so far: uplink, queue, service, backhaul down.
            stages = np.stack(
                [arrive[m] - a["ts"][m], start[m] - arrive[m], done[m] - start[m], ready - done[m]],
                axis=1,
            )
            out.append((gi, a["node"][m], a["k"][m], a["ts"][m], ready, decision, stages))
        return out

    def spike_s(self, t_s: np.ndarray) -> np.ndarray | float:
        """Extra backhaul delay at ``t_s`` (0 without backhaul spikes)."""
        if self.faults is None or not self.faults.has_spikes:
            return 0.0
        return self.faults.extra_latency_s(t_s)

    def _decide(
        self, gi: int, nodes: np.ndarray, k: np.ndarray, r: np.ndarray, kind: np.ndarray
    ) -> np.ndarray:
        """Run the cloud model on each request's window.

        An escalated window is decided as sent. Readings (one, or a batch ending at sample
        ``k``) update the cloud's copy of the node's window first.
        """
        ring, last = self.rings[gi], self.last_k[gi]
        # Model input rows in whatever order is cheapest to build; `at` maps them back.
        at, xs = [], []
        w = np.flatnonzero(kind == WINDOW)
        if len(w):
            at.append(w)
            xs.append(r[w, : ring.features])
        rest = np.flatnonzero(kind != WINDOW)
        if len(rest):
            pos, x = update_windows(
                ring, last, nodes[rest], k[rest], r[rest],
                np.where(
                    kind[rest] == BATCH, self.batch_readings[gi], self.reading_counts[gi]
                ),
            )  # fmt: skip
            at.append(rest[pos])
            xs.append(x)
        _, positive = self.models[gi].predict(xs[0] if len(xs) == 1 else np.concatenate(xs))
        decision = np.empty(len(nodes), dtype=np.int8)
        decision[np.concatenate(at)] = positive
        return decision


def update_windows(ring, last, nodes, k, r, count) -> tuple[np.ndarray, np.ndarray]:
    """Write ``count`` readings ending at ``k`` into the cloud's copy; return the windows.

    Returns ``(pos, windows)``: row ``i`` of ``windows`` is the window of request ``pos[i]``
    (requests are taken in node order, round by round).
    """
    win, c = ring.window, ring.buf.shape[2]
    # Rounds: a node appears at most once per round, so its window is updated in order.
    srt = np.argsort(nodes, kind="stable")
    first = np.r_[0, np.flatnonzero(np.diff(nodes[srt])) + 1]
    rank = np.empty(len(nodes), dtype=np.int64)
    rank[srt] = np.arange(len(nodes)) - np.repeat(first, np.diff(np.r_[first, len(nodes)]))
    pos, xs = [], []
    rank_sorted = rank[srt]
    for rr in range(int(rank.max()) + 1):
        # This round's requests in node order (nodes are independent within a round): runs
        # of consecutive nodes let the ring read and write slices, not gathers.
        m = srt[rank_sorted == rr]
        n_, k_, cnt = nodes[m], k[m], count[m]
        lk = last[n_]
        gap = (k_ - cnt + 1) - lk - 1
        # Lost readings: the cloud carries the last value it received forward.
        for d in range(1, int(min(max(gap.max(initial=0), 0), win)) + 1):
            f = gap >= d
            ring.fill_from(n_[f], lk[f], lk[f] + d)
        rm = r[m]
        for j in range(int(cnt.max()) - 1, -1, -1):  # oldest reading of the batch first
            kj = k_ - j
            f = (cnt > j) & (kj > lk - win)
            if cnt.max() == 1:  # single readings (the usual case): the first columns
                vals = rm[f, :c] if not f.all() else rm[:, :c]
            else:
                col = (cnt[f] - 1 - j) * c  # reading j before the newest sits here
                idx = col[:, None] + np.arange(c)[None, :]
                vals = np.take_along_axis(rm[f], idx, axis=1)
            ring.write(n_[f], kj[f], vals)
        last[n_] = np.maximum(lk, k_)
        pos.append(m)
        xs.append(ring.windows(n_, k_))
    if len(xs) == 1:
        return pos[0], xs[0]
    return np.concatenate(pos), np.concatenate(xs)
