"""The run budget: what a run will cost before it starts, and a refusal when it cannot fit.

Every number a scenario holds can be valid and the run still be hopeless: a billion nodes
(a 7 GB allocation per state array), a sampling period of a nanosecond, a time series with
a step of a microsecond, a fault that strikes every 3.6 ms. :func:`estimate` turns a plan
(or a scenario, before its faults are drawn) into counts -- node-samples, time-series rows,
fault intervals, brown-out resets -- and a memory and wall-time estimate; :func:`check`
refuses a run over the :class:`Limits`, naming the estimate and the key to turn.

The figures behind the estimates were measured on the development machine (2 cores, 24 GB,
one process per run; ``python -m twin.budget`` measures them again on another machine):

* node-samples per second, per world, at the fastest fleet size measured (on-device
  policy, thousands of nodes): the low end of the wall-time range. The cloud policy,
  fleets under ~1 000 nodes and a 3-policy scenario's fixed costs ran up to 8 times
  slower, the high end. A run is refused only when even the low end is over the limit.
* resident memory per node while a policy runs (world state, model windows, radio and
  battery arrays), per world; 5 kB per node and policy for the per-node result rows kept
  until the run ends; 2 kB per time-series row; a fixed 150 MB for the interpreter,
  numpy, onnxruntime and the models.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from twin.errors import ScenarioError

# world: (node-samples/s at the fastest fleet size measured, resident bytes per node)
# soil: 1.21 M/s at 100 000 nodes x 30 days (README, Performance); 7 kB/node (805 MB at
# 100 000 nodes). room: 85 k/s and 6 kB at 10 000 nodes. camera 5.3 k/s and 130 kB,
# audio 2.1 k/s and 285 kB, at 200-2 000 nodes. heart 6.3 k/s, 64 kB; vibration 5.4 k/s,
# 50 kB, at 1 000-5 000 nodes. trace: 0.82 M/s at 2 000 nodes x 7 days of
# examples/trace (on_device, median of 3 runs, 2026-12-07); per node as soil (the recordings
# are shared by all nodes).
WORLD_RATES: dict[str, tuple[float, float]] = {
    "soil": (1_200_000.0, 7_000.0),
    "room": (85_000.0, 6_000.0),
    "camera": (5_300.0, 130_000.0),
    "audio": (2_100.0, 285_000.0),
    "heart": (6_300.0, 64_000.0),
    "vibration": (5_400.0, 50_000.0),
    "trace": (820_000.0, 7_000.0),
}
SLOW_FACTOR = 8.0  # high end of the wall-time range: cloud policy, small fleets
STARTUP_S = 3.0  # imports, models, world setup of a small run
BASE_BYTES = 150e6
ROW_BYTES = 5_000.0  # one node's result row (a dict of ~40 values), per extra policy
TS_ROW_BYTES = 2_000.0  # one time-series row and its bins
INTERVAL_BYTES = 1_000.0  # a fault interval: arrays while drawn, a dict in summary.json
SNAPSHOT_S_PER_NODE = 30e-9  # battery quantiles over the nodes at every time-series step
SNAPSHOT_S = 30e-6


@dataclass(frozen=True)
class Limits:
    """What a run may take before :func:`check` refuses it.

    The defaults suit the 24 GB, 2-core machine twin is developed on: 16 GB of memory
    (room for the OS, the report and a second run), 12 hours on one core (checked against
    the low end of the estimate), a million time-series rows (timeseries.csv and every
    report plot hold one point per row), a million fault intervals (summary.json lists
    each).
    """

    memory_bytes: float = 16e9
    wall_s: float = 12 * 3600.0
    timeseries_rows: float = 1e6
    fault_intervals: float = 1e6


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class Budget:
    """What a run is estimated to take.

    Attributes
    ----------
    node_samples : float
        Samples over every node, group and policy.
    timeseries_rows : float
        Time-series steps over every group and policy (rows of timeseries.csv).
    fault_intervals : float
        Outage, burst and spike intervals (expected ones for random faults).
    brownout_resets, skipped_samples : float
        Node resets of brown-out faults and the samples they skip (per policy).
    memory_bytes : float
        Peak resident memory.
    wall_s : tuple of float
        Wall time on one core, low and high end (see the module's notes).
    culprits : dict
        For each limited resource, the key path that drives it most and the advice.
    """

    node_samples: float
    timeseries_rows: float
    fault_intervals: float
    brownout_resets: float
    skipped_samples: float
    memory_bytes: float
    wall_s: tuple[float, float]
    culprits: dict[str, tuple[str, str]] = field(default_factory=dict, repr=False)

    def summary(self) -> str:
        """One line: ``~2.9 M node-samples, ~120 MB, 3 s-25 s``."""
        lo, hi = self.wall_s
        return (
            f"~{_count(self.node_samples)} node-samples, ~{_bytes(self.memory_bytes)}, "
            f"{_duration(lo)}-{_duration(hi)} on one core"
        )


class BudgetError(ScenarioError):
    """A run that would not fit the machine: the estimate, the limit and the key to turn."""


def estimate(plan: Any) -> Budget:
    """Estimate what a run of ``plan`` takes, without running it.

    Parameters
    ----------
    plan : twin.plan.RunPlan or twin.config.schema.Scenario
        A compiled plan (exact fault intervals), or a validated scenario (expected fault
        intervals: use it to check before compiling, which draws them).

    Returns
    -------
    Budget
    """
    shape = _shape(plan)
    horizon, policies, groups = shape["horizon_s"], shape["policies"], shape["groups"]
    # Each resource's parts: (amount, key path, advice); the largest part names the knob.
    wall: list[tuple[float, str, str]] = []
    memory: list[tuple[float, str, str]] = [(BASE_BYTES, "", "")]
    samples = ts_rows = 0.0
    coarser = "a coarser time series (a longer engine.timeseries_interval_s)"
    for g in groups:
        n = g["count"] * horizon / g["period_s"] * policies
        fast, node_bytes = WORLD_RATES.get(g["world"], min(WORLD_RATES.values()))
        samples += n
        count = f"groups.{g['name']}.count"
        period = f"groups.{g['name']}.sampling_period_s"
        knob = f"fewer nodes ({count}), a shorter world.horizon_days or a longer {period}"
        # World setup fills each node's model window with history: samples too.
        wall.append(((n + g["count"] * g["window"] * policies) / fast, count, knob))
        rows = max(policies - 1, 0) * ROW_BYTES  # the last policy's rows replace its state
        node = node_bytes + 8.0 * shape["gateways"] + rows
        memory.append((g["count"] * node, count, f"fewer nodes ({count})"))
        buffer = f"groups.{g['name']}.store_and_forward.buffer_bytes"
        # Worst case: every node storing at once (an outage of every gateway).
        memory.append((g["count"] * g["store_slots"] * 12.0, buffer, f"a smaller {buffer}"))
        steps = policies * math.ceil(horizon / shape["ts_interval_s"])
        ts_rows += steps
        snapshots = steps * (SNAPSHOT_S + g["count"] * SNAPSHOT_S_PER_NODE)
        wall.append((snapshots, "engine.timeseries_interval_s", coarser))
    memory.append((ts_rows * TS_ROW_BYTES, "engine.timeseries_interval_s", coarser))
    intervals, resets, skipped, fault_key = _faults(shape, horizon)
    rarer = f"rarer or shorter faults ({fault_key})"
    wall.append((intervals * 2e-6 + resets * 1e-6, fault_key, rarer))
    memory.append((intervals * INTERVAL_BYTES + (resets + skipped) * 32.0, fault_key, rarer))
    # The cloud queue keeps two floats per worker and visits each worker in every batch.
    batches = sum(2.0 * horizon / g["period_s"] for g in groups) * policies
    wall.append((shape["workers"] * batches * 1e-7, "cloud.workers", "fewer cloud.workers"))
    memory.append((shape["workers"] * 16.0, "cloud.workers", "fewer cloud.workers"))
    low = sum(w[0] for w in wall)
    return Budget(
        node_samples=samples,
        timeseries_rows=ts_rows,
        fault_intervals=intervals,
        brownout_resets=resets,
        skipped_samples=skipped,
        memory_bytes=sum(m[0] for m in memory),
        wall_s=(low, STARTUP_S + SLOW_FACTOR * low),
        culprits={
            "wall": max(wall, key=lambda w: w[0])[1:],
            "memory": max(memory, key=lambda m: m[0])[1:],
            "timeseries": ("engine.timeseries_interval_s", coarser),
            "faults": (fault_key, rarer),
        },
    )


def check(plan: Any, limits: Limits = DEFAULT_LIMITS) -> Budget:
    """Estimate a run and refuse it if it exceeds ``limits``.

    Parameters
    ----------
    plan : twin.plan.RunPlan or twin.config.schema.Scenario
        What to run.
    limits : Limits
        The ceiling; :data:`DEFAULT_LIMITS` by default.

    Returns
    -------
    Budget
        The estimate, when it fits.

    Raises
    ------
    BudgetError
        Naming the file, the key that drives the largest excess, the estimate against the
        limit, and what to change (or ``--no-budget`` / ``budget=False`` to run anyway).
    """
    b = estimate(plan)
    over = []  # (how far over, culprit, what)
    if b.wall_s[0] > limits.wall_s:
        # Name the node-samples when they are what takes the time.
        what = (
            f"~{_count(b.node_samples)} node-samples: " if ".count" in b.culprits["wall"][0] else ""
        )
        over.append((
            b.wall_s[0] / limits.wall_s, "wall",
            f"{what}at least {_duration(b.wall_s[0])} on one core (limit "
            f"{_duration(limits.wall_s)})",
        ))  # fmt: skip
    if b.memory_bytes > limits.memory_bytes:
        over.append((
            b.memory_bytes / limits.memory_bytes, "memory",
            f"~{_bytes(b.memory_bytes)} of memory (limit {_bytes(limits.memory_bytes)})",
        ))  # fmt: skip
    if b.timeseries_rows > limits.timeseries_rows:
        over.append((
            b.timeseries_rows / limits.timeseries_rows, "timeseries",
            f"{_count(b.timeseries_rows)} time-series rows (limit "
            f"{_count(limits.timeseries_rows)})",
        ))  # fmt: skip
    if b.fault_intervals > limits.fault_intervals:
        over.append((
            b.fault_intervals / limits.fault_intervals, "faults",
            f"~{_count(b.fault_intervals)} fault intervals (limit "
            f"{_count(limits.fault_intervals)})",
        ))  # fmt: skip
    if not over:
        return b
    over.sort(key=lambda o: -o[0])
    key, advice = b.culprits[over[0][1]]
    what = "; ".join(o[2] for o in over)
    raise BudgetError(
        f"too large to run: {what}; use {advice}, or run anyway with --no-budget "
        "(Python: budget=False)",
        _file(plan),
        key,
    )


# --------------------------------------------------------------------------- internals


def _shape(plan: Any) -> dict:
    """The figures the estimate needs, from a RunPlan or a Scenario alike."""
    if hasattr(plan, "timeseries_interval_s"):  # a RunPlan (a Scenario keeps it in engine)
        groups = [
            {
                "name": g.name, "count": g.count, "world": g.world,
                "period_s": g.reading_period_s, "window": g.window_samples * g.window_stride,
                "store_slots": _store_slots(g.store_and_forward, g.payload_bytes),
            }
            for g in plan.groups
        ]  # fmt: skip
        return {
            "groups": groups, "horizon_s": plan.horizon_s, "policies": len(plan.policies),
            "ts_interval_s": plan.timeseries_interval_s, "gateways": len(plan.gateways),
            "workers": plan.cloud.workers, "faults": [b for b, _ in plan.faults.brownouts],
            "drawn_intervals": _drawn(plan.faults),
        }  # fmt: skip
    sc = plan
    groups = [
        {
            "name": name, "count": g.count, "world": g.world or sc.world.kind,
            "period_s": g.sampling_period_s, "window": 1,
            "store_slots": _store_slots(g.store_and_forward, g.payload_bytes),
        }
        for name, g in sc.groups.items()
    ]  # fmt: skip
    return {
        "groups": groups, "horizon_s": sc.horizon_s, "policies": len(sc.policies),
        "ts_interval_s": sc.engine.timeseries_interval_s, "gateways": len(sc.gateways),
        "workers": sc.cloud.workers, "faults": list(sc.faults), "drawn_intervals": None,
    }  # fmt: skip


def _drawn(faults: Any) -> int:
    """Intervals a plan's faults hold (drawn when the plan was compiled)."""
    spans = [*faults.gateway_down, faults.cloud_down]
    spans += [s for s, _ in faults.bursts] + [s for s, _ in faults.spikes]
    return sum(len(s) for s in spans)


def _store_slots(sf: Any, payloads: Any) -> float:
    """Messages a node's store-and-forward buffer holds (the engine's ring width)."""
    if sf is None:
        return 0.0
    sizes = [v for v in (payloads.reading, payloads.decision, payloads.heartbeat) if v]
    return sf.buffer_bytes / max(min(sizes, default=1), 1)


def _faults(shape: dict, horizon: float) -> tuple[float, float, float, str]:
    """Fault intervals, brown-out resets and skipped samples; the key driving them."""
    intervals = resets = skipped = 0.0
    worst, key = -1.0, "faults"
    periods = {g["name"]: g for g in shape["groups"]}
    for i, f in enumerate(shape["faults"]):
        if f.kind == "brownout":
            targets = [periods[f.group]] if f.group in periods else shape["groups"]
            for g in targets:
                per_node = 1.0 if f.mtbf_h is None else horizon / (f.mtbf_h * 3600.0)
                r = g["count"] * per_node
                resets += r
                # The engine lists every sample a reset skips (not cut at the horizon).
                skipped += r * math.ceil(f.downtime_s / g["period_s"])
                cost = r * (1 + math.ceil(f.downtime_s / g["period_s"]))
                if cost > worst:
                    worst = cost
                    long_down = f.downtime_s > g["period_s"] * 10
                    key = f"faults.{i}.{'downtime_s' if long_down else 'mtbf_h'}"
            continue
        if f.mtbf_h is None:
            n = 1.0
        else:
            n = horizon / ((f.mtbf_h + f.mttr_h) * 3600.0)
        if f.kind == "gateway_outage" and f.gateway is None:
            n *= max(shape["gateways"], 1)
        intervals += n
        if n > worst:
            worst, key = n, f"faults.{i}.mtbf_h"
    if shape["drawn_intervals"] is not None:  # a plan: the intervals are drawn, count them
        intervals = float(shape["drawn_intervals"])
    return intervals, resets, skipped, key


def _file(plan: Any) -> str | None:
    file = getattr(plan, "file", None)
    if file is None and getattr(plan, "source", None) is not None:
        file = str(plan.source)
    return file


def _count(x: float) -> str:
    """1 234 -> '1,234'; 2.9e6 -> '2.9 M'; 7e12 -> '7 T'."""
    if x < 1e4:
        return f"{x:,.0f}"
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if x >= scale:
            return f"{x / scale:.3g} {unit}" if x / scale < 1e6 else f"{x:.2g}"
    return f"{x:,.0f}"


def _bytes(x: float) -> str:
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if x >= scale:
            return f"{x / scale:.3g} {unit}" if x / scale < 1e6 else f"{x:.2g} bytes"
    return f"{x / 1e3:.3g} kB"


def _duration(s: float) -> str:
    if s < 90:
        return f"{s:.0f} s" if s >= 1 else "<1 s"
    for unit, scale in (("years", 365 * 86400.0), ("days", 86400.0), ("h", 3600.0)):
        if s >= 2 * scale or (unit == "h" and s >= scale):
            v = s / scale
            return f"{v:.3g} {unit}" if v < 1e6 else f"{v:.2g} {unit}"
    return f"{s / 60:.0f} min"


# --------------------------------------------------------------------------- measuring

# (scenario file, group, nodes, days): one world each, a fleet large enough for the
# per-sample rate to dominate start-up, small enough to finish in under a minute.
_PROBES = (
    ("farm.yaml", "soil", 20_000, 1.0),
    ("smart_home.yaml", "thermostat", 10_000, 0.5),
    ("smart_home.yaml", "camera", 2_000, 0.02),
    ("smart_home.yaml", "speaker", 200, 0.1),
    ("wearables.yaml", "patch", 1_000, 0.5),
    ("factory.yaml", "ltem", 1_000, 5.0),
)
_PROBE = """
import json, resource, sys, time, yaml, twin
path, group, nodes, days = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
d = yaml.safe_load(open(path))
d["groups"] = {group: d["groups"][group]}
d["groups"][group]["count"] = nodes
d["world"]["horizon_days"] = days
d["policies"], d["faults"] = ["on_device"], []
t0 = time.perf_counter()
r = twin.run(d, budget=False)
wall = time.perf_counter() - t0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"world": r.nodes[0]["group"], "samples": r.manifest["node_samples"],
                  "wall_s": wall, "rss": rss, "nodes": nodes}))
"""


def measure_rates() -> list[dict]:  # pragma: no cover - minutes of benchmarks
    """Measure node-samples/s and bytes per node of each world, each in a fresh process.

    Returns one record per probe: ``world`` (the group), ``rate`` [node-samples/s] and
    ``node_bytes`` (peak RSS above a 100 MB process, per node) to compare with
    :data:`WORLD_RATES`.
    """
    import json
    import subprocess
    import sys
    from pathlib import Path

    scenarios = Path(__file__).resolve().parent.parent / "scenarios"
    out = []
    for file, group, nodes, days in _PROBES:
        args = [sys.executable, "-c", _PROBE, str(scenarios / file), group, str(nodes), str(days)]
        rec = json.loads(subprocess.run(args, capture_output=True, text=True, check=True).stdout)
        rec["rate"] = rec["samples"] / rec["wall_s"]
        rec["node_bytes"] = (rec["rss"] - 100e6) / nodes
        out.append(rec)
        print(f"{file}:{group}: {rec['rate']:,.0f} node-samples/s, "
              f"{rec['node_bytes'] / 1e3:,.0f} kB/node", flush=True)  # fmt: skip
    return out


if __name__ == "__main__":  # pragma: no cover
    measure_rates()
