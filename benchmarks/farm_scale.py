"""Farm at 500 / 5 000 / 50 000 nodes: node-samples per second and peak memory.

Run: python benchmarks/farm_scale.py [--nodes 500 5000 50000] [--days 30] [--policy on_device]
     [--repeat 3]

Each configuration runs in a fresh process so peak RSS (ru_maxrss) is that run's own.
Prints one line per run and the median over repeats.
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
import yaml
import twin
nodes, days, policy = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
d = yaml.safe_load(open(sys.argv[4]))
d["groups"]["soil"]["count"] = nodes
d["world"]["horizon_days"] = days
d["policies"] = [policy]
t0 = time.perf_counter()
r = twin.run(d)
wall = time.perf_counter() - t0
samples = r.manifest["node_samples"]
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"nodes": nodes, "days": days, "policy": policy, "samples": samples,
                  "wall_s": wall, "rate": samples / wall, "peak_rss_mb": rss_mb}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, nargs="+", default=[500, 5000, 50000])
    ap.add_argument("--days", type=float, default=30.0)
    ap.add_argument("--policy", default="on_device")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    scenario = ROOT / "scenarios" / "farm.yaml"
    print(
        f"{'nodes':>7} {'days':>5} {'policy':>10} {'node-samples':>13} {'wall s':>8} "
        f"{'samples/s':>11} {'peak MB':>8}"
    )
    for n in args.nodes:
        runs = []
        for _ in range(args.repeat):
            out = subprocess.run(
                [sys.executable, "-c", _CHILD, str(n), str(args.days), args.policy, str(scenario)],
                capture_output=True,
                text=True,
                check=True,
            )
            rec = json.loads(out.stdout.strip().splitlines()[-1])
            runs.append(rec)
            print(
                f"{n:>7} {args.days:>5g} {args.policy:>10} {rec['samples']:>13,} "
                f"{rec['wall_s']:>8.2f} {rec['rate']:>11,.0f} {rec['peak_rss_mb']:>8.0f}"
            )
        med = statistics.median(r["rate"] for r in runs)
        mem = statistics.median(r["peak_rss_mb"] for r in runs)
        print(f"{n:>7} median of {len(runs)}: {med:,.0f} node-samples/s, peak {mem:.0f} MB")


if __name__ == "__main__":
    main()
