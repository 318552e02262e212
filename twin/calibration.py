"""Fit the compute cost model to MLPerf Tiny measurements.

Run from the repository: ``python -m twin.calibration`` (writes
``device_profiles/compute_calibration.yaml``; ``--check`` only prints the fit).

Data: ``tests/data/mlperf_tiny.csv``, one row per MLPerf Tiny result (board, core, clock,
runtime, benchmark, latency, energy) copied from the published result logs. Work per op class
comes from the four reference architectures built in :mod:`twin.training.reference_models`.

Model (see :mod:`twin.physics.compute`)::

    latency = sum_c units_c * weight_c / (macs_per_cycle[core] * speedup[runtime] * clock_hz)

Parameters are fitted in log space by damped Gauss-Newton (Levenberg-Marquardt) on
``log(predicted) - log(measured)``, so every row counts by its relative error. Gauges and
weakly identified pairs are fixed by stated priors (pseudo-observations with small weight):

* ``speedup[tflm] = 1`` (reference kernels define the core throughput) and
  ``weight[conv] = 1`` (a k x k convolution MAC is the unit of work);
* CMSIS-NN kernels behind TFLM and behind microTVM perform alike
  (``speedup[tflm-cmsis-nn] ~ speedup[microtvm-cmsis-nn]``): the only TFLM + CMSIS-NN rows
  are on the Cortex-M85, which has no other runtime to separate core from engine;
* the EFR32MG24 core is a Cortex-M33 (``macs_per_cycle[cortex-m33-mvp] ~ [cortex-m33]``): its
  MVP accelerator shows up in the ``silabs-mvp`` speedup.

Cores and runtimes without any row get documented assumptions (``ASSUMED``).
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from twin.physics.graph import MAC_CLASSES, OP_CLASSES, analyse_graph

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "mlperf_tiny.csv"
OUT = ROOT / "device_profiles" / "compute_calibration.yaml"
CLASSES = MAC_CLASSES + OP_CLASSES
# Engines differ most in their depthwise and fully-connected kernels: each runtime gets its own
# factor on those classes' weights, with a weak prior at 1 (sigma in natural-log units).
RUNTIME_CLASSES = ("depthwise", "fc")
RUNTIME_CLASS_SIGMA = 1.0

# Priors: (kind, a, b, sigma in natural-log units). "tie" = log a - log b ~ 0.
PRIORS = [
    ("tie_runtime", "tflm-cmsis-nn", "microtvm-cmsis-nn", 0.15),
    ("tie_core", "cortex-m33-mvp", "cortex-m33", 0.15),
    # Pooling and element-wise work is a few percent of these models: without a prior the fit
    # uses it to absorb other errors (it drove element-wise to 0 and pooling to 46 cycles/op).
    ("unit_weight", "pool", None, 0.7),
    ("unit_weight", "elementwise", None, 0.7),
    # KWS and VWW mix depthwise and pointwise layers in near-fixed ratios, so the data alone
    # cannot split their costs (an unconstrained fit sets pointwise to 0). A pointwise conv is a
    # GEMM like a k x k conv (prior 1); depthwise kernels do ~3-4x less work per cycle (MLTK
    # on-device profile of DS-CNN: 72 k MAC in 181 k cycles vs 512 k MAC pointwise layers).
    ("weight", "pointwise", 1.0, 0.3),
    ("weight", "depthwise", 3.0, 0.5),
]

# Older releases of an engine are fitted as their own runtime ("id@version"): X-CUBE-AI 9.0 runs
# VWW 2.6x faster than 7.3 on the same board. The plain id is the newest release measured.
VERSIONED = {
    ("x-cube-ai", "7.3"): "x-cube-ai@7.3",
    ("x-cube-ai", "8.0"): "x-cube-ai@8.0",
    ("x-cube-ai", "8.1"): "x-cube-ai@8.1",
    ("plumerai", "Plumerai Inference Engine"): "plumerai@2022",
    ("bosch-hale", "Bosch HALE 1.0"): "bosch-hale@1.0",
}


def _runtime_key(runtime_id: str, framework: str) -> str:
    for (rid, tag), key in VERSIONED.items():
        if rid == runtime_id and (framework.endswith(" " + tag) or framework == tag):
            return key
    return runtime_id


# Cores and runtimes with no calibration row: value and the reasoning behind it.
ASSUMED = {
    "core_macs_per_cycle": {
        "xtensa-lx7": (
            "xtensa-lx6",
            "assumption: ESP32-S3's LX7 taken equal to the ESP32's LX6 "
            "(no MLPerf Tiny row; ESP-NN's S3 SIMD speed-up is not modelled)",
        ),
        "riscv32-esp": (
            "cortex-m4f",
            "assumption: ESP32-C3's RV32IMC taken equal to a "
            "Cortex-M4F with reference kernels (single-cycle multiply, no SIMD used "
            "by TFLM reference kernels); no MLPerf Tiny row",
        ),
        "edge-tpu": (
            240.0,
            "derived: 'almost 400 FPS' for MobileNetV2 (coral.ai/docs/edgetpu/"
            "faq) x 300 M MAC (Sandler et al., MobileNetV2, 2018) = 120 GMAC/s at an "
            "assumed 500 MHz clock",
        ),
        "cortex-a57-maxwell": (
            128.0,
            "assumption: 472 GFLOPS FP16 peak (Jetson Nano) = "
            "236 GMAC/s at 922 MHz GPU clock, taken at ~50 % utilisation",
        ),
    },
    "runtime_speedup": {
        "tflite-edgetpu": (1.0, "the edge-tpu core factor is already for its own runtime"),
        "tensorrt": (1.0, "the cortex-a57-maxwell core factor is already for its own runtime"),
    },
}


@dataclass(frozen=True)
class Row:
    """One MLPerf Tiny measurement."""

    board: str
    core: str
    clock_hz: float
    runtime: str
    benchmark: str
    latency_s: float
    energy_j: float | None
    supply_v: float | None
    source: str


def load_rows(path: Path = DATA) -> list[Row]:
    """Read the calibration rows."""
    rows = []
    with path.open() as fh:
        for r in csv.DictReader(fh):
            rows.append(Row(
                board=r["board_id"], core=r["core"], clock_hz=float(r["clock_mhz"]) * 1e6,
                runtime=_runtime_key(r["runtime_id"], r["framework"]), benchmark=r["benchmark"],
                latency_s=float(r["latency_ms"]) / 1e3,
                energy_j=float(r["energy_uj"]) / 1e6 if r["energy_uj"] else None,
                supply_v=float(r["supply_v"]) if r.get("supply_v") else None,
                source=r["source"],
            ))  # fmt: skip
    return rows


def benchmark_units() -> dict[str, dict[str, int]]:
    """Work per op class of each MLPerf Tiny benchmark model (and the ESP32 grayscale VWW)."""
    from twin.training import reference_models as rm

    models = rm.build_all()
    units = {name: analyse_graph(m).units_by_class() for name, m in models.items()}
    units["vww_gray"] = analyse_graph(rm.mobilenet_v1_025_vww(channels=1)).units_by_class()
    return units


@dataclass
class Fit:
    """Fitted factors and the per-row errors."""

    core_macs_per_cycle: dict[str, float]
    runtime_speedup: dict[str, float]
    class_weight: dict[str, float]
    runtime_class_factor: dict[str, dict[str, float]]
    rows: list[Row]
    predicted_s: np.ndarray

    @property
    def rel_error(self) -> np.ndarray:
        """(predicted - measured) / measured per row."""
        measured = np.array([r.latency_s for r in self.rows])
        return self.predicted_s / measured - 1.0


def predict_s(
    units: dict[str, int],
    clock_hz: float,
    mpc: float,
    speedup: float,
    weight: dict[str, float],
    rt_class: dict[str, float] | None = None,
) -> float:
    """Latency [s] of one benchmark with given factors (the cost model's formula)."""
    rt_class = rt_class or {}
    cycles = sum(units[c] * weight[c] * rt_class.get(c, 1.0) for c in CLASSES)
    return cycles / (mpc * speedup * clock_hz)


def fit(rows: list[Row], units: dict[str, dict[str, int]], iters: int = 200) -> Fit:
    """Least squares on log latency with priors (Levenberg-Marquardt, numeric Jacobian)."""
    cores = sorted({r.core for r in rows})
    runtimes = sorted({r.runtime for r in rows} - {"tflm"})
    free_classes = [c for c in CLASSES if c != "conv"]
    all_rt = sorted({r.runtime for r in rows})
    names = [f"core:{c}" for c in cores] + [f"rt:{r}" for r in runtimes]
    names += [f"w:{c}" for c in free_classes]
    names += [f"rc:{r}:{c}" for r in all_rt for c in RUNTIME_CLASSES]
    index = {n: i for i, n in enumerate(names)}
    # Start: 0.15 MAC/cycle, no speed-up, all units equal.
    theta = np.zeros(len(names))
    theta[: len(cores)] = np.log(0.15)
    used_classes = {c for r in rows for c in CLASSES if units[r.benchmark][c]}

    def unpack(th):
        mpc = {c: float(np.exp(th[index[f"core:{c}"]])) for c in cores}
        sp = {"tflm": 1.0, **{r: float(np.exp(th[index[f"rt:{r}"]])) for r in runtimes}}
        w = {"conv": 1.0, **{c: float(np.exp(th[index[f"w:{c}"]])) for c in free_classes}}
        rc = {r: {c: float(np.exp(th[index[f"rc:{r}:{c}"]])) for c in RUNTIME_CLASSES}
              for r in all_rt}  # fmt: skip
        return mpc, sp, w, rc

    def residuals(th):
        mpc, sp, w, rc = unpack(th)
        res = [np.log(predict_s(units[r.benchmark], r.clock_hz, mpc[r.core], sp[r.runtime],
                                w, rc[r.runtime])) - np.log(r.latency_s) for r in rows]  # fmt: skip
        # Engines' kernels differ from the average by a factor near 1 (weak prior).
        res += [th[index[n]] / RUNTIME_CLASS_SIGMA for n in names if n.startswith("rc:")]
        for kind, a, b, sigma in PRIORS:
            if kind == "unit_weight":
                res.append(th[index[f"w:{a}"]] / sigma)
                continue
            if kind == "weight":
                res.append((th[index[f"w:{a}"]] - np.log(b)) / sigma)
                continue
            prefix = "rt" if kind == "tie_runtime" else "core"
            ia, ib = index.get(f"{prefix}:{a}"), index.get(f"{prefix}:{b}")
            if ia is not None and ib is not None:
                res.append((th[ia] - th[ib]) / sigma)
        # Op classes no benchmark exercises stay at the unit weight.
        for c in free_classes:
            if c not in used_classes:
                res.append(th[index[f"w:{c}"]] / 0.01)
        return np.array(res)

    lam = 1e-3
    r0 = residuals(theta)
    cost = float(r0 @ r0)
    for _ in range(iters):
        eps = 1e-6
        jac = np.empty((len(r0), len(theta)))
        for j in range(len(theta)):
            step = np.zeros_like(theta)
            step[j] = eps
            jac[:, j] = (residuals(theta + step) - r0) / eps
        a = jac.T @ jac
        g = jac.T @ r0
        delta = np.linalg.solve(a + lam * np.diag(np.diag(a) + 1e-12), -g)
        trial = theta + delta
        r1 = residuals(trial)
        c1 = float(r1 @ r1)
        if c1 < cost:
            theta, r0, cost, lam = trial, r1, c1, max(lam / 3, 1e-9)
            if np.max(np.abs(delta)) < 1e-10:
                break
        else:
            lam *= 4
    mpc, sp, w, rc = unpack(theta)
    pred = np.array([predict_s(units[r.benchmark], r.clock_hz, mpc[r.core], sp[r.runtime], w,
                               rc[r.runtime]) for r in rows])  # fmt: skip
    return Fit(mpc, sp, w, rc, rows, pred)


def write_yaml(f: Fit, path: Path = OUT) -> None:
    """Write fitted and assumed factors, each with its source."""
    err = np.abs(f.rel_error)
    fitted = (
        f"fitted by python -m twin.calibration to {len(f.rows)} MLPerf Tiny latencies "
        f"(tests/data/mlperf_tiny.csv; median |error| {np.median(err):.1%}, "
        f"worst {err.max():.1%})"
    )
    out: dict = {"core_macs_per_cycle": {}, "runtime_speedup": {}, "class_weight": {}}
    for core, v in sorted(f.core_macs_per_cycle.items()):
        n = sum(r.core == core for r in f.rows)
        out["core_macs_per_cycle"][core] = {"value": round(v, 6), "source": f"{fitted}; {n} rows"}
    for rt, v in sorted(f.runtime_speedup.items()):
        n = sum(r.runtime == rt for r in f.rows)
        src = "definition: TFLM reference kernels" if rt == "tflm" else f"{fitted}; {n} rows"
        out["runtime_speedup"][rt] = {"value": round(v, 6), "source": src}
    for c, v in f.class_weight.items():
        src = "definition: unit of work" if c == "conv" else fitted
        out["class_weight"][c] = {"value": round(v, 6), "source": src}
    out["runtime_class_factor"] = {
        rt: {c: {"value": round(v, 6), "source": fitted} for c, v in factors.items()}
        for rt, factors in sorted(f.runtime_class_factor.items())
    }
    for section, entries in ASSUMED.items():
        table = out[section] if section == "runtime_speedup" else out["core_macs_per_cycle"]
        for key, (value, why) in entries.items():
            if isinstance(value, str):  # same as another fitted entry
                value = f.core_macs_per_cycle[value]
            table[key] = {"value": round(float(value), 6), "source": why}
    header = (
        "# Compute cost-model factors. Generated by `python -m twin.calibration` on "
        f"{_dt.date.today().isoformat()}; do not edit by hand.\n"
        "# core_macs_per_cycle: k x k convolution MACs per cycle with TFLM reference kernels.\n"
        "# runtime_speedup: throughput relative to TFLM reference kernels on the same core.\n"
        "# class_weight: cycles of one unit of an op class relative to one convolution MAC.\n"
    )
    path.write_text(header + yaml.safe_dump(out, sort_keys=False, width=100))


def report(f: Fit) -> str:
    """A table of every calibration row: measured, predicted, error."""
    lines = [f"{'board':<18}{'runtime':<19}{'bm':<9}{'measured ms':>12}{'model ms':>10}{'err':>8}"]
    for r, p, e in zip(f.rows, f.predicted_s, f.rel_error, strict=True):
        lines.append(
            f"{r.board:<18}{r.runtime:<19}{r.benchmark:<9}{r.latency_s * 1e3:>12.2f}"
            f"{p * 1e3:>10.2f}{e:>+8.1%}"
        )
    err = np.abs(f.rel_error)
    lines.append(f"rows {len(err)}  median |error| {np.median(err):.1%}  worst {err.max():.1%}")
    return "\n".join(lines)


def main() -> None:
    """Fit, print the per-row table, write the YAML (unless --check)."""
    ap = argparse.ArgumentParser(description="Fit the compute cost model to MLPerf Tiny rows.")
    ap.add_argument("--check", action="store_true", help="print the fit, write nothing")
    args = ap.parse_args()
    f = fit(load_rows(), benchmark_units())
    print(report(f))
    for section in ("core_macs_per_cycle", "runtime_speedup", "class_weight"):
        print(section, {k: round(v, 4) for k, v in getattr(f, section).items()})
    for rt, factors in f.runtime_class_factor.items():
        print("runtime_class_factor", rt, {k: round(v, 3) for k, v in factors.items()})
    if not args.check:
        write_yaml(f)
        print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
