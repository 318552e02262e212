"""Faults: when gateways, the cloud, the channel, the backhaul and the nodes misbehave.

Every fault is turned into time intervals before the run starts: scheduled ones as given,
random ones as an alternating renewal process (exponential up times with mean MTBF, down times
with mean MTTR) drawn from a stream of their own. The engine then only asks pure,
vectorised questions ("was gateway j down during this frame?", "what is the loss
probability at t?"), so results do not depend on batching, and adding a fault never changes
the draws of the groups.

Brown-outs are per node: each resets at random times (a Poisson process, mean MTBF) or all
at once at a scheduled time, and is off for ``downtime_s``. They become the set of samples
each node misses and the samples at which it starts again with an empty model window.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

HOUR_S = 3600.0

# Fault streams hang off the run seed under a fixed spawn key, away from the groups'
# children (0, 1, ...): adding a group or a fault leaves every other draw unchanged.
_FAULT_SPAWN_KEY = 0x6661756C  # "faul"


def renewal_intervals(
    rng: np.random.Generator, mtbf_s: float, mttr_s: float, horizon_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """Down intervals ``[start, end)`` of an alternating renewal process over the horizon.

    Up times are exponential with mean ``mtbf_s``, down times with mean ``mttr_s``; the
    system starts up at t = 0.
    """
    starts, ends = [], []
    t = 0.0
    # Draw in blocks: a handful of calls even for thousands of failures.
    block = max(int(2 * horizon_s / (mtbf_s + mttr_s)) + 8, 8)
    while t < horizon_s:
        up = rng.exponential(mtbf_s, block)
        down = rng.exponential(mttr_s, block)
        cycle = np.cumsum(up + down)
        s = t + cycle - down
        e = t + cycle
        starts.append(s)
        ends.append(e)
        t = float(e[-1])
    s, e = np.concatenate(starts), np.concatenate(ends)
    keep = s < horizon_s
    return s[keep], e[keep]


def merge(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted, disjoint union of intervals ``[start, end)``."""
    if not len(starts):
        return np.empty(0), np.empty(0)
    order = np.argsort(starts, kind="stable")
    s, e = np.asarray(starts, float)[order], np.asarray(ends, float)[order]
    reach = np.maximum.accumulate(e)
    new = np.r_[True, s[1:] > reach[:-1]]
    group = np.cumsum(new) - 1
    out_s = s[new]
    out_e = np.zeros(len(out_s))
    np.maximum.at(out_e, group, e)
    return out_s, out_e


def inside(t: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Whether each time lies in one of the disjoint sorted intervals ``[start, end)``."""
    t = np.asarray(t, dtype=float)
    if not len(starts):
        return np.zeros(t.shape, dtype=bool)
    i = np.searchsorted(starts, t, side="right") - 1
    return (i >= 0) & (t < ends[np.maximum(i, 0)])


def overlapping(a: np.ndarray, b: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Whether each span ``[a, b]`` meets one of the disjoint sorted intervals."""
    a = np.asarray(a, dtype=float)
    if not len(starts):
        return np.zeros(a.shape, dtype=bool)
    # The first interval ending after a; it meets [a, b] if it starts by b.
    i = np.searchsorted(ends, a, side="right")
    return (i < len(starts)) & (starts[np.minimum(i, len(starts) - 1)] <= b)


def end_of(t: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """``t``, or the end of the interval holding it."""
    t = np.asarray(t, dtype=float)
    if not len(starts):
        return t
    i = np.searchsorted(starts, t, side="right") - 1
    hit = (i >= 0) & (t < ends[np.maximum(i, 0)])
    return np.where(hit, ends[np.maximum(i, 0)], t)


@dataclass
class Spans:
    """Disjoint sorted intervals ``[start_s, end_s)``, with a value per interval."""

    start_s: np.ndarray = field(default_factory=lambda: np.empty(0))
    end_s: np.ndarray = field(default_factory=lambda: np.empty(0))

    def __len__(self) -> int:
        return len(self.start_s)


@dataclass
class NodeResets:
    """Brown-outs of one group: the samples each node misses, and where it starts again.

    Keys are ``node * stride + k``, sorted.
    """

    stride: int
    skip_keys: np.ndarray
    restart_keys: np.ndarray
    resets: int

    def skipped(self, nodes: np.ndarray, k: np.ndarray) -> np.ndarray:
        """Whether sample ``k`` of each node falls while it is off."""
        return _member(nodes.astype(np.int64) * self.stride + k, self.skip_keys)

    def restarting(self, nodes: np.ndarray, k: np.ndarray) -> np.ndarray:
        """Whether sample ``k`` of each node is its first after a reset."""
        return _member(nodes.astype(np.int64) * self.stride + k, self.restart_keys)


def _member(x: np.ndarray, sorted_keys: np.ndarray) -> np.ndarray:
    if not len(sorted_keys):
        return np.zeros(len(x), dtype=bool)
    i = np.minimum(np.searchsorted(sorted_keys, x), len(sorted_keys) - 1)
    return sorted_keys[i] == x


def node_resets(
    reset_s: np.ndarray,
    node: np.ndarray,
    downtime_s: np.ndarray,
    phase_s: np.ndarray,
    period_s: float,
    horizon_s: float,
) -> NodeResets:
    """Samples missed by nodes reset at ``reset_s``, each off for its ``downtime_s``.

    Node ``i`` samples at ``phase_s[i] + k period_s``; a reset at ``b`` loses the samples in
    ``[b, b + downtime)`` and the node starts again, window empty, at its next sample.
    """
    stride = int(np.ceil(horizon_s / period_s)) + 2
    ph = phase_s[node]
    first = np.maximum(np.ceil((reset_s - ph) / period_s), 0).astype(np.int64)
    after = np.maximum(np.ceil((reset_s + downtime_s - ph) / period_s), 0).astype(np.int64)
    count = np.maximum(after - first, 0)
    base = node.astype(np.int64) * stride
    offsets = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
    skip = np.repeat(base + first, count) + offsets
    restart = base + after
    return NodeResets(stride, np.unique(skip), np.unique(restart), len(reset_s))


@dataclass(frozen=True)
class NodeSpans:
    """Down intervals ``[start, end)`` of each node, merged per node, sorted by (node, start)."""

    node: np.ndarray
    start_s: np.ndarray
    end_s: np.ndarray

    def __len__(self) -> int:
        return len(self.node)

    def end_if_inside(self, nodes: np.ndarray, t: np.ndarray) -> np.ndarray:
        """For each (node, t): the end of the node's interval holding ``t``, else NaN."""
        out = np.full(len(nodes), np.nan)
        if not len(self.node) or not len(nodes):
            return out
        # The last interval of the same node starting at or before t: sort the starts and the
        # queries together by (node, time), starts first on ties, and carry the last start.
        m = len(self.node)
        node = np.concatenate([self.node, nodes])
        time = np.concatenate([self.start_s, t])
        is_q = np.concatenate([np.zeros(m, dtype=bool), np.ones(len(nodes), dtype=bool)])
        order = np.lexsort((is_q, time, node))
        idx = np.where(is_q[order], -1, order)  # interval index at starts, -1 at queries
        last = np.maximum.accumulate(idx)
        qpos = np.flatnonzero(is_q[order])
        q = order[qpos] - m
        cand = last[qpos]
        ok = cand >= 0
        ok[ok] = self.node[cand[ok]] == nodes[q[ok]]
        ok[ok] = self.end_s[cand[ok]] > t[q[ok]]
        out[q[ok]] = self.end_s[cand[ok]]
        return out

    def down_s(self, horizon_s: float) -> float:
        """Node-seconds down within the horizon."""
        return float((np.minimum(self.end_s, horizon_s) - self.start_s).clip(min=0).sum())


def node_renewal_intervals(
    rng: np.random.Generator, n: int, mtbf_s: float, mttr_s: float, horizon_s: float
) -> NodeSpans:
    """Each of ``n`` nodes' own alternating renewal process (as `renewal_intervals`), at once."""
    nodes, starts, ends = [], [], []
    t = np.zeros(n)
    block = max(int(2 * horizon_s / (mtbf_s + mttr_s)) + 8, 8)
    live = np.arange(n)
    while len(live):
        up = rng.exponential(mtbf_s, (len(live), block))
        down = rng.exponential(mttr_s, (len(live), block))
        cycle = t[live, None] + np.cumsum(up + down, axis=1)
        s, e = cycle - down, cycle
        keep = s < horizon_s
        r, _ = np.nonzero(keep)
        nodes.append(live[r])
        starts.append(s[keep])
        ends.append(e[keep])
        t[live] = cycle[:, -1]
        live = live[t[live] < horizon_s]
    node, start, end = (np.concatenate(x) for x in (nodes, starts, ends))
    order = np.lexsort((start, node))
    return NodeSpans(node[order], start[order], end[order])


@dataclass
class FaultPlan:
    """Every fault of a run, as intervals (shared parts) and missed samples (nodes)."""

    gateway_down: list[Spans]
    cloud_down: Spans
    bursts: list[tuple[Spans, float]]
    spikes: list[tuple[Spans, float]]
    brownouts: list[tuple[Any, np.random.SeedSequence]]  # (brownout spec, its seed)
    gateway_ids: list[str]
    horizon_s: float
    hub_outages: list[tuple[Any, np.random.SeedSequence]] = field(default_factory=list)

    @property
    def any_gateway_down(self) -> bool:
        """Whether any gateway is ever down."""
        return any(len(s) for s in self.gateway_down)

    # -- the shared parts -------------------------------------------------------------------
    def gateways_down(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """``(len(a), n_gateways)``: whether each gateway was down at some time in ``[a, b]``."""
        out = np.zeros((len(a), len(self.gateway_down)), dtype=bool)
        for j, s in enumerate(self.gateway_down):
            if len(s):
                out[:, j] = overlapping(a, b, s.start_s, s.end_s)
        return out

    def gateways_down_at(self, t: np.ndarray) -> np.ndarray:
        """``(len(t), n_gateways)``: whether each gateway is down at ``t``."""
        out = np.zeros((len(t), len(self.gateway_down)), dtype=bool)
        for j, s in enumerate(self.gateway_down):
            if len(s):
                out[:, j] = inside(t, s.start_s, s.end_s)
        return out

    def cloud_is_down(self, t: np.ndarray) -> np.ndarray:
        """Whether the cloud is down at each time."""
        return inside(t, self.cloud_down.start_s, self.cloud_down.end_s)

    def cloud_resumes_s(self, t: float) -> float:
        """``t``, or when the cloud comes back if it is down at ``t``."""
        return float(end_of(np.array([t]), self.cloud_down.start_s, self.cloud_down.end_s)[0])

    def loss_probability(self, t: np.ndarray) -> np.ndarray:
        """Per-frame loss probability of loss bursts at ``t`` (independent bursts combine)."""
        keep = np.ones(np.shape(t))
        for spans, p in self.bursts:
            keep *= np.where(inside(t, spans.start_s, spans.end_s), 1.0 - p, 1.0)
        return 1.0 - keep

    @property
    def has_bursts(self) -> bool:
        """Whether any loss burst happens."""
        return any(len(s) for s, _ in self.bursts)

    def extra_latency_s(self, t: np.ndarray) -> np.ndarray:
        """Backhaul delay added at ``t`` [s] (overlapping spikes add up)."""
        out = np.zeros(np.shape(t))
        for spans, extra in self.spikes:
            out += np.where(inside(t, spans.start_s, spans.end_s), extra, 0.0)
        return out

    @property
    def has_spikes(self) -> bool:
        """Whether any backhaul spike happens."""
        return any(len(s) for s, _ in self.spikes)

    # -- nodes ------------------------------------------------------------------------------
    def resets_for(self, group: str, phase_s: np.ndarray, period_s: float) -> NodeResets | None:
        """The brown-outs of one group's nodes (None: the group has none)."""
        n = len(phase_s)
        times, nodes, downs = [], [], []
        for b, ss in self.brownouts:
            if b.group is not None and b.group != group:
                continue
            if b.start_h is not None:
                t = np.full(n, b.start_h * HOUR_S)
                node = np.arange(n)
            else:
                # Per group and fault: the same group draws the same resets whatever else
                # the scenario holds.
                rng = np.random.default_rng(_group_child(ss, group))
                count = rng.poisson(self.horizon_s / (b.mtbf_h * HOUR_S), n)
                node = np.repeat(np.arange(n), count)
                t = rng.uniform(0.0, self.horizon_s, int(count.sum()))
            keep = t < self.horizon_s
            times.append(t[keep])
            nodes.append(node[keep])
            downs.append(np.full(int(keep.sum()), b.downtime_s))
        if not times:
            return None
        return node_resets(
            np.concatenate(times), np.concatenate(nodes), np.concatenate(downs),
            phase_s, period_s, self.horizon_s,
        )  # fmt: skip

    def hub_down_for(self, group: str, n: int) -> NodeSpans | None:
        """When each node of a BLE/Wi-Fi/cellular group cannot reach its hub (None: never).

        A scheduled outage strikes at ``start_h`` for ``duration_h`` and again every
        ``every_h`` if given, each node's hub out each time with ``probability`` (a wearer
        who leaves the phone behind some nights); a random one follows each node's own
        alternating renewal process (MTBF/MTTR). Drawn per group and fault, so the same group
        draws the same outages whatever else the scenario holds.
        """
        parts = []
        for f, ss in self.hub_outages:
            if f.group is not None and f.group != group:
                continue
            rng = np.random.default_rng(_group_child(ss, group))
            if f.start_h is None:
                parts.append(
                    node_renewal_intervals(rng, n, f.mtbf_h * HOUR_S, f.mttr_h * HOUR_S,
                                           self.horizon_s)
                )  # fmt: skip
                continue
            every = f.every_h * HOUR_S if f.every_h is not None else np.inf
            first = f.start_h * HOUR_S
            count = (
                1 if not np.isfinite(every) else max(int((self.horizon_s - first) // every) + 1, 0)
            )
            t0 = first + every * np.arange(count) if count > 1 else np.array([first])[:count]
            out = rng.random((n, len(t0))) < f.probability
            node, rep = np.nonzero(out)
            parts.append(NodeSpans(node, t0[rep], t0[rep] + f.duration_h * HOUR_S))
        if not parts:
            return None
        return _merge_node_spans(parts)

    # -- for the results --------------------------------------------------------------------
    def intervals(self) -> list[dict]:
        """Every shared-part fault interval, for summary.json and the report."""
        rows = []

        def add(kind: str, target: str, spans: Spans, **extra) -> None:
            for s, e in zip(spans.start_s, spans.end_s, strict=True):
                rows.append(
                    {"kind": kind, "target": target, "start_s": float(s),
                     "end_s": float(min(e, self.horizon_s)), **extra}
                )  # fmt: skip

        for gw, spans in zip(self.gateway_ids, self.gateway_down, strict=True):
            add("gateway_outage", gw, spans)
        add("cloud_outage", "cloud", self.cloud_down)
        for spans, p in self.bursts:
            add("loss_burst", "channel", spans, loss_probability=p)
        for spans, extra in self.spikes:
            add("backhaul_spike", "backhaul", spans, extra_latency_s=extra)
        rows.sort(key=lambda r: (r["start_s"], r["kind"], r["target"]))
        return rows


def _merge_node_spans(parts: list[NodeSpans]) -> NodeSpans:
    """Several faults' per-node intervals as one: overlapping ones of a node joined."""
    node = np.concatenate([p.node for p in parts])
    start = np.concatenate([p.start_s for p in parts])
    end = np.concatenate([p.end_s for p in parts])
    order = np.lexsort((start, node))
    node, start, end = node[order], start[order], end[order]
    same = node[1:] == node[:-1]
    if not (same & (start[1:] <= end[:-1])).any():
        return NodeSpans(node, start, end)  # nothing overlaps (the usual case)
    # Running maximum of the ends within each node: a start at or before it joins the run.
    keep = np.ones(len(node), dtype=bool)
    out_end = end.copy()
    for i in range(1, len(node)):  # merged runs are rare and short: a plain loop is clear
        if node[i] == node[i - 1] and start[i] <= out_end[i - 1]:
            out_end[i] = max(out_end[i], out_end[i - 1])
            keep[i - 1] = False
            start[i] = start[i - 1]
    return NodeSpans(node[keep], start[keep], out_end[keep])


def _group_child(ss: np.random.SeedSequence, group: str) -> np.random.SeedSequence:
    """A child of a fault's seed sequence keyed by the group's name."""
    # The whole name: groups sharing a prefix must not share resets.
    tag = int.from_bytes(hashlib.sha256(group.encode()).digest()[:8], "little")
    return np.random.SeedSequence(ss.entropy, spawn_key=(*ss.spawn_key, tag))


def plan_faults(
    faults: Sequence[Any], gateway_ids: Sequence[str], seed: int, horizon_s: float
) -> FaultPlan:
    """Turn a scenario's ``faults`` into intervals, drawn from the run seed.

    ``faults`` are the scenario's fault entries (each with ``kind`` and its timing: see
    ``twin.config.schema``); they are read by attribute, so this layer does not depend on the
    schema.
    """
    horizon = horizon_s
    root = np.random.SeedSequence(seed, spawn_key=(_FAULT_SPAWN_KEY,))
    children = root.spawn(max(len(faults), 1))
    ids = list(gateway_ids)
    gw_s: list[list[np.ndarray]] = [[] for _ in ids]
    gw_e: list[list[np.ndarray]] = [[] for _ in ids]
    cloud_s, cloud_e = [], []
    bursts, spikes, brownouts, hub_outages = [], [], [], []

    def timing(f, ss: np.random.SeedSequence) -> tuple[np.ndarray, np.ndarray]:
        if f.start_h is not None:
            return np.array([f.start_h * HOUR_S]), np.array([(f.start_h + f.duration_h) * HOUR_S])
        return renewal_intervals(
            np.random.default_rng(ss), f.mtbf_h * HOUR_S, f.mttr_h * HOUR_S, horizon
        )

    for f, ss in zip(faults, children, strict=False):
        if f.kind == "gateway_outage":
            targets = range(len(ids)) if f.gateway is None else [ids.index(f.gateway)]
            # Each gateway fails on its own stream.
            for j, child in zip(targets, ss.spawn(len(ids)), strict=False):
                s, e = timing(f, child)
                gw_s[j].append(s)
                gw_e[j].append(e)
        elif f.kind == "cloud_outage":
            s, e = timing(f, ss)
            cloud_s.append(s)
            cloud_e.append(e)
        elif f.kind == "loss_burst":
            bursts.append((Spans(*merge(*timing(f, ss))), f.loss_probability))
        elif f.kind == "backhaul_spike":
            spikes.append((Spans(*merge(*timing(f, ss))), f.extra_latency_s))
        elif f.kind == "brownout":
            brownouts.append((f, ss))
        elif f.kind == "hub_outage":
            hub_outages.append((f, ss))
        else:
            raise ValueError(f"unknown fault kind {f.kind!r}")

    def union(ss_: list, es_: list) -> Spans:
        if not ss_:
            return Spans()
        return Spans(*merge(np.concatenate(ss_), np.concatenate(es_)))

    return FaultPlan(
        gateway_down=[union(a, b) for a, b in zip(gw_s, gw_e, strict=True)],
        cloud_down=union(cloud_s, cloud_e),
        bursts=bursts,
        spikes=spikes,
        brownouts=brownouts,
        gateway_ids=ids,
        horizon_s=horizon,
        hub_outages=hub_outages,
    )
