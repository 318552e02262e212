"""The run budget: estimates that match what runs do, refusals that name the key to turn."""

from __future__ import annotations

import copy
import time

import pytest
import yaml
from typer.testing import CliRunner

import twin
import twin.api
from twin import budget
from twin.budget import BudgetError, Limits, check, estimate
from twin.cli import app
from twin.config.loader import scenario_from_dict

runner = CliRunner()


def _with(d: dict, path: str, value) -> dict:
    d = copy.deepcopy(d)
    *head, last = path.split(".")
    node = d
    for key in head:
        node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
    node[last] = value
    return d


def test_the_farm_fits_and_its_estimate_counts_what_it_runs(farm_dict):
    sc = scenario_from_dict(farm_dict)
    b = check(sc)
    # 500 nodes x 30 days at 900 s x 2 policies; four 6-hour steps a day.
    assert b.node_samples == pytest.approx(500 * 30 * 96 * 2)
    assert b.timeseries_rows == 2 * 30 * 4
    assert b.fault_intervals == 0 and b.brownout_resets == 0
    assert 150e6 < b.memory_bytes < 1e9
    lo, hi = b.wall_s
    assert 0 < lo < hi
    assert "node-samples" in b.summary() and "MB" in b.summary()


def test_a_plan_and_its_scenario_agree(farm_dict):
    d = _with(farm_dict, "faults", [{"kind": "cloud_outage", "mtbf_h": 48, "mttr_h": 2}])
    d["groups"]["soil"]["count"] = 20
    sc = scenario_from_dict(d)
    plan = twin.compile_scenario(sc)
    a, b = estimate(sc), estimate(plan)
    assert a.node_samples == b.node_samples and a.timeseries_rows == b.timeseries_rows
    # The scenario's expected intervals; the plan's drawn ones (30 days / 50 h ~ 14).
    assert a.fault_intervals == pytest.approx(30 * 24 / 50)
    assert b.fault_intervals == len(plan.faults.cloud_down)


def test_the_estimate_counts_the_samples_a_run_takes(small_farm):
    small_farm["world"]["horizon_days"] = 0.5
    b = estimate(scenario_from_dict(small_farm))
    res = twin.run(small_farm)
    assert res.manifest["node_samples"] == pytest.approx(b.node_samples, rel=0.01)


@pytest.mark.parametrize(
    ("path", "value", "key", "advice"),
    [
        ("groups.soil.count", 1_000_000_000, "groups.soil.count", "fewer nodes"),
        ("engine.timeseries_interval_s", 1e-6, "engine.timeseries_interval_s", "coarser"),
        ("cloud.workers", 1_000_000_000, "cloud.workers", "fewer cloud.workers"),
        ("faults", [{"kind": "cloud_outage", "mtbf_h": 1e-9, "mttr_h": 1e-9}],
         "faults.0.mtbf_h", "rarer"),
        ("faults", [{"kind": "brownout", "mtbf_h": 1, "downtime_s": 1e12}],
         "faults.0.downtime_s", "rarer or shorter"),
        ("groups.soil.store_and_forward", {"buffer_bytes": 10**12},
         "groups.soil.store_and_forward.buffer_bytes", "smaller"),
    ],
)  # fmt: skip
def test_too_large_runs_are_refused_naming_the_knob(farm_dict, path, value, key, advice):
    sc = scenario_from_dict(_with(farm_dict, path, value)).with_source("farm.yaml")
    with pytest.raises(BudgetError) as info:
        check(sc)
    err = info.value
    assert err.key_path == key and err.file == "farm.yaml"
    assert advice in err.message and "--no-budget" in err.message
    assert "too large to run" in err.message and "limit" in err.message


def test_a_long_horizon_names_the_horizon_and_the_fleet(farm_dict):
    # 20 000 nodes for a century: 1.4e11 node-samples, over a day and a half even at the
    # fastest rate measured.
    d = _with(_with(farm_dict, "world.horizon_days", 36_500), "groups.soil.count", 20_000)
    with pytest.raises(BudgetError, match="shorter world.horizon_days") as info:
        check(scenario_from_dict(d))
    assert info.value.key_path == "groups.soil.count" and "at least" in info.value.message


def test_a_sampling_period_of_a_microsecond_names_the_period(farm_dict):
    d = _with(farm_dict, "groups.soil.sampling_period_s", 1e-6)
    d["groups"]["soil"]["tx_jitter_s"] = 0
    with pytest.raises(BudgetError, match="groups.soil.sampling_period_s"):
        check(scenario_from_dict(d))


def test_limits_can_be_raised(farm_dict):
    sc = scenario_from_dict(_with(farm_dict, "groups.soil.count", 1_000_000_000))
    huge = Limits(memory_bytes=1e20, wall_s=1e20, timeseries_rows=1e20, fault_intervals=1e20)
    assert check(sc, huge).node_samples > 1e12


def test_a_fault_storm_is_refused_before_compiling_draws_it(farm_dict):
    # Compiling draws every interval: 1e12 of them would take terabytes. The check
    # before compiling refuses it in well under a second.
    d = _with(farm_dict, "faults", [{"kind": "loss_burst", "mtbf_h": 1e-9, "mttr_h": 1e-9,
                                     "loss_probability": 0.5}])  # fmt: skip
    started = time.perf_counter()
    with pytest.raises(BudgetError, match="fault intervals"):
        twin.run(d)
    with pytest.raises(BudgetError):
        twin.validate(d)
    assert time.perf_counter() - started < 5


def test_budget_false_skips_the_check(small_farm, monkeypatch):
    def refuse(plan, limits=None):
        raise BudgetError("refused")

    monkeypatch.setattr(twin.api, "check_budget", refuse)
    small_farm["world"]["horizon_days"] = 0.2
    with pytest.raises(BudgetError):
        twin.run(small_farm)
    assert twin.run(small_farm, budget=False).manifest["node_samples"] > 0
    assert "node-samples" in twin.validate(small_farm, budget=False)


def test_validate_prints_the_estimate_and_the_cli_refuses_until_told(tmp_path, farm_dict):
    ok = tmp_path / "farm.yaml"
    ok.write_text(yaml.safe_dump(farm_dict))
    res = runner.invoke(app, ["validate", str(ok)])
    assert res.exit_code == 0 and "node-samples" in res.output and "on one core" in res.output
    big = tmp_path / "big.yaml"
    big.write_text(yaml.safe_dump(_with(farm_dict, "groups.soil.count", 1_000_000_000)))
    before = big.read_bytes()
    for cmd in (["validate", str(big)], ["run", str(big), "-o", str(tmp_path / "out")]):
        res = runner.invoke(app, cmd)
        assert res.exit_code == 2, res.output
        assert res.output.startswith(f"error: {big}: groups.soil.count: too large to run")
        assert res.output.count("\n") == 1 and "--no-budget" in res.output
    assert not (tmp_path / "out").exists() and big.read_bytes() == before
    res = runner.invoke(app, ["validate", str(big), "--no-budget"])
    assert res.exit_code == 0 and "1,000,000,000 nodes" in res.output


def test_every_world_has_a_measured_rate():
    from twin.world.registry import world_kinds, world_spec

    # Every shipped world (worlds registered by other tests are plug-ins: they get the
    # slowest rate measured).
    shipped = {k for k in world_kinds() if world_spec(k).world.__module__.startswith("twin.")}
    assert set(budget.WORLD_RATES) == shipped
    assert all(rate > 0 and node > 0 for rate, node in budget.WORLD_RATES.values())
