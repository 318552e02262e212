"""The uplink table: one row per uplink frame heard by one gateway, as a network server logs it.

Columns are numpy arrays of equal length. A frame heard by two gateways is two rows with the
same ``device``, ``fcnt`` and ``time_s`` (a network server de-duplicates them into one event
whose receptions list both gateways; the readers flatten that back into rows).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, fields

import numpy as np

# Column name -> numpy dtype.
COLUMNS: dict[str, type | str] = {
    "device": object,  # device name (ChirpStack deviceName, TTS device_id)
    "dev_eui": object,  # 16 hex digits, upper case ("" when the source has none)
    "time_s": np.float64,  # when the network server received it [s since 1970-01-01 UTC]
    "fcnt": np.int64,  # uplink frame counter
    "sf": np.int64,  # spreading factor 7..12
    "bandwidth_hz": np.float64,
    "frequency_hz": np.float64,
    "gateway": object,  # gateway id
    "rssi_dbm": np.float64,
    "snr_db": np.float64,
    "battery_v": np.float64,  # from the decoded payload; NaN when not reported
}


def utc_text(t_s: float) -> str:
    """POSIX seconds as an RFC 3339 UTC timestamp to the second (``2026-09-04T00:00:00Z``)."""
    return _dt.datetime.fromtimestamp(t_s, _dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Uplinks:
    """Uplink receptions, one row per (frame, gateway); see :data:`COLUMNS`."""

    device: np.ndarray
    dev_eui: np.ndarray
    time_s: np.ndarray
    fcnt: np.ndarray
    sf: np.ndarray
    bandwidth_hz: np.ndarray
    frequency_hz: np.ndarray
    gateway: np.ndarray
    rssi_dbm: np.ndarray
    snr_db: np.ndarray
    battery_v: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.device)
        for f in fields(self):
            col = np.asarray(getattr(self, f.name), dtype=COLUMNS[f.name])
            if col.shape != (n,):
                raise ValueError(f"column {f.name} has shape {col.shape}, expected ({n},)")
            object.__setattr__(self, f.name, col)

    def __len__(self) -> int:
        return len(self.device)

    @classmethod
    def empty(cls) -> Uplinks:
        """A table with no rows."""
        return cls(**{name: np.empty(0, dtype=dt) for name, dt in COLUMNS.items()})

    @classmethod
    def concat(cls, parts: list[Uplinks]) -> Uplinks:
        """Rows of every part, in order."""
        if not parts:
            return cls.empty()
        return cls(**{n: np.concatenate([getattr(p, n) for p in parts]) for n in COLUMNS})

    def take(self, index: np.ndarray) -> Uplinks:
        """The rows at ``index`` (integers or a boolean mask)."""
        return Uplinks(**{n: getattr(self, n)[index] for n in COLUMNS})

    def sorted(self) -> Uplinks:
        """Rows ordered by time, then device, frame counter and gateway (a stable order)."""
        order = np.lexsort(
            (self.gateway.astype(str), self.fcnt, self.device.astype(str), self.time_s)
        )
        return self.take(order)
