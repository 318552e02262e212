"""The Python API: load a scenario, run it, get records, write them. The CLI calls these."""

from __future__ import annotations

import csv
import datetime as _dt
import importlib.metadata as _md
import json
import os
import platform
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twin.config.loader import load_scenario, resolve, scenario_from_dict
from twin.config.schema import Scenario
from twin.errors import ScenarioError, TwinError
from twin.ml.runner import OnnxModel
from twin.physics.compute import inference_cost
from twin.policies import BUILTIN, PolicyPlan, load_policy_class
from twin.profiles import load_profile
from twin.results import records
from twin.sim.engine import GroupModels, simulate

_DEPS = ("numpy", "simpy", "onnxruntime", "onnx", "plotly", "pydantic", "pyyaml", "typer")


def versions() -> dict[str, str]:
    """Versions of twin, Python and the dependencies that shape results."""
    out = {"twin": _version("twin"), "python": platform.python_version()}
    for dep in _DEPS:
        out[dep] = _version(dep)
    return out


def _version(dist: str) -> str:
    try:
        return _md.version(dist)
    except _md.PackageNotFoundError:
        return "unknown"


@dataclass
class RunResult:
    """Everything a run produced, as flat records.

    Attributes
    ----------
    summary : dict
        ``{"scenario": {...}, "versions": {...}, "results": [one entry per (policy, group)]}``.
    nodes : list of dict
        One row per node and policy.
    timeseries : list of dict
        Fleet aggregates per time step, per policy and group.
    latency_hist : list of dict
        Decision-latency histogram per policy and group.
    manifest : dict
        Run metadata that varies between identical runs (wall time, creation time).
    """

    summary: dict
    nodes: list[dict]
    timeseries: list[dict]
    latency_hist: list[dict]
    manifest: dict = field(default_factory=dict)

    def result(self, policy: str, group: str | None = None) -> dict:
        """The summary entry of one policy (and group; the first group by default)."""
        for r in self.summary["results"]:
            if r["policy"] == policy and (group is None or r["group"] == group):
                return r
        raise KeyError((policy, group))


def _prepare(scenario, seed=None, base_dir=None):
    """Validate and resolve a scenario; load its models and check they fit their boards."""
    file = None
    if isinstance(scenario, (str, Path)):
        file = str(scenario)
        base = Path(scenario).resolve().parent
        scenario = load_scenario(scenario)
    elif isinstance(scenario, dict):
        base = Path.cwd()
        scenario = scenario_from_dict(scenario)
    else:
        base = Path.cwd()
    if base_dir is not None:
        base = Path(base_dir)
    if seed is not None:
        scenario = scenario.with_seed(seed)
    resolved = resolve(scenario, base, file)
    models = {
        name: GroupModels(
            OnnxModel(r.device_model_path, r.output, r.positive_index, r.threshold),
            OnnxModel(r.cloud_model_path, r.output, r.positive_index, r.threshold),
        )
        for name, r in resolved.items()
    }
    for name, m in models.items():
        r = resolved[name]
        if m.device.cost.unsupported_ops:
            raise ScenarioError(
                f"the device model uses ops the cost model cannot price: "
                f"{', '.join(m.device.cost.unsupported_ops)}",
                file,
                f"groups.{name}.model",
            )
        est = inference_cost(m.device.cost, r.board, r.runtime, frontend_ops=r.frontend_ops)
        if not est.fits:
            raise ScenarioError(f"model does not fit: {est.misfit()}", file, f"groups.{name}.model")
        expected = r.window_samples * len(r.channels) if r.window_samples else None
        if expected is not None and m.device.input_features != expected:
            raise ScenarioError(
                f"model expects {m.device.input_features} inputs, the world gives {expected}",
                file,
                f"groups.{name}.model",
            )
    try:
        load_profile("server", scenario.cloud.server)
    except ScenarioError as exc:
        if exc.file:
            raise
        raise ScenarioError(exc.message, file, "cloud.server") from None
    plans = _policy_plans(scenario, resolved, models, base, file)
    return scenario, resolved, models, file, plans


def _policy_plans(scenario, resolved, models, base, file) -> list[PolicyPlan]:
    """Resolve each listed policy to a class and parameters, and check it suits every group."""
    plans = []
    for i, spec in enumerate(scenario.policies):
        where = f"policies[{i}]"
        if isinstance(spec, str):
            plan = PolicyPlan(spec, BUILTIN[spec], {})
        else:
            try:
                cls = (
                    BUILTIN[spec.kind]
                    if spec.kind is not None
                    else load_policy_class(spec.module, spec.class_name, base)
                )
            except ScenarioError as exc:
                raise ScenarioError(exc.message, file, where) from None
            plan = PolicyPlan(spec.name, cls, dict(spec.params))
        try:
            probe = plan.build()  # bad parameters fail here, before anything runs
        except ScenarioError as exc:
            raise ScenarioError(exc.message, file, where) from None
        for name, r in resolved.items():
            cfg = scenario.groups[name]
            window = r.window_samples or models[name].device.input_features // len(r.channels)
            limit = r.radio.max_payload_bytes
            if probe.sends_windows:
                size = cfg.payload_bytes.window or 2 * window * len(r.channels)
                if size > limit:
                    raise ScenarioError(
                        f"policy '{plan.name}' escalates whole windows ({size} bytes) but "
                        f"group '{name}''s radio carries at most {limit} bytes per message; "
                        f"set groups.{name}.payload_bytes.window to a compressed size, or "
                        "use another radio",
                        file,
                        where,
                    )
            n = probe.readings_per_message
            if n > 1 and (n > window or n * cfg.payload_bytes.reading > limit):
                raise ScenarioError(
                    f"policy '{plan.name}' sends {n} readings per message; group '{name}' "
                    f"keeps {window} readings and its radio carries {limit} bytes",
                    file,
                    where,
                )
        plans.append(plan)
    return plans


def validate(scenario: Scenario | str | Path | dict) -> str:
    """Check a scenario as :func:`run` would, without simulating. Returns a one-line summary.

    Raises
    ------
    ScenarioError
        On the first problem, with file, line and key path.
    """
    sc, _, _, _, _ = _prepare(scenario)
    nodes = sum(g.count for g in sc.groups.values())
    return (
        f"{len(sc.groups)} group(s), {nodes:,} nodes, {sc.world.horizon_days:g} days, "
        f"policies {', '.join(sc.policy_names)}"
    )


def run(
    scenario: Scenario | str | Path | dict,
    seed: int | None = None,
    batch_window_s: float | None = None,
    base_dir: str | Path | None = None,
) -> RunResult:
    """Run every policy of a scenario.

    Parameters
    ----------
    scenario : Scenario, path or dict
        A validated scenario, a YAML file, or plain data in the YAML's shape.
    seed : int, optional
        Overrides the scenario's ``world.seed``.
    batch_window_s : float, optional
        Overrides the engine's batching window (results do not depend on it).
    base_dir : path, optional
        Directory that relative model paths are resolved against (default: the scenario
        file's directory, or the working directory).

    Raises
    ------
    ScenarioError
        If the scenario, a profile or a model file is invalid.
    """
    scenario, resolved, models, file, plans = _prepare(scenario, seed, base_dir)

    started = time.perf_counter()
    results, nodes, series, hists = [], [], [], []
    for plan in plans:
        policy = plan.name
        groups, net = simulate(scenario, resolved, plan, models, batch_window_s)
        for g in groups:
            results.append(
                records.group_record(policy, g, net, scenario.horizon_s, scenario.cloud.workers)
            )
            nodes.extend(records.node_rows(policy, g, scenario.horizon_s))
            series.extend(records.timeseries_rows(policy, g))
            hists.append(records.latency_rows(policy, g))
    wall = time.perf_counter() - started
    summary = {
        "scenario": {
            "name": scenario.name,
            "file": file,
            "hash": scenario.digest(),
            "horizon_s": scenario.horizon_s,
            "seed": scenario.world.seed,
        },
        "versions": versions(),
        "results": results,
    }
    manifest = {
        "wall_time_s": wall,
        "created_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "node_samples": sum(r["samples"] for r in results),
        "host": platform.node(),
    }
    return RunResult(summary, nodes, series, hists, manifest)


def _write_csv(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as fh:
        if not rows:
            return
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def _render(result: RunResult) -> str:
    from twin.report import render_report

    report_summary = {**result.summary, **result.manifest}
    return render_report(report_summary, result.timeseries, result.latency_hist, result.nodes)


def _cell(text: str) -> Any:
    """A CSV cell back to the value written (int, float, bool, None or text)."""
    if text in ("True", "False"):
        return text == "True"
    if text == "":
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def load_results(directory: str | Path) -> RunResult:
    """Read a results directory written by :func:`write_results` back into a RunResult.

    Raises
    ------
    TwinError
        If a file is missing or unreadable (the message names it).
    """
    d = Path(directory)
    try:
        summary = json.loads((d / "summary.json").read_text())
        manifest = json.loads((d / "manifest.json").read_text())
        hist = json.loads((d / "latency_hist.json").read_text())
        tables = {}
        for name in ("nodes", "timeseries"):
            with (d / f"{name}.csv").open(newline="") as fh:
                tables[name] = [{k: _cell(v) for k, v in row.items()} for row in csv.DictReader(fh)]
    except FileNotFoundError as exc:
        raise TwinError(
            f"{d}: not a complete twin results directory ({exc.filename} missing)"
        ) from None
    except (OSError, json.JSONDecodeError) as exc:
        raise TwinError(f"{d}: cannot read results: {exc}") from None
    return RunResult(summary, tables["nodes"], tables["timeseries"], hist, manifest)


def write_report(result: RunResult, path: str | Path) -> Path:
    """Render the HTML report of ``result`` to ``path`` (atomically: all or nothing)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(_render(result))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_results(result: RunResult, out: str | Path) -> Path:
    """Write the results directory: summary, tables, latency histograms, manifest, report.

    ``summary.json``, ``nodes.csv``, ``timeseries.csv``, ``latency_hist.json``,
    ``manifest.json`` and ``report.html``.

    Files are written to a temporary directory next to ``out`` and moved into place at the
    end, so an interrupted write never leaves a half-written results directory.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        (tmp / "summary.json").write_text(json.dumps(result.summary, indent=2) + "\n")
        (tmp / "manifest.json").write_text(json.dumps(result.manifest, indent=2) + "\n")
        _write_csv(tmp / "nodes.csv", result.nodes)
        _write_csv(tmp / "timeseries.csv", result.timeseries)
        (tmp / "latency_hist.json").write_text(json.dumps(result.latency_hist) + "\n")
        (tmp / "report.html").write_text(_render(result))
        if out.exists():
            old = out.with_name(f".{out.name}-old-{os.getpid()}")
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def profile(
    model: str | Path, board: str, runtime: str | None = None, frontend_ops: float | None = None
):
    """Cost of one inference of an ONNX model (a file or a zoo name) on a board.

    A zoo model brings its DSP front end (``frontend.ops`` in its metadata); for a file, give
    ``frontend_ops`` (floating-point operations per inference, see :mod:`twin.physics.dsp`).

    Returns
    -------
    tuple of (GraphCost, InferenceCost)
        The graph analysis (per node) and its latency, energy and fit on the board.

    Raises
    ------
    ScenarioError
        Unreadable model, unknown board or runtime, a runtime that does not run on the board's
        core, or ops the cost model cannot price.
    """
    from twin.ml.runner import ZOO_DIR, load_zoo_metadata
    from twin.physics.graph import analyse_graph
    from twin.profiles import load_profile

    path = Path(model)
    ops = 0.0
    if not path.is_file() and not path.suffix:
        meta = load_zoo_metadata(str(model))
        path = ZOO_DIR / meta["variants"]["int8"]["file"]
        ops = float(meta.get("frontend", {}).get("ops", 0.0))
    if frontend_ops is not None:
        ops = frontend_ops
    if not path.is_file():
        raise ScenarioError("model file not found", str(path))
    try:
        graph = analyse_graph(str(path))
    except Exception as exc:  # onnx raises many types for corrupt files
        raise ScenarioError(f"cannot read ONNX model: {exc}", str(path)) from None
    if graph.unsupported_ops:
        raise ScenarioError(
            f"ops the cost model cannot price: {', '.join(graph.unsupported_ops)}", str(path)
        )
    b = load_profile("board", board)
    rt = load_profile("runtime", runtime or b.default_runtime)
    return graph, inference_cost(graph, b, rt, frontend_ops=ops)
