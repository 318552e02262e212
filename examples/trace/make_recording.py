"""Write the example recordings: three soil zones logged every 15 minutes for 10 days.

The readings come from twin's own soil world (``twin.world.soil``, seed 20240601), written as
a logger would: ISO 8601 timestamps, one CSV per zone, the world's ground truth ("needs
irrigation within 6 h") as a label column. Two faults a real logger has are put in on
purpose, so that the replay's gap rules have something to do (examples/trace/README.md):

* ``zone_2.csv`` lost four hours of rows on day 6 (a power cut of the logger);
* ``zone_3.csv`` has one empty moisture cell on day 3 (a failed probe read).

Run ``python examples/trace/make_recording.py`` to write them again next to this script; the
files it writes are the committed ones, byte for byte (tests/test_world_trace.py checks).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from twin.world.dataset import make_world

SEED = 20240601
ZONES = 3
DAYS = 10
PERIOD_S = 900.0
START = datetime(2024, 6, 1, tzinfo=UTC)
# Rows of zone 2 lost to the logger's power cut (day 6, 10:00 to 14:00), and the row of
# zone 3 whose moisture read failed (day 3, 08:00).
OUTAGE = (1, 5 * 96 + 40, 5 * 96 + 56)
FAILED_READ = (2, 2 * 96 + 32)


def recordings() -> list[list[str]]:
    """The CSV lines of each zone's recording."""
    world = make_world("soil", ZONES, DAYS, PERIOD_S, SEED)
    n = int(DAYS * 86_400 / PERIOD_S)
    readings = np.empty((n, ZONES, 2), dtype=np.float32)
    truth = np.empty((n, ZONES), dtype=bool)
    for k in range(n):
        readings[k], truth[k] = world.sample(np.arange(ZONES))
    out = []
    for z in range(ZONES):
        lines = [
            f"# Zone {z + 1} of a soil-moisture example, logged every 15 min for {DAYS} days.",
            f"# Made by examples/trace/make_recording.py from twin's soil world (seed {SEED}):",
            "# synthetic, not a field measurement. moisture_vwc [m3/m3], soil_temp_c [degC],",
            "# needs_irrigation: the world's ground truth (refill point reached within 6 h).",
            "time,moisture_vwc,soil_temp_c,needs_irrigation",
        ]
        for k in range(n):
            if z == OUTAGE[0] and OUTAGE[1] <= k < OUTAGE[2]:
                continue
            when = START + timedelta(seconds=float(world.phase_s[z]) + k * PERIOD_S)
            moisture = "" if (z, k) == FAILED_READ else f"{readings[k, z, 0]:.4f}"
            lines.append(
                f"{when.isoformat(timespec='seconds')},{moisture},"
                f"{readings[k, z, 1]:.2f},{int(truth[k, z])}"
            )
        out.append(lines)
    return out


def main(folder: Path) -> list[Path]:
    """Write ``zone_<i>.csv`` into ``folder``; returns the paths."""
    paths = []
    for z, lines in enumerate(recordings()):
        path = folder / f"zone_{z + 1}.csv"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


if __name__ == "__main__":
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
    for p in main(folder):
        print(p)
