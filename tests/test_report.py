"""Tests of the self-contained HTML report (twin.report.render_report)."""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
from html.parser import HTMLParser

import numpy as np
import pytest
from plotly.offline import get_plotlyjs

from twin.report import PLOT_IDS, TABLE_IDS, policy_colours, render_report
from twin.report.figures import build_figures
from twin.report.records import histogram_cdf, run_context
from twin.report.style import POLICY_COLOURS

DAY = 86400.0
HORIZON_S = 30 * DAY
GROUP = "orchard_north"
N_NODES = 20

HEADLINE = ("battery_life_days.median", "latency_s.p95", "bytes_per_node_day", "decision.f1")


# --------------------------------------------------------------------------- fixture


def _result(policy: str) -> dict:
    """One summary result entry, with numbers shaped like a 30-day, 20-node run."""
    node_days = N_NODES * HORIZON_S / DAY
    samples = int(N_NODES * 96 * 30)
    if policy == "on_device":
        energy = {
            "sleep": 1520.0,
            "sense": 2304.0,
            "compute": 1036.8,
            "radio_tx": 210.5,
            "radio_rx": 35.2,
        }
        uplink, delivered, lost = 1240, 1226, {"collision": 9, "duty_cycle": 5}
        phy, payload = 1240 * 37, 1240 * 24
        latency = {"p50": 0.048, "p95": 0.061, "p99": 1.9, "mean": 0.072, "count": 1226}
        battery = {"median": 412.7, "p05": 388.1, "projected": True, "dead_nodes": 0}
        decision = {
            "precision": 0.78,
            "recall": 0.86,
            "f1": 0.818,
            "tp": 310,
            "fp": 87,
            "fn": 50,
            "tn": 56753,
        }
        cloud = {"requests": 0, "utilisation": 0.0, "wait_p95_s": None}
        model = {
            "name": "soil_mlp",
            "variant": "int8",
            "macs": 18432,
            "flash_bytes": 41216,
            "ram_bytes": 6144,
            "board_flash_bytes": 1048576,
            "board_ram_bytes": 262144,
            "latency_s": 0.0123,
            "energy_j": 0.00054,
        }
        inf_dev, inf_cloud = samples, 0
    else:
        energy = {
            "sleep": 1520.0,
            "sense": 2304.0,
            "compute": 12.4,
            "radio_tx": 24890.0,
            "radio_rx": 4120.0,
        }
        uplink, delivered, lost = samples, samples - 2271, {"collision": 2031, "duty_cycle": 240}
        phy, payload = samples * 37, samples * 24
        latency = {"p50": 1.82, "p95": 4.35, "p99": 9.7, "mean": 2.1, "count": samples - 2271}
        battery = {"median": 95.4, "p05": 29.2, "projected": True, "dead_nodes": 2}
        decision = {
            "precision": 0.91,
            "recall": 0.9,
            "f1": 0.905,
            "tp": 312,
            "fp": 31,
            "fn": 35,
            "tn": 54951,
        }
        cloud = {"requests": samples - 2271, "utilisation": 0.031, "wait_p95_s": 0.0042}
        model = None  # the model runs in the cloud: nothing to fit on the board
        inf_dev, inf_cloud = 0, samples - 2271
    total = sum(energy.values())
    return {
        "policy": policy,
        "group": GROUP,
        "nodes": N_NODES,
        "samples": samples,
        "samples_skipped": 12,
        "inferences_device": inf_dev,
        "inferences_cloud": inf_cloud,
        "uplink_messages": uplink,
        "uplink_delivered": delivered,
        "uplink_lost": lost,
        "uplink_bytes": phy,
        "uplink_payload_bytes": payload,
        "downlink_messages": 3,
        "airtime_s": uplink * 0.0566,
        "bytes_per_node_day": phy / node_days,
        "latency_s": latency,
        # All on the device, as records.py writes it for a policy that decides locally.
        "latency_breakdown_s": {
            "on_device": latency["mean"],
            "uplink": 0.0,
            "cloud_queue": 0.0,
            "cloud_service": 0.0,
            "downlink_backhaul": 0.0,
            "rx_window_wait": 0.0,
        },  # fmt: skip
        "energy_j": {**energy, "total": total},
        "energy_per_node_day_j": total / node_days,
        "battery_life_days": battery,
        "decision": decision,
        "cloud": cloud,
        "model": model,
    }


def _summary() -> dict:
    return {
        "scenario": {
            "name": "Orchard soil moisture, 20 nodes",
            "file": "scenarios/orchard.yaml",
            "hash": hashlib.sha256(b"orchard").hexdigest(),
            "horizon_s": HORIZON_S,
            "seed": 42,
        },
        "versions": {
            "twin": "0.1.0",
            "python": "3.11.9",
            "numpy": "1.26.4",
            "simpy": "4.1.1",
            "onnxruntime": "1.17.3",
        },
        "wall_time_s": 12.7,
        "created_utc": "2024-05-01T12:00:00Z",
        "results": [_result("on_device"), _result("cloud")],
    }


def _timeseries() -> list[dict]:
    rows = []
    for policy, life_d, per_hour in (
        ("on_device", 412.7, 1240 * 37 / 720),
        ("cloud", 95.4, 57600 * 37 / 720),
    ):
        for h in range(1, 721):
            t = h * 3600.0
            soc = 1.0 - t / (life_d * DAY)
            rows.append(
                {
                    "policy": policy,
                    "group": GROUP,
                    "time_s": t,
                    "battery_soc_p05": max(soc - 0.04, 0.0),
                    "battery_soc_p50": soc,
                    "battery_soc_p95": min(soc + 0.02, 1.0),
                    "uplink_bytes": per_hour,
                    "airtime_s": per_hour / 37 * 0.0566,
                    "interval_s": 3600.0,
                    "cloud_requests": 0 if policy == "on_device" else 80,
                    "cloud_wait_mean_s": 0.0 if policy == "on_device" else 0.004,
                    "cloud_wait_max_s": 0.0 if policy == "on_device" else 0.03,
                    "cloud_utilisation": 0.0
                    if policy == "on_device"
                    else 0.02 + 0.01 * (h % 24 > 12),
                }
            )
    return rows


def _latency_hist() -> list[dict]:
    rng = np.random.default_rng(7)
    edges = np.logspace(-3, 3, 61)
    rows = []
    for policy, median, n in (("on_device", 0.05, 1226), ("cloud", 1.8, 55329)):
        lat = rng.lognormal(math.log(median), 0.5, size=n)
        counts, _ = np.histogram(lat, bins=edges)
        rows.append(
            {
                "policy": policy,
                "group": GROUP,
                "edges_s": edges.tolist(),
                "counts": counts.astype(int).tolist(),
            }
        )
    return rows


def _nodes() -> list[dict]:
    rng = np.random.default_rng(11)
    rows = []
    for policy, median in (("on_device", 412.7), ("cloud", 95.4)):
        for node in range(N_NODES):
            life = float(rng.normal(median, median * 0.08))
            died = policy == "cloud" and node < 2
            if died:
                life = 27.5 + node
            rows.append(
                {
                    "policy": policy,
                    "group": GROUP,
                    "node": node,
                    "x_m": float(rng.uniform(0, 400)),
                    "y_m": float(rng.uniform(0, 300)),
                    "samples": 2880,
                    "uplink_messages": 62 if policy == "on_device" else 2880,
                    "uplink_bytes": 2294 if policy == "on_device" else 106560,
                    "energy_j": 255.0 if policy == "on_device" else 1642.0,
                    "battery_life_days": life,
                    "projected": not died,
                    "tp": 15,
                    "fp": 4,
                    "fn": 2,
                    "tn": 2837,
                }
            )
    return rows


@pytest.fixture(scope="module")
def inputs() -> tuple[dict, list[dict], list[dict], list[dict]]:
    return _summary(), _timeseries(), _latency_hist(), _nodes()


@pytest.fixture(scope="module")
def report(inputs) -> str:
    return render_report(*inputs)


# --------------------------------------------------------------------------- HTML parsing


class _Collector(HTMLParser):
    """Collect the attributes of every start tag, by tag name."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _tags(doc: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Collector()
    parser.feed(doc)
    parser.close()
    return parser.tags


def _cards(doc: str) -> dict[tuple[str, str], dict[str, str | None]]:
    out = {}
    for _, attrs in _tags(doc):
        if "card-metric" in (attrs.get("class") or "").split():
            out[(attrs["data-policy"], attrs["data-metric"])] = attrs
    return out


def _path(d, path):
    for part in path.split("."):
        d = None if d is None else d.get(part)
    return d


# --------------------------------------------------------------------------- tests


def test_is_one_html_document(report):
    assert report.startswith("<!DOCTYPE html>")
    assert report.count("<html") == 1 and report.rstrip().endswith("</html>")


def test_plotly_inlined_once_and_nothing_external(report):
    bundle = get_plotlyjs()
    assert report.count(bundle) == 1
    head, rest = report.split("</head>", 1)
    assert bundle in head
    outside = report.replace(bundle, "")
    # Outside the plotly.js bundle, there is no URL at all.
    assert "http://" not in outside and "https://" not in outside
    assert "<link" not in outside and "@import" not in outside and "url(" not in outside
    for tag, attrs in _tags(outside):
        for name in ("src", "href"):
            value = attrs.get(name)
            assert value is None or value.startswith("#"), (tag, name, value)
    # One <script> for plotly.js, one per figure, nothing else.
    assert outside.count("<script") == 1 + len(PLOT_IDS)
    assert "cdn.plot.ly" not in outside and "mathjax" not in outside.lower()


def test_every_plot_and_table_present(report):
    ids = {attrs.get("id"): (tag, attrs) for tag, attrs in _tags(report) if attrs.get("id")}
    for plot_id in PLOT_IDS:
        tag, attrs = ids[plot_id]
        assert tag == "div" and "twin-plot" in attrs["class"].split()
        assert f"{plot_id}-fig" in ids  # the plotly graph div inside
        assert report.count(f'id="{plot_id}"') == 1
    for table_id in TABLE_IDS:
        assert ids[table_id][0] == "table"


def test_every_plot_has_title_and_axis_titles(inputs):
    summary, ts, hist, nodes = inputs
    ctx = run_context(summary, ts, hist, nodes)
    by_id = build_figures(ctx, ts, hist, nodes)
    assert list(by_id) == list(PLOT_IDS)
    figs = list(by_id.values())
    for fig in figs:
        assert fig.layout.title.text
        for axis in ("xaxis", "yaxis"):
            title = fig.layout[axis].title.text
            assert title, (fig.layout.title.text, axis)
        assert re.search(r"\[[^\]]+\]", fig.layout.yaxis.title.text), fig.layout.title.text
        assert fig.data, fig.layout.title.text


def test_headline_cards_equal_summary(report, inputs):
    summary = inputs[0]
    cards = _cards(report)
    for result in summary["results"]:
        for metric in HEADLINE:
            attrs = cards[(result["policy"], metric)]
            assert attrs["data-group"] == GROUP
            assert json.loads(attrs["data-value"]) == _path(result, metric)
    assert len(cards) == len(summary["results"]) * len(HEADLINE)


def test_best_policy_marked(report):
    cards = _cards(report)
    best = {
        m: [p for (p, mm), a in cards.items() if mm == m and a["data-best"] == "true"]
        for m in HEADLINE
    }
    assert best == {
        "battery_life_days.median": ["on_device"],
        "latency_s.p95": ["on_device"],
        "bytes_per_node_day": ["on_device"],
        "decision.f1": ["cloud"],
    }
    assert report.count('class="badge"') == 4


def test_table_values_and_units(report, inputs):
    summary = inputs[0]
    table = report.split('id="table-comparison"', 1)[1].split("</table>", 1)[0]
    for header in (
        "Battery life median [d]",
        "Latency p95 [s]",
        "Uplink [B/node·day]",
        "Energy [J/node·day]",
    ):
        assert header in table
    for result in summary["results"]:
        assert f'data-value="{json.dumps(result["energy_per_node_day_j"])}"' in table


def test_policy_colours_consistent(report):
    colours = policy_colours(["cloud", "mystery", "on_device", "other", "mystery"])
    assert colours["cloud"] == POLICY_COLOURS["cloud"]
    assert colours["on_device"] == POLICY_COLOURS["on_device"]
    assert colours["mystery"] != colours["other"]
    assert len(set(colours.values())) == 4
    for policy in ("on_device", "cloud"):
        assert report.count(POLICY_COLOURS[policy]) >= 5  # key, cards, tables, several figures


def test_histogram_cdf():
    x, y, n = histogram_cdf([0.0, 0.01, 0.1, 1.0], [1, 2, 1])
    assert n == 4 and x == [0.01, 0.1, 1.0]  # 0 dropped for the log axis
    assert y == pytest.approx([25.0, 75.0, 100.0])
    assert histogram_cdf([0.1, 1.0], [0]) == ([], [], 0)


def test_inputs_not_modified_and_deterministic(inputs, report):
    before = copy.deepcopy(inputs)
    again = render_report(*inputs)
    assert inputs == before
    assert again == report


def _nulled_summary() -> dict:
    summary = _summary()
    r = summary["results"][0]
    r["latency_s"] = {"p50": None, "p95": None, "p99": None, "mean": None, "count": 0}
    r["decision"] = {
        "precision": None,
        "recall": 0.0,
        "f1": None,
        "tp": 0,
        "fp": 0,
        "fn": 12,
        "tn": 100,
    }
    r["battery_life_days"] = {"median": None, "p05": None, "projected": None, "dead_nodes": None}
    r["bytes_per_node_day"] = None
    r["energy_per_node_day_j"] = None
    r["energy_j"] = {k: None for k in r["energy_j"]}
    r["uplink_lost"] = None
    r["cloud"] = None
    r["model"] = {
        k: None
        for k in (
            "name",
            "variant",
            "macs",
            "flash_bytes",
            "ram_bytes",
            "board_flash_bytes",
            "board_ram_bytes",
            "latency_s",
            "energy_j",
        )
    }
    summary["results"][1]["model"] = None
    summary["wall_time_s"] = None
    summary["versions"]["onnxruntime"] = None
    return summary


def test_null_values_render_na():
    summary = _nulled_summary()
    hist = _latency_hist()
    hist[0]["counts"] = [0] * len(hist[0]["counts"])
    nodes = _nodes()
    for row in nodes[:5]:
        row["battery_life_days"] = None
    ts = _timeseries()
    ts[3]["battery_soc_p50"] = None
    ts[4]["uplink_bytes"] = None
    doc = render_report(summary, ts, hist, nodes)
    cards = _cards(doc)
    for metric in HEADLINE:
        attrs = cards[("on_device", metric)]
        assert attrs["data-value"] == "null" and attrs["data-best"] == "false"
        assert json.loads(cards[("cloud", metric)]["data-value"]) is not None
    assert "n/a" in doc
    for plot_id in PLOT_IDS:
        assert f'id="{plot_id}"' in doc


def test_empty_inputs_still_render():
    doc = render_report({}, [], [], [])
    for plot_id in PLOT_IDS:
        assert f'id="{plot_id}"' in doc
    assert "Unnamed scenario" in doc


def test_unknown_policy_and_several_groups():
    summary = _summary()
    extra = copy.deepcopy(summary["results"][0])
    extra.update(policy="my_policy", group="south")
    summary["results"].append(extra)
    doc = render_report(summary, _timeseries(), _latency_hist(), _nodes())
    cards = _cards(doc)
    assert cards[("my_policy", "decision.f1")]["data-group"] == "south"
    # alone in its group: nothing to compare, so nothing marked best
    assert cards[("my_policy", "decision.f1")]["data-best"] == "false"
    ctx = run_context(summary, [], [], [])
    assert ctx.label(("on_device", GROUP)) == f"on_device / {GROUP}"  # groups told apart
    assert ctx.dash(("on_device", GROUP)) != ctx.dash(("my_policy", "south"))
    assert ctx.colour(("my_policy", "south")) not in POLICY_COLOURS.values()


def test_user_strings_are_escaped():
    evil = "<script>alert('x')</script>"
    summary = _summary()
    summary["scenario"]["name"] = evil
    summary["scenario"]["file"] = f"scenarios/{evil}.yaml"
    summary["versions"]["plugin"] = evil
    summary["created_utc"] = evil
    for r in summary["results"]:
        r["group"] = evil
    summary["results"][0]["model"]["name"] = evil
    ts, hist, nodes = _timeseries(), _latency_hist(), _nodes()
    for rows in (ts, hist, nodes):
        for row in rows:
            row["group"] = evil
    doc = render_report(summary, ts, hist, nodes)
    outside = doc.replace(get_plotlyjs(), "")
    assert "<script>alert" not in outside
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in outside
    assert outside.count("<script") == 1 + len(PLOT_IDS)
    assert outside.count("</script>") == 1 + len(PLOT_IDS)
    cards = _cards(doc)
    assert cards[("cloud", "decision.f1")]["data-group"] == evil  # round-trips via the parser


def test_fault_hours_are_the_time_a_fault_was_on_not_a_sum_over_targets():
    from twin.report.tables import _faults_text

    both = [
        {"kind": "gateway_outage", "target": gw, "start_s": 0.0, "end_s": 6 * 3600.0}
        for gw in ("gw-a", "gw-b")
    ]
    later = {"kind": "gateway_outage", "target": "gw-a", "start_s": 5 * 3600.0, "end_s": 8 * 3600.0}
    assert _faults_text(both) == "gateway outage: 2 intervals on 2 targets, 6 h in all"
    assert _faults_text([*both, later]).endswith("3 intervals on 2 targets, 8 h in all")
