"""Trace world: your recordings, replayed through the engine as the world the nodes sense.

A recording is a CSV or Parquet table with a time column, the value columns a model reads (the
world's channels, in the order given) and, optionally, a label column: the ground truth the
decisions are scored against. The engine, the models and the policies are those of any other
world; only the signal comes from the files. What happens at every sample is defined here, so
that two runs of one scenario read exactly the same values.

**Node to recording.** ``assignment: per_file`` gives node ``i`` the file ``i mod n_files`` (as
many files as nodes: one recording per node); ``random`` draws each node's file. With
``start_offset: random`` (the default) each node starts at its own offset into its recording,
uniform over the recording's cycle (``end: wrap``) or over the part that still covers the run
(``end: stop``), so that nodes sharing a file do not replay it in lockstep; ``none`` starts every
node at the first row. Both draws come from the run's counter-based world stream, keyed by the
node index: node 7 reads the same file from the same offset whatever the fleet size and seed
order, and the same seed gives the same run.

**Time.** Node ``i`` reads at ``t = phase_s[i] + k * period_s`` with ``k`` from
``-history_samples`` (the readings that fill its model window before ``t = 0``). That reading
is the recording at ``u = offset_i + (k + history_samples) * period_s`` after its first row:
the node's first reading is the first row (plus its offset), its window fills from there and
``t = 0`` (deployment) comes one window later. The node's phase only places its readings in
simulated time, so a recording taken at ``period_s`` is replayed row for row. Readings are
point samples at those positions (a sensor read once per wake-up), never averages over the
period.

**Between rows** (``interpolation``): ``hold`` (the default) gives the last row at or before
``u``, as a device that keeps its last reading; ``linear`` interpolates each value between the
rows either side. The label is always held: the truth at ``u`` is that of the last row.

**Missing readings.** A row with an empty or NaN value (or label) is dropped: the reading is
missing and leaves a gap. A reading that falls strictly inside a gap between kept rows longer
than ``max_gap_s`` (default: 3 x the recording's median interval, so one or two dropped rows are
bridged) is *missing*: it gets the last value before the gap (held, whatever the interpolation:
no value is invented across a long gap), the label held with it, and is counted per node in
:meth:`TraceWorld.replay_counts` (``missing_readings``, deployed readings ``k >= 0`` only).

**The end of a recording** (``end``): ``wrap`` (the default) replays it again from the first
row; the recording is taken as periodic with period ``last - first + median interval``, so the
seam is one ordinary interval (held, or interpolated from the last row to the first). ``stop``:
past the last row the last reading is held and every reading counts as missing and as
``past_end_readings``.

**Without a label column** the truth is False at every sample: the decisions are then scored
as if nothing ever needed acting on, so precision, recall, F1, the confusion counts and the
episodes of a run mean nothing (:func:`trace_labelled` says which case a scenario is in).

Errors a user can fix (a missing file or column, text in a value column, time that goes back,
an empty recording, Parquet without pyarrow) are :class:`twin.errors.ScenarioError` naming
the scenario key, the recording file and row, what was expected and the fix.
"""

from __future__ import annotations

import difflib
import glob
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from twin.errors import ScenarioError
from twin.rng import NodeStream
from twin.world.recording import SUFFIXES, Recording, load_recording

__all__ = [
    "Recording",
    "TraceParams",
    "TraceWorld",
    "load_recording",
    "replay",
    "trace_channels",
    "trace_labelled",
    "trace_params",
]

# Purposes of the group's counter-based world stream used here (each group has a stream of
# its own, so they only need to differ from each other).
_PURPOSE_OFFSET = 101
_PURPOSE_FILE = 102
# max_gap_s by default: gaps up to this many median intervals (two dropped rows) are bridged.
_DEFAULT_GAP_INTERVALS = 3.0
_CHOICES = {
    "assignment": ("per_file", "random"),
    "start_offset": ("random", "none"),
    "interpolation": ("hold", "linear"),
    "end": ("wrap", "stop"),
}


@dataclass(frozen=True)
class TraceParams:
    """Parameters of the trace world (see the module notes for what each one does).

    Attributes
    ----------
    files : tuple of str
        Recording files (``.csv``, ``.parquet``); relative paths are taken from the working
        folder here, from the scenario's folder through :func:`trace_params`.
    time_column : str
        Column of sample times: numbers (``time_unit_s`` seconds each) or ISO 8601 timestamps
        (naive ones read as UTC).
    columns : tuple of str
        Value columns, in the order fed to a model: the world's channels.
    label_column : str or None
        Ground-truth column (0/1, true/false), or None: truth is False everywhere.
    time_unit_s : float
        Seconds per unit of a numeric time column (0.001 for milliseconds) [s].
    assignment : str
        ``per_file`` (node ``i`` gets file ``i mod n_files``) or ``random``.
    start_offset : str
        ``random`` (a seeded offset per node) or ``none`` (every node from the first row).
    interpolation : str
        ``hold`` (last row) or ``linear`` (between the rows either side).
    max_gap_s : float or None
        Longest gap between rows still bridged [s]; None: 3 x the median interval.
    end : str
        ``wrap`` (replay again from the first row) or ``stop`` (hold the last row, missing).
    """

    files: tuple[str, ...] = ()
    time_column: str = "time"
    columns: tuple[str, ...] = ()
    label_column: str | None = None
    time_unit_s: float = 1.0
    assignment: str = "per_file"
    start_offset: str = "random"
    interpolation: str = "hold"
    max_gap_s: float | None = None
    end: str = "wrap"

    def __post_init__(self) -> None:
        # A single path or column given as text means one, not a tuple of characters.
        for name in ("files", "columns"):
            value = getattr(self, name)
            object.__setattr__(self, name, (value,) if isinstance(value, str) else tuple(value))
        problems = _check(self)
        if problems:
            key, message = problems[0]
            raise ValueError(f"{key}: {message}")


def _check(p: TraceParams) -> list[tuple[str, str]]:
    """Problems with parameter values, as (key, what to fix), in key order."""
    out = []
    for key, choices in _CHOICES.items():
        if getattr(p, key) not in choices:
            out.append((key, f"expected one of {', '.join(choices)}, got {getattr(p, key)!r}"))
    if len(set(p.columns)) != len(p.columns):
        out.append(("columns", "a column is listed twice"))
    for key in ("time_column", "label_column"):
        name = getattr(p, key)
        if name is not None and name in p.columns:
            out.append((key, f"'{name}' is also listed in columns (a channel)"))
    if p.label_column is not None and p.label_column == p.time_column:
        out.append(("label_column", "the label column cannot be the time column"))
    for key in ("time_unit_s", "max_gap_s"):
        v = getattr(p, key)
        if v is not None and not (math.isfinite(v) and v > 0):
            out.append((key, f"expected a positive number of seconds, got {v!r}"))
    return out


def trace_channels(params: TraceParams) -> tuple[str, ...]:
    """The channels of a trace world with these parameters: its value columns, in order.

    Parameters
    ----------
    params : TraceParams
        World parameters.

    Returns
    -------
    tuple of str
        ``params.columns``, what one reading holds in the order a model reads it.
    """
    return tuple(params.columns)


def trace_labelled(params: TraceParams) -> bool:
    """Whether a trace world has ground truth (a label column) to score decisions against."""
    return params.label_column is not None


# -- parameters from a scenario -------------------------------------------------------------
def trace_params(
    raw: Mapping[str, Any] | None,
    base_dir: str | Path,
    file: str | None = None,
    key_path: str = "world.params",
) -> TraceParams:
    """Check a scenario's trace parameters, find the files, and read every recording once.

    Every problem is raised here, when the scenario is compiled, not in the middle of a run.

    Parameters
    ----------
    raw : mapping or None
        The scenario's ``world.params`` (``files`` and ``columns`` are required).
    base_dir : str or Path
        Folder relative file names and globs are taken from (the scenario file's).
    file : str, optional
        The scenario file, for error messages.
    key_path : str
        Where the parameters are in the scenario.

    Returns
    -------
    TraceParams
        With ``files`` as absolute paths, globs expanded (sorted).

    Raises
    ------
    ScenarioError
        An unknown or missing key, a bad value, or a recording that cannot be read as asked.
    """
    raw = dict(raw or {})
    known = [f.name for f in fields(TraceParams)]
    for key in raw:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise ScenarioError(
                f"unknown trace parameter; {hint}known: {', '.join(known)}",
                file,
                f"{key_path}.{key}",
            )
    for key in ("files", "columns"):
        if not raw.get(key):
            raise ScenarioError(
                f"the trace world needs {key} ({_REQUIRED[key]})", file, f"{key_path}.{key}"
            )
    _check_types(raw, file, key_path)
    raw["files"] = _find_files(raw["files"], Path(base_dir), file, f"{key_path}.files")
    try:
        params = TraceParams(**raw)
    except ValueError as exc:
        key, _, message = str(exc).partition(": ")
        raise ScenarioError(message, file, f"{key_path}.{key}") from None
    for path in params.files:
        _load(path, params, file, key_path)
    return params


def _load(
    path: str, params: TraceParams, file: str | None = None, key_path: str = "world.params"
) -> Recording:
    """One recording of these parameters (read once while the file is unchanged)."""
    return load_recording(
        path, params.time_column, params.columns, params.label_column, params.time_unit_s,
        file, key_path,
    )  # fmt: skip


_REQUIRED = {
    "files": "a recording's path, a list of paths or a glob, from the scenario's folder",
    "columns": "the value columns, in the order the model reads them",
}


def _check_types(raw: dict, file: str | None, key_path: str) -> None:
    """Types of the raw values (YAML gives text, numbers, lists): clear errors before use."""

    def fail(key: str, expected: str) -> None:
        raise ScenarioError(f"expected {expected}, got {raw[key]!r}", file, f"{key_path}.{key}")

    for key in ("files", "columns"):
        v = raw[key]
        if not (isinstance(v, str) or (isinstance(v, list) and all(isinstance(x, str) for x in v))):
            fail(key, "text or a list of text")
    for key in ("time_column", "assignment", "start_offset", "interpolation", "end"):
        if key in raw and not isinstance(raw[key], str):
            fail(key, "text")
    if raw.get("label_column") is not None and not isinstance(raw["label_column"], str):
        fail("label_column", "a column name (or leave it out: no ground truth)")
    for key in ("time_unit_s", "max_gap_s"):
        v = raw.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int | float)):
            fail(key, "a number of seconds")


def _find_files(spec: str | list[str], base: Path, file: str | None, key: str) -> tuple[str, ...]:
    """Absolute paths of the recordings: each entry a path or a glob, from ``base``."""
    found: list[str] = []
    for i, entry in enumerate([spec] if isinstance(spec, str) else spec):
        where = key if isinstance(spec, str) else f"{key}.{i}"
        pattern = Path(entry).expanduser()
        pattern = pattern if pattern.is_absolute() else base / pattern
        if any(ch in entry for ch in "*?["):
            # The folder is escaped (a '[' in it is no pattern). Sorted: which node gets which
            # file must not depend on the file system's order.
            rel = Path(entry).expanduser()
            where_glob = str(rel) if rel.is_absolute() else f"{glob.escape(str(base))}/{rel}"
            matches = sorted(glob.glob(where_glob))
            if not matches:
                raise ScenarioError(f"no file matches '{entry}' (in {base})", file, where)
        else:
            if not pattern.is_file():
                raise ScenarioError(
                    f"recording not found: {pattern} (paths are taken from the scenario's folder)",
                    file,
                    where,
                )
            matches = [str(pattern)]
        for m in matches:
            if Path(m).suffix.lower() not in SUFFIXES:
                raise ScenarioError(f"{m}: expected a .csv or .parquet recording", file, where)
            m = str(Path(m).resolve())
            if m not in found:
                found.append(m)
    return tuple(found)


# -- replay ---------------------------------------------------------------------------------
def replay(
    rec: Recording, u_s: np.ndarray, interpolation: str, max_gap_s: float | None, end: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The recording at positions ``u_s`` after its first row (the module notes' rules).

    Parameters
    ----------
    rec : Recording
        The recording.
    u_s : numpy.ndarray
        Positions after the first row [s], >= 0.
    interpolation : str
        ``hold`` or ``linear``.
    max_gap_s : float or None
        Longest gap bridged [s]; None: 3 x the recording's median interval.
    end : str
        ``wrap`` or ``stop``.

    Returns
    -------
    values : numpy.ndarray
        ``(len(u_s), channels)`` float64.
    truth : numpy.ndarray
        ``(len(u_s),)`` bool (False everywhere without labels).
    missing : numpy.ndarray
        ``(len(u_s),)`` bool: inside a gap longer than ``max_gap_s``, or past the end.
    past_end : numpy.ndarray
        ``(len(u_s),)`` bool: after the last row with ``end: stop``.
    """
    t, v = rec.times_s, rec.values
    m = len(t)
    u = np.asarray(u_s, dtype=np.float64)
    # A reading this close to a row is on it: times made relative to a first row (an epoch
    # timestamp, a phase) carry rounding errors, and a recording taken at the node's period
    # must replay row for row rather than hold the row before.
    tol = min(1e-6, 1e-3 * rec.interval_s)
    if end == "wrap":
        u = np.mod(u + tol, rec.cycle_s) - tol
        past = np.zeros(u.shape, dtype=bool)
    else:
        past = u > t[-1] + tol
        u = np.minimum(u, t[-1])
    j = np.clip(np.searchsorted(t, u + tol, side="right") - 1, 0, m - 1)
    # The row after j; past the last row it is the first one again, a cycle later (wrap).
    nxt = j + 1
    last = nxt == m
    nxt[last] = 0
    t_next = np.where(last, rec.cycle_s, t[nxt])
    gap = t_next - t[j]
    limit = _DEFAULT_GAP_INTERVALS * rec.interval_s if max_gap_s is None else max_gap_s
    on_row = np.abs(u - t[j]) <= tol
    missing = ((gap > limit) & ~on_row & ~(last & (end == "stop"))) | past
    values = v[j]
    if interpolation == "linear":
        w = (np.maximum(u - t[j], 0.0) / gap)[:, None]
        mixed = v[j] + w * (v[nxt] - v[j])
        # A missing reading keeps the last value: nothing is invented across a long gap.
        values = np.where((missing | on_row | past)[:, None], v[j], mixed)
    truth = rec.labels[j] if rec.labels is not None else np.zeros(len(u), dtype=bool)
    return values, truth, missing, past


class TraceWorld:
    """Recorded readings replayed at each node's sampling times (see the module notes).

    Parameters
    ----------
    params : TraceParams
        Recordings and how to replay them (:func:`trace_params` builds them from a scenario).
    n_nodes : int
        Number of nodes.
    period_s : float
        Sampling period [s].
    phase_s : numpy.ndarray
        First sample time of each node [s] (unused: a node's position in its recording
        counts its readings, see the module notes).
    horizon_s : float
        Simulated horizon [s] (bounds the offsets with ``end: stop``).
    rng : numpy.random.Generator
        Set-up stream (unused: the draws come from ``stream``, keyed by node).
    stream : twin.rng.NodeStream
        Counter-based world stream: each node's file (``assignment: random``) and offset.
    history_samples : int
        Samples taken before ``t = 0`` (they replay the recording's first rows).
    """

    kind = "trace"
    params_type = TraceParams
    description = (
        "your recordings (CSV or Parquet) replayed at each node's sampling times; "
        "label: the recording's label column"
    )
    actuator = None
    # The channels are the recording's value columns (trace_channels(params)); the class has
    # none of its own, each world object sets its own.
    channels: tuple[str, ...] = ()
    # Hooks for the compile stage: parameters from a scenario's world.params, and the
    # channels those parameters give.
    load_params = staticmethod(trace_params)
    channels_for = staticmethod(trace_channels)

    def __init__(
        self,
        params: TraceParams,
        n_nodes: int,
        period_s: float,
        phase_s: np.ndarray,
        horizon_s: float,
        rng: np.random.Generator,
        stream: NodeStream,
        history_samples: int = 0,
    ) -> None:
        if not params.files or not params.columns:
            raise ScenarioError(
                "the trace world needs files and columns (world.params.files, "
                "world.params.columns)",
                None,
                "world.params",
            )
        self.params = params
        self.channels = trace_channels(params)
        self.labelled = trace_labelled(params)
        self.n_nodes = int(n_nodes)
        self.period_s = float(period_s)
        self.history_samples = int(history_samples)
        self.recordings = [_load(f, params) for f in params.files]
        nodes = np.arange(self.n_nodes)
        zero = np.zeros(self.n_nodes, dtype=np.uint64)
        n_files = len(self.recordings)
        if params.assignment == "per_file":
            self.file_of_node = nodes % n_files
        else:
            self.file_of_node = stream.integers(nodes, zero, _PURPOSE_FILE, n_files)
        self.offset_s = np.zeros(self.n_nodes)
        if params.start_offset == "random":
            # The whole cycle with wrap; with stop, only starts that still cover the run.
            need_s = (self.history_samples + 1) * self.period_s + float(horizon_s)
            span = np.array(
                [
                    r.cycle_s if params.end == "wrap" else max(r.times_s[-1] - need_s, 0.0)
                    for r in self.recordings
                ]
            )
            self.offset_s = stream.uniform(nodes, zero, _PURPOSE_OFFSET) * span[self.file_of_node]
        self._k_next = np.full(self.n_nodes, -self.history_samples, dtype=np.int64)
        self.missing_readings = np.zeros(self.n_nodes, dtype=np.int64)
        self.past_end_readings = np.zeros(self.n_nodes, dtype=np.int64)

    def position_s(self, nodes: np.ndarray, k: np.ndarray) -> np.ndarray:
        """Where in its recording node ``nodes`` reads at sample ``k`` (after its first row) [s]."""
        return self.offset_s[nodes] + (k + self.history_samples) * self.period_s

    def observe(self, nodes: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Readings and truth of ``nodes`` at sample indices ``k`` (any order; no counting)."""
        readings, truth, _, _ = self._replay(np.asarray(nodes, np.int64), np.asarray(k))
        return readings, truth

    def _replay(self, nodes: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, ...]:
        p = self.params
        u = self.position_s(nodes, k)
        readings = np.empty((len(nodes), len(self.channels)), dtype=np.float32)
        truth = np.zeros(len(nodes), dtype=bool)
        missing = np.zeros(len(nodes), dtype=bool)
        past = np.zeros(len(nodes), dtype=bool)
        files = self.file_of_node[nodes]
        # One vectorised replay per recording (few files, many nodes).
        for f in np.unique(files):
            sel = files == f
            v, y, m, e = replay(self.recordings[f], u[sel], p.interpolation, p.max_gap_s, p.end)
            readings[sel], truth[sel], missing[sel], past[sel] = v, y, m, e
        return readings, truth, missing, past

    def sample(self, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Take the next sample of each node in ``nodes`` (unique indices).

        Returns
        -------
        readings : numpy.ndarray
            ``(len(nodes), len(columns))`` float32, the recording at the sampling times.
        truth : numpy.ndarray
            ``(len(nodes),)`` bool: the held label (False everywhere without a label column).
        """
        nodes = np.asarray(nodes, dtype=np.int64)
        k = self._k_next[nodes]
        readings, truth, missing, past = self._replay(nodes, k)
        deployed = k >= 0
        np.add.at(self.missing_readings, nodes[missing & deployed], 1)
        np.add.at(self.past_end_readings, nodes[past & deployed], 1)
        self._k_next[nodes] = k + 1
        return readings, truth

    def skip(self, nodes: np.ndarray) -> None:
        """Advance each node by one sample without producing it (the dataset builder's hook)."""
        nodes = np.asarray(nodes, dtype=np.int64)
        self._k_next[nodes] += 1

    def replay_counts(self) -> dict[str, np.ndarray]:
        """Per-node counts since ``t = 0`` of readings the recording did not hold.

        ``missing_readings``: inside a gap longer than ``max_gap_s`` or past the end (the last
        value before was held); ``past_end_readings``: after the last row with ``end: stop``.
        """
        return {
            "missing_readings": self.missing_readings.astype(float),
            "past_end_readings": self.past_end_readings.astype(float),
        }
