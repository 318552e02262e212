"""A group's own devices (groups.<g>.nodes): positions, phases, links and charge from a table."""

from __future__ import annotations

import csv

import numpy as np
import pytest

import twin.api as api
from twin.config.loader import load_scenario
from twin.errors import ScenarioError
from twin.sim.uplink_log import DEFAULT_START_UTC_S

N = 12


def _farm(tmp_path, rows, count=N, days=2):
    path = tmp_path / "fleet.csv"
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    sc = load_scenario("scenarios/farm.yaml").with_overrides(
        {"groups.soil.count": count, "world.horizon_days": days, "groups.soil.nodes": str(path)}
    )
    return sc


def _rows(n=N):
    rng = np.random.default_rng(3)
    return [
        {
            "device": f"probe-{i:02d}",
            "x_m": round(float(rng.uniform(0, 2000)), 1),
            "y_m": round(float(rng.uniform(0, 2000)), 1),
            "phase_s": round(float(rng.uniform(0, 900)), 3),
            "spreading_factor": 9 if i % 3 == 0 else "",
            "state_of_charge": 0.5 if i % 2 else 1.0,
        }
        for i in range(n)
    ]


def test_the_table_sets_each_nodes_position_phase_sf_and_charge(tmp_path):
    rows = _rows()
    r = api.run(_farm(tmp_path, rows), telemetry=True)
    by_name = {row["device"]: row for row in rows}
    nodes = [row for row in r.nodes if row["policy"] == "cloud"]
    assert sorted(n["device"] for n in nodes) == sorted(by_name)
    for n in nodes:
        mine = by_name[n["device"]]
        assert (n["x_m"], n["y_m"]) == (mine["x_m"], mine["y_m"])
        assert n["start_state_of_charge"] == mine["state_of_charge"]
        if mine["spreading_factor"]:
            assert n["spreading_factor"] == 9
    # A half-charged cell on the same drain lasts half as long (charge-limited projection):
    # the same fleet with every cell full draws the same, and lasts twice as long.
    full_rows = [{**row, "state_of_charge": 1.0} for row in rows]
    full = api.run(_farm(tmp_path, full_rows))
    life = {n["device"]: n["charge_life_days"] for n in nodes}
    life_full = {n["device"]: n["charge_life_days"] for n in full.nodes if n["policy"] == "cloud"}
    for name, row in by_name.items():
        assert life[name] / life_full[name] == pytest.approx(row["state_of_charge"], rel=1e-9)
    # Each node reads at its own phase: its first frame ends after it, within the uplink's
    # wake-up, tx jitter (5 s) and time on air.
    u = r.uplinks["cloud"]
    for name, row in by_name.items():
        first = u.time_s[(u.device == name) & (u.fcnt == 0)]
        if len(first):
            late = first[0] - DEFAULT_START_UTC_S - row["phase_s"]
            assert 0 < late < 5 + 1.0


def test_measured_links_replace_the_propagation_model(tmp_path):
    rows = _rows()
    for i, row in enumerate(rows):
        row["rx_dbm:gw-north"] = -100.0 - i
        row["rx_dbm:gw-south"] = "" if i else -90.0  # heard by the south gateway: node 0 only
    rows[5]["rx_dbm:gw-north"] = ""  # node 5: heard by no gateway
    r = api.run(_farm(tmp_path, rows), telemetry=True)
    u = r.uplinks["cloud"]
    assert set(u.gateway[u.device == "probe-00"]) == {"gw-north", "gw-south"}
    assert set(u.gateway[u.device != "probe-00"]) == {"gw-north"}
    assert "probe-05" not in set(u.device)
    for i in (1, 7):
        assert np.all(u.rssi_dbm[u.device == f"probe-{i:02d}"] == -100.0 - i)
    lost = r.result("cloud")["uplink_lost"]["out_of_range"]
    sent = {n["device"]: n["uplink_messages"] for n in r.nodes if n["policy"] == "cloud"}
    assert lost >= sent["probe-05"] > 0
    # A node no gateway hears has no link to report (not -inf in nodes.csv or the map).
    unheard = [n for n in r.nodes if n["device"] == "probe-05"]
    assert all(n["rssi_dbm"] is None and n["best_gateway"] is None for n in unheard)


@pytest.mark.parametrize(
    "change, count, message, line",
    [
        ({"x_m": "far"}, N, "x_m: expected a number from 0 to 2000", 4),
        ({"phase_s": 900}, N, "phase_s: expected a number from 0 to", 4),
        ({"state_of_charge": 0}, N, "state_of_charge: expected a number", 4),
        ({"spreading_factor": 13}, N, "spreading_factor: expected a number from 7 to 12", 4),
        ({}, N + 1, "lists 12 devices but count is 13: set count: 12", None),
    ],
)
def test_a_bad_table_is_refused_with_file_line_and_fix(tmp_path, change, count, message, line):
    rows = _rows()
    rows[2].update(change)
    with pytest.raises(ScenarioError) as exc:
        api.run(_farm(tmp_path, rows, count=count))
    assert message in str(exc.value)
    if line is not None:
        assert exc.value.file.endswith("fleet.csv") and exc.value.line == line


def test_gateway_columns_must_match_the_scenarios_gateways(tmp_path):
    rows = _rows()
    for row in rows:
        row["rx_dbm:gw-east"] = -100
    with pytest.raises(ScenarioError, match="one column per gateway"):
        api.run(_farm(tmp_path, rows))


def test_a_duplicate_device_is_named_with_both_lines(tmp_path):
    rows = _rows()
    rows[3]["device"] = rows[1]["device"]
    with pytest.raises(ScenarioError, match=r"listed twice \(also line 3\)"):
        api.run(_farm(tmp_path, rows))


def test_a_part_charged_solar_cell_refills_towards_full(tmp_path):
    path = tmp_path / "fleet.csv"
    path.write_text("device,state_of_charge\n" + "".join(f"s{i},0.3\n" for i in range(6)))
    sc = load_scenario("scenarios/farm_solar.yaml")
    group = next(iter(sc.groups))
    sc = sc.with_overrides({f"groups.{group}.count": 6, "world.horizon_days": 3,
                            f"groups.{group}.nodes": str(path)})  # fmt: skip
    r = api.run(sc)
    soc = [row["battery_soc_p50"] for row in r.timeseries if row["group"] == group]
    # The panel stores more by day than the node draws: the cell climbs above where it began.
    assert soc[0] == pytest.approx(0.3) and max(soc) > 0.5
