"""On-device compute cost: latency, energy and fit of one inference on a board and runtime.

The cost model (fitted on MLPerf Tiny measurements by ``python -m twin.calibration``)::

    cycles    = sum over op classes c of  units_c * weight_c * factor[runtime, c]
    latency_s = overhead_s + cycles / (macs_per_cycle[core] * speedup[runtime] * clock_hz)
    energy_j  = latency_s * active_current_a * supply_v

``units_c`` are MACs (conv, depthwise, pointwise, fc) or operations (elementwise, pool) from the
ONNX graph (:mod:`twin.physics.graph`); ``weight_c`` is the cost of one unit relative to a MAC
of a k x k convolution (depthwise MACs cost several times more), ``factor[runtime, c]`` how an
engine's depthwise and fully-connected kernels differ from that; ``macs_per_cycle[core]`` is the
convolution throughput of a core family with TFLM's reference kernels and ``speedup[runtime]``
how much faster an engine is than those (the same board runs the same model 4x faster with
X-CUBE-AI than with reference kernels). Energy uses the board's active power: MLPerf Tiny shows
average inference power is nearly model-independent per board and supply.

Boards and runtimes without measurements get the factors of their core family and runtime,
so the model generalises by core family and clock.

Every calibration row is int8. fp32 MACs are priced by structure from published figures
(``fp32_costs.yaml``, :func:`fp32_latency_by_class_s`): a float kernel's loop costs the fitted
int8 reference-kernel loop plus what float arithmetic adds on the core (nothing with an FPU,
a software multiply and add on a Cortex-M0+), over the engine's float speed-up (1 for engines
whose optimised kernels are int8-only). Each estimate says whether it is calibrated, what it
assumes, and carries a latency and energy range from the fit's held-out errors
(docs/compute.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

from twin.errors import ScenarioError
from twin.physics.graph import MAC_CLASSES, OP_CLASSES, GraphCost, analyse_graph
from twin.profiles import Board, Runtime, profile_dirs

__all__ = [
    "CostParams",
    "GraphCost",
    "InferenceCost",
    "analyse_graph",
    "inference_cost",
    "inference_energy_j",
    "inference_latency_s",
    "load_cost_params",
]

CALIBRATION_FILE = "compute_calibration.yaml"
FRONTEND_FILE = "frontend_costs.yaml"
FP32_FILE = "fp32_costs.yaml"


@dataclass(frozen=True)
class Fp32Core:
    """What a float MAC costs on a core family, beyond the int8 one (``fp32_costs.yaml``)."""

    extra_cycles_per_mac: float
    low: float
    high: float
    assumed: bool = False
    unsupported: str = ""  # why the core runs no float model, or ""


@dataclass(frozen=True)
class CostParams:
    """Fitted cost-model factors, each with where it comes from."""

    core_macs_per_cycle: Mapping[str, float]
    runtime_speedup: Mapping[str, float]
    class_weight: Mapping[str, float]
    runtime_class_factor: Mapping[str, Mapping[str, float]]
    sources: Mapping[str, str]
    dsp_cycles_per_op: Mapping[str, float] = None  # type: ignore[assignment]
    fp32_core: Mapping[str, Fp32Core] = field(default_factory=dict)
    fp32_speedup: Mapping[str, float] = field(default_factory=dict)
    # Keys "core:<id>" / "runtime:<id>" of factors that are assumptions, not fitted.
    assumed: frozenset[str] = frozenset()
    # (core, runtime) pairs with calibration rows; None: the file does not say (older files).
    calibrated_pairs: frozenset[tuple[str, str]] | None = None
    # Relative error (predicted / measured - 1) bands of held-out predictions, by
    # "calibrated" / "uncalibrated".
    error_band: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    def weight(self, runtime: str, op_class: str) -> float:
        """Cycles of one unit of ``op_class`` on ``runtime``, relative to a convolution MAC."""
        factor = self.runtime_class_factor.get(runtime, {}).get(op_class, 1.0)
        return self.class_weight.get(op_class, 1.0) * factor


@cache
def load_cost_params(path: str | None = None) -> CostParams:
    """Read the calibrated factors (``device_profiles/compute_calibration.yaml``).

    The fp32 factors (``fp32_costs.yaml``) and DSP front-end costs (``frontend_costs.yaml``)
    are read from beside it.
    """
    if path is None:
        found = [d / CALIBRATION_FILE for d in profile_dirs() if (d / CALIBRATION_FILE).is_file()]
        if not found:
            raise ScenarioError(f"{CALIBRATION_FILE} not found; run python -m twin.calibration")
        path = str(found[0])
    raw = yaml.safe_load(Path(path).read_text())
    sources = {}
    values: dict[str, dict[str, float]] = {}
    assumed = set()
    for section in ("core_macs_per_cycle", "runtime_speedup", "class_weight"):
        values[section] = {}
        for key, entry in raw[section].items():
            values[section][key] = float(entry["value"])
            sources[f"{section}.{key}"] = str(entry["source"])
            if entry.get("assumed"):
                assumed.add(("core:" if section == "core_macs_per_cycle" else "runtime:") + key)
    factors = {
        rt: {c: float(e["value"]) for c, e in entries.items()}
        for rt, entries in raw.get("runtime_class_factor", {}).items()
    }
    pairs = raw.get("calibrated_pairs")
    bands = {
        kind: (float(b["low"]), float(b["high"])) for kind, b in raw.get("error_band", {}).items()
    }
    dsp: dict[str, float] = {}
    dsp_file = Path(path).with_name(FRONTEND_FILE)
    if dsp_file.is_file():
        for core, entry in yaml.safe_load(dsp_file.read_text()).items():
            dsp[core] = float(entry["value"])
            sources[f"dsp_cycles_per_op.{core}"] = str(entry["source"])
    fp32_core, fp32_speedup = _load_fp32(Path(path).with_name(FP32_FILE), sources)
    return CostParams(
        values["core_macs_per_cycle"],
        values["runtime_speedup"],
        values["class_weight"],
        factors,
        sources,
        dsp,
        fp32_core,
        fp32_speedup,
        frozenset(assumed),
        frozenset(tuple(p.split()) for p in pairs["value"]) if pairs else None,
        bands,
    )


def _load_fp32(path: Path, sources: dict[str, str]) -> tuple[dict, dict]:
    """The fp32 factors of ``fp32_costs.yaml``; empty if the file is absent."""
    if not path.is_file():
        return {}, {}
    raw = yaml.safe_load(path.read_text())
    cores = {}
    for core, e in raw.get("cores", {}).items():
        extra = float(e.get("extra_cycles_per_mac", 0.0))
        cores[core] = Fp32Core(
            extra,
            float(e.get("low", extra)),
            float(e.get("high", extra)),
            bool(e.get("assumed", False)),
            str(e.get("unsupported", "")),
        )
        sources[f"fp32.cores.{core}"] = str(e.get("source", e.get("unsupported", "")))
    speedup = {}
    for rt, e in raw.get("runtimes", {}).items():
        speedup[rt] = float(e["float_speedup"])
        sources[f"fp32.runtimes.{rt}"] = str(e["source"])
    return cores, speedup


@dataclass(frozen=True)
class InferenceCost:
    """Latency, energy and memory of one inference of a model on a board with a runtime."""

    board: str
    runtime: str
    macs: int
    ops: int
    cycles: float
    latency_s: float
    energy_j: float
    latency_by_class_s: Mapping[str, float]
    flash_bytes: int
    ram_bytes: int
    board_flash_bytes: int
    board_ram_bytes: int
    unsupported_ops: tuple[str, ...]
    precision: str  # of the graph's MAC nodes: "int8", "fp32" or "mixed"
    # True when the prediction rests on fitted factors only: int8, and a (core, runtime) pair
    # with calibration rows. Otherwise ``assumptions`` says what it rests on.
    calibrated: bool
    assumptions: tuple[str, ...]
    # Where the measured latency is expected: the point estimate widened by the calibration
    # fit's held-out error band (and, for fp32 MACs, by the range of the published fp32
    # figures). See :func:`inference_cost`.
    latency_range_s: tuple[float, float]
    energy_range_j: tuple[float, float]

    @property
    def fits(self) -> bool:
        """Whether weights + runtime fit in flash and the arena + runtime in SRAM."""
        return self.flash_bytes <= self.board_flash_bytes and self.ram_bytes <= self.board_ram_bytes

    def misfit(self) -> str | None:
        """Why the model does not fit, or None."""
        parts = []
        for what, need, have in (
            ("flash", self.flash_bytes, self.board_flash_bytes),
            ("RAM", self.ram_bytes, self.board_ram_bytes),
        ):
            if need > have:
                parts.append(
                    f"needs {need / 1024:,.1f} KiB of {what}, board '{self.board}' has "
                    f"{have / 1024:,.1f} KiB (over by {(need - have) / 1024:,.1f} KiB)"
                )
        return "; ".join(parts) or None


def inference_latency_s(
    units_by_class: Mapping[str, float],
    clock_hz: float,
    macs_per_cycle: float,
    speedup: float = 1.0,
    class_weight: Mapping[str, float] | None = None,
    overhead_s: float = 0.0,
) -> float:
    """Latency of one inference [s] from its work per op class.

    ``overhead_s + sum_c(units_c * weight_c) / (macs_per_cycle * speedup * clock_hz)``
    """
    weight = class_weight or {}
    cycles = sum(u * weight.get(c, 1.0) for c, u in units_by_class.items())
    return overhead_s + cycles / (macs_per_cycle * speedup * clock_hz)


def inference_energy_j(latency_s: float, active_current_a: float, supply_v: float) -> float:
    """Energy of one inference [J]: the board's active power over the inference time."""
    return latency_s * active_current_a * supply_v


def inference_cost(
    graph: GraphCost,
    board: Board,
    runtime: Runtime,
    params: CostParams | None = None,
    frontend_ops: float = 0.0,
) -> InferenceCost:
    """Cost of one inference of ``graph`` on ``board`` with ``runtime``.

    ``frontend_ops`` is the work of the model's DSP front end (MFCC, spectrum) in
    floating-point operations (:mod:`twin.physics.dsp`); it runs before the network at the
    core's ``dsp_cycles_per_op`` and shows as the ``frontend`` entry of ``latency_by_class_s``.

    MACs of fp32 nodes are priced apart from int8 ones (:func:`fp32_latency_by_class_s`);
    element-wise and pooling work keeps its calibrated cost at either precision (on an FPU
    core an int8 element-wise op, with its requantisation, is no cheaper than a float one).

    The latency range is ``[nn / (1 + e_high), nn / (1 + e_low)] + frontend``, where ``nn`` is
    the network's latency (with the fp32 part at the low and high end of its published
    range) and ``(e_low, e_high)`` the calibration fit's held-out band of predicted /
    measured - 1: the leave-one-out band for a calibrated (core, runtime) pair, the wider
    leave-pair-out one otherwise (``error_band`` in ``compute_calibration.yaml``). Factors that
    are assumptions (no row for the core or the engine) are not covered by the band; the
    ``assumptions`` say so. Energy's range is the latency range times the board's power.

    Raises
    ------
    ScenarioError
        If the runtime does not run on the board's core, the cost model has no factor for it,
        or the core runs no float model and the graph has fp32 MACs.
    """
    params = params or load_cost_params()
    if board.core not in runtime.cores:
        raise ScenarioError(
            f"runtime '{runtime.id}' does not run on {board.core} (board '{board.id}'); "
            f"it supports {', '.join(runtime.cores)}"
        )
    by_class, fp32_s, fp32_units = _network_latency_by_class_s(graph, board, runtime, params)
    nn_int8_s = sum(by_class.values()) - fp32_s["value"]
    if frontend_ops:
        try:
            cpo = params.dsp_cycles_per_op[board.core]
        except (KeyError, TypeError):
            raise ScenarioError(f"no DSP front end cost for core {board.core}") from None
        by_class["frontend"] = frontend_ops * cpo / board.clock_hz
    latency = runtime.overhead_s + sum(by_class.values())
    calibrated, notes = _assumptions(board, runtime, params, fp32_units, frontend_ops)
    pair = "calibrated" if _pair_calibrated(board, runtime, params) else "uncalibrated"
    band = params.error_band.get(pair)
    if band is None:
        band = (0.0, 0.0)
        notes += (f"no error band in {CALIBRATION_FILE}: the range is the point estimate",)
    # measured = predicted / (1 + e) for e in the band; overhead and front end as estimated.
    fixed_s = latency - nn_int8_s - fp32_s["value"]
    latency_range = (
        fixed_s + (nn_int8_s + fp32_s["low"]) / (1.0 + band[1]),
        fixed_s + (nn_int8_s + fp32_s["high"]) / (1.0 + band[0]),
    )
    power_w = board.active_current_a * board.supply_v
    return InferenceCost(
        board=board.id,
        runtime=runtime.id,
        macs=graph.macs,
        ops=graph.ops,
        cycles=sum(by_class.values()) * board.clock_hz,
        latency_s=latency,
        energy_j=inference_energy_j(latency, board.active_current_a, board.supply_v),
        latency_by_class_s=by_class,
        flash_bytes=graph.flash_bytes + runtime.flash_overhead_bytes,
        ram_bytes=graph.ram_bytes + runtime.ram_overhead_bytes,
        board_flash_bytes=board.flash_bytes,
        board_ram_bytes=board.sram_bytes,
        unsupported_ops=graph.unsupported_ops,
        precision=graph.precision,
        calibrated=calibrated,
        assumptions=notes,
        latency_range_s=latency_range,
        energy_range_j=(latency_range[0] * power_w, latency_range[1] * power_w),
    )


def _network_latency_by_class_s(
    graph: GraphCost, board: Board, runtime: Runtime, params: CostParams
) -> tuple[dict[str, float], dict[str, float], dict[str, int]]:
    """The network's latency per op class [s], its fp32 part, and the fp32 MACs per class.

    The fp32 part is given at the value and at the low and high end of the published figures.
    """
    try:
        mpc = params.core_macs_per_cycle[board.core]
        speedup = params.runtime_speedup[runtime.id]
    except KeyError as exc:
        raise ScenarioError(f"the compute model has no factor for {exc.args[0]}") from None
    units = graph.units_by_class()
    fp32_units = graph.units_by_class("fp32") if graph.precision != "int8" else {}
    rate = mpc * speedup * board.clock_hz
    by_class = {
        c: (units[c] - fp32_units.get(c, 0)) * params.weight(runtime.id, c) / rate
        for c in MAC_CLASSES + OP_CLASSES
    }
    fp32_s = {"value": 0.0, "low": 0.0, "high": 0.0}
    if any(fp32_units.values()):
        for end in fp32_s:
            part = fp32_latency_by_class_s(fp32_units, board, runtime, params, end)
            fp32_s[end] = sum(part.values())
            if end == "value":
                by_class = {c: by_class[c] + part.get(c, 0.0) for c in by_class}
    return by_class, fp32_s, fp32_units


def fp32_latency_by_class_s(
    fp32_macs: Mapping[str, float],
    board: Board,
    runtime: Runtime,
    params: CostParams,
    end: str = "value",
) -> dict[str, float]:
    """Latency [s] of fp32 MACs per MAC class: reference-kernel cycles plus float arithmetic.

    ``(weight_c * factor[tflm, c] / macs_per_cycle[core] + extra_cycles_per_mac[core])
    * macs_c / (float_speedup[runtime] * clock_hz)``: the loop of a float kernel costs what the
    fitted int8 reference (TFLM) kernel's does, plus what float arithmetic adds on the core
    (nothing with an FPU, a software multiply and add without one); an engine's float kernels
    are ``float_speedup`` times faster than the reference ones (1 for engines whose optimised
    kernels are int8-only, as CMSIS-NN's and ESP-NN's). Factors: ``fp32_costs.yaml``.

    ``end`` "low" / "high" gives the fast and slow end of the published range (an engine
    without a published float figure: float kernels up to as much faster than reference as
    its int8 kernels are).
    """
    core = params.fp32_core.get(board.core)
    if core is None:
        raise ScenarioError(f"no fp32 cost for core {board.core} ({FP32_FILE})")
    if core.unsupported:
        raise ScenarioError(
            f"board '{board.id}' ({board.core}) cannot run this model's fp32 layers: "
            f"{core.unsupported}; quantize the model to int8"
        )
    extra = {"value": core.extra_cycles_per_mac, "low": core.low, "high": core.high}[end]
    float_speedup = params.fp32_speedup.get(runtime.id)
    if float_speedup is None:  # no published figure: reference speed, or the int8 gain
        float_speedup = params.runtime_speedup[runtime.id] if end == "low" else 1.0
    mpc = params.core_macs_per_cycle[board.core]
    return {
        c: fp32_macs.get(c, 0) * (params.weight("tflm", c) / mpc + extra)
        / (float_speedup * board.clock_hz)
        for c in MAC_CLASSES
    }  # fmt: skip


def _pair_calibrated(board: Board, runtime: Runtime, params: CostParams) -> bool:
    """Whether the (core, runtime) pair has calibration rows and no assumed factor."""
    if {f"core:{board.core}", f"runtime:{runtime.id}"} & params.assumed:
        return False
    return params.calibrated_pairs is not None and (
        (board.core, runtime.id) in params.calibrated_pairs
    )


def _assumptions(
    board: Board,
    runtime: Runtime,
    params: CostParams,
    fp32_macs: Mapping[str, float],
    frontend_ops: float,
) -> tuple[bool, tuple[str, ...]]:
    """Whether the prediction is calibrated, and what it rests on where it is not."""
    notes = []
    if f"core:{board.core}" in params.assumed:
        notes.append(
            f"no MLPerf Tiny row for core {board.core}: its throughput is an assumption, "
            "which the range does not cover"
        )
    if f"runtime:{runtime.id}" in params.assumed:
        notes.append(
            f"no MLPerf Tiny row for runtime {runtime.id}: its speed-up is an assumption, "
            "which the range does not cover"
        )
    if params.calibrated_pairs is None:
        notes.append(f"{CALIBRATION_FILE} lists no calibrated pairs")
    elif (board.core, runtime.id) not in params.calibrated_pairs:
        notes.append(
            f"no calibration measurement for {board.core} with {runtime.id}: "
            "factors of its core family and runtime"
        )
    n_fp32 = int(sum(fp32_macs.values()))
    if n_fp32:
        notes.append(
            f"{n_fp32:,} fp32 MACs priced from published fp32 figures, not fitted "
            "(every calibration row is int8)"
        )
        core = params.fp32_core.get(board.core)
        if core is not None and core.assumed:
            notes.append(f"fp32 arithmetic cost on {board.core} assumed ({FP32_FILE})")
        if runtime.id not in params.fp32_speedup:
            notes.append(
                f"no published fp32 figure for {runtime.id}: float kernels taken as TFLM's "
                "reference ones, the range reaching its int8 speed-up"
            )
    calibrated = not notes and _pair_calibrated(board, runtime, params)
    if frontend_ops:
        notes.append("DSP front end from its op count, outside the range (not calibrated)")
    return calibrated, tuple(notes)
