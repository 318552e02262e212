"""Battery life and air time of the farm by spreading factor, with confidence over seeds.

Scripts the study with the Python API (the same engine as `twin sweep`): each node on one
fixed spreading factor, several seeds, then the main effect of the spreading factor: the mean
and a 95 % confidence interval over the seeds of the on-device battery life and of the cloud
policy's collisions at each spreading factor.

    python examples/farm_battery_by_sf.py [OUT_DIR]

Set TWIN_EXAMPLE_SMALL=1 for the CI-sized version.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from twin import study as st
from twin.analysis import main_effects

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
    rows = result.rows
    sf_level = [sfs.index(r["param.groups.soil.spreading_factor"]) for r in rows]
    policy = [r["policy"] for r in rows]
    life_d = [r["battery_life_days.median"] for r in rows]
    collisions = [r["uplink_lost.collision"] for r in rows]
    life = main_effects(sf_level, life_d, policy, len(sfs))["on_device"]
    coll = main_effects(sf_level, collisions, policy, len(sfs))["cloud"]
    print("SF  on-device battery life [days]     cloud collisions")
    for i, sf in enumerate(sfs):
        print(
            f"{sf:<3} {life.means[i]:10,.0f} +/- {life.half_widths[i]:<10,.0f}       "
            f"{coll.means[i]:8.1f} +/- {coll.half_widths[i]:.1f}"
        )
    print(f"study table: {out / 'study.csv'}; report: {out / 'report.html'}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "results" / "farm_battery_by_sf")
