"""nodes.csv's radio facts per node, and the report's site map drawn from them."""

from __future__ import annotations

import copy
import csv
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

import twin
from twin.physics import lora
from twin.report.records import run_context
from twin.report.site_map import (
    MAX_MAP_POINTS,
    SITE_MAP_ID,
    site_map_caption,
    site_map_figure,
    site_map_section,
)

ROOT = Path(__file__).resolve().parent.parent
LINK_COLUMNS = ["spreading_factor", "best_gateway", "rssi_dbm", "snr_db"]
# Then each node's device name, charge-limited life and starting charge (twin.nodes tables).
DEVICE_COLUMNS = ["device", "charge_life_days", "start_state_of_charge"]
# nodes.csv's columns before the radio facts: readers may rely on their order.
OLD_COLUMNS = ["policy", "group", "node", "x_m", "y_m", "samples", "uplink_messages",
               "uplink_bytes", "energy_j", "battery_life_days", "projected", "life_limit",
               "tp", "fp", "fn", "tn"]  # fmt: skip


def _farm(farm_dict: dict, count: int = 120, days: float = 1.0) -> dict:
    d = copy.deepcopy(farm_dict)
    d["groups"]["soil"]["count"] = count
    d["world"]["horizon_days"] = days
    return d


@pytest.fixture(scope="module")
def farm_run():
    farm = yaml.safe_load((ROOT / "scenarios" / "farm.yaml").read_text())
    return twin.run(_farm(farm))


@pytest.fixture(scope="module")
def ble_run():
    d = yaml.safe_load((ROOT / "scenarios" / "wearables.yaml").read_text())
    for g in d["groups"].values():
        g["count"] = 4
    d["world"]["horizon_days"] = 0.1
    return twin.run(d)


def _gateways(result) -> dict[str, tuple[float, float]]:
    return {g["id"]: (g["x_m"], g["y_m"]) for g in result.summary["scenario"]["gateways"]}


def test_nodes_csv_gains_the_radio_facts_at_the_end(tmp_path, farm_run):
    out = twin.write_results(farm_run, tmp_path / "run")
    with (out / "nodes.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == OLD_COLUMNS + LINK_COLUMNS + DEVICE_COLUMNS
    # Read back as the report reads them: numbers, and gateway ids as text.
    back = twin.api.load_results(out).nodes
    assert back == farm_run.nodes
    assert all(isinstance(r["spreading_factor"], int) for r in back)
    assert all(isinstance(r["best_gateway"], str) for r in back)


def test_farm_nodes_have_sensible_links(farm_run):
    gateways = _gateways(farm_run)
    rows = [r for r in farm_run.nodes if r["policy"] == "on_device"]
    assert {r["spreading_factor"] for r in rows} <= set(range(7, 13))
    assert {r["best_gateway"] for r in rows} <= set(gateways)
    dist = {k: np.array([math.hypot(r["x_m"] - x, r["y_m"] - y) for r in rows])
            for k, (x, y) in gateways.items()}  # fmt: skip
    ids = list(gateways)
    nearest = [ids[i] for i in np.argmin(np.stack([dist[k] for k in ids]), axis=0)]
    # Shadowing (several dB per link) lets a farther gateway win now and then, not mostly.
    share = np.mean([r["best_gateway"] == n for r, n in zip(rows, nearest, strict=True)])
    assert share > 0.65
    d_best = np.array([dist[r["best_gateway"]][i] for i, r in enumerate(rows)])
    rssi = np.array([r["rssi_dbm"] for r in rows])
    near = d_best < np.median(d_best)
    # Log-distance path loss: the nearer half hears its gateway clearly stronger.
    assert rssi[near].mean() > rssi[~near].mean() + 5.0
    assert np.corrcoef(np.log(d_best), rssi)[0, 1] < -0.4


def test_snr_is_over_the_channels_noise_floor_and_sf_follows_adr(farm_run):
    rows = [r for r in farm_run.nodes if r["policy"] == "on_device"]
    noise = np.array([r["rssi_dbm"] - r["snr_db"] for r in rows])
    # The farm's radio: 125 kHz and the noise figure its sensitivities are built on.
    sens7 = float(lora.sensitivity_dbm(7, 125e3, 6.0))
    assert np.allclose(noise, sens7 - lora.SNR_LIMIT_DB[7], atol=0.02)
    farm = yaml.safe_load((ROOT / "scenarios" / "farm.yaml").read_text())
    margin = farm["channel"]["adr_margin_db"]
    for r in rows:
        sf = r["spreading_factor"]
        if sf < 12:  # the fastest SF that clears its sensitivity by the margin
            assert r["rssi_dbm"] >= float(lora.sensitivity_dbm(sf, 125e3, 6.0)) + margin - 0.01
        if sf > 7:
            assert r["rssi_dbm"] < float(lora.sensitivity_dbm(sf - 1, 125e3, 6.0)) + margin + 0.01


def test_links_are_the_same_under_every_policy_and_rerun(farm_dict, farm_run):
    def links(rows, policy):
        return [tuple(r[c] for c in ["node", "x_m", "y_m", *LINK_COLUMNS])
                for r in rows if r["policy"] == policy]  # fmt: skip

    assert links(farm_run.nodes, "on_device") == links(farm_run.nodes, "cloud")
    # Same scenario and seed: the same rows; another seed: other shadowing, other links.
    small = _farm(farm_dict, count=30, days=0.25)
    first, again = twin.run(small).nodes, twin.run(small).nodes
    assert first == again
    other = twin.run(small, seed=7).nodes
    assert links(other, "cloud") != links(first, "cloud")


def test_a_fixed_spreading_factor_is_reported(farm_dict):
    d = _farm(farm_dict, count=20, days=0.25)
    d["groups"]["soil"]["spreading_factor"] = 9
    rows = twin.run(d).nodes
    assert {r["spreading_factor"] for r in rows} == {9}


def test_non_lora_nodes_have_no_radio_facts(tmp_path, ble_run):
    assert all(r[c] is None for r in ble_run.nodes for c in LINK_COLUMNS)
    out = twin.write_results(ble_run, tmp_path / "run")
    with (out / "nodes.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0])[-7:-3] == LINK_COLUMNS
    assert all(r[c] == "" for r in rows for c in LINK_COLUMNS)


# --------------------------------------------------------------------------- the map


def _node_traces(fig):
    return [t for t in fig.data if t.name != "gateway"]


def test_the_section_draws_nodes_and_one_marker_per_gateway(farm_run):
    r = farm_run
    ctx = run_context(r.summary, r.timeseries, r.latency_hist, r.nodes)
    html = site_map_section(ctx, r.nodes)
    assert html.startswith('<section id="sec-map">')
    assert html.count(f'id="{SITE_MAP_ID}"') == 1 and f'id="{SITE_MAP_ID}-fig"' in html
    fig = site_map_figure(ctx, r.nodes)
    gateways = [t for t in fig.data if t.name == "gateway"]
    assert len(gateways) == 1 and len(gateways[0].x) == len(_gateways(r)) == 2
    assert list(gateways[0].text) == list(_gateways(r))
    for gw in _gateways(r):
        assert gw in html
    # The first view (spreading factor): every node once, one trace per SF used.
    first = [t for t in _node_traces(fig) if t.visible]
    assert sum(len(t.x) for t in first) == 120
    used = sorted({n["spreading_factor"] for n in r.nodes})
    assert [t.name for t in first] == [f"SF{sf}" for sf in used]
    labels = [b.label for b in fig.layout.updatemenus[0].buttons]
    assert labels[0].startswith("Spreading factor") and labels[1].startswith("RSSI")
    assert labels[2:] == ["Battery life under on_device", "Battery life under cloud"]
    # Equal scale over the whole site.
    assert fig.layout.yaxis.scaleanchor == "x" and fig.layout.xaxis.range[1] >= 2000.0
    caption = site_map_caption(ctx, r.nodes)
    assert "every one of the 120 nodes" in caption and "2 gateways" in caption
    assert "Spreading factor" in caption and "on_device" in caption


def test_without_gateways_the_map_shows_battery_life(ble_run):
    r = ble_run
    ctx = run_context(r.summary, r.timeseries, r.latency_hist, r.nodes)
    fig = site_map_figure(ctx, r.nodes)
    assert not [t for t in fig.data if t.name == "gateway"]
    shown = [t for t in fig.data if t.visible]
    assert shown and all(t.name == "Battery life" for t in shown)
    assert "no gateways" in site_map_caption(ctx, r.nodes)
    assert f'id="{SITE_MAP_ID}"' in site_map_section(ctx, r.nodes)


def _synthetic(n: int, groups=("soil",), policies=("on_device", "cloud")) -> tuple[dict, list]:
    summary = {"scenario": {"site_m": [1000.0, 500.0],
                            "gateways": [{"id": "gw-<1>", "x_m": 500.0, "y_m": 250.0}]},
               "results": []}  # fmt: skip
    rows = []
    for p in policies:
        for g in groups:
            for i in range(n):
                rows.append({"policy": p, "group": g, "node": i, "x_m": (i * 7.3) % 1000,
                             "y_m": (i * 3.1) % 500, "battery_life_days": 100.0 + i,
                             "spreading_factor": 7 + i % 6, "best_gateway": "gw-<1>",
                             "rssi_dbm": -100.0 - i % 20, "snr_db": 10.0})  # fmt: skip
    return summary, rows


def test_a_large_fleet_is_subsampled_regularly():
    summary, rows = _synthetic(12_000)
    ctx = run_context(summary, rows)
    fig = site_map_figure(ctx, rows)
    first = [t for t in _node_traces(fig) if t.visible]
    drawn = sum(len(t.x) for t in first)
    assert 2_000 < drawn <= MAX_MAP_POINTS
    # Every view draws the same nodes.
    for button in fig.layout.updatemenus[0].buttons:
        visible = button.args[0]["visible"]
        assert sum(len(t.x) for t, v in zip(fig.data, visible, strict=True) if v) == drawn + 1
    caption = site_map_caption(ctx, rows)
    assert f"{drawn:,} of the 12,000 nodes" in caption and f"{MAX_MAP_POINTS:,}" in caption
    assert site_map_figure(ctx, rows).to_json() == fig.to_json()  # a pure function


def test_losses_are_a_view_when_the_rows_carry_them():
    summary, rows = _synthetic(50, groups=("a", "b"))
    for r in rows:
        r["uplinks_lost"] = r["node"] % 4
    ctx = run_context(summary, rows)
    labels = [b.label for b in site_map_figure(ctx, rows).layout.updatemenus[0].buttons]
    assert "Uplinks lost under cloud" in labels
    caption = site_map_caption(ctx, rows)
    assert "per group, not per node" not in caption and "a: circle, b: square" in caption


def test_user_strings_are_escaped_and_empty_inputs_render():
    summary, rows = _synthetic(10, groups=("<script>alert(1)</script>",))
    html = site_map_section(run_context(summary, rows), rows)
    assert "<script>alert" not in html
    empty = site_map_section(run_context({}), [])
    assert f'id="{SITE_MAP_ID}"' in empty and "No node positions" in empty
