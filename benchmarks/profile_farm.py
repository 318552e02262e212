"""Profile one farm run with pyinstrument: where the wall time of a policy goes.

Run: python benchmarks/profile_farm.py [--nodes 10000] [--days 7] [--policy on_device]
     [--html profile.html]

Prints pyinstrument's call tree (frames under 1 % hidden) after the run's wall time and
node-samples per second. pyinstrument is not a twin dependency: ``pip install pyinstrument``.
Sampling adds overhead (about 20 % here), so compare profiles with profiles and take speeds
from benchmarks/farm_scale.py.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import yaml

import twin

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=10_000)
    ap.add_argument("--days", type=float, default=7.0)
    ap.add_argument("--policy", default="on_device")
    ap.add_argument("--html", type=Path, help="also write pyinstrument's HTML view here")
    args = ap.parse_args()
    try:
        from pyinstrument import Profiler
    except ImportError:
        raise SystemExit("pyinstrument is needed: pip install pyinstrument") from None

    d = yaml.safe_load((ROOT / "scenarios" / "farm.yaml").read_text())
    d["groups"]["soil"]["count"] = args.nodes
    d["world"]["horizon_days"] = args.days
    d["policies"] = [args.policy]
    profiler = Profiler(interval=0.001)
    t0 = time.perf_counter()
    profiler.start()
    result = twin.run(d)
    profiler.stop()
    wall = time.perf_counter() - t0
    samples = result.manifest["node_samples"]
    print(f"{samples:,} node-samples in {wall:.2f} s: {samples / wall:,.0f} node-samples/s")
    print(profiler.output_text(unicode=False, color=False))
    if args.html:
        args.html.write_text(profiler.output_html())


if __name__ == "__main__":
    main()
