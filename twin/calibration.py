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

The fit's error on data it did not see gives every prediction its range: each row is predicted
by a refit without it (leave-one-out), and every row of one (core, engine) pair by a refit
without the pair (leave-pair-out), as a board/runtime pair with no measurement is predicted.
The bands go to the ``error_band`` section (see :func:`error_bands`).
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


def fit(
    rows: list[Row], units: dict[str, dict[str, int]], iters: int = 200, start: Fit | None = None
) -> Fit:
    """Least squares on log latency with priors (Levenberg-Marquardt, numeric Jacobian).

    ``start`` warm-starts from another fit's factors (the held-out refits start from the full
    fit, which changes where the search begins, not the minimum it finds).
    """
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
    if start is not None:
        theta = _warm_start(names, theta, start)
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


def _warm_start(names: list[str], theta: np.ndarray, start: Fit) -> np.ndarray:
    """Log-parameters taken from ``start`` wherever it has the same factor."""
    theta = theta.copy()
    for i, name in enumerate(names):
        kind, _, key = name.partition(":")
        value = {
            "core": lambda k: start.core_macs_per_cycle.get(k),
            "rt": lambda k: start.runtime_speedup.get(k),
            "w": lambda k: start.class_weight.get(k),
            "rc": lambda k: start.runtime_class_factor.get(k.split(":")[0], {}).get(
                k.split(":")[1]
            ),
        }[kind](key)
        if value:
            theta[i] = np.log(value)
    return theta


@dataclass(frozen=True)
class HeldOut:
    """Relative errors (predicted / measured - 1) of rows predicted by a fit that lacked them.

    ``rows``: each calibration row left out alone (``rows_skipped`` had no other row of their
    core or engine, so nothing predicts them). ``pairs``: every row of one (core, engine) pair
    left out together, which is how a board/runtime pair without measurements is predicted:
    from its core's and its engine's factors fitted on other pairs (``pairs_used`` pairs had
    both on other rows).
    """

    rows: np.ndarray
    rows_skipped: int
    pairs: np.ndarray
    pairs_used: int


def held_out_errors(rows: list[Row], units: dict[str, dict[str, int]], full: Fit) -> HeldOut:
    """Leave-one-out and leave-pair-out prediction errors over the calibration rows."""
    loo: list[float] = []
    skipped = 0
    for i, row in enumerate(rows):
        errors = _predict_held_out([row], rows[:i] + rows[i + 1 :], units, full)
        if errors is None:
            skipped += 1
        else:
            loo += errors
    lpo: list[float] = []
    used = 0
    for pair in sorted({(r.core, r.runtime) for r in rows}):
        held = [r for r in rows if (r.core, r.runtime) == pair]
        errors = _predict_held_out(held, [r for r in rows if r not in held], units, full)
        if errors is not None:
            lpo += errors
            used += 1
    return HeldOut(np.array(loo), skipped, np.array(lpo), used)


def _predict_held_out(
    held: list[Row], rest: list[Row], units: dict[str, dict[str, int]], full: Fit
) -> list[float] | None:
    """Errors of ``held`` predicted by a fit on ``rest``; None if ``rest`` cannot price them.

    A held row is priced by the rest if its own pair still has rows there (they fix the product
    of core throughput and engine speed-up), or if its core runs another engine that other
    cores also run and its engine runs on another core (each factor fixed by other pairs).
    """
    pairs = {(r.core, r.runtime) for r in rest}
    engines_of = {c: {rt for cc, rt in pairs if cc == c} for c, _ in pairs}
    cores_of = {rt: {c for c, rr in pairs if rr == rt} for _, rt in pairs}

    def priced(row: Row) -> bool:
        if (row.core, row.runtime) in pairs:
            return True
        core_fixed = any(
            rt == "tflm" or cores_of[rt] - {row.core} for rt in engines_of.get(row.core, ())
        )
        engine_fixed = row.runtime == "tflm" or any(
            engines_of[c] - {row.runtime} for c in cores_of.get(row.runtime, ())
        )
        return core_fixed and engine_fixed

    if not all(priced(r) for r in held):
        return None
    # Warm-started refits converge in ~20 steps; 40 caps the rare one that stalls in damping.
    f = fit(rest, units, iters=40, start=full)
    return [
        predict_s(
            units[r.benchmark], r.clock_hz, f.core_macs_per_cycle[r.core],
            f.runtime_speedup[r.runtime], f.class_weight, f.runtime_class_factor.get(r.runtime),
        ) / r.latency_s - 1.0
        for r in held
    ]  # fmt: skip


# The error band of a prediction: the 5th to 95th percentile of held-out relative errors, so
# nine in ten MLPerf rows the fit did not see fall inside it. (The extremes are single rows:
# TFLM on the autoencoder, +119 % when left out, is the one row that fixes TFLM's FC factor.)
BAND_PERCENTILES = (5.0, 95.0)


def error_bands(held: HeldOut) -> dict:
    """The ``error_band`` section: relative-error bands of held-out predictions, with sources.

    ``calibrated`` (a board/runtime pair with rows): leave-one-out. ``uncalibrated`` (no row
    for the pair): leave-pair-out, but never narrower than ``calibrated``: such a prediction
    has every error a calibrated one has, plus that of composing two factors.
    """
    lo, hi = BAND_PERCENTILES
    rows = np.percentile(held.rows, [lo, hi])
    pairs = np.percentile(held.pairs, [lo, hi])
    share = f"{lo:g}th to {hi:g}th percentile of predicted / measured - 1"
    return {
        "calibrated": {
            "low": round(float(rows[0]), 4),
            "high": round(float(rows[1]), 4),
            "source": (
                f"leave-one-out by python -m twin.calibration: each of {len(held.rows)} MLPerf "
                f"Tiny rows predicted by a fit without it ({held.rows_skipped} rows no other "
                f"row could price skipped); {share}; worst {held.rows.min():+.1%} / "
                f"{held.rows.max():+.1%}"
            ),
        },
        "uncalibrated": {
            "low": round(float(min(rows[0], pairs[0])), 4),
            "high": round(float(max(rows[1], pairs[1])), 4),
            "source": (
                f"leave-pair-out by python -m twin.calibration: the {len(held.pairs)} rows of "
                f"{held.pairs_used} (core, engine) pairs, each pair predicted by a fit without "
                f"any of its rows; {share} ({pairs[0]:+.1%} / {pairs[1]:+.1%}), widened to the "
                f"leave-one-out band where that is wider; worst {held.pairs.min():+.1%} / "
                f"{held.pairs.max():+.1%}"
            ),
        },
    }


def write_yaml(f: Fit, held: HeldOut | None = None, path: Path = OUT) -> None:
    """Write fitted and assumed factors, each with its source, and the held-out error bands."""
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
            table[key] = {"value": round(float(value), 6), "source": why, "assumed": True}
    pairs = sorted({f"{r.core} {r.runtime}" for r in f.rows})
    out["calibrated_pairs"] = {
        "value": pairs,
        "source": "the (core, runtime) pairs with rows in tests/data/mlperf_tiny.csv",
    }
    if held is not None:
        out["error_band"] = error_bands(held)
    header = (
        "# Compute cost-model factors. Generated by `python -m twin.calibration` on "
        f"{_dt.date.today().isoformat()}; do not edit by hand.\n"
        "# core_macs_per_cycle: k x k convolution MACs per cycle with TFLM reference kernels.\n"
        "# runtime_speedup: throughput relative to TFLM reference kernels on the same core.\n"
        "# class_weight: cycles of one unit of an op class relative to one convolution MAC.\n"
        "# calibrated_pairs: core and runtime pairs measured; error_band: relative error of\n"
        "# held-out predictions (predicted / measured - 1), for the latency range.\n"
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
    held = held_out_errors(f.rows, benchmark_units(), f)
    for kind, band in error_bands(held).items():
        print(f"error band, {kind}: {band['low']:+.1%} .. {band['high']:+.1%}")
    if not args.check:
        write_yaml(f, held)
        print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
