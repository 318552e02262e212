"""``twin run --telemetry``: each policy's simulated uplinks written as a network server would."""

from __future__ import annotations

import re
from pathlib import Path

from twin.errors import TwinError
from twin.telemetry.uplinks import Uplinks

# Format -> file suffix (the results folder accepts these names: twin.results.outdir).
SUFFIXES = {"chirpstack": ".chirpstack.jsonl", "ttn": ".ttn.jsonl", "csv": ".csv"}


def check_format(fmt: str) -> None:
    """Refuse a telemetry format twin does not write."""
    if fmt not in SUFFIXES:
        raise TwinError(f"unknown telemetry format {fmt!r}: expected one of {', '.join(SUFFIXES)}")


def file_name(policy: str, fmt: str) -> str:
    """``<policy><suffix>``, the policy's name reduced to letters, digits, '_' and '-'."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", policy) + SUFFIXES[fmt]


def write_policies(uplinks: dict[str, Uplinks], folder: Path, fmt: str) -> list[Path]:
    """One telemetry file per policy in ``folder`` (created); returns the files written."""
    from twin.telemetry.formats import write

    check_format(fmt)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for policy, table in uplinks.items():
        path = folder / file_name(policy, fmt)
        write(table, path, fmt, application=policy)
        written.append(path)
    return written
