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
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
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


@dataclass(frozen=True)
class CostParams:
    """Fitted cost-model factors, each with where it comes from."""

    core_macs_per_cycle: Mapping[str, float]
    runtime_speedup: Mapping[str, float]
    class_weight: Mapping[str, float]
    runtime_class_factor: Mapping[str, Mapping[str, float]]
    sources: Mapping[str, str]
    dsp_cycles_per_op: Mapping[str, float] = None  # type: ignore[assignment]

    def weight(self, runtime: str, op_class: str) -> float:
        """Cycles of one unit of ``op_class`` on ``runtime``, relative to a convolution MAC."""
        factor = self.runtime_class_factor.get(runtime, {}).get(op_class, 1.0)
        return self.class_weight.get(op_class, 1.0) * factor


@cache
def load_cost_params(path: str | None = None) -> CostParams:
    """Read the calibrated factors (``device_profiles/compute_calibration.yaml``)."""
    if path is None:
        found = [d / CALIBRATION_FILE for d in profile_dirs() if (d / CALIBRATION_FILE).is_file()]
        if not found:
            raise ScenarioError(f"{CALIBRATION_FILE} not found; run python -m twin.calibration")
        path = str(found[0])
    raw = yaml.safe_load(Path(path).read_text())
    sources = {}
    values: dict[str, dict[str, float]] = {}
    for section in ("core_macs_per_cycle", "runtime_speedup", "class_weight"):
        values[section] = {}
        for key, entry in raw[section].items():
            values[section][key] = float(entry["value"])
            sources[f"{section}.{key}"] = str(entry["source"])
    factors = {
        rt: {c: float(e["value"]) for c, e in entries.items()}
        for rt, entries in raw.get("runtime_class_factor", {}).items()
    }
    dsp: dict[str, float] = {}
    dsp_file = Path(path).with_name(FRONTEND_FILE)
    if dsp_file.is_file():
        for core, entry in yaml.safe_load(dsp_file.read_text()).items():
            dsp[core] = float(entry["value"])
            sources[f"dsp_cycles_per_op.{core}"] = str(entry["source"])
    return CostParams(
        values["core_macs_per_cycle"],
        values["runtime_speedup"],
        values["class_weight"],
        factors,
        sources,
        dsp,
    )


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

    Raises
    ------
    ScenarioError
        If the runtime does not run on the board's core, or the cost model has no factor for it.
    """
    params = params or load_cost_params()
    if board.core not in runtime.cores:
        raise ScenarioError(
            f"runtime '{runtime.id}' does not run on {board.core} (board '{board.id}'); "
            f"it supports {', '.join(runtime.cores)}"
        )
    try:
        mpc = params.core_macs_per_cycle[board.core]
        speedup = params.runtime_speedup[runtime.id]
    except KeyError as exc:
        raise ScenarioError(f"the compute model has no factor for {exc.args[0]}") from None
    units = graph.units_by_class()
    rate = mpc * speedup * board.clock_hz
    by_class = {c: units[c] * params.weight(runtime.id, c) / rate for c in MAC_CLASSES + OP_CLASSES}
    if frontend_ops:
        try:
            cpo = params.dsp_cycles_per_op[board.core]
        except (KeyError, TypeError):
            raise ScenarioError(f"no DSP front-end cost for core {board.core}") from None
        by_class["frontend"] = frontend_ops * cpo / board.clock_hz
    latency = runtime.overhead_s + sum(by_class.values())
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
    )
