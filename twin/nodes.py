"""A group's own nodes: a CSV table of the devices a fleet actually has (``groups.<g>.nodes``).

Without it a group's nodes are drawn from the seed (positions uniform on the site, phases
uniform over the period, links from the propagation model). With it, each row is one device
and every column given replaces the drawn figure for it:

========================  =================================================================
``device``                the device's name (required; unique)
``dev_eui``               its DevEUI, 16 hex digits
``x_m``, ``y_m``          its position on the site [m] (both or neither)
``phase_s``               when in its period it reports [s from t = 0, < the period]; a
                          node reading more often than it decides keeps this modulo its
                          reading period, and which reading it decides on is drawn
``spreading_factor``      its LoRa spreading factor (7-12; empty: the group's setting)
``state_of_charge``       its battery's charge at t = 0, as a fraction of capacity (0-1]
``rx_dbm:<gateway id>``   the received power of its uplinks at that gateway [dBm]; one
                          column per gateway of the scenario, empty where it is not heard.
                          Measured links replace path loss and shadowing.
========================  =================================================================

``twin calibrate`` writes such a table from a deployed fleet's telemetry.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from twin.errors import ScenarioError
from twin.strict_yaml import read_text

RX_PREFIX = "rx_dbm:"
_KNOWN = ("device", "dev_eui", "x_m", "y_m", "phase_s", "spreading_factor", "state_of_charge")
EUI = re.compile(r"[0-9A-Fa-f]{16}")


@dataclass(frozen=True)
class NodeTable:
    """A group's devices, one entry per node (None: the column was not given).

    ``rx_dbm`` is (nodes, gateways) in the scenario's gateway order, ``-inf`` where a
    gateway does not hear the node; ``spreading_factor`` is 0 where the group's setting holds.
    """

    file: str
    device: tuple[str, ...]
    dev_eui: tuple[str, ...] | None = None
    x_m: np.ndarray | None = None
    y_m: np.ndarray | None = None
    phase_s: np.ndarray | None = None
    spreading_factor: np.ndarray | None = None
    state_of_charge: np.ndarray | None = None
    rx_dbm: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.device)

    def ordered_by_phase(self) -> NodeTable:
        """The rows in phase order (the engine keeps a group's nodes sorted by phase)."""
        if self.phase_s is None:
            return self
        order = np.argsort(self.phase_s, kind="stable")

        def pick(v):
            if v is None:
                return None
            return tuple(np.asarray(v, dtype=object)[order]) if isinstance(v, tuple) else v[order]

        return NodeTable(
            self.file, pick(self.device), pick(self.dev_eui), pick(self.x_m), pick(self.y_m),
            pick(self.phase_s), pick(self.spreading_factor), pick(self.state_of_charge),
            pick(self.rx_dbm),
        )  # fmt: skip


def load_nodes(
    path: Path, key_path: str, scenario_file: str | None, gateways: list[str],
    period_s: float, site_m: tuple[float, float],
) -> NodeTable:  # fmt: skip
    """Read and check a node table; errors name the file, the line and the column.

    Parameters
    ----------
    path : Path
        The CSV file.
    key_path : str
        The scenario key that names it (``groups.soil.nodes``), for errors about the file.
    scenario_file : str, optional
        The scenario file, for errors about the key.
    gateways : list of str
        The scenario's gateway ids, in order (the ``rx_dbm:`` columns must match them).
    period_s : float
        The group's reading period (phases must lie within it) [s].
    site_m : tuple of float
        Site width and height (positions must lie on it) [m].
    """
    if not path.is_file():
        raise ScenarioError(
            f"node table not found: {path} (a CSV with a 'device' column, one row per node)",
            scenario_file, key_path,
        )  # fmt: skip
    file = str(path)
    rows = list(csv.reader(io.StringIO(read_text(path, "node table"))))
    if not rows or "device" not in rows[0]:
        raise ScenarioError(
            "expected a header row naming a 'device' column (and any of "
            f"{', '.join(_KNOWN[1:])}, {RX_PREFIX}<gateway id>)", file, line=1,
        )  # fmt: skip
    header = [h.strip() for h in rows[0]]
    _check_header(header, gateways, file)
    body = [(i + 2, r) for i, r in enumerate(rows[1:]) if any(c.strip() for c in r)]
    if not body:
        raise ScenarioError("the node table has no rows (one per node expected)", file, line=2)
    for line, r in body:
        if len(r) != len(header):
            raise ScenarioError(
                f"expected {len(header)} cells as in the header, got {len(r)}", file, line=line
            )
    col = {h: [(line, r[i].strip()) for line, r in body] for i, h in enumerate(header)}
    return _table(file, col, gateways, period_s, site_m)


def _check_header(header: list[str], gateways: list[str], file: str) -> None:
    unknown = [h for h in header if h not in _KNOWN and not h.startswith(RX_PREFIX)]
    if unknown:
        raise ScenarioError(
            f"unknown column {unknown[0]!r}: expected {', '.join(_KNOWN)} or "
            f"{RX_PREFIX}<gateway id>", file, line=1,
        )  # fmt: skip
    if len(set(header)) != len(header):
        raise ScenarioError("a column is named twice in the header", file, line=1)
    if ("x_m" in header) != ("y_m" in header):
        raise ScenarioError("give both x_m and y_m, or neither", file, line=1)
    rx = [h[len(RX_PREFIX) :] for h in header if h.startswith(RX_PREFIX)]
    if rx and sorted(rx) != sorted(gateways):
        raise ScenarioError(
            f"{RX_PREFIX} columns are for gateways {sorted(rx)}, but the scenario has "
            f"{sorted(gateways)}: give one column per gateway (empty where not heard)",
            file, line=1,
        )  # fmt: skip


def _numbers(cells, name: str, file: str, lo, hi, empty=None) -> np.ndarray:
    """A numeric column, each cell within [lo, hi] (``empty``: the value of an empty cell)."""
    out = np.empty(len(cells))
    for i, (line, c) in enumerate(cells):
        if c == "" and empty is not None:
            out[i] = empty
            continue
        try:
            v = float(c)
        except ValueError:
            v = np.nan
        if not (lo <= v <= hi):
            raise ScenarioError(
                f"{name}: expected a number from {lo:g} to {hi:g}, got {c!r}", file, line=line
            )
        out[i] = v
    return out


def _table(file, col, gateways, period_s, site_m) -> NodeTable:
    names = [c for _, c in col["device"]]
    for line, c in col["device"]:
        if not c:
            raise ScenarioError("device: every row needs a device name", file, line=line)
    seen: dict[str, int] = {}
    for line, c in col["device"]:
        if c in seen:
            raise ScenarioError(f"device {c!r} is listed twice (also line {seen[c]})", file, line)
        seen[c] = line
    eui = None
    if "dev_eui" in col:
        for line, c in col["dev_eui"]:
            if not EUI.fullmatch(c):
                raise ScenarioError(f"dev_eui: expected 16 hex digits, got {c!r}", file, line)
        eui = tuple(c.upper() for _, c in col["dev_eui"])
    x = y = phase = sf = soc = rx = None
    if "x_m" in col:
        x = _numbers(col["x_m"], "x_m", file, 0.0, site_m[0])
        y = _numbers(col["y_m"], "y_m", file, 0.0, site_m[1])
    if "phase_s" in col:
        phase = _numbers(col["phase_s"], "phase_s", file, 0.0, np.nextafter(period_s, 0))
    if "spreading_factor" in col:
        sf = _numbers(col["spreading_factor"], "spreading_factor", file, 7, 12, empty=0)
        bad = [(line, c) for line, c in col["spreading_factor"] if c and float(c) % 1]
        if bad:
            raise ScenarioError(
                f"spreading_factor: expected 7-12, got {bad[0][1]!r}", file, bad[0][0]
            )
        sf = sf.astype(np.int64)
    if "state_of_charge" in col:
        soc = _numbers(col["state_of_charge"], "state_of_charge", file, 1e-9, 1.0)
    if any(f"{RX_PREFIX}{g}" in col for g in gateways):
        rx = np.column_stack([
            _numbers(col[f"{RX_PREFIX}{g}"], f"{RX_PREFIX}{g}", file, -200.0, 30.0, empty=-np.inf)
            for g in gateways
        ])  # fmt: skip
    return NodeTable(file, tuple(names), eui, x, y, phase, sf, soc, rx).ordered_by_phase()
