"""The Python API: load a scenario, run it, get records, write them. The CLI calls these."""

from __future__ import annotations

import csv
import datetime as _dt
import functools
import hashlib
import importlib.metadata as _md
import json
import os
import platform
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twin.analysis.verdict import Objective, verdict
from twin.budget import check as check_budget
from twin.budget import estimate as estimate_budget
from twin.compile import compile_scenario
from twin.config.loader import as_scenario
from twin.config.schema import Scenario
from twin.errors import ScenarioError, TwinError
from twin.physics.compute import inference_cost
from twin.plan import RunPlan
from twin.results import conservation, records
from twin.sim.engine import simulate
from twin.sim.uplink_log import DEFAULT_START_UTC_S, UplinkLog
from twin.telemetry.uplinks import Uplinks, utc_text

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
    events : list of dict or None
        Every sample and decision delivery (``run(..., record_events=True)``), else None.
    uplinks : dict of str to Uplinks, or None
        Per policy, every LoRa uplink the gateways decoded (``run(..., telemetry=True)``).
    """

    summary: dict
    nodes: list[dict]
    timeseries: list[dict]
    latency_hist: list[dict]
    manifest: dict = field(default_factory=dict)
    events: list[dict] | None = None
    uplinks: dict[str, Uplinks] | None = None

    def result(self, policy: str, group: str | None = None) -> dict:
        """The summary entry of one policy (and group; the first group by default)."""
        for r in self.summary["results"]:
            if r["policy"] == policy and (group is None or r["group"] == group):
                return r
        raise KeyError((policy, group))

    def records(self) -> list[dict]:
        """The summary as flat records: one per (policy, group), nested keys dotted.

        ``{"policy": "cloud", "group": "soil", "latency_s.p95": 922.1, ...}``: the shape of
        one row of a study table, ready for ``pandas.DataFrame``.
        """
        return [flatten(r) for r in self.summary["results"]]

    def summary_frame(self):
        """:meth:`records` as a pandas DataFrame (needs pandas)."""
        return _frame(self.records())

    def nodes_frame(self):
        """One row per node and policy, as a pandas DataFrame (needs pandas)."""
        return _frame(self.nodes)

    def timeseries_frame(self):
        """Fleet aggregates per time step, policy and group, as a DataFrame (needs pandas)."""
        return _frame(self.timeseries)


def default_results_dir(name: str) -> Path:
    """``results/<name>``, with the name made a single safe path component.

    Scenario and study names are user text: a name like ``../../etc`` must not steer where
    results are written, so anything but letters, digits, ``_``, ``.`` and ``-`` becomes
    ``_``, and a name of dots only (``..``) becomes underscores.
    """
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    if not safe.strip("."):
        safe = safe.replace(".", "_") or "_"
    return Path("results") / safe


def flatten(d: dict, prefix: str = "") -> dict:
    """Nested dicts to one level with dotted keys; lists are kept as values."""
    out: dict = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, f"{key}."))
        else:
            out[key] = v
    return out


def _frame(rows: list[dict]):
    try:
        import pandas as pd
    except ImportError:
        raise TwinError(
            "pandas is not installed: pip install pandas (the records are plain dicts without it)"
        ) from None
    return pd.DataFrame.from_records(rows)


def compare(results: list[RunResult], labels: list[str]) -> RunResult:
    """Put several runs side by side: one result whose policies are ``label/policy``.

    Every record keeps its group, so the same group of two runs (e.g. two boards or two
    radios for one fleet) lines up in every table and plot of the report. ``summary["runs"]``
    lists where each run came from.

    Raises
    ------
    TwinError
        If there are fewer than two runs, or labels are missing, repeated or contain "/".
    """
    if len(results) < 2:
        raise TwinError("compare needs at least two results directories")
    if len(labels) != len(results):
        raise TwinError(f"{len(results)} runs but {len(labels)} labels")
    if len(set(labels)) != len(labels) or any(not lab or "/" in lab for lab in labels):
        raise TwinError(f"labels must be distinct, non-empty and free of '/': {labels}")

    def relabel(rows: list[dict], label: str) -> list[dict]:
        return [{**row, "policy": f"{label}/{row['policy']}"} for row in rows]

    runs, merged = [], {"results": [], "nodes": [], "timeseries": [], "hist": []}
    for res, label in zip(results, labels, strict=True):
        sc = res.summary.get("scenario") or {}
        runs.append({"label": label, **{k: sc.get(k) for k in ("name", "file", "hash", "seed")}})
        merged["results"] += relabel(res.summary["results"], label)
        merged["nodes"] += relabel(res.nodes, label)
        merged["timeseries"] += relabel(res.timeseries, label)
        merged["hist"] += relabel(res.latency_hist, label)
    first = results[0].summary
    horizons = {(r.summary.get("scenario") or {}).get("horizon_s") for r in results}
    horizon_s = horizons.pop() if len(horizons) == 1 else None
    summary = {
        "scenario": {
            "name": "comparison: " + ", ".join(labels),
            "file": None,
            "hash": None,
            "seed": None,
            # One horizon if the runs share it; per node-day figures compare across horizons.
            "horizon_s": horizon_s,
        },
        "versions": first.get("versions", {}),
        "runs": runs,
        "results": merged["results"],
        # No objective across runs (each scenario may say its own); money per month only
        # when the runs share a horizon.
        "verdict": group_verdicts(merged["results"], horizon_s or 0.0),
    }
    manifest = {"compared": runs, "wall_time_s": None, "created_utc": None}
    return RunResult(summary, merged["nodes"], merged["timeseries"], merged["hist"], manifest)


def validate(
    scenario: Scenario | str | Path | dict,
    budget: bool = True,
    import_policies: bool = False,
    allow_outside_policies: bool = False,
) -> str:
    """Check a scenario as :func:`run` would, without simulating. Returns a one-line summary.

    The summary ends with the run's estimate (node-samples, memory, wall time: see
    :mod:`twin.budget`).

    Parameters
    ----------
    scenario : Scenario, path or dict
        What to check.
    budget : bool
        Refuse a scenario too large to run on this machine, as :func:`run` does.
    import_policies : bool
        Import (run) user policy modules to check their class, parameters and fit. By
        default their source is only parsed: validating a file runs none of its code.
    allow_outside_policies : bool
        Accept a policy module outside the scenario's folder.

    Raises
    ------
    ScenarioError
        On the first problem, with file, line and key path.
    BudgetError
        If ``budget`` and the run would exceed :data:`twin.budget.DEFAULT_LIMITS`.
    """
    scenario = as_scenario(scenario)
    if budget:
        check_budget(scenario)  # before compiling: it draws the fault intervals
    plan = compile_scenario(
        scenario, import_policies=import_policies, allow_outside_policies=allow_outside_policies
    )
    cost = check_budget(plan) if budget else estimate_budget(plan)
    unrun = [p.name for p in plan.policies if p.cls is None]
    note = (
        f"; policy code not run: {', '.join(unrun)} (--import-policies checks its class, "
        "parameters and fit)"
        if unrun
        else ""
    )
    return (
        f"{len(plan.groups)} group(s), {plan.nodes:,} nodes, {plan.horizon_s / 86_400:g} days, "
        f"policies {', '.join(plan.policy_names)}; {cost.summary()}{note}"
    )


def run(
    scenario: Scenario | str | Path | dict | RunPlan,
    seed: int | None = None,
    batch_window_s: float | None = None,
    base_dir: str | Path | None = None,
    record_events: bool = False,
    budget: bool = True,
    allow_outside_policies: bool = False,
    progress: Callable[[float], None] | None = None,
    telemetry: bool = False,
) -> RunResult:
    """Run every policy of a scenario.

    Parameters
    ----------
    scenario : Scenario, path, dict or RunPlan
        A validated scenario, a YAML file, plain data in the YAML's shape, or a plan from
        :func:`twin.compile_scenario` (then ``seed``, ``batch_window_s`` and ``base_dir``
        must be None).
    seed : int, optional
        Overrides the scenario's ``world.seed``.
    batch_window_s : float, optional
        Overrides the engine's batching window (results do not depend on it).
    base_dir : path, optional
        Directory that relative model and policy paths are resolved against (default: the
        scenario file's directory, or the working directory).
    record_events : bool
        Keep every sample and decision delivery (``RunResult.events``); for small runs, at
        most ``MAX_EVENT_SAMPLES`` node-samples over all policies.
    budget : bool
        Refuse a run estimated to exceed :data:`twin.budget.DEFAULT_LIMITS` (memory, wall
        time, time-series rows, fault intervals) before it starts; False runs it anyway.
    allow_outside_policies : bool
        Run a policy module that lies outside the scenario's folder (by default refused:
        importing a module runs its code).
    progress : callable, optional
        Called with the fraction of the run done (0 to 1: simulated time over all policies)
        as it advances; results do not depend on it.
    telemetry : bool
        Keep every LoRa uplink the gateways decoded, as a network server would log it
        (``RunResult.uplinks``, one table per policy; :mod:`twin.sim.uplink_log`).

    Raises
    ------
    ScenarioError
        If the scenario, a profile or a model file is invalid.
    BudgetError
        If ``budget`` and the run would not fit (the message names the key to change).
    TwinError
        If events are asked for a run too large to log them.
    """
    if isinstance(scenario, RunPlan):
        if seed is not None or batch_window_s is not None or base_dir is not None:
            raise TwinError("a compiled plan is run as it is: compile it with the overrides")
        if any(p.cls is None for p in scenario.policies):
            raise TwinError("this plan was compiled without importing its policies")
        plan = scenario
    else:
        scenario = as_scenario(scenario)
        if budget:
            check_budget(scenario)  # before compiling: it draws the fault intervals
        plan = compile_scenario(
            scenario, seed=seed, batch_window_s=batch_window_s, base_dir=base_dir,
            allow_outside_policies=allow_outside_policies,
        )  # fmt: skip
    if budget:
        check_budget(plan)
    if record_events:
        _check_event_size(plan)
    started = time.perf_counter()
    results, nodes, series, hists, events = [], [], [], [], []
    uplinks: dict[str, Uplinks] = {}
    workers = plan.cloud.workers
    for i, policy in enumerate(plan.policies):
        step = None
        if progress is not None:
            n = len(plan.policies)
            step = lambda f, i=i, n=n: progress((i + f) / n)  # noqa: E731
        log = UplinkLog() if telemetry else None
        groups, net = simulate(plan, policy, None, record_events, step, log)
        if log is not None:
            start = DEFAULT_START_UTC_S if plan.start_utc_s is None else plan.start_utc_s
            uplinks[policy.name] = log.uplinks(plan, groups, start)
        for g in groups:
            rec = records.group_record(policy.name, g, net, plan.horizon_s, workers)
            # Every sample, frame and joule accounted for; a violation is a bug and stops here.
            rec["conservation"] = conservation.check_record(rec, g.scheduled, g.runs_device_model)
            results.append(rec)
            nodes.extend(records.node_rows(policy.name, g, plan.horizon_s, plan.start_utc_s))
            series.extend(records.timeseries_rows(policy.name, g, net, workers))
            hists.append(records.latency_rows(policy.name, g))
            if record_events:
                events.extend(records.event_rows(policy.name, g))
    summary = _summary(plan, results)
    manifest = _manifest(plan, summary, time.perf_counter() - started)
    return RunResult(
        summary, nodes, series, hists, manifest, events if record_events else None,
        uplinks if telemetry else None,
    )  # fmt: skip


def _check_event_size(plan: RunPlan) -> None:
    """Events are for small runs: refuse one whose log would not fit in memory."""
    expected = len(plan.policies) * sum(
        g.count * plan.horizon_s / g.reading_period_s for g in plan.groups
    )
    if expected > MAX_EVENT_SAMPLES:
        raise TwinError(
            f"events are logged for small runs: this one takes ~{expected:,.0f} "
            f"node-samples over its policies (limit {MAX_EVENT_SAMPLES:,}); fewer nodes, "
            "a shorter horizon or fewer policies"
        )


def _summary(plan: RunPlan, results: list[dict]) -> dict:
    """summary.json: the scenario, versions, faults, every (policy, group) and the verdicts."""
    return {
        "scenario": {
            "name": plan.name,
            "file": plan.file,
            "hash": plan.digest,
            "horizon_s": plan.horizon_s,
            "seed": plan.seed,
            # Where things are, for the report's site map.
            "site_m": list(plan.site_m),
            "gateways": [{"id": g.id, "x_m": g.x_m, "y_m": g.y_m} for g in plan.gateways],
            # A dated twin (a calibrated fleet's): when t = 0 is, for end-of-life dates.
            **({} if plan.start_utc_s is None else {"start_utc": utc_text(plan.start_utc_s)}),
        },
        "versions": versions(),
        # The faults injected (the same for every policy: drawn from the run seed).
        "faults": {"intervals": plan.faults.intervals()},
        "results": results,
        # Each group's policies against each other, and the trade-off in one sentence.
        "verdict": group_verdicts(results, plan.horizon_s, plan.objective),
    }


def _manifest(plan: RunPlan, summary: dict, wall_s: float) -> dict:
    """manifest.json: what made these results, then what varies between reruns."""
    return {
        "scenario_hash": plan.digest,
        "seed": plan.seed,
        "versions": summary["versions"],
        "wall_time_s": wall_s,
        "created_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "node_samples": sum(r["samples"] for r in summary["results"]),
        "host": platform.node(),
        # The files the plan read besides the scenario (models, recordings): the scenario's
        # hash does not cover their contents.
        "inputs": input_files(plan),
    }


def group_verdicts(
    results: list[dict], horizon_s: float, objective: Objective | None = None
) -> list[dict]:
    """The verdict of every group (see :func:`twin.analysis.verdict.verdict`), in group order.

    Parameters
    ----------
    results : list of dict
        ``summary["results"]``: one entry per (policy, group).
    horizon_s : float
        Simulated horizon [s].
    objective : Objective, optional
        What the verdict recommends by.

    Returns
    -------
    list of dict
        ``{"group": name, **verdict}`` per group.
    """
    groups = list(dict.fromkeys(r["group"] for r in results))
    return [
        {
            "group": g,
            **verdict({r["policy"]: r for r in results if r["group"] == g}, horizon_s, objective),
        }
        for g in groups
    ]


def input_files(plan: RunPlan) -> list[dict[str, str]]:
    """Every file a plan reads besides the scenario, with its SHA-256 (each once, in order).

    Parameters
    ----------
    plan : RunPlan
        A compiled scenario.

    Returns
    -------
    list of dict
        ``role`` (``model``, ``cloud model`` or ``recording``), ``path`` and ``sha256``.
    """
    seen: dict[str, dict[str, str]] = {}
    for g in plan.groups:
        found = [("model", g.models.device.path), ("cloud model", g.models.cloud.path)]
        found += [("recording", Path(f)) for f in getattr(g.world_params, "files", ())]
        for role, path in found:
            key = str(Path(path).resolve())
            if key not in seen:
                seen[key] = {"role": role, "path": key, "sha256": _sha256(key)}
    return list(seen.values())


def _sha256(path: str) -> str:
    st = os.stat(path)
    return _cached_sha256(path, st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=256)
def _cached_sha256(path: str, mtime_ns: int, size: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


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
        If the folder is missing, not a folder, a study's folder, or a file in it is
        missing, unreadable, not what twin wrote (JSON or CSV damaged, a table cut short,
        a summary without its results): the message names the file and what is wrong.
    """
    d = Path(directory)
    try:
        d.stat()
    except FileNotFoundError:
        what = "a symbolic link to nothing" if d.is_symlink() else "no such folder"
        raise TwinError(f"{d}: {what}; expected a results folder written by twin run") from None
    except OSError as exc:  # a symbolic-link loop, a permission
        raise TwinError(f"{d}: cannot read: {exc.strerror or exc}") from None
    if not d.is_dir():
        raise TwinError(f"{d}: not a folder; expected a results folder written by twin run")
    if (d / "study.json").exists() and (d / "runs.jsonl").exists():
        raise TwinError(
            f"{d}: a study folder (twin sweep), not a run's results; its report is "
            f"{d / 'report.html'} (twin sweep STUDY --out {d} --resume renders it again)"
        )
    summary = _read_json(d / "summary.json", dict)
    manifest = _read_json(d / "manifest.json", dict)
    hist = _read_json(d / "latency_hist.json", list)
    results = summary.get("results")
    if not isinstance(summary.get("scenario"), dict) or not isinstance(results, list):
        raise TwinError(f"{d / 'summary.json'}: not a twin run summary (no scenario or results)")
    for i, r in enumerate(results):
        if not isinstance(r, dict) or not {"policy", "group"} <= set(r):
            raise TwinError(f"{d / 'summary.json'}: results[{i}] has no policy and group")
    return RunResult(
        summary, _read_csv(d / "nodes.csv"), _read_csv(d / "timeseries.csv"), hist, manifest
    )


def _read_json(path: Path, kind: type) -> Any:
    """One JSON file of a results folder; what is wrong with it, named."""
    try:
        value = json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise TwinError(
            f"{path.parent}: not a complete twin results directory ({path.name} missing)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TwinError(f"{path}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise TwinError(
            f"{path}:{exc.lineno}: damaged JSON ({exc.msg}, column {exc.colno})"
        ) from None
    if not isinstance(value, kind):
        raise TwinError(f"{path}: expected a JSON {kind.__name__}, found a {type(value).__name__}")
    return value


def _read_csv(path: Path) -> list[dict]:
    """One CSV table of a results folder: every row as long as the header, values typed."""
    rows = []
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            for row in reader:
                if None in row or None in row.values():  # a row longer or shorter than the header
                    raise TwinError(
                        f"{path}:{reader.line_num}: damaged table: {len(reader.fieldnames)} "
                        "columns in the header, not in this row"
                    )
                rows.append({k: _cell(v) for k, v in row.items()})
    except FileNotFoundError:
        raise TwinError(
            f"{path.parent}: not a complete twin results directory ({path.name} missing)"
        ) from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise TwinError(f"{path}: cannot read: {exc}") from None
    return rows


def write_report(result: RunResult, path: str | Path) -> Path:
    """Render the HTML report of ``result`` to ``path`` (atomically: all or nothing)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(_render(result))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


IMAGE_FORMATS = ("png", "svg")
# events.csv holds a row per sample (and per delivery): a few hundred bytes each.
MAX_EVENT_SAMPLES = 2_000_000


def _require_kaleido() -> None:
    try:
        import kaleido  # noqa: F401
    except ImportError:
        raise TwinError(
            "static images need kaleido: pip install kaleido (it drives an installed "
            "Chrome or Chromium; nothing is downloaded)"
        ) from None


def write_images(
    result: RunResult, directory: str | Path, formats: tuple[str, ...] = IMAGE_FORMATS
) -> list[Path]:
    """Write every report figure as a static image: ``directory/plot-*.png`` and ``.svg``.

    Needs kaleido and a Chrome or Chromium on the machine (Debian: ``chromium``).
    """
    _require_kaleido()
    import plotly.io as pio

    from twin.report import report_figures

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    report_summary = {**result.summary, **result.manifest}
    figs = report_figures(report_summary, result.timeseries, result.latency_hist, result.nodes)
    paths, batch = [], []
    for plot_id, fig in figs.items():
        for fmt in formats:
            paths.append(directory / f"{plot_id}.{fmt}")
            batch.append(fig)
    try:
        # One browser session for all figures (a session per image costs seconds each).
        pio.write_images(batch, paths, width=1000, height=500)
    except Exception as exc:  # kaleido raises its own types when no browser is found
        raise TwinError(f"could not render static images: {exc}") from None
    return paths


def _write_parquet(path: Path, rows: list[dict]) -> bool:
    """Write ``rows`` as Parquet when pyarrow is installed (returns whether it did)."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return False
    pq.write_table(pa.Table.from_pylist(rows), path)
    return True


def write_results(
    result: RunResult, out: str | Path, images: bool = False, events: bool = False,
    telemetry: str | None = None,
) -> Path:  # fmt: skip
    """Write the results directory: summary, tables, latency histograms, manifest, report.

    ``summary.json``, ``nodes.csv``, ``timeseries.csv``, ``latency_hist.json``,
    ``manifest.json`` and ``report.html``; ``nodes.parquet`` and ``timeseries.parquet`` too
    when pyarrow is installed; ``events.csv`` with ``events=True`` (the run must have
    recorded them: ``run(..., record_events=True)``); ``images/plot-*.png|svg`` with
    ``images=True`` (needs kaleido); ``telemetry/<policy>.<format>`` with ``telemetry`` one
    of :data:`twin.telemetry.formats.FORMATS` (the run must have kept its uplinks:
    ``run(..., telemetry=True)``).

    ``out`` must be new, empty, or a results folder twin wrote (it is replaced whole); any
    other folder, a file, the working directory and the like are refused before anything is
    written (:mod:`twin.results.outdir` has the rules). Files are written to a temporary
    folder next to ``out`` and swapped into place in one step, so an interrupted write leaves
    the previous results or the new ones, never a mixture or nothing.

    Raises
    ------
    TwinError
        If ``out`` is refused (``OutputDirError``, saying why and what to do), or writing fails.
    """
    from twin.results import outdir

    out = Path(out)
    if images:
        _require_kaleido()  # before anything is written
    if events and result.events is None:
        raise TwinError("no events recorded: run with record_events=True (twin run --events)")
    if telemetry is not None:
        from twin.telemetry.formats import check_format

        check_format(telemetry)
        if result.uplinks is None:
            raise TwinError("no uplinks kept: run with telemetry=True (twin run --telemetry)")
    scenario_file = (result.summary.get("scenario") or {}).get("file")
    # The format marker tells a later write that this folder is twin's to replace.
    manifest = outdir.mark_manifest(result.manifest)
    with outdir.staged(out, inputs=[scenario_file] if scenario_file else ()) as tmp:
        (tmp / "summary.json").write_text(json.dumps(result.summary, indent=2) + "\n")
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        _write_csv(tmp / "nodes.csv", result.nodes)
        _write_csv(tmp / "timeseries.csv", result.timeseries)
        _write_parquet(tmp / "nodes.parquet", result.nodes)
        _write_parquet(tmp / "timeseries.parquet", result.timeseries)
        if events:
            _write_csv(tmp / "events.csv", result.events)
        (tmp / "latency_hist.json").write_text(json.dumps(result.latency_hist) + "\n")
        (tmp / "report.html").write_text(_render(result))
        if images:
            write_images(result, tmp / "images")
        if telemetry is not None:
            from twin.telemetry.formats import write_policies

            write_policies(result.uplinks, tmp / outdir.TELEMETRY_DIR, telemetry)
    return out


def profile(
    model: str | Path, board: str, runtime: str | None = None, frontend_ops: float | None = None
):
    """Cost of one inference of a model (an ONNX or TFLite file, or a zoo name) on a board.

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
    graph = _graph_cost(path)
    if graph.unsupported_ops:
        raise ScenarioError(
            f"ops the cost model cannot price: {', '.join(graph.unsupported_ops)}", str(path)
        )
    b = load_profile("board", board)
    rt = load_profile("runtime", runtime or b.default_runtime)
    return graph, inference_cost(graph, b, rt, frontend_ops=ops)


def _graph_cost(path: Path):
    """The static cost of the graph in ``path``, read by the parser its suffix names."""
    suffix = path.suffix.lower()
    if suffix == ".tflite":
        try:
            from twin.physics.tflite_graph import analyse_tflite
        except ImportError:
            raise ScenarioError(
                "reading .tflite files needs LiteRT: pip install 'twin[tflite]'", str(path)
            ) from None
        reader, what = analyse_tflite, "TFLite"
    elif suffix == ".onnx":
        from twin.physics.graph import analyse_graph

        reader, what = analyse_graph, "ONNX"
    else:
        from twin.ml.load import SUFFIX_HELP

        raise ScenarioError(SUFFIX_HELP, str(path))
    try:
        return reader(str(path))
    except ScenarioError as exc:
        raise ScenarioError(exc.message, str(path)) from None
    except Exception as exc:  # the parsers raise many types for corrupt files
        raise ScenarioError(f"cannot read {what} model: {exc}", str(path)) from None
