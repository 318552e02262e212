"""Battery life people can trust: a projection never outlives the cell's shelf life.

The farm's 2 x AA nodes draw so little that their charge would last decades; no alkaline
cell does. The shelf life comes from the battery profile (aa-alkaline-2s.yaml:
shelf_life_years 10, Energizer's stated storage life for the E91, whose datasheet is
https://data.energizer.com/pdfs/e91.pdf), the record says which limit binds and keeps the
charge-limited figure beside the capped one.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

import twin
from twin.profiles import load_profile

# Energizer E91 (Energizer MAX AA): holds power up to 10 years in storage. 365.25 d a year.
AA_SHELF_LIFE_DAYS = 10 * 365.25
# The AA profile's figures the uncapped projection is made of (E91: 2850 mAh at low drain).
AA_CAPACITY_C = 2850 * 3.6


def _farm(farm_dict: dict, **group) -> dict:
    """The farm on the board only, 30 nodes for 3 days (the drain is steady: enough)."""
    d = copy.deepcopy(farm_dict)
    d["groups"]["soil"].update(count=30, **group)
    d["world"]["horizon_days"] = 3
    d["policies"] = ["on_device"]
    return d


def _with_user_battery(folder: Path, d: dict, text: str) -> Path:
    """The scenario beside a device_profiles/batteries/ folder holding the user's cell."""
    cells = folder / "device_profiles" / "batteries"
    cells.mkdir(parents=True, exist_ok=True)
    pid = yaml.safe_load(text)["id"]
    (cells / f"{pid}.yaml").write_text(text)
    d = copy.deepcopy(d)
    d["groups"]["soil"]["battery"] = pid
    path = folder / "scenario.yaml"
    path.write_text(yaml.safe_dump(d))
    return path


def _aa_with_shelf_life(years: float) -> str:
    return (
        "id: my-aa\nname: our AA pack\nextends: aa-alkaline-2s\n"
        f"shelf_life_years: {years}\n"
        'shelf_life_years_source: "test, the cap must follow the profile"\n'
    )


@pytest.fixture(scope="module")
def farm(farm_dict) -> twin.RunResult:
    return twin.run(_farm(farm_dict))


def test_the_profile_carries_the_e91_shelf_life():
    aa = load_profile("battery", "aa-alkaline-2s")
    assert aa.shelf_life_years == 10
    assert aa.shelf_life_days == AA_SHELF_LIFE_DAYS
    assert "E91" in aa.sources["shelf_life_years"]
    assert "e91.pdf" in aa.sources["shelf_life_years"]


def test_the_farm_lasts_the_aa_shelf_life_and_says_so(farm):
    b = farm.result("on_device")["battery_life_days"]
    # Every node would outlast the cell's shelf life: each is capped at it.
    assert b["median"] == b["p05"] == AA_SHELF_LIFE_DAYS
    assert b["limit"] == "shelf life"
    assert b["limited_by"] == {"charge": 0, "shelf_life": 30, "sustained": 0, "mains": 0}
    assert b["shelf_life_days"] == AA_SHELF_LIFE_DAYS
    assert b["projected"] and b["dead_nodes"] == 0
    for row in farm.nodes:
        assert row["battery_life_days"] == AA_SHELF_LIFE_DAYS
        assert row["life_limit"] == "shelf life"


@pytest.mark.slow
def test_the_shipped_farm_lasts_the_aa_shelf_life(farm_dict):
    """scenarios/farm.yaml as published (500 nodes, 30 days), on the board: the README's
    figure. Its charge alone would give 13,504 d (37.0 y), beyond any alkaline cell."""
    d = copy.deepcopy(farm_dict)
    d["policies"] = ["on_device"]
    b = twin.run(d).result("on_device")["battery_life_days"]
    assert b["median"] == AA_SHELF_LIFE_DAYS and b["limit"] == "shelf life"
    assert b["limited_by"]["shelf_life"] == 500
    assert b["charge_limited_median"] == pytest.approx(13_504, abs=1)


def test_the_uncapped_figure_is_kept_and_is_the_charge_projection(farm, farm_dict):
    e = farm.result("on_device")
    b = e["battery_life_days"]
    # More than three times the shelf life: the decades the old report printed.
    assert b["charge_limited_median"] > 3 * AA_SHELF_LIFE_DAYS
    assert b["charge_limited_p05"] <= b["charge_limited_median"]
    # The projection: rated capacity (the drain is far below the 25 mA rating, so Peukert
    # gives the rated 2850 mAh) over the mean drain, drawn charge plus self-discharge.
    horizon_s = 3 * 86_400
    used_per_node = (e["battery"]["drawn_c"] + e["battery"]["self_discharge_c"]) / e["nodes"]
    expected_days = AA_CAPACITY_C / (used_per_node / horizon_s) / 86_400
    assert b["charge_limited_median"] == pytest.approx(expected_days, rel=0.02)


def test_a_huge_shelf_life_leaves_the_charge_limited_figure(farm, farm_dict, tmp_path):
    path = _with_user_battery(tmp_path, _farm(farm_dict), _aa_with_shelf_life(1000))
    b = twin.run(path).result("on_device")["battery_life_days"]
    uncapped = farm.result("on_device")["battery_life_days"]["charge_limited_median"]
    assert b["limit"] == "charge" and b["limited_by"]["shelf_life"] == 0
    # The same simulation: the cap moved out of the way, the figure is the charge's.
    assert b["median"] == b["charge_limited_median"] == pytest.approx(uncapped, rel=1e-12)
    assert b["shelf_life_days"] == 1000 * 365.25


def test_the_cap_comes_from_the_profile(farm_dict, tmp_path):
    """A user's profile extending aa-alkaline-2s with another shelf life moves the cap."""
    path = _with_user_battery(tmp_path, _farm(farm_dict), _aa_with_shelf_life(4))
    r = twin.run(path)
    b = r.result("on_device")["battery_life_days"]
    assert b["median"] == b["shelf_life_days"] == 4 * 365.25
    assert b["limit"] == "shelf life"
    # Everything else is the parent's: the charge-limited life is unchanged.
    assert b["charge_limited_median"] > 3 * AA_SHELF_LIFE_DAYS


def test_a_coin_cell_on_a_heavy_duty_group_is_charge_limited(farm_dict):
    # Streaming every reading to the cloud empties a 225 mAh CR2032 in about a year:
    # far short of its 10-year shelf life, so the charge binds and nothing is capped.
    d = _farm(farm_dict, battery="cr2032")
    d["policies"] = ["cloud"]
    r = twin.run(d)
    b = r.result("cloud")["battery_life_days"]
    cr = load_profile("battery", "cr2032")
    assert b["limit"] == "charge"
    assert b["limited_by"] == {"charge": 30, "shelf_life": 0, "sustained": 0, "mains": 0}
    assert b["median"] == b["charge_limited_median"] < cr.shelf_life_days
    assert all(row["life_limit"] == "charge" for row in r.nodes)


def test_nodes_that_died_are_not_capped(farm_dict, tmp_path):
    # A cell that empties within the horizon, with a shelf life shorter than that: the
    # simulated death is a fact, not a projection, and is not replaced by the shelf life.
    cell = (
        "id: tiny\nname: test cell\nextends: cr2032\n"
        'capacity_mah: 0.05\ncapacity_mah_source: "test, dies within a day"\n'
        'shelf_life_years: 0.0001\nshelf_life_years_source: "test, 53 minutes"\n'
    )
    path = _with_user_battery(tmp_path, _farm(farm_dict), cell)
    b = twin.run(path).result("on_device")["battery_life_days"]
    assert b["dead_nodes"] == 30 and not b["projected"]
    assert b["limit"] == "charge" and b["limited_by"]["charge"] == 30
    assert b["median"] == b["charge_limited_median"] > b["shelf_life_days"]


def test_mains_nodes_have_no_limit_to_cap(farm_dict):
    e = twin.run(_farm(farm_dict, battery="mains")).result("on_device")
    b = e["battery_life_days"]
    assert b["median"] is None and b["limit"] == "mains"
    assert b["limited_by"]["mains"] == 30 and b["shelf_life_days"] is None


def test_a_sustained_solar_node_is_not_said_to_die_of_shelf_life(farm_dict):
    # A panel keeps the LiPo charged: the node is sustained over the horizon, not projected.
    # Its cell's calendar life (lipo-500mah: 5 years, an assumption) is what ends it; the
    # record gives it beside the "sustained" count rather than as a projected death.
    d = _farm(farm_dict, battery="lipo-500mah", harvester={"panel_area_cm2": 20.0})
    r = twin.run(d)
    b = r.result("on_device")["battery_life_days"]
    assert b["median"] is None and b["limit"] == "sustained"
    assert b["limited_by"]["sustained"] == b["energy_neutral_nodes"] > 0
    assert b["limited_by"]["shelf_life"] == 0
    assert b["shelf_life_days"] == 5 * 365.25
    assert "shelf life" not in {row["life_limit"] for row in r.nodes}


def test_a_user_cell_without_a_shelf_life_still_loads_and_is_flagged(farm_dict, tmp_path):
    # Written before shelf_life_years existed: it loads, its life is charge-limited only,
    # and the run says so.
    cell = (
        "id: old\nkind: battery\nname: an old profile\n"
        "nominal_v: 3.0\nnominal_v_source: test\ncutoff_v: 1.8\ncutoff_v_source: test\n"
        "capacity_mah: 2850\ncapacity_mah_source: test\n"
        "rated_current_a: 0.025\nrated_current_a_source: test\n"
        "peukert_exponent: 1.0\npeukert_exponent_source: test\n"
        "self_discharge_per_year: 0.02\nself_discharge_per_year_source: test\n"
        "max_pulse_current_a: 1.0\nmax_pulse_current_a_source: test\n"
    )
    path = _with_user_battery(tmp_path, _farm(farm_dict), cell)
    e = twin.run(path).result("on_device")
    b = e["battery_life_days"]
    assert b["shelf_life_days"] is None and b["limit"] == "charge"
    assert b["median"] == b["charge_limited_median"] > 3 * AA_SHELF_LIFE_DAYS
    assert any("gives no shelf_life_years" in w for w in e["warnings"])


def test_the_terminal_summary_names_the_limit(farm, capsys, monkeypatch):
    from twin.terminal import print_summary as _print_table

    monkeypatch.setenv("COLUMNS", "80")
    _print_table(farm.summary)
    out = capsys.readouterr().out
    assert "3,652 (proj.)" in out and "shelf life (10.0 y)" in out
    assert "charge alone" in out
    charge_alone = farm.result("on_device")["battery_life_days"]["charge_limited_median"]
    assert f"{charge_alone:,.0f}" in out
    assert max(len(line) for line in out.splitlines()) <= 80


def test_the_report_names_the_limit(farm):
    from twin.report import render_report

    summary = {**farm.summary, **farm.manifest}
    html = render_report(summary, farm.timeseries, farm.latency_hist, farm.nodes)
    assert "3,652 d (10.0 y, shelf life)" in html
    charge_alone = farm.result("on_device")["battery_life_days"]["charge_limited_median"]
    assert f"charge alone {charge_alone:,.0f} d" in html
    table = html.split('id="table-comparison"', 1)[1].split("</table>", 1)[0]
    assert "Life limited by" in table and "<td>shelf life</td>" in table
