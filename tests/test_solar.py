"""Solar harvesting: the irradiance integral, and a panel charging a node's cell in a run."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import twin
from twin.physics import solar


def test_insolation_closed_form_matches_numerical_integral():
    factors = np.array([1.0, 0.4, 0.9])
    t = np.linspace(0, 3 * 86400, 600_001)
    day = np.minimum((t // 86400).astype(int), 2)
    numeric = np.trapezoid(solar.irradiance_w_m2(t, 1000.0, factors[day]), t)
    # Trapezoid error with a 0.43 s step over smooth half-sines: far below 1e-6 relative.
    assert solar.insolation_j_m2(3 * 86400 - 1e-9, 1000.0, factors) == pytest.approx(
        numeric, rel=1e-6
    )
    # A clear day at the 1000 W/m2 test condition: 1000 x 12 h x 2/pi = 7.64 kWh/m2.
    assert solar.daily_insolation_j_m2(1000.0) / 3.6e6 == pytest.approx(7.639, abs=1e-3)
    # No sun at night, the peak at noon.
    assert solar.irradiance_w_m2(3 * 3600, 1000.0) == 0.0
    assert solar.irradiance_w_m2(12 * 3600, 1000.0) == pytest.approx(1000.0)


def _solar_farm(small_farm, area_cm2):
    d = copy.deepcopy(small_farm)
    g = d["groups"]["soil"]
    g["battery"] = "lipo-500mah"
    if area_cm2:
        g["harvester"] = {"panel_area_cm2": area_cm2}
    return d


def test_panel_keeps_the_cell_charged(small_farm):
    bare = twin.run(_solar_farm(small_farm, 0))
    sunny = twin.run(_solar_farm(small_farm, 20.0))
    for policy in ("on_device", "cloud"):
        b, s = bare.result(policy), sunny.result(policy)
        assert s["battery"]["harvested_c"] > 0 and b["battery"]["harvested_c"] == 0
        # The device's own energy does not depend on the panel; the cell's state does.
        assert s["energy_j"] == b["energy_j"]
        soc_b = [r["battery_soc_p50"] for r in bare.timeseries if r["policy"] == policy][-1]
        soc_s = [r["battery_soc_p50"] for r in sunny.timeseries if r["policy"] == policy][-1]
        assert soc_s > soc_b
        # A full cell stores no more: what it kept never exceeds what it lost.
        lost = s["battery"]["drawn_c"] + s["battery"]["self_discharge_c"]
        assert s["battery"]["harvested_c"] <= lost + 1e-9
    # A harvesting node that lasted the horizon is reported as sustained, not extrapolated.
    life = sunny.result("on_device")["battery_life_days"]
    assert life["median"] is None and life["energy_neutral_nodes"] == life["dead_nodes"] + 30
    for row in sunny.timeseries:
        assert row["battery_soc_p95"] <= 1.0


@pytest.mark.slow
def test_harvesting_keeps_batching_exact(small_farm):
    d = _solar_farm(small_farm, 5.0)
    d["groups"]["soil"]["count"] = 8
    a = twin.run(d)
    b = twin.run(d, batch_window_s=0.0)
    assert a.summary == b.summary and a.nodes == b.nodes and a.timeseries == b.timeseries
