"""The farm at fleet scale: node-samples per second, events per second and peak memory.

Run: python benchmarks/farm_scale.py [--nodes 1000 10000 100000] [--days 1 7 30]
     [--policy on_device cloud] [--repeat 3] [--references]

Every combination of nodes, days and policy is run ``--repeat`` times (the defaults: 1 000
and 10 000 nodes over 1, 7 and 30 days for both policies; 100 000 nodes on request).

Each configuration runs in a fresh process so peak RSS (ru_maxrss) is that run's own.
Prints one line per run (node-samples/s, SimPy events/s, peak RSS) and the medians over
repeats. With --references, each run also times, on the same work, (a) a bare SimPy loop with
one process per node and one timeout per node-sample, and (b) onnxruntime alone running the
same inferences in the same batch sizes, and prints twin's speed relative to both.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_CHILD = r"""
import json, resource, sys, time
import numpy as np
import simpy
import yaml
import twin
import twin.sim.engine as engine
from twin.ml.runner import OnnxModel

nodes, days, policy, refs = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[5] == "1"
d = yaml.safe_load(open(sys.argv[4]))
d["groups"]["soil"]["count"] = nodes
d["world"]["horizon_days"] = days
d["policies"] = [policy]

# Count the SimPy events twin processes, and record the batch sizes onnxruntime sees (for
# the model-only reference below). Both hooks cost a few instructions per call.
events = [0]
class CountingEnv(simpy.Environment):
    def step(self):
        events[0] += 1
        return super().step()
engine.simpy.Environment = CountingEnv
batches = {}
_predict = OnnxModel.predict
def predict(self, x):
    if len(x):
        key = (str(self.path), len(x))
        batches[key] = batches.get(key, 0) + 1
    return _predict(self, x)
OnnxModel.predict = predict

t0 = time.perf_counter()
r = twin.run(d)
wall = time.perf_counter() - t0
samples = r.manifest["node_samples"]
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
out = {"nodes": nodes, "days": days, "policy": policy, "samples": samples, "wall_s": wall,
       "rate": samples / wall, "events": events[0], "peak_rss_mb": rss_mb}

if refs:
    # (a) Bare SimPy: one process per node, one timeout per node-sample, no work at all:
    # the least a one-process-per-node design costs for the same node-samples.
    period = d["groups"]["soil"]["sampling_period_s"]
    per_node = samples // nodes
    def node(env, n):
        for _ in range(n):
            yield env.timeout(period)
    env = simpy.Environment()
    for i in range(nodes):
        env.process(node(env, per_node + (i < samples - per_node * nodes)))
    t0 = time.perf_counter()
    env.run()
    out["bare_simpy_s"] = time.perf_counter() - t0
    # (b) onnxruntime alone: the same inferences in the same batch sizes, same session
    # options, no simulation around them: the floor the model sets.
    models = {}
    t_ort = 0.0
    for (path, size), count in sorted(batches.items()):
        m = models.get(path) or models.setdefault(path, OnnxModel(path))
        x = np.random.default_rng(0).normal(size=(size, m.input_features)).astype(np.float32)
        x = x.reshape([size, *m.input_shape[1:]])
        t0 = time.perf_counter()
        for _ in range(count):
            m.session.run([m.output], {m.input_name: x})
        t_ort += time.perf_counter() - t0
    out["ort_only_s"] = t_ort
    out["inferences"] = sum(size * c for (_, size), c in batches.items())
print(json.dumps(out))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--days", type=float, nargs="+", default=[1.0, 7.0, 30.0])
    ap.add_argument("--policy", nargs="+", default=["on_device", "cloud"])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--references", action="store_true", help="also time bare SimPy and onnxruntime alone"
    )
    args = ap.parse_args()
    scenario = ROOT / "scenarios" / "farm.yaml"
    print(
        f"{'nodes':>7} {'days':>5} {'policy':>10} {'node-samples':>13} {'wall s':>8} "
        f"{'samples/s':>11} {'events/s':>9} {'peak MB':>8}"
        + (f" {'bare SimPy s':>12} {'ORT only s':>10}" if args.references else "")
    )
    for policy, days, n in ((p, d, n) for p in args.policy for d in args.days for n in args.nodes):
        runs = []
        for _ in range(args.repeat):
            out = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    _CHILD,
                    str(n),
                    str(days),
                    policy,
                    str(scenario),
                    "1" if args.references else "0",
                ],  # fmt: skip
                capture_output=True,
                text=True,
                check=True,
            )
            rec = json.loads(out.stdout.strip().splitlines()[-1])
            runs.append(rec)
            line = (
                f"{n:>7} {days:>5g} {policy:>10} {rec['samples']:>13,} "
                f"{rec['wall_s']:>8.2f} {rec['rate']:>11,.0f} "
                f"{rec['events'] / rec['wall_s']:>9,.0f} {rec['peak_rss_mb']:>8.0f}"
            )
            if args.references:
                line += f" {rec['bare_simpy_s']:>12.2f} {rec['ort_only_s']:>10.2f}"
            print(line, flush=True)
        med = statistics.median(r["rate"] for r in runs)
        mem = statistics.median(r["peak_rss_mb"] for r in runs)
        ev = statistics.median(r["events"] / r["wall_s"] for r in runs)
        print(
            f"{n:>7} {days:>5g} {policy:>10} median of {len(runs)}: {med:,.0f} node-samples/s, "
            f"{ev:,.0f} events/s, peak {mem:.0f} MB"
        )
        if args.references:
            # > 1: twin is faster than a bare SimPy loop; < 1: slower than the model alone.
            vs_simpy = statistics.median(r["bare_simpy_s"] / r["wall_s"] for r in runs)
            vs_ort = statistics.median(r["ort_only_s"] / r["wall_s"] for r in runs)
            print(
                f"{n:>7} {days:>5g} {policy:>10} median ratios: twin / bare SimPy = "
                f"{vs_simpy:.2f}x the speed, twin / onnxruntime alone = {vs_ort:.2f}x the speed"
            )


if __name__ == "__main__":
    main()
