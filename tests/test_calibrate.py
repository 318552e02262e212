"""twin calibrate, round trip: a fleet simulated with hidden per-node parameters, written out as
a network server's log, calibrated back (issue 22's figures of done)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

import twin.api as api
from twin.cli import app
from twin.deployed.calibrate import calibrate
from twin.deployed.output import write_calibration
from twin.errors import TwinError
from twin.telemetry.formats import write

PERIODS = {"soil_a": 900.0, "soil_b": 1800.0}
COUNTS = {"soil_a": 220, "soil_b": 110}


def _csv(path, rows):
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


@pytest.fixture(scope="module")
def truth(tmp_path_factory):
    """The hidden fleet: two report periods, positions from the seed, cells part-discharged."""
    tmp = tmp_path_factory.mktemp("truth")
    farm = yaml.safe_load(open("scenarios/farm.yaml"))
    farm["world"]["horizon_days"] = 3
    farm["policies"] = ["cloud"]
    base = {**farm, "groups": {"soil": {**farm["groups"]["soil"], "count": 10}}}
    (tmp / "base.yaml").write_text(yaml.safe_dump(base))  # what the user planned with
    rng = np.random.default_rng(11)
    soc = {}
    groups = {}
    for name, period in PERIODS.items():
        rows = [{"device": f"{name}-{i:03d}", "state_of_charge": round(rng.uniform(0.3, 1.0), 4)}
                for i in range(COUNTS[name])]  # fmt: skip
        soc.update({r["device"]: r["state_of_charge"] for r in rows})
        _csv(tmp / f"{name}.csv", rows)
        groups[name] = {**farm["groups"]["soil"], "count": COUNTS[name],
                        "sampling_period_s": period, "nodes": f"{name}.csv"}  # fmt: skip
    (tmp / "truth.yaml").write_text(yaml.safe_dump({**farm, "groups": groups}))
    r = api.run(tmp / "truth.yaml", telemetry=True)
    _csv(tmp / "nodes.csv", r.nodes)
    return tmp, r, soc


@pytest.fixture(scope="module", params=["chirpstack", pytest.param("ttn", marks=pytest.mark.slow)])
def calibrated(request, truth):
    tmp, r, _ = truth
    log = tmp / f"log.{request.param}.jsonl"
    write(r.uplinks["cloud"], log, request.param)
    return calibrate(log, tmp / "base.yaml", positions=tmp / "nodes.csv")


def test_periods_come_back_exactly_in_one_group_each(calibrated):
    got = {g["sampling_period_s"]: g["count"] for g in calibrated.scenario["groups"].values()}
    assert got == {PERIODS[n]: COUNTS[n] for n in PERIODS}
    for d in calibrated.devices:
        assert d["period_s"] == PERIODS[d["device"][:6]]


def test_path_loss_comes_back_within_ten_percent(calibrated):
    # The truth is the oulu-868 profile the links were drawn from: n = 2.32, sigma = 7.8 dB
    # (Petajajarvi et al. 2015). 10 %: the bound; 660 links drawn once leave a
    # sampling error of about 3 % on sigma and 5 % on n.
    pl = calibrated.report["path_loss"]
    assert pl["path_loss_exponent"] == pytest.approx(2.32, rel=0.10)
    assert pl["shadowing_sd_db"] == pytest.approx(7.8, rel=0.10)


def _matches_per_node(v: dict) -> None:
    # Nearly every device within 0.05. Not all: gateways are half-duplex, and a periodic
    # node whose uplinks keep meeting one neighbour's downlinks loses them period after
    # period; the calibrated twin draws its own jitter (its groups are named by period), so
    # it meets such coincidences as often, not for the same nodes. 97 %: the truth's runs
    # have 1-2 % of devices so placed.
    assert v["devices_within_0_05"] >= 0.97 * v["devices"]
    assert v["delivery_ratio_difference_median"] <= 0.01


def test_the_twins_delivery_ratio_matches_the_observed_per_node(calibrated):
    v = calibrated.report["validation"]
    assert v["devices"] == sum(COUNTS.values())
    _matches_per_node(v)


def test_battery_state_comes_back_within_five_percent(calibrated, truth):
    _, r, soc = truth
    # Three days of a farm node drain well under 0.1 % of the pack: the start is the truth.
    for d in calibrated.devices:
        assert d["state_of_charge"] == pytest.approx(soc[d["device"]], abs=0.05)


def test_the_calibrated_scenario_runs_and_forecasts_from_the_last_record(calibrated, tmp_path):
    out = write_calibration(calibrated, tmp_path / "deployed")
    names = {p.name for p in out.iterdir()}
    assert {"scenario.yaml", "calibration.md", "calibration.json", "devices.csv"} <= names
    assert {"soil_900s_nodes.csv", "soil_1800s_nodes.csv"} <= names
    sc = yaml.safe_load((out / "scenario.yaml").read_text())
    assert sc["world"]["start_utc"] == calibrated.report["telemetry"]["last_utc"]
    assert json.loads((out / "calibration.json").read_text()) == calibrated.report
    with pytest.raises(TwinError, match="not empty"):
        write_calibration(calibrated, out)  # never into a folder that holds files
    # The forecast: every node's end of life dated from the log's last record.
    sc["world"]["horizon_days"] = 1
    run = api.run(sc, base_dir=out)
    start = np.datetime64(calibrated.report["telemetry"]["last_utc"].rstrip("Z"))
    for n in run.nodes[:50]:
        days = (np.datetime64(n["end_of_life_utc"]) - start) / np.timedelta64(1, "D")
        assert abs(days - n["battery_life_days"]) <= 1  # a date, so within a day
    html = api._render(run)
    assert 'id="sec-at-risk"' in html
    first = min(run.nodes, key=lambda n: n["battery_life_days"])["device"]
    at_risk = html[html.index('id="table-at-risk"') :]
    assert at_risk.split("<td>")[1].split("</td>")[0] == first  # the first to end, first


def _dirty(lines: list[str], rng) -> tuple[list[str], dict]:
    """The log with duplicates, malformed lines, a join event, a counter reset and gaps."""
    events = [json.loads(x) for x in lines]
    target = events[0]["deviceInfo"]["deviceName"]
    mine = [i for i, e in enumerate(events) if e["deviceInfo"]["deviceName"] == target]
    for i in mine[len(mine) // 2 :]:  # the device rebooted half way: its counter restarts
        events[i]["fCnt"] -= events[mine[len(mine) // 2]]["fCnt"]
    gone = set(rng.choice(len(events), size=len(events) // 50, replace=False).tolist())
    events = [e for i, e in enumerate(events) if i not in gone]
    dup = rng.choice(len(events), size=40, replace=False)
    dup_receptions = sum(len(events[i]["rxInfo"]) for i in dup)
    events += [events[i] for i in dup]
    events.sort(key=lambda e: e["time"])
    out = [json.dumps(e) for e in events]
    out[10:10] = ["{not json", '{"deviceInfo": {"deviceName": "x"}, "devAddr": "01"}']
    out.insert(20, json.dumps({"deviceInfo": events[0]["deviceInfo"], "devEui": "00",
                               "devAddr": "00000000", "time": events[0]["time"]}))  # fmt: skip
    return out, {"duplicates": dup_receptions, "reset_device": target}


@pytest.mark.slow
def test_a_dirty_log_is_reported_and_the_fit_still_holds(truth, tmp_path):
    tmp, r, _ = truth
    clean = tmp_path / "clean.jsonl"
    write(r.uplinks["cloud"], clean, "chirpstack")
    lines, facts = _dirty(clean.read_text().splitlines(), np.random.default_rng(5))
    dirty = tmp_path / "dirty.jsonl"
    dirty.write_text("\n".join(lines) + "\n")
    cal = calibrate(dirty, tmp / "base.yaml", positions=tmp / "nodes.csv", validate=False)
    t = cal.report["telemetry"]
    assert t["duplicate_receptions"] == facts["duplicates"]
    assert t["counter_resets"] == 1 and t["devices_with_resets"] == 1
    assert sum(t["skipped"].values()) == 3, t["skipped"]
    reset = next(d for d in cal.devices if d["device"] == facts["reset_device"])
    assert reset["counter_resets"] == 1
    for d in cal.devices:
        # Within 0.1 s, not exact: with 2 % of events dropped on top of the frames
        # half-duplex gateways miss, a device's fit can land 0.08 s off, past the 0.05 s
        # within which the fit snaps to a whole second (docs/deployed.md).
        assert d["period_s"] == pytest.approx(PERIODS[d["device"][:6]], abs=0.1)
    # 2 % of events gone: the observed delivery ratio shows it.
    assert cal.report["delivery_ratio_observed"]["mean"] < 0.99
    pl = cal.report["path_loss"]
    assert pl["path_loss_exponent"] == pytest.approx(2.32, rel=0.10)
    assert pl["shadowing_sd_db"] == pytest.approx(7.8, rel=0.10)


def test_the_command_refuses_a_folder_with_files_and_writes_nothing(truth, tmp_path):
    tmp, r, _ = truth
    log = tmp_path / "log.csv"
    write(r.uplinks["cloud"], log, "csv")
    (tmp_path / "out").mkdir()
    mine = tmp_path / "out" / "notes.txt"
    mine.write_text("mine")
    res = CliRunner().invoke(app, ["calibrate", str(log), "-s", str(tmp / "base.yaml"),
                                   "-o", str(tmp_path / "out")])  # fmt: skip
    assert res.exit_code == 2 and "not empty" in res.output
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["notes.txt"]
    assert mine.read_text() == "mine"


def test_without_positions_links_are_taken_as_measured(truth, tmp_path):
    tmp, r, _ = truth
    log = tmp_path / "log.csv"
    write(r.uplinks["cloud"], log, "csv")
    cal = calibrate(log, tmp / "base.yaml")
    assert cal.report["path_loss"] is None
    assert any(w.startswith("path loss: no node positions") for w in cal.report["not_identified"])
    assert "x_m" not in cal.tables["soil_900s"][0]
    _matches_per_node(cal.report["validation"])
