"""farm_solar: harvest against draw; one 'sustained' in the terminal, summary.json, report."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_solar_harvest_and_draw_agree_in_terminal_summary_and_report(run_cli):
    d = yaml.safe_load((ROOT / "scenarios" / "farm_solar.yaml").read_text())
    d["groups"]["soil"]["count"] = 12
    d["world"]["horizon_days"] = 3
    res, out = run_cli(d, columns=100)
    summary = json.loads((out / "summary.json").read_text())
    page = (out / "report.html").read_text()
    days = summary["scenario"]["horizon_s"] / 86_400.0
    harvested_row = next(x for x in res.stdout.splitlines() if "harvested [mAh/node-day]" in x)
    shown = re.findall(r"[\d.,]+", harvested_row.split("]", 1)[1])
    for r, terminal in zip(summary["results"], shown, strict=True):
        bat, life = r["battery"], r["battery_life_days"]
        assert bat["harvested_c"] > 0
        mah = bat["harvested_c"] / r["nodes"] / days / 3.6
        assert terminal == f"{mah:,.2f}"
        # The report's harvest table holds the same figure for this policy ...
        row = re.search(
            rf"{r['policy']}</td><td>soil</td>(.*?)</tr>", page.split("table-harvest")[1]
        )
        values = [float(v) for v in re.findall(r'data-value="([-\d.e]+)"', row.group(1))]
        assert values[2] == pytest.approx(mah)
        # ... and every place says the same about the life: sustained by the harvest.
        if life["limit"] == "sustained":
            assert life["median"] is None and 'data-limit="sustained"' in row.group(0)
            assert "sustained (solar)" in res.stdout and "sustained" in page
