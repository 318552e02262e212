"""Every shipped scenario's world at a million node-samples: node-samples per second and memory.

Run: python benchmarks/worlds.py [--only farm wearables smart_home:speaker ...]
     [--policy on_device cloud] [--repeat 3] [--references] [--quick]

One configuration per shipped scenario (scenarios/*.yaml), scaled by setting its groups'
``count`` and ``world.horizon_days`` to at least 1 000 000 node-samples (see CONFIGS). The
smart home's three groups run one at a time, each alone in the scenario, so each of its worlds
(room, camera, audio) gets its own rate. ``--quick`` divides every count by 50 (about 20 000
node-samples each) to check the script. The on_device policy by default.

Each configuration runs ``--repeat`` times, each in a fresh process so peak RSS (ru_maxrss) is
that run's own. Prints one line per run and the medians over repeats. With --references, each
run also times, on the same work, (a) a bare SimPy loop with one process per node and one
timeout per node-sample (each node's own count and its group's period), and (b) onnxruntime
alone running the same inferences in the same batch sizes on the sessions twin used, and
prints twin's speed relative to the bare loop (``x SimPy``: issue 21's target is at least 0.5)
and twin's time over the models' own (``x ORT``: at most 3).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
QUICK_DIVISOR = 50

# (label, scenario file, {group: count}, days). Groups left out are dropped from the run.
# Node-samples per node are ceil(days x 86 400 / sampling_period_s) (a sample at t = 0).
CONFIGS: tuple[tuple[str, str, dict[str, int], float], ...] = (
    ("farm", "farm.yaml", {"soil": 1000}, 11.0),  # 96/day: 1 056 000
    ("farm_5000", "farm_5000.yaml", {"soil": 5000}, 3.0),  # 1 440 000
    # 11 days so the day-10 gateway outage (hours 216-222) falls inside the run.
    ("farm_outage", "farm_outage.yaml", {"soil": 1000}, 11.0),  # 1 056 000
    ("farm_solar", "farm_solar.yaml", {"soil": 1000}, 11.0),  # 1 056 000
    ("city_scale", "city_scale.yaml", {"soil": 16000}, 1.0),  # 1 536 000
    ("wearables", "wearables.yaml", {"patch": 870, "watch": 870}, 2.0),  # 288/day: 1 002 240
    # 42 days: faults start over the first 30 and need days to grow (factory.yaml).
    ("factory", "factory.yaml", {"ltem": 500, "nbiot": 500}, 42.0),  # 24/day: 1 008 000
    ("smart_home:thermostat", "smart_home.yaml", {"thermostat": 3500}, 1.0),  # 1 008 000
    ("smart_home:camera", "smart_home.yaml", {"camera": 350}, 1.0),  # 2 880/day: 1 008 000
    ("smart_home:speaker", "smart_home.yaml", {"speaker": 700}, 1.0),  # 1 440/day: 1 008 000
)

_CHILD = r"""
import json, resource, sys, time
import numpy as np
import simpy
import twin
from twin.ml.runner import OnnxModel

d, refs = json.loads(sys.argv[1]), sys.argv[2] == "1"
# Record the batch sizes onnxruntime sees, and the models, for the model-only reference.
batches, models = {}, {}
_predict = OnnxModel.predict
def predict(self, x):
    if len(x):
        key = (str(self.path), len(x))
        batches[key] = batches.get(key, 0) + 1
        models.setdefault(str(self.path), self)
    return _predict(self, x)
OnnxModel.predict = predict

t0 = time.perf_counter()
r = twin.run(d)
wall = time.perf_counter() - t0
samples = r.manifest["node_samples"]
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
out = {"samples": samples, "wall_s": wall, "rate": samples / wall, "peak_rss_mb": rss_mb}

if refs:
    # (a) Bare SimPy: one process per node, one timeout per node-sample, no work at all:
    # the least a one-process-per-node design costs for the same node-samples.
    def node(env, n, period):
        for _ in range(n):
            yield env.timeout(period)
    env = simpy.Environment()
    for n in r.nodes:
        env.process(node(env, n["samples"], d["groups"][n["group"]]["sampling_period_s"]))
    t0 = time.perf_counter()
    env.run()
    out["bare_simpy_s"] = time.perf_counter() - t0
    # (b) onnxruntime alone: the same inferences in the same batch sizes on the same
    # sessions, no simulation around them: the floor the models set.
    t_ort = 0.0
    for (path, size), count in sorted(batches.items()):
        m = models[path]
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


def scaled(file: str, counts: dict[str, int], days: float, policy: str) -> dict:
    """The scenario's YAML dict with only ``counts``' groups, at those counts, for ``days``."""
    d = yaml.safe_load((ROOT / "scenarios" / file).read_text())
    d["groups"] = {g: {**d["groups"][g], "count": n} for g, n in counts.items()}
    d["world"]["horizon_days"] = days
    # A policy the scenario defines with parameters (cascade, batched_upload) keeps them.
    named = [p for p in d.get("policies", []) if isinstance(p, dict) and p.get("name") == policy]
    d["policies"] = [named[0] if named else policy]
    return d


def expected_samples(d: dict) -> int:
    """Node-samples of one policy: each node samples at t = 0 and every period after."""
    horizon = d["world"]["horizon_days"] * 86400
    return sum(
        g["count"] * math.ceil(horizon / g["sampling_period_s"]) for g in d["groups"].values()
    )


def worlds(d: dict) -> str:
    """The worlds the scenario's groups sample, e.g. ``soil`` or ``heart``."""
    kinds = {g.get("world", d["world"].get("kind", "soil")) for g in d["groups"].values()}
    return "+".join(sorted(kinds))


def run_once(d: dict, refs: bool) -> dict:
    """Run ``d`` in a fresh process and return its measurements."""
    args = [sys.executable, "-c", _CHILD, json.dumps(d), "1" if refs else "0"]
    out = subprocess.run(args, capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    labels = [c[0] for c in CONFIGS]
    ap.add_argument("--only", nargs="+", choices=labels, default=labels, metavar="NAME")
    ap.add_argument("--policy", nargs="+", default=["on_device"])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--references", action="store_true", help="also time bare SimPy and onnxruntime alone"
    )
    ap.add_argument(
        "--quick", action="store_true", help=f"every count / {QUICK_DIVISOR}: a smoke test"
    )
    args = ap.parse_args()
    head = (
        f"{'scenario':<22} {'world(s)':<10} {'nodes':>6} {'days':>4} {'policy':>10} "
        f"{'node-samples':>12} {'wall s':>7} {'samples/s':>10} {'peak MB':>7}"
    )
    if args.references:
        head += f" {'SimPy s':>7} {'ORT s':>6} {'x SimPy':>8} {'x ORT':>7}"
    print(head, flush=True)
    for label, file, counts, days in (c for c in CONFIGS if c[0] in args.only):
        if args.quick:
            counts = {g: math.ceil(n / QUICK_DIVISOR) for g, n in counts.items()}
        for policy in args.policy:
            d = scaled(file, counts, days, policy)
            name = f"{label:<22} {worlds(d):<10} {sum(counts.values()):>6} {days:>4g} {policy:>10}"
            runs = []
            for _ in range(args.repeat):
                try:
                    rec = run_once(d, args.references)
                except subprocess.CalledProcessError as exc:
                    tail = (exc.stderr or "").strip().splitlines()[-1:] or ["(no stderr)"]
                    print(f"{name} FAILED: {tail[0]}", flush=True)
                    break
                runs.append(rec)
                line = (
                    f"{name} {rec['samples']:>12,} {rec['wall_s']:>7.1f} "
                    f"{rec['rate']:>10,.0f} {rec['peak_rss_mb']:>7.0f}"
                )
                if args.references:
                    line += (
                        f" {rec['bare_simpy_s']:>7.1f} {rec['ort_only_s']:>6.1f}"
                        f" {rec['bare_simpy_s'] / rec['wall_s']:>8.2f}"
                        f" {rec['wall_s'] / max(rec['ort_only_s'], 1e-9):>7.1f}"
                    )
                print(line, flush=True)
            if not runs:
                continue
            if runs[0]["samples"] != expected_samples(d):
                print(f"{name} note: expected {expected_samples(d):,} node-samples")
            med = statistics.median(r["rate"] for r in runs)
            mem = statistics.median(r["peak_rss_mb"] for r in runs)
            summary = f"{name} median of {len(runs)}: {med:,.0f} node-samples/s, peak {mem:.0f} MB"
            if args.references:
                vs_simpy = statistics.median(r["bare_simpy_s"] / r["wall_s"] for r in runs)
                vs_ort = statistics.median(r["wall_s"] / max(r["ort_only_s"], 1e-9) for r in runs)
                summary += f", {vs_simpy:.2f}x bare SimPy's speed, {vs_ort:.1f}x ORT's time"
            print(summary, flush=True)


if __name__ == "__main__":
    main()
