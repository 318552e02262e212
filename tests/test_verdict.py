"""The verdict: leaders, ties, objectives; one story in the terminal, summary.json, report."""

from __future__ import annotations

import copy
import html
import json
import re

import pytest

import twin
from twin.analysis.verdict import TIE_REL, Bound, Objective, verdict
from twin.errors import ScenarioError

DAY_S = 86_400.0


def _entry(life=3000.0, p95=1.0, taken=100, delivered=100, bytes_=50.0, energy=1.0, usd=0.0,
           f1=0.7, stress=None) -> dict:  # fmt: skip
    e = {
        "battery_life_days": {"median": life, "limit": "charge", "limited_by": {"charge": 1}},
        "latency_s": {"p95": p95, "count": delivered},
        "decisions_taken": taken,
        "bytes_per_node_day": bytes_,
        "energy_per_node_day_j": energy,
        "cloud": {"cost_usd": {"total_usd": usd}},
        "decision": {"f1": f1},
    }
    if stress is not None:
        e["outcome"] = {"water_stress_h_per_node_day": stress}
    return e


def _row(v: dict, name: str) -> dict:
    return next(m for m in v["metrics"] if m["name"] == name)


def test_each_metric_names_its_leader_and_close_values_tie():
    a = _entry(life=3000, f1=0.70, usd=0.0, stress=2.0)
    b = _entry(life=3000 * (1 - TIE_REL / 2), f1=0.75, usd=30.0, stress=2.5)
    v = verdict({"dev": a, "cloud": b}, 30 * DAY_S)
    assert _row(v, "battery_life_days")["leader"] is None and _row(v, "battery_life_days")["tied"]
    assert _row(v, "f1")["leader"] == "cloud"
    assert _row(v, "cost_usd_per_month")["leader"] == "dev"
    # $30 over 30 days is $30.44 a month (a mean Gregorian month of 30.4375 days).
    assert _row(v, "cost_usd_per_month")["values"]["cloud"] == pytest.approx(30.4375)
    assert _row(v, "water_stress_h_per_node_day")["leader"] == "dev"
    assert v["recommended"] is None and "No objective is set" in v["sentence"]
    assert "cloud leads on F1 (0.750 vs 0.700)" in v["sentence"]


def test_answers_delivered_counts_decisions_that_reached_the_node():
    v = verdict({"dev": _entry(), "cloud": _entry(taken=200, delivered=100)}, DAY_S)
    row = _row(v, "delivered_fraction")
    assert row["values"] == {"dev": 1.0, "cloud": 0.5} and row["leader"] == "dev"


def test_an_objective_recommends_the_best_policy_within_its_bounds():
    dev = _entry(life=4000, stress=2.2, f1=0.6)
    cloud = _entry(life=1000, stress=1.9, f1=0.8)
    minimise_stress = Objective("water_stress_h_per_node_day", "minimise")
    assert verdict({"dev": dev, "cloud": cloud}, DAY_S, minimise_stress)["recommended"] == "cloud"
    bounded = Objective(
        "water_stress_h_per_node_day", "minimise", (Bound("battery_life_days", min=1826),)
    )
    v = verdict({"dev": dev, "cloud": cloud}, DAY_S, bounded)
    assert v["recommended"] == "dev" and v["feasible"] == ["dev"]
    assert "cloud misses battery life >= 1,826 d (5.0 y) (1,000 d)" in v["sentence"]
    assert "It gives up F1 (0.600 vs cloud 0.800)" in v["sentence"]
    impossible = Objective("f1", "maximise", (Bound("battery_life_days", min=10_000),))
    v = verdict({"dev": dev, "cloud": cloud}, DAY_S, impossible)
    assert v["recommended"] is None and "none is recommended" in v["sentence"]


def test_a_policy_that_leads_everywhere_is_said_to():
    v = verdict({"dev": _entry(f1=0.9, energy=0.5), "cloud": _entry()}, DAY_S)
    assert v["sentence"].startswith("dev is as good or better on every metric")


def test_an_outcome_objective_without_a_valve_recommends_nothing(small_farm):
    # A sweep may turn actuation off: the run goes on, and the verdict says why it cannot choose.
    d = copy.deepcopy(small_farm)
    d["groups"]["soil"]["actuation"] = False
    d["world"]["horizon_days"] = 1
    (v,) = twin.run(d).summary["verdict"]
    assert v["recommended"] is None
    assert "objective's crop water stress is not defined for this group" in v["sentence"]


def test_an_objective_names_a_known_metric(small_farm):
    d = copy.deepcopy(small_farm)
    d["objective"] = {"maximise": "happiness"}
    with pytest.raises(ScenarioError, match="objective.maximise"):
        twin.compile_scenario(d)
    d["objective"] = {"maximise": "f1", "minimise": "energy_per_node_day_j"}
    with pytest.raises(ScenarioError, match="exactly one of minimise or maximise"):
        twin.compile_scenario(d)


def _words(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def test_terminal_summary_and_report_tell_the_same_verdict(small_farm, run_cli):
    """The farm's verdict, with crop stress, cost and delivered answers, agrees everywhere."""
    res, out = run_cli(small_farm, columns=80)
    summary = json.loads((out / "summary.json").read_text())
    (v,) = summary["verdict"]
    assert v["objective"].startswith("minimise crop water stress") and v["recommended"]
    # Terminal: the sentence, wrapped at spaces (no number split), under the table.
    lines = res.stdout.splitlines()
    # Only the results folder's path, which is never split, may be wider.
    wide = [x for x in lines if len(x) > 80 and str(out) not in x]
    assert not wide, wide
    start = next(i for i, line in enumerate(lines) if line.startswith("verdict: "))
    said = _words(" ".join(lines[start:]).removeprefix("verdict: "))
    assert said.startswith(_words(v["sentence"]))
    # Report: the same sentence, and the verdict table's cells carry the same values.
    page = (out / "report.html").read_text()
    assert html.escape(v["sentence"], quote=False) in page
    for name in ("water_stress_h_per_node_day", "cost_usd_per_month", "delivered_fraction"):
        metric = next(m for m in v["metrics"] if m["name"] == name)
        for policy, value in metric["values"].items():
            cell = re.search(
                rf'data-metric="{name}" data-policy="{policy}" data-group="soil" '
                rf'data-value="([^"]*)" data-leader="(true|false)">([^<]*)<',
                page,
            )
            assert cell, (name, policy)
            assert json.loads(html.unescape(cell.group(1))) == pytest.approx(value)
            assert (cell.group(2) == "true") == (metric["leader"] == policy)
            # ... and the terminal's table shows the same formatted value.
            assert metric["shown"][policy] in html.unescape(cell.group(3))
            assert metric["shown"][policy] in res.stdout


def test_compare_keeps_each_policy_colour_and_prints_changes(small_farm, tmp_path, monkeypatch):
    from twin.report.style import POLICY_COLOURS, policy_colours
    from twin.terminal import deltas

    colours = policy_colours(["a/on_device", "a/cloud", "b/on_device", "b/cloud"])
    assert colours["a/on_device"] == POLICY_COLOURS["on_device"]
    assert colours["b/on_device"] != colours["a/on_device"]  # a shade of it, per run
    # A shade keeps the hue: blue stays the dominant channel of on_device in every run.
    for name in ("a/on_device", "b/on_device"):
        r, g, b = (int(colours[name][i : i + 2], 16) for i in (1, 3, 5))
        assert b > max(r, g)
    d = copy.deepcopy(small_farm)
    d["world"]["horizon_days"] = 1
    a = twin.run(d)
    d["groups"]["soil"]["heartbeat_period_s"] = 3600  # more uplinks on the board
    b = twin.run(d)
    merged = twin.api.compare([a, b], ["a", "b"])
    lines = deltas(merged.summary)
    on = next(x for x in lines if x.startswith("b/on_device vs a/on_device (soil):"))
    before, after = (
        r["bytes_per_node_day"]
        for r in merged.summary["results"]
        if r["policy"].endswith("on_device")
    )
    assert f"uplink bytes {100 * (after - before) / before:+.1f} %" in on


def test_the_objective_sense_is_the_users_not_the_metrics():
    short, long_ = _entry(life=100), _entry(life=1000)
    v = verdict({"a": short, "b": long_}, DAY_S, Objective("battery_life_days", "minimise"))
    assert v["recommended"] == "a"


def test_as_good_or_better_everywhere_is_said_only_when_true():
    x = _entry(f1=0.9, bytes_=1000.0)
    y, z = _entry(f1=0.5, bytes_=10.0), _entry(f1=0.4, bytes_=10.1)
    v = verdict({"x": x, "y": y, "z": z}, DAY_S)
    assert "as good or better" not in v["sentence"]
    assert "uplink bytes (y and z)" in v["sentence"]  # the two that tie, named


def test_a_charge_bound_applies_to_cells_the_shelf_life_does_not_cap():
    capped = _entry(life=3652.5)
    capped["battery_life_days"].update(
        limit="shelf life", limited_by={"shelf_life": 1}, charge_limited_median=9000.0
    )
    plain = _entry(life=2000.0)
    bound = Objective("f1", "maximise", (Bound("charge_life_days", min=1500),))
    v = verdict({"a": capped, "b": plain}, DAY_S, bound)
    assert v["misses"] == {} and v["feasible"] == ["a", "b"]


def test_a_tie_on_the_objective_goes_to_the_policy_that_leads_on_more_of_the_rest():
    a = _entry(life=3652.5, energy=0.5, bytes_=10.0)
    b = _entry(life=3652.5, energy=2.0, bytes_=900.0, f1=0.75)
    v = verdict({"b": b, "a": a}, DAY_S, Objective("battery_life_days", "maximise"))
    assert v["recommended"] == "a" and "within 2 % of b" in v["sentence"]


def test_world_params_of_the_wrong_type_are_refused_at_compile(small_farm):
    d = copy.deepcopy(small_farm)
    d["world"]["params"] = {"root_depth_mm": "200"}
    with pytest.raises(ScenarioError, match="expected float") as exc:
        twin.compile_scenario(d)
    assert exc.value.key_path == "world.params.root_depth_mm"


def test_a_fraction_bound_must_be_a_fraction(small_farm):
    d = copy.deepcopy(small_farm)
    d["objective"] = {"maximise": "f1", "subject_to": {"delivered_fraction": {"min": 95}}}
    with pytest.raises(ScenarioError, match="fraction from 0 to 1"):
        twin.compile_scenario(d)
