"""Battery life and air time of the farm by spreading factor, with confidence over seeds.

Scripts the study with the Python API (the same engine as `twin sweep`): each node on one
fixed spreading factor, several seeds, then the mean and a 95 % confidence interval of the
on-device battery life and the cloud policy's collisions per spreading factor.

    python examples/farm_battery_by_sf.py [OUT_DIR]

Set TWIN_EXAMPLE_SMALL=1 for the CI-sized version.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from twin import study as st
from twin.report.study import mean_ci

ROOT = Path(__file__).resolve().parent.parent
SMALL = os.environ.get("TWIN_EXAMPLE_SMALL") == "1"


def main(out: Path) -> None:
    """Run the study into ``out`` and print battery life and collisions per SF."""
    sfs = [7, 10] if SMALL else [7, 8, 9, 10, 11, 12]
    spec = st.StudySpec(
        name="farm_battery_by_sf",
        scenario="farm.yaml",
        overrides={
            "world.horizon_days": 0.5 if SMALL else 7,
            "groups.soil.count": 5 if SMALL else 200,
        },
        parameters={"groups.soil.spreading_factor": sfs},
        seeds=[1, 2] if SMALL else [1, 2, 3, 4, 5],
        metrics=["battery_life_days.median", "airtime_s", "uplink_lost.collision"],
    )
    result = st.run_study(
        spec, out=out, scenario_path=ROOT / "scenarios" / "farm.yaml",
        executor="inprocess" if SMALL else "process",
    )  # fmt: skip
    print("SF  on-device battery life [days]     cloud collisions")
    for sf in sfs:
        rows = [r for r in result.rows if r["param.groups.soil.spreading_factor"] == sf]
        life = mean_ci([r["battery_life_days.median"] for r in rows if r["policy"] == "on_device"])
        coll = mean_ci([r["uplink_lost.collision"] for r in rows if r["policy"] == "cloud"])
        print(
            f"{sf:<3} {life[0]:10,.0f} +/- {life[1]:<10,.0f}       {coll[0]:8.1f} +/- {coll[1]:.1f}"
        )
    print(f"study table: {out / 'study.csv'}; report: {out / 'report.html'}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "results" / "farm_battery_by_sf")
