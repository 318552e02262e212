"""Which cascade thresholds give the cameras the best F1 per joule.

The smart home's battery cameras screen each frame with the board's small CNN and escalate
only frames scored between ``low`` and ``high`` to the cloud's larger one. This study sweeps
both thresholds over two seeds with the Python API and prints the best trade-offs.

    python examples/cascade_thresholds.py [OUT_DIR]

Set TWIN_EXAMPLE_SMALL=1 for the CI-sized version (fewer cameras, a shorter day).
"""

from __future__ import annotations

import os
import sys
from collections import defaultdict
from pathlib import Path

from twin import study as st
from twin.analysis import mean_ci

ROOT = Path(__file__).resolve().parent.parent
SMALL = os.environ.get("TWIN_EXAMPLE_SMALL") == "1"


def main(out: Path) -> None:
    """Run the study into ``out`` and print the thresholds ranked by F1 per joule."""
    spec = st.StudySpec(
        name="cascade_thresholds",
        scenario="smart_home.yaml",
        overrides={
            # Only the cameras matter here: shrink the other groups to one node each.
            "groups.thermostat.count": 1,
            "groups.speaker.count": 1,
            "groups.camera.count": 2 if SMALL else 8,
            "world.horizon_days": 0.6 if SMALL else 1,  # into the afternoon
            "policies": [
                {"name": "cascade", "kind": "cascade", "params": {"low": 0.2, "high": 0.8}}
            ],
        },
        parameters={
            "policies.0.params.low": [0.1, 0.3] if SMALL else [0.05, 0.1, 0.2, 0.3],
            "policies.0.params.high": [0.7, 0.9] if SMALL else [0.6, 0.7, 0.8, 0.9],
        },
        seeds=[1] if SMALL else [1, 2],
        metrics=["decision.f1", "energy_per_node_day_j", "inferences_cloud"],
    )
    result = st.run_study(
        spec, out=out, scenario_path=ROOT / "scenarios" / "smart_home.yaml",
        executor="inprocess" if SMALL else "process",
    )  # fmt: skip
    # Mean over seeds, cameras only, then rank by F1 per joule. F1 is undefined (None) when a
    # run saw no person and raised no alarm; mean_ci skips those.
    acc: dict[tuple, list] = defaultdict(list)
    for r in result.rows:
        if r["status"] == "ok" and r["group"] == "camera":
            key = (r["param.policies.0.params.low"], r["param.policies.0.params.high"])
            acc[key].append((r["decision.f1"], r["energy_per_node_day_j"]))
    table = []
    for (low, high), v in acc.items():
        f1, _, n_f1 = mean_ci([f for f, _ in v])
        joules = mean_ci([e for _, e in v])[0]
        table.append((f1 / joules if n_f1 else float("-inf"), low, high, f1, joules, n_f1))
    print("low   high   F1     J/camera-day   F1 per kJ")
    for score, low, high, f1, joules, n_f1 in sorted(table, reverse=True):
        f1_txt = f"{f1:.3f}" if n_f1 else "n/a  "
        per_kj = f"{1000 * score:.2f}" if n_f1 else "n/a"
        print(f"{low:<5} {high:<6} {f1_txt}  {joules:12.1f}   {per_kj}")
    print(f"study table: {out / 'study.csv'}; report: {out / 'report.html'}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "results" / "cascade_thresholds")
