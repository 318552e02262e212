"""Cloud inference on one CPU worker: onnxruntime time per batch for every fp32 zoo model.

Run: python benchmarks/cloud_service.py [--write] [--budget-s 0.45] [--rounds 15]

For each ``twin/zoo/*_fp32.onnx`` model (the cloud runs the float model) and batch size 1, 2,
4, ..., 64 it times single inference calls on a one-thread onnxruntime session (one worker =
one core) after a warm-up, in interleaved rounds, and keeps the median. It prints the table, fits
``call_overhead_s``, a per-request onnxruntime overhead and ``macs_per_s`` of
``twin.physics.cloud.batch_service_time_s`` by least squares (``fit_server``), and with
``--write`` saves the table to ``tests/data/cloud_service_ort.csv``.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from twin.ml.runner import ZOO_DIR, OnnxModel  # noqa: E402
from twin.physics.cloud import batch_service_time_s, fit_server  # noqa: E402

BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64)
CSV_PATH = ROOT / "tests" / "data" / "cloud_service_ort.csv"


def cpu_name() -> str:
    """CPU as the kernel reports it, with family/model numbers and CPU count.

    Under KVM the model name can be as vague as "AMD EPYC"; the CPUID family and model still
    tell the generation.
    """
    info: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())
    except OSError:
        return platform.processor() or platform.machine()
    return (
        f"{info.get('model name', platform.machine())} (family {info.get('cpu family', '?')} "
        f"model {info.get('model', '?')}, {os.cpu_count()} CPUs)"
    )


def time_calls(model: OnnxModel, batch_size: int, budget_s: float) -> float:
    """Median wall time of one ``session.run`` on a batch, over ``budget_s`` of calls [s]."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal([batch_size, *model.input_shape[1:]]).astype(np.float32)
    feed = {model.input_name: x}
    outputs = [model.output]
    run = model.session.run
    # Warm-up: the first calls on a new shape allocate the arena and pick kernels.
    for _ in range(5):
        run(outputs, feed)
    samples: list[float] = []
    start = time.perf_counter()
    while len(samples) < 10 or (time.perf_counter() - start < budget_s and len(samples) < 2000):
        t0 = time.perf_counter()
        run(outputs, feed)
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def measure(
    models: list[tuple[str, OnnxModel]], budget_s: float, rounds: int
) -> list[tuple[str, int, int, float]]:
    """(model, macs, batch size, median time [s]) of every model at every batch size.

    The time budget of each row is split over ``rounds`` rounds, each visiting every row in a
    fresh random order, and the row keeps the median of its per-round medians. On a shared
    virtual machine the host's other tenants slow some seconds down; interleaving spreads such
    a slow spell over many rows instead of spoiling every batch size of one model.
    """
    configs = [(name, model, b) for name, model in models for b in BATCH_SIZES]
    per_round: dict[int, list[float]] = {i: [] for i in range(len(configs))}
    order = np.random.default_rng(1)
    for _ in range(rounds):
        for i in order.permutation(len(configs)):
            _, model, b = configs[i]
            per_round[int(i)].append(time_calls(model, b, budget_s / rounds))
    return [
        (name, model.cost.macs, b, statistics.median(per_round[i]))
        for i, (name, model, b) in enumerate(configs)
    ]


def load_models() -> list[tuple[str, OnnxModel]]:
    """Every fp32 zoo model with the output its metadata names."""
    out = []
    for path in sorted(ZOO_DIR.glob("*_fp32.onnx")):
        name = path.name.removesuffix("_fp32.onnx")
        meta = json.loads((ZOO_DIR / f"{name}.json").read_text())
        out.append((name, OnnxModel(path, output=meta.get("output", "probabilities"))))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help=f"write {CSV_PATH.relative_to(ROOT)}")
    ap.add_argument("--budget-s", type=float, default=0.45, help="timing budget per row [s]")
    ap.add_argument("--rounds", type=int, default=15, help="interleaved rounds per row")
    args = ap.parse_args()

    rows = measure(load_models(), args.budget_s, args.rounds)
    print(f"{'model':<18} {'macs':>8} {'batch':>5} {'median us':>10} {'us/request':>10}")
    for name, m, b, t in rows:
        print(f"{name:<18} {m:>8} {b:>5} {t * 1e6:>10.1f} {t / b * 1e6:>10.2f}")

    macs = np.array([r[1] for r in rows], dtype=np.float64)
    batch = np.array([r[2] for r in rows], dtype=np.float64)
    measured = np.array([r[3] for r in rows])
    fit = fit_server(macs, batch, measured)
    predicted = batch_service_time_s(
        batch, macs, fit.call_overhead_s, fit.request_overhead_s, fit.macs_per_s
    )
    rel = predicted / measured - 1
    print(
        f"\nfit over {len(rows)} rows (least squares on relative error):\n"
        f"  call_overhead_s    = {fit.call_overhead_s:.3g}\n"
        f"  request_overhead_s = {fit.request_overhead_s:.3g}  (onnxruntime per row only)\n"
        f"  macs_per_s         = {fit.macs_per_s:.3g}\n"
        f"  relative error: rms {fit.rms_relative_error:.1%}, "
        f"worst {rel[np.argmax(np.abs(rel))]:+.1%} "
        f"({rows[int(np.argmax(np.abs(rel)))][0]}, batch {rows[int(np.argmax(np.abs(rel)))][2]})"
    )

    if args.write:
        header = (
            f"# measured {datetime.date.today().isoformat()} on {cpu_name()}, "
            f"{platform.machine()}, Python {platform.python_version()}, "
            f"onnxruntime {ort.__version__}, intra_op_num_threads=1; "
            f"command: python benchmarks/cloud_service.py --write --budget-s {args.budget_s} "
            f"--rounds {args.rounds}"
        )
        with CSV_PATH.open("w", newline="") as f:
            f.write(header + "\n")
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["model", "macs", "batch_size", "median_s"])
            for name, m, b, t in rows:
                w.writerow([name, m, b, f"{t:.4g}"])
        print(f"wrote {CSV_PATH.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
