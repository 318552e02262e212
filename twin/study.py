"""What-if studies: one base scenario, parameter axes, seeds; many runs, one tidy table.

A study file (YAML) names a base scenario, the fixed changes made to it, the parameters to vary
(by dotted path, as :meth:`twin.Scenario.with_overrides` takes them), how to combine them
(``grid``, ``random`` or ``lhs``), the seeds, and the metrics to keep::

    name: farm_period_sf
    scenario: ../scenarios/farm.yaml
    overrides: {world.horizon_days: 7}

Parameters
----------
      groups.soil.sampling_period_s: [300, 900, 1800]
      groups.soil.spreading_factor: {start: 7, stop: 10, step: 1}
    seeds: [1, 2, 3]
    metrics: [battery_life_days.median, latency_s.p95, decision.f1]

Every run is a pure function of its scenario and seed, so the table is the same whichever
executor runs it (in-process, a local process pool, or Dask) and however many workers. Runs
are appended to ``runs.jsonl`` as they finish; ``resume`` skips the runs already there. A run
that raises is recorded with its error and the study goes on.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    model_validator,
)

from twin.errors import ScenarioError, TwinError
from twin.results.study_table import DEFAULT_METRICS, PARAM_PREFIX, PARETO_METRICS

# --------------------------------------------------------------------------- the study file


# A study plans every run before the first one starts: past this many, planning alone
# takes hours (each configuration is compiled) and the table would not fit a report.
MAX_RUNS = 1_000_000


class _Strict(BaseModel):
    # As the scenario's: a boolean is not a number (seeds: [true, false]), floats are finite.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class RangeAxis(_Strict):
    """Evenly spaced values from ``start`` to ``stop`` inclusive."""

    start: float
    stop: float
    step: float = Field(gt=0)

    @model_validator(mode="after")
    def _sized(self) -> RangeAxis:
        if self.stop < self.start:
            raise ValueError(f"stop ({self.stop:g}) is below start ({self.start:g})")
        if self.count > MAX_RUNS:
            raise ValueError(
                f"{{start, stop, step}} gives {self.count:,.0f} values, over the limit of "
                f"{MAX_RUNS:,} runs; use a larger step"
            )
        return self

    @property
    def count(self) -> float:
        """How many values (a float: a step of 1e-12 gives more than an int should hold)."""
        return np.floor((self.stop - self.start) / self.step + 1e-9) + 1

    def values(self) -> list[float | int]:
        """The values, as integers when start and step are whole numbers."""
        n = int(self.count)
        vals = [self.start + i * self.step for i in range(n)]
        integral = all(float(v).is_integer() for v in (self.start, self.step))
        return [int(round(v)) if integral else round(v, 12) for v in vals]


class IntervalAxis(_Strict):
    """A continuous interval, sampled by ``random`` or ``lhs`` (not by ``grid``)."""

    low: float
    high: float
    log: bool = Field(False, description="Sample uniformly in log space (low > 0).")
    integer: bool = Field(False, description="Round samples to integers.")

    @model_validator(mode="after")
    def _ordered(self) -> IntervalAxis:
        if not self.high > self.low:
            raise ValueError("high must be greater than low")
        if self.log and self.low <= 0:
            raise ValueError("a log interval needs low > 0")
        return self

    def at(self, u: np.ndarray) -> list:
        """Values at quantiles ``u`` in [0, 1)."""
        if self.log:
            x = np.exp(np.log(self.low) + u * (np.log(self.high) - np.log(self.low)))
        else:
            x = self.low + u * (self.high - self.low)
        return [int(round(v)) for v in x] if self.integer else [float(v) for v in x]


def _axis_kind(value: Any) -> str:
    # Chosen by shape, so a bad range reports the range's problem, not "should be a list".
    if isinstance(value, IntervalAxis) or (
        isinstance(value, dict) and ("low" in value or "high" in value)
    ):
        return "interval"
    return "range" if isinstance(value, (dict, RangeAxis)) else "list"


_AXIS_TAGS = ("list", "range", "interval")
Axis = Annotated[
    Annotated[Annotated[list[Any], Field(min_length=1)], Tag("list")]
    | Annotated[RangeAxis, Tag("range")]
    | Annotated[IntervalAxis, Tag("interval")],
    Discriminator(_axis_kind),
]


class Seeds(_Strict):
    """``count`` consecutive seeds from ``start``."""

    count: int = Field(ge=1, le=MAX_RUNS)
    start: int = Field(0, ge=0)


class StudySpec(_Strict):
    """A study: base scenario, parameter axes, sampling, seeds and metrics."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    scenario: str = Field(description="Base scenario YAML (relative to the study file).")
    overrides: dict[str, Any] = Field(
        default_factory=dict, description="Fixed changes to the base scenario, by dotted path."
    )
    parameters: Annotated[dict[str, Axis], Field(min_length=1)]
    sampling: Literal["grid", "random", "lhs"] = "grid"
    samples: int | None = Field(
        None, ge=1, le=MAX_RUNS, description="Configurations drawn (random, lhs)."
    )
    study_seed: int = Field(0, ge=0, description="Seed of the random / Latin-hypercube draw.")
    seeds: Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=1)] | Seeds = [0]
    metrics: list[str] = Field(default_factory=lambda: list(DEFAULT_METRICS))

    @model_validator(mode="after")
    def _sampling_needs(self) -> StudySpec:
        if self.sampling == "grid":
            if self.samples is not None:
                raise ValueError("'samples' is for random or lhs sampling; a grid takes them all")
            cont = [p for p, a in self.parameters.items() if isinstance(a, IntervalAxis)]
            if cont:
                raise ValueError(
                    "a grid cannot take continuous intervals "
                    f"({', '.join('parameters.' + c for c in cont)}): give a "
                    "list or {start, stop, step}, or use sampling: random / lhs"
                )
        elif self.samples is None:
            raise ValueError(f"sampling '{self.sampling}' needs 'samples'")
        runs = self.size * len(self.seed_list)
        if runs > MAX_RUNS:
            raise ValueError(
                f"{self.size:,.0f} configurations x {len(self.seed_list)} seeds = {runs:,.0f} "
                f"runs, over the limit of {MAX_RUNS:,}; use fewer values per parameter, fewer "
                "seeds, or sampling: random / lhs with fewer samples"
            )
        return self

    @property
    def size(self) -> float:
        """Configurations, counted without listing them (a float: a grid can be huge)."""
        if self.sampling != "grid":
            return float(self.samples or 0)
        n = 1.0
        for a in self.parameters.values():
            n *= a.count if isinstance(a, RangeAxis) else len(a)
        return n

    @property
    def seed_list(self) -> list[int]:
        """The seeds, in order."""
        if isinstance(self.seeds, Seeds):
            return list(range(self.seeds.start, self.seeds.start + self.seeds.count))
        return list(self.seeds)

    def configurations(self) -> list[dict[str, Any]]:
        """Parameter values of every configuration, in a fixed order."""
        axes = {
            p: (a.values() if isinstance(a, RangeAxis) else a) for p, a in self.parameters.items()
        }
        if self.sampling == "grid":
            combos: list[dict[str, Any]] = [{}]
            for p, vals in axes.items():
                combos = [{**c, p: v} for c in combos for v in vals]
            return combos
        rng = np.random.default_rng(self.study_seed)
        n = int(self.samples or 0)
        out: list[dict[str, Any]] = [{} for _ in range(n)]
        for p, a in axes.items():
            # Latin hypercube: one draw in each of n equal strata, strata shuffled per axis.
            u = (
                (rng.permutation(n) + rng.uniform(size=n)) / n
                if self.sampling == "lhs"
                else rng.uniform(size=n)
            )
            vals = a.at(u) if isinstance(a, IntervalAxis) else [a[int(x * len(a))] for x in u]
            for c, v in zip(out, vals, strict=True):
                c[p] = v
        return out


def load_study(path: str | Path) -> tuple[StudySpec, Path]:
    """Read and validate a study file; returns the spec and the base scenario's path.

    The file is read as strictly as a scenario (:mod:`twin.strict_yaml`), and errors
    name its line and key the same way.

    Raises
    ------
    ScenarioError
        Unreadable file, invalid YAML, a duplicate key, a bad value, or a base scenario that
        does not exist.
    """
    from twin.config.validation import _explain, _field_names, _user_path
    from twin.strict_yaml import parse, read_text

    path = Path(path)
    data, lines = parse(read_text(path, "study file"), str(path))
    if not isinstance(data, dict):
        raise ScenarioError(
            "a study file is a mapping (name, scenario, parameters, ...)", str(path)
        )
    try:
        spec = StudySpec.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = _user_path(err["loc"])
        if loc[:1] == ("parameters",) and len(loc) > 2 and loc[2] in _AXIS_TAGS:
            loc = loc[:2] + loc[3:]  # the axis kind twin chose is not a key the user wrote
        line = next((lines[loc[:n]] for n in range(len(loc), -1, -1) if loc[:n] in lines), None)
        where = ".".join(str(p) for p in loc)
        message = _explain(err, _field_names(StudySpec), set(StudySpec.model_fields))
        raise ScenarioError(message, str(path), where or None, line) from None
    scenario = (path.parent / spec.scenario).resolve()
    if not scenario.is_file():
        raise ScenarioError(f"base scenario not found: {scenario}", str(path), "scenario")
    return spec, scenario


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class RunTask:
    """One run of a study: a configuration and a seed (everything a worker needs)."""

    run: str
    config: int
    seed: int
    params: dict[str, Any]
    scenario: dict  # the base scenario with fixed and varied overrides, as plain data
    base_dir: str
    key: str = field(default="")
    allow_outside_policies: bool = False


def _key(params: dict, seed: int, base_digest: str) -> str:
    blob = json.dumps({"p": params, "s": seed, "b": base_digest}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def plan(
    spec: StudySpec,
    scenario_path: Path,
    study_file: str | None = None,
    allow_outside_policies: bool = False,
) -> list[RunTask]:
    """Every run of the study, each validated before anything runs.

    Raises
    ------
    ScenarioError
        If the base scenario is invalid, or an override or parameter value does not fit it
        (the key path names ``overrides.X`` or ``parameters.X``).
    """
    from twin.compile import compile_scenario
    from twin.config.loader import load_scenario

    base = load_scenario(scenario_path)
    try:
        base = base.with_overrides(spec.overrides)
    except ScenarioError as exc:
        raise ScenarioError(exc.message, study_file, f"overrides.{exc.key_path}") from None
    digest = base.digest()
    tasks = []
    n_conf = len(spec.configurations())
    width = len(str(max(n_conf - 1, 1)))
    for ci, params in enumerate(spec.configurations()):
        try:
            sc = base.with_overrides(params)
            # Profiles, models, policies and their constraints too, through the same compile
            # stage a run uses: a bad value fails here, not in every run of the study.
            compile_scenario(
                sc, base_dir=scenario_path.parent, allow_outside_policies=allow_outside_policies
            )
        except ScenarioError as exc:
            raise _blame(exc, params, spec.overrides, study_file) from None
        data = sc.model_dump(mode="json", exclude_unset=True, by_alias=True)
        for seed in spec.seed_list:
            tasks.append(
                RunTask(
                    run=f"c{ci:0{width}d}-s{seed}",
                    config=ci,
                    seed=seed,
                    params=params,
                    scenario=data,
                    base_dir=str(scenario_path.parent),
                    key=_key(params, seed, digest),
                    allow_outside_policies=allow_outside_policies,
                )
            )
    return tasks


def _blame(
    exc: ScenarioError, params: dict, overrides: dict, study_file: str | None
) -> ScenarioError:
    """Name the study key behind a configuration's error: a parameter, an override, or none.

    The compile stage's key path may go deeper than the parameter (into a union member) or
    name a list item as ``policies[0]``; the longest parameter, then override, that is a
    prefix of it takes the blame.
    """
    key = re.sub(r"\[(\d+)\]", r".\1", exc.key_path or "")

    def owner(paths) -> str | None:
        hits = [p for p in paths if key == p or key.startswith(p + ".")]
        return max(hits, key=len) if hits else None

    param = owner(params)
    if param is not None:
        where, extra = f"parameters.{param}", f" (value {params[param]!r})"
    elif (fixed := owner(overrides)) is not None:
        where, extra = f"overrides.{fixed}", ""
    else:  # the base scenario's own key, failing under this configuration's values
        given = ", ".join(f"{k}={v!r}" for k, v in params.items())
        where, extra = key or None, f" (with {given})" if given else ""
    return ScenarioError(f"{exc.message}{extra}", study_file, where)


def check_budget(spec: StudySpec, scenario_path: Path, study_file: str | None = None):
    """Check every configuration's run budget before the study plans or runs anything.

    Returns the estimate of the largest configuration (by memory, then node-samples).
    Configurations whose overrides do not validate are left to :func:`plan`, which names
    the study key at fault.

    Raises
    ------
    ScenarioError
        A configuration too large to run (a :class:`twin.budget.BudgetError` blamed on the
        parameter or override behind it).
    """
    from twin.budget import BudgetError, check
    from twin.config.loader import load_scenario

    try:
        base = load_scenario(scenario_path).with_overrides(spec.overrides)
    except ScenarioError:
        return None  # plan() reports it, naming the override
    largest = None
    for params in spec.configurations():
        try:
            sc = base.with_overrides(params)
        except ScenarioError:
            continue
        try:
            cost = check(sc)
        except BudgetError as exc:
            raise _blame(exc, params, spec.overrides, study_file) from None
        if largest is None or (cost.memory_bytes, cost.node_samples) > (
            largest.memory_bytes, largest.node_samples,
        ):  # fmt: skip
            largest = cost
    return largest


# --------------------------------------------------------------------------- one run


def run_task(task: RunTask) -> dict:
    """Run one task; never raises for a failing run (the error is recorded instead).

    Module-level so that process pools and Dask workers can import it.
    """
    from twin.api import run

    started = time.perf_counter()
    try:
        # The study checked every configuration's budget before the first run (or was
        # told not to): the run does not check again.
        result = run(
            task.scenario, seed=task.seed, base_dir=task.base_dir, budget=False,
            allow_outside_policies=task.allow_outside_policies,
        )  # fmt: skip
        records, status, error = result.records(), "ok", None
    except Exception as exc:  # a failed run is a result of the study, not its end
        records, status = [], "error"
        error = f"{type(exc).__name__}: {exc}"
        last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
        if last:
            error += f" ({Path(last[0].filename).name}:{last[0].lineno})"
    return {
        "key": task.key,
        "run": task.run,
        "config": task.config,
        "seed": task.seed,
        "params": task.params,
        "status": status,
        "error": error,
        "records": records,
        "wall_time_s": time.perf_counter() - started,
    }


# --------------------------------------------------------------------------- executors


def _in_process(tasks: list[RunTask], on_done: Callable[[dict], None], **_: Any) -> None:
    for t in tasks:
        on_done(run_task(t))


def _process_pool(
    tasks: list[RunTask], on_done: Callable[[dict], None], workers: int | None = None, **_: Any
) -> None:
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # spawn: a fresh interpreter per worker (no inherited onnxruntime threads or locks).
    pool = ProcessPoolExecutor(
        max_workers=workers or os.cpu_count(), mp_context=mp.get_context("spawn")
    )
    try:
        futures = [pool.submit(run_task, t) for t in tasks]
        for f in as_completed(futures):
            on_done(f.result())
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()


def _dask(
    tasks: list[RunTask],
    on_done: Callable[[dict], None],
    scheduler: str | None = None,
    dask_local: int | None = None,
    **_: Any,
) -> None:
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise TwinError("Dask is not installed: pip install 'twin[dask]'") from None
    cluster = None
    if scheduler is None:
        # Loopback only, one single-threaded process per worker, no dashboard, and TLS.
        cluster = LocalCluster(
            n_workers=dask_local or os.cpu_count(), threads_per_worker=1, processes=True,
            host="127.0.0.1", dashboard_address=None,
            # Mutual TLS with temporary self-signed credentials (distributed's documented
            # mechanism, needs `cryptography`): other local users cannot submit work.
            security=True,
        )  # fmt: skip
    try:
        with Client(scheduler or cluster) as client:
            futures = client.map(run_task, tasks, pure=False)
            for f in as_completed(futures):
                on_done(f.result())
    except OSError as exc:
        raise TwinError(f"cannot reach the Dask scheduler {scheduler}: {exc}") from None
    finally:
        if cluster is not None:
            cluster.close()


EXECUTORS: dict[str, Callable[..., None]] = {
    "inprocess": _in_process,
    "process": _process_pool,
    "dask": _dask,
}


# --------------------------------------------------------------------------- the study


@dataclass
class StudyResult:
    """A finished (or resumed) study: its table, as flat rows, and where it lives."""

    spec: StudySpec
    rows: list[dict]
    directory: Path | None
    summary: dict

    def frame(self):
        """The study table as a pandas DataFrame (needs pandas)."""
        from twin.api import _frame

        return _frame(self.rows)


def _read_done(path: Path) -> dict[str, dict]:
    """Finished runs by key, from the journal a study appends to.

    A last line cut short (no newline: the study was killed while writing it) is dropped,
    and that run runs again. Any other line that is not a run record means the file was
    edited or damaged: an error naming the file and line, rather than a study resumed on
    half its runs or a crash later.

    Raises
    ------
    TwinError
        A damaged line (which one, what is wrong, how to go on), or an unreadable file.
    """
    done: dict[str, dict] = {}
    if not path.exists():
        return done
    try:
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TwinError(f"{path}: cannot read the study's run journal: {exc}") from None
    lines = text.split("\n")
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        torn = i == len(lines)  # the file does not end with a newline after this line
        try:
            rec = json.loads(line)
            problem = _record_problem(rec)
        except json.JSONDecodeError as exc:
            problem = f"not JSON ({exc.msg}, column {exc.colno})"
        if problem is not None and torn:
            continue
        if problem is not None:
            raise TwinError(
                f"{path}:{i}: damaged run record: {problem}; delete that line (its run runs "
                "again with --resume), or start the study in a new --out folder"
            )
        done[rec["key"]] = rec
    return done


# What a journal line holds, as run_task writes it.
_RECORD_TYPES = {"key": str, "run": str, "config": int, "seed": int, "params": dict,
                 "status": str, "records": list}  # fmt: skip


def _record_problem(rec: Any) -> str | None:
    """What is wrong with one journal record, or None."""
    if not isinstance(rec, dict):
        return "not a JSON object"
    for key, kind in _RECORD_TYPES.items():
        if not isinstance(rec.get(key), kind) or isinstance(rec.get(key), bool):
            return f"'{key}' is missing or not a {kind.__name__}"
    if rec["status"] not in ("ok", "error"):
        return f"'status' is {rec['status']!r}, not 'ok' or 'error'"
    if not all(isinstance(r, dict) for r in rec["records"]):
        return "'records' holds something other than objects"
    return None


def _read_meta(path: Path) -> dict:
    """The study folder's study.json (which study its runs belong to)."""
    try:
        meta = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TwinError(
            f"{path}: damaged ({exc}); it says which study the folder holds: restore it, or "
            "use another --out"
        ) from None
    if not isinstance(meta, dict):
        raise TwinError(f"{path}: damaged (not a JSON object); restore it, or use another --out")
    return meta


def table_rows(spec: StudySpec, tasks: list[RunTask], done: dict[str, dict]) -> list[dict]:
    """One row per run x policy x group (one row for a failed run), in plan order."""
    metrics = list(dict.fromkeys([*spec.metrics, *PARETO_METRICS]))
    rows = []
    for t in tasks:
        rec = done.get(t.key)
        if rec is None:
            continue
        base = {"run": t.run, "config": t.config, "seed": t.seed, "status": rec["status"],
                "error": rec["error"]}  # fmt: skip
        params = {f"{PARAM_PREFIX}{p}": v for p, v in t.params.items()}
        if rec["status"] != "ok":
            rows.append({**base, "policy": None, "group": None, **params,
                         **dict.fromkeys(metrics)})  # fmt: skip
            continue
        for r in rec["records"]:
            rows.append({**base, "policy": r["policy"], "group": r["group"], **params,
                         **{m: r.get(m) for m in metrics}})  # fmt: skip
    return rows


def _unknown_metrics(spec: StudySpec, done: dict[str, dict]) -> list[str]:
    known: set[str] = set()
    for rec in done.values():
        for r in rec["records"]:
            known.update(r)
    return [m for m in spec.metrics if known and m not in known]


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _csv_text(rows: list[dict]) -> str:
    import io

    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return buf.getvalue()


def run_study(
    study: str | Path | StudySpec,
    out: str | Path | None = None,
    executor: str = "process",
    workers: int | None = None,
    scheduler: str | None = None,
    dask_local: int | None = None,
    resume: bool = False,
    progress: Callable[[int, int, int], None] | None = None,
    scenario_path: str | Path | None = None,
    budget: bool = True,
    allow_outside_policies: bool = False,
) -> StudyResult:
    """Run a study; write ``runs.jsonl`` as runs finish, then ``study.csv`` and the report.

    Parameters
    ----------
    study : path or StudySpec
        A study file, or a spec (then give ``scenario_path``).
    out : path, optional
        Study directory (default ``results/<study name>``). ``None`` with a spec and no
        ``out``: nothing is written.
    executor : {"process", "inprocess", "dask"}
        Where runs go: a local process pool (``workers`` processes, default all cores), this
        process, or Dask (``scheduler`` address, or a loopback LocalCluster of ``dask_local``
        workers).
    resume : bool
        Keep the runs already in ``out/runs.jsonl`` and run only the others. Without it, an
        existing study directory is refused (nothing is overwritten).
    progress : callable, optional
        Called as ``progress(done, total, failed)`` after each run.
    budget : bool
        Refuse the study if one configuration would not fit the machine
        (:func:`check_budget`); False runs every configuration regardless.
    allow_outside_policies : bool
        Run policy modules that lie outside the scenario's folder (refused by default).

    Raises
    ------
    ScenarioError
        Invalid study file, base scenario, override or parameter value (before any run).
    TwinError
        Study directory exists without ``resume``, or belongs to a different study.
    """
    file = None
    if isinstance(study, StudySpec):
        spec = study
        if scenario_path is None:
            raise TwinError("a StudySpec needs scenario_path (its base scenario file)")
        base_path = Path(scenario_path).resolve()
    else:
        file = str(study)
        spec, base_path = load_study(study)
    if executor not in EXECUTORS:
        raise TwinError(f"unknown executor '{executor}' (one of {', '.join(EXECUTORS)})")
    if budget:
        check_budget(spec, base_path, file)  # before plan(): compiling draws the faults
    tasks = plan(spec, base_path, file, allow_outside_policies)
    plan_hash = hashlib.sha256("".join(t.key for t in tasks).encode()).hexdigest()[:16]

    from twin.api import default_results_dir
    from twin.results.outdir import check_study_dir, make_study_dir

    directory = Path(out) if out is not None else default_results_dir(spec.name)
    runs_path = directory / "runs.jsonl"
    meta_path = directory / "study.json"
    # Only a new or empty folder, or a twin study's own: the study writes files into it.
    inputs = [base_path] + ([file] if file else [])
    if check_study_dir(directory, inputs).is_dir() and any(directory.iterdir()):
        if not resume:
            raise TwinError(
                f"{directory} exists: use --resume to finish that study, or another --out"
            )
        if meta_path.exists() and _read_meta(meta_path).get("plan") != plan_hash:
            raise TwinError(f"{directory} holds a different study (its runs differ from this one)")
    make_study_dir(directory, inputs)
    done = _read_done(runs_path) if resume else {}
    # Rewrite the journal without torn lines before appending to it.
    _write_atomic(runs_path, "".join(json.dumps(r) + "\n" for r in done.values()))
    pending = [t for t in tasks if t.key not in done]
    meta = {"name": spec.name, "file": file, "scenario": str(base_path), "plan": plan_hash,
            "spec": spec.model_dump(mode="json")}  # fmt: skip
    _write_atomic(meta_path, json.dumps(meta, indent=2) + "\n")

    failed = sum(1 for r in done.values() if r["status"] != "ok")
    count = [len(tasks) - len(pending), failed]
    started = time.perf_counter()
    with runs_path.open("a") as journal:

        def on_done(rec: dict) -> None:
            # One line per finished run, flushed to disk: a crash loses at most the runs
            # in flight.
            journal.write(json.dumps(rec) + "\n")
            journal.flush()
            os.fsync(journal.fileno())
            done[rec["key"]] = rec
            count[0] += 1
            count[1] += rec["status"] != "ok"
            if progress is not None:
                progress(count[0], len(tasks), count[1])

        if progress is not None:
            progress(count[0], len(tasks), count[1])
        EXECUTORS[executor](
            pending, on_done, workers=workers, scheduler=scheduler, dask_local=dask_local
        )
    wall = time.perf_counter() - started

    unknown = _unknown_metrics(spec, done)
    if unknown:
        raise ScenarioError(
            f"unknown metric(s) {', '.join(unknown)}; the runs are saved, fix 'metrics' and "
            "run again with --resume (see a run's record keys in runs.jsonl)",
            file,
            "metrics",
        )
    rows = table_rows(spec, tasks, done)
    summary = _summary(spec, base_path, tasks, done, executor, workers, wall)
    _write_atomic(directory / "study.csv", _csv_text(rows))
    _write_atomic(directory / "summary.json", json.dumps(summary, indent=2) + "\n")
    _write_atomic(directory / "report.html", render(summary, rows))
    return StudyResult(spec, rows, directory, summary)


def _summary(spec, base_path, tasks, done, executor, workers, wall) -> dict:
    from twin.api import versions

    return {
        "name": spec.name,
        "scenario": str(base_path),
        "sampling": spec.sampling,
        "parameters": list(spec.parameters),
        "metrics": list(dict.fromkeys([*spec.metrics, *PARETO_METRICS])),
        "seeds": spec.seed_list,
        "runs_planned": len(tasks),
        "runs_failed": sum(1 for t in tasks if done.get(t.key, {}).get("status") == "error"),
        "versions": versions(),
        "wall_time_s": wall,
        "executor": executor if executor != "process" else f"process ({workers or os.cpu_count()})",
    }


def render(summary: dict, rows: list[dict]) -> str:
    """The study report (HTML) from the summary and the table."""
    from twin.report.study import render_study_report

    return render_study_report(summary, rows)
