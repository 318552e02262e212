"""Recordings for the trace world: CSV and Parquet tables read, checked and cached.

A recording is a table with a time column, value columns and optionally a label column
(:mod:`twin.world.trace` says how it is replayed). Reading rules, so that a file means one
thing:

* CSV: the first line that does not start with ``#`` names the columns (``#`` lines anywhere
  are comments: a recording's provenance can travel in its header); a blank line is no row.
* Time: numbers (``time_unit_s`` seconds each) or ISO 8601 timestamps (naive ones are UTC;
  mixing naive and zoned ones is an error); Parquet timestamp columns are read as such. Every
  row needs a time, and time must increase strictly from row to row.
* Values: numbers. An empty cell (or ``nan``, ``NA``, ``null``) is a missing reading: its
  row is dropped and leaves a gap; text is an error, and so is an infinite value.
* Labels: ``0``/``1`` or ``true``/``false`` (a Parquet boolean or integer column); empty drops
  the row like a missing value.
* At least two usable rows (they give the sampling interval).

Each problem is a :class:`twin.errors.ScenarioError` naming the file, the row (CSV: its line),
the parameter that names the column, what was expected and the fix.
"""

from __future__ import annotations

import csv
import difflib
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from twin.errors import ScenarioError

__all__ = ["SUFFIXES", "Recording", "load_recording", "write_csv"]

# File kinds by suffix.
SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
_MISSING_TEXT = {"", "nan", "na", "n/a", "null", "none"}
_LABEL_TEXT = {"0": False, "1": True, "0.0": False, "1.0": True, "false": False, "true": True}


@dataclass(frozen=True, eq=False)
class Recording:
    """One recording, checked and ready to replay.

    Attributes
    ----------
    file : str
        Where it was read from.
    times_s : numpy.ndarray
        ``(m,)`` float64 times of the kept rows after the first one [s], strictly increasing,
        starting at 0.
    values : numpy.ndarray
        ``(m, channels)`` float64 readings of the kept rows.
    labels : numpy.ndarray or None
        ``(m,)`` bool truth of the kept rows, or None without a label column.
    dropped_rows : int
        Rows dropped for an empty or NaN value or label (their readings are missing).
    interval_s : float
        Median time between kept rows [s].
    """

    file: str
    times_s: np.ndarray
    values: np.ndarray
    labels: np.ndarray | None
    dropped_rows: int
    interval_s: float

    @property
    def cycle_s(self) -> float:
        """Period of the replay with ``end: wrap``: last row + one median interval [s]."""
        return float(self.times_s[-1] + self.interval_s)


def load_recording(
    path: str | Path,
    time_column: str,
    columns: tuple[str, ...],
    label_column: str | None = None,
    time_unit_s: float = 1.0,
    file: str | None = None,
    key_path: str = "world.params",
) -> Recording:
    """Read and check one recording (cached while the file is unchanged).

    Parameters
    ----------
    path : str or Path
        The CSV or Parquet file.
    time_column : str
        Column of sample times: numbers (``time_unit_s`` seconds each) or ISO 8601 timestamps.
    columns : tuple of str
        Value columns, in order.
    label_column : str, optional
        Ground-truth column (0/1, true/false).
    time_unit_s : float
        Seconds per unit of a numeric time column [s].
    file : str, optional
        The scenario file, for error messages.
    key_path : str
        Where the trace parameters are in the scenario.

    Returns
    -------
    Recording
        The kept rows, in time order.

    Raises
    ------
    ScenarioError
        A missing column, a value that is not a number, time that does not increase, fewer
        than two usable rows, or a Parquet file without pyarrow.
    """
    path = Path(path).resolve()
    try:
        st = path.stat()
    except OSError:
        raise ScenarioError(f"recording not found: {path}", file, f"{key_path}.files") from None
    key = (time_column, tuple(columns), label_column, float(time_unit_s))
    try:
        return _cached(str(path), st.st_mtime_ns, st.st_size, key)
    except _BadRecording as bad:
        raise ScenarioError(
            f"{path}: {bad.message}", file, f"{key_path}.{bad.key}" if bad.key else key_path
        ) from None


class _BadRecording(Exception):
    """A problem in a recording, before the scenario's file and key are known."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.key = key


@functools.lru_cache(maxsize=64)
def _cached(path: str, mtime_ns: int, size: int, key: tuple) -> Recording:
    # mtime and size are in the key so that an edited file is read again.
    time_column, columns, label_column, time_unit_s = key
    # Each column to read, and the parameter that named it (for the error's key path).
    keys = {time_column: "time_column", **dict.fromkeys(columns, "columns")}
    if label_column:
        keys[label_column] = "label_column"
    if SUFFIXES.get(Path(path).suffix.lower()) == "parquet":
        raw, rows = _read_parquet(path, keys)
    else:
        raw, rows = _read_csv(path, keys)
    t = _times(raw[time_column], rows, time_column, time_unit_s)
    values = np.column_stack([_numbers(raw[c], rows, c) for c in columns])
    labels = _labels(raw[label_column], rows, label_column) if label_column else None
    return _finish(path, t, values, labels, rows)


def _missing_column(name: str, have: list[str], keys: dict[str, str]) -> _BadRecording:
    close = difflib.get_close_matches(name, have, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return _BadRecording(f"no column '{name}' (columns: {', '.join(have)}){hint}", keys[name])


def _read_csv(path: str, keys: dict[str, str]) -> tuple[dict[str, list[str]], _Rows]:
    """The wanted columns as text, and each row's line in the file (lines of '#': comments)."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        text = [(n, line) for n, line in enumerate(fh, 1) if not line.startswith("#")]
    file_line = [n for n, _ in text]
    reader = csv.reader(line for _, line in text)
    header = [h.strip() for h in next(reader, [])]
    if not any(header):
        raise _BadRecording("empty recording: no header row of column names")
    for name in keys:
        if name not in header:
            raise _missing_column(name, header, keys)
    idx = [header.index(name) for name in keys]
    cols: dict[str, list[str]] = {name: [] for name in keys}
    rows = []
    for cells in reader:
        if not any(c.strip() for c in cells):
            continue  # a blank line is not a row
        cells = cells + [""] * (len(header) - len(cells))
        for name, i in zip(keys, idx, strict=True):
            cols[name].append(cells[i].strip())
        # The line the row ended on (reader.line_num counts the non-comment lines read).
        rows.append(file_line[reader.line_num - 1])
    return cols, _Rows("line", np.asarray(rows, dtype=np.int64))


def _read_parquet(path: str, keys: dict[str, str]) -> tuple[dict[str, Any], _Rows]:
    """The wanted columns as numpy arrays (text columns as text), rows numbered from 1."""
    try:
        import pyarrow.compute as pc
        import pyarrow.parquet as pq
    except ImportError:
        raise _BadRecording(
            "reading Parquet needs pyarrow: pip install 'twin[trace]' (or save the recording "
            "as CSV)"
        ) from None
    import pyarrow as pa

    have = pq.read_schema(path).names
    for name in keys:
        if name not in have:
            raise _missing_column(name, have, keys)
    table = pq.read_table(path, columns=list(keys))
    out: dict[str, Any] = {}
    for name in keys:
        col = table.column(name)
        if pa.types.is_timestamp(col.type):
            ns = pc.cast(col, pa.timestamp("ns", col.type.tz)).cast(pa.int64())
            ns = pc.fill_null(ns, np.iinfo(np.int64).min)  # (marks a missing time)
            out[name] = _Timestamps(ns.to_numpy(zero_copy_only=False))
        elif pa.types.is_integer(col.type) or pa.types.is_floating(col.type):
            out[name] = pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False)
        elif pa.types.is_boolean(col.type):
            out[name] = pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False)
        else:
            # Text (an ISO time, "true"/"false") is parsed as in a CSV; nulls are empty.
            out[name] = ["" if v is None else str(v) for v in col.to_pylist()]
    return out, _Rows("row", np.arange(1, table.num_rows + 1, dtype=np.int64))


class _Timestamps(np.ndarray):
    """Nanoseconds since the epoch, from a Parquet timestamp column (nulls: int64 min)."""

    def __new__(cls, ns: np.ndarray) -> _Timestamps:
        return np.asarray(ns, dtype=np.int64).view(cls)


@dataclass(frozen=True, eq=False)
class _Rows:
    """Where each row of a table is, for messages: CSV lines, or Parquet rows from 1."""

    word: str
    numbers: np.ndarray

    def at(self, i: int) -> str:
        return f"{self.word} {int(self.numbers[i])}"


def _numbers(cells: Any, rows: _Rows, name: str) -> np.ndarray:
    """Values of one column as float64: empty and NaN cells are NaN (the row is dropped)."""
    if isinstance(cells, np.ndarray):
        out = np.asarray(cells, dtype=np.float64)
    else:
        out = np.empty(len(cells))
        for i, c in enumerate(cells):
            if c.lower() in _MISSING_TEXT:
                out[i] = np.nan
                continue
            try:
                out[i] = float(c)
            except ValueError:
                raise _BadRecording(
                    f"{rows.at(i)}: column '{name}' holds {c!r}, expected a number (leave the "
                    "cell empty for a missing reading)",
                    "columns",
                ) from None
    bad = np.isinf(out)
    if bad.any():
        i = int(np.argmax(bad))
        raise _BadRecording(f"{rows.at(i)}: column '{name}' is infinite", "columns")
    return out


def _times(cells: Any, rows: _Rows, name: str, unit_s: float) -> np.ndarray:
    """Time column in seconds (numbers x unit, or ISO timestamps); NaN where a cell is empty."""
    if isinstance(cells, _Timestamps):
        ns = np.asarray(cells, dtype=np.int64)
        out = ns.astype(np.float64) / 1e9
        out[ns == np.iinfo(np.int64).min] = np.nan
        return out
    if isinstance(cells, np.ndarray):
        return np.asarray(cells, dtype=np.float64) * unit_s
    try:
        return _numbers(cells, rows, name) * unit_s
    except _BadRecording:
        pass  # not numbers: ISO timestamps
    out = np.empty(len(cells))
    aware = None
    for i, c in enumerate(cells):
        if not c:
            out[i] = np.nan
            continue
        try:
            when = datetime.fromisoformat(c)
        except ValueError:
            raise _BadRecording(
                f"{rows.at(i)}: time {c!r} is neither a number of seconds nor an ISO 8601 "
                "timestamp (2024-06-01T12:00:00)",
                "time_column",
            ) from None
        if aware is None:
            aware = when.tzinfo is not None
        elif aware != (when.tzinfo is not None):
            raise _BadRecording(
                f"{rows.at(i)}: time {c!r} mixes timestamps with and without a time zone",
                "time_column",
            )
        out[i] = (when if aware else when.replace(tzinfo=UTC)).timestamp()
    return out


def _labels(cells: Any, rows: _Rows, name: str) -> np.ndarray:
    """Label column as 0.0 / 1.0, NaN where empty; anything else is an error."""
    if isinstance(cells, np.ndarray):
        out = np.asarray(cells, dtype=np.float64)
        text = None
    else:
        text = [c.lower() for c in cells]
        out = np.array(
            [np.nan if c in _MISSING_TEXT else float(_LABEL_TEXT.get(c, 2.0)) for c in text]
        )
    bad = ~np.isnan(out) & (out != 0.0) & (out != 1.0)
    if bad.any():
        i = int(np.argmax(bad))
        shown = cells[i] if text is not None else out[i]
        raise _BadRecording(
            f"{rows.at(i)}: label column '{name}' holds {shown!r}, expected 0/1 or "
            "true/false (does this column hold ground truth?)",
            "label_column",
        )
    return out


def _when(t_s: float) -> str:
    """A time for a message: seconds, and the UTC date when it looks like an epoch time."""
    text = f"{t_s:.6f}".rstrip("0").rstrip(".") + " s"
    if t_s > 3e8:  # after 1979: an epoch timestamp, not seconds from the recording's start
        text += f" ({datetime.fromtimestamp(t_s, UTC).isoformat(timespec='seconds')})"
    return text


def _finish(
    path: str, t: np.ndarray, values: np.ndarray, labels: np.ndarray | None, rows: _Rows
) -> Recording:
    """Drop rows with a missing reading, check time order, keep times after the first row."""
    no_time = np.isnan(t)
    if no_time.any():
        i = int(np.argmax(no_time))
        raise _BadRecording(f"{rows.at(i)}: no time (every row needs one)", "time_column")
    keep = ~np.isnan(values).any(axis=1)
    if labels is not None:
        keep &= ~np.isnan(labels)
    if keep.sum() < 2:
        raise _BadRecording(
            f"empty recording: {int(keep.sum())} usable rows of {len(t)} (a row needs a time "
            "and every value column; at least two rows give a sampling interval)"
        )
    # Time must increase over every row, kept or not: a row out of order is a broken file.
    step = np.diff(t)
    if (step <= 0).any():
        i = int(np.argmax(step <= 0)) + 1
        raise _BadRecording(
            f"{rows.at(i)}: time {_when(t[i])} does not come after the previous row's "
            f"{_when(t[i - 1])} (sort the recording by time; no two rows at one time)",
            "time_column",
        )
    t = t[keep]
    return Recording(
        file=path,
        times_s=t - t[0],
        values=values[keep],
        labels=None if labels is None else labels[keep] > 0.5,
        dropped_rows=int((~keep).sum()),
        interval_s=float(np.median(np.diff(t))),
    )


def write_csv(
    path: str | Path,
    times_s: np.ndarray,
    values: np.ndarray,
    columns: Sequence[str],
    labels: np.ndarray | None = None,
    time_column: str = "time_s",
    label_column: str = "label",
    comments: Sequence[str] = (),
) -> Path:
    """Write a recording as CSV, readable by :func:`load_recording` value for value.

    Values are written with 9 significant digits, enough for a float32 reading to come back
    bit for bit; times with 17 (a float64 round trip).

    Parameters
    ----------
    path : str or Path
        The file to write (its folder must exist).
    times_s : numpy.ndarray
        ``(m,)`` sample times [s].
    values : numpy.ndarray
        ``(m, len(columns))`` readings.
    columns : sequence of str
        Names of the value columns.
    labels : numpy.ndarray, optional
        ``(m,)`` ground truth, written 0/1.
    time_column, label_column : str
        Names of the time and label columns.
    comments : sequence of str
        Lines written first, each after ``# `` (provenance).

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    values = np.asarray(values).reshape(len(times_s), len(columns))
    with open(path, "w", newline="", encoding="utf-8") as fh:
        for line in comments:
            fh.write(f"# {line}\n")
        out = csv.writer(fh, lineterminator="\n")
        out.writerow([time_column, *columns, *([label_column] if labels is not None else [])])
        for i, t in enumerate(np.asarray(times_s, dtype=np.float64)):
            row = [f"{t:.17g}", *(f"{v:.9g}" for v in values[i])]
            if labels is not None:
                row.append(str(int(bool(labels[i]))))
            out.writerow(row)
    return path
