"""Tests of the parameter-study report (twin.report.study); its statistics: test_analysis.py."""

from __future__ import annotations

import base64
import copy
import json
import math
import re
from html.parser import HTMLParser

import numpy as np
import pytest
from plotly.offline import get_plotlyjs

from twin.analysis import mean_ci, pareto_mask, spearman
from twin.report.study import STUDY_PLOT_IDS, STUDY_TABLE_IDS, render_study_report
from twin.report.style import POLICY_COLOURS

PERIOD = "groups.soil.sampling_period_s"
MODE = "groups.soil.model.variant"
PERIODS = (300, 900, 1800)
MODES = ("int8", "fp32", "float16")
SEEDS = (1, 2, 3)
POLICIES = ("on_device", "cloud")
METRICS = [
    "battery_life_days.median",
    "latency_s.p95",
    "decision.f1",
    "bytes_per_node_day",
    "outcome.water_stress_h_per_node_day",
]
EVIL = "<script>alert('x')</script>"
ERROR = f"Traceback (most recent call last):\nRuntimeError: boom & {EVIL}"


# --------------------------------------------------------------------------- fixtures


def _metrics(period: float, mode: str, seed: int, policy: str, rng) -> dict:
    """Metric values shaped like a small farm study (longer period: longer life)."""
    on_device = policy == "on_device"
    life = period / 3.0 * (1.4 if on_device else 0.6) + rng.normal(0, 10)
    return {
        "battery_life_days.median": life if seed != 3 or period != 300 else None,
        "latency_s.p95": (0.05 if on_device else 2.0) * (1 + 0.2 * MODES.index(mode))
        + rng.uniform(0, 0.01),
        "decision.f1": 0.8 - 0.05 * MODES.index(mode) + rng.normal(0, 0.01),
        "bytes_per_node_day": 86400 / period * (24 if on_device else 60) + rng.normal(0, 1),
        "outcome.water_stress_h_per_node_day": rng.uniform(0, 1),
    }


def _study(**changes) -> dict:
    study = {
        "name": "farm_period_mode",
        "scenario": "scenarios/farm.yaml",
        "sampling": "grid",
        "parameters": [PERIOD, MODE],
        "metrics": list(METRICS),
        "seeds": list(SEEDS),
        "runs_planned": len(PERIODS) * len(MODES) * len(SEEDS) + 1,
        "runs_failed": 1,
        "versions": {"twin": "0.1.0", "numpy": "2.0"},
        "wall_time_s": 123.4,
        "executor": "process (2)",
    }
    study.update(changes)
    return study


def _rows(failed: bool = True) -> list[dict]:
    """2 parameters x 3 values x 3 seeds x 2 policies, plus one failed run."""
    rng = np.random.default_rng(7)
    rows = []
    config = 0
    for period in PERIODS:
        for mode in MODES:
            for seed in SEEDS:
                for policy in POLICIES:
                    rows.append(
                        {
                            "run": f"c{config:03d}-s{seed}",
                            "config": config,
                            "seed": seed,
                            "status": "ok",
                            "error": None,
                            "policy": policy,
                            "group": "soil",
                            f"param.{PERIOD}": period,
                            f"param.{MODE}": mode,
                            **_metrics(period, mode, seed, policy, rng),
                        }
                    )
            config += 1
    if failed:
        rows.append(
            {
                "run": f"c{config:03d}-s1",
                "config": config,
                "seed": 1,
                "status": "error",
                "error": ERROR,
                "policy": None,
                "group": None,
                f"param.{PERIOD}": 3600,
                f"param.{MODE}": "int4",
                **dict.fromkeys(METRICS),
            }
        )
    return rows


@pytest.fixture(scope="module")
def report() -> str:
    return render_study_report(_study(), _rows())


# --------------------------------------------------------------------------- parsing helpers


class _Collector(HTMLParser):
    """Every start tag with its attributes, and the text of every table cell."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.tables: dict[str, list[tuple[dict, list[tuple[dict, str]]]]] = {}
        self._table: str | None = None
        self._row: tuple[dict, list] | None = None
        self._cell: list | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "table":
            self._table = attrs.get("id")
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self._row = (attrs, [])
        elif tag in ("td", "th") and self._row is not None:
            self._cell = [attrs, ""]

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row[1].append((self._cell[0], self._cell[1]))
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table is not None:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[1] += data


def _parse(doc: str) -> _Collector:
    p = _Collector()
    p.feed(doc.replace(get_plotlyjs(), ""))
    return p


def _figure(doc: str, plot_id: str) -> tuple[list[dict], dict]:
    """The (data, layout) plotly draws in ``<div id="{plot_id}-fig">``."""
    start = doc.index(f'"{plot_id}-fig",', doc.index(f'id="{plot_id}-fig"'))
    dec = json.JSONDecoder()
    pos = start + len(f'"{plot_id}-fig",')
    while doc[pos].isspace():
        pos += 1
    data, pos = dec.raw_decode(doc, pos)
    while doc[pos].isspace() or doc[pos] == ",":
        pos += 1
    layout, _ = dec.raw_decode(doc, pos)
    return data, layout


def _arr(v) -> list:
    """A plotly array, decoding plotly's base64 typed arrays."""
    if isinstance(v, dict) and "bdata" in v:
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"]).tolist()
    return list(v)


def _value(attrs: dict):
    return json.loads(attrs["data-value"])


def _close(a, b, rel=1e-12) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-12)


def _seed_values(rows: list[dict], config: int, policy: str, metric: str) -> list:
    return [
        r[metric]
        for r in rows
        if r["status"] == "ok" and r["config"] == config and r["policy"] == policy
    ]


# --------------------------------------------------------------------------- the document


def test_is_one_html_document(report):
    assert report.startswith("<!DOCTYPE html>")
    assert report.count("<html") == 1 and report.rstrip().endswith("</html>")
    assert report.count("<body") == 1 and report.count("</body>") == 1


def test_plotly_inlined_once_and_nothing_external(report):
    bundle = get_plotlyjs()
    assert report.count(bundle) == 1
    head, _ = report.split("</head>", 1)
    assert bundle in head
    outside = report.replace(bundle, "")
    assert "http://" not in outside and "https://" not in outside
    assert 'src="http' not in report and "cdn.plot.ly" not in outside
    assert "<link" not in outside and "url(" not in outside
    for _, attrs in _parse(report).tags:
        assert "src" not in attrs
        assert attrs.get("href") is None or attrs["href"].startswith("#")
    # One <script> for plotly.js, one per figure, nothing else.
    assert outside.count("<script") == 1 + len(STUDY_PLOT_IDS)


def test_every_plot_and_table_present(report):
    tags = _parse(report).tags
    ids = {attrs["id"]: (tag, attrs) for tag, attrs in tags if attrs.get("id")}
    for plot_id in STUDY_PLOT_IDS:
        tag, attrs = ids[plot_id]
        assert tag == "div" and "twin-plot" in attrs["class"].split()
        assert f"{plot_id}-fig" in ids
        assert report.count(f'id="{plot_id}"') == 1
    for table_id in STUDY_TABLE_IDS:
        assert ids[table_id][0] == "table"
        assert report.count(f'id="{table_id}"') == 1


def test_provenance_table(report):
    rows = {cells[0][1]: cells[1] for _, cells in _parse(report).tables["table-study"]}
    assert rows["Study"][1] == "farm_period_mode"
    assert rows["Sampling"][1] == "grid"
    assert PERIOD in rows["Parameters"][1] and MODE in rows["Parameters"][1]
    assert rows["Seeds"][1].startswith("1, 2, 3")
    assert _value(rows["Runs planned"][0]) == 28 and _value(rows["Runs failed"][0]) == 1
    assert rows["Executor"][1] == "process (2)"
    assert _value(rows["Wall time"][0]) == 123.4
    assert "twin" in rows["Versions"][1] and "0.1.0" in rows["Versions"][1]


def test_missing_study_values_render_na():
    doc = render_study_report({"name": None, "versions": None, "wall_time_s": None}, _rows())
    rows = {cells[0][1]: cells[1] for _, cells in _parse(doc).tables["table-study"]}
    for key in ("Study", "Base scenario", "Sampling", "Executor", "Wall time", "Versions"):
        assert rows[key][1] == "n/a", key
    assert _value(rows["Runs planned"][0]) is None
    # Without the study's lists, parameters and metrics come from the table's columns.
    sens = _parse(doc).tables["table-sensitivity"]
    assert {a.get("data-param") for a, _ in sens if a} == {PERIOD, MODE}


def test_empty_study_still_has_every_id():
    doc = render_study_report({}, [])
    for element_id in STUDY_PLOT_IDS + STUDY_TABLE_IDS:
        assert doc.count(f'id="{element_id}"') == 1, element_id
    assert "n/a: needs" in doc


# --------------------------------------------------------------------------- sensitivity


def test_sensitivity_has_a_panel_per_metric_and_parameter(report):
    data, layout = _figure(report, "plot-sensitivity")
    xaxes = [k for k in layout if k.startswith("xaxis")]
    yaxes = [k for k in layout if k.startswith("yaxis")]
    assert len(xaxes) == len(yaxes) == len(METRICS) * 2
    panels = {(t["xaxis"], t["yaxis"]) for t in data}
    assert len(panels) == len(METRICS) * 2  # every panel has data
    assert len(data) == len(METRICS) * 2 * len(POLICIES)
    attrs = dict(
        next(a for t, a in _parse(report).tags if a.get("id") == "plot-sensitivity").items()
    )
    assert attrs["data-rows"] == str(len(METRICS)) and attrs["data-cols"] == "2"
    assert layout["title"]["text"]
    # Units on the axes: the sampling period in seconds, battery life in days.
    titles = [layout[k].get("title", {}).get("text", "") for k in xaxes]
    assert any(PERIOD in t and "[s]" in t for t in titles)
    assert any(MODE in t for t in titles)
    ytitles = [layout[k].get("title", {}).get("text", "") for k in yaxes]
    assert any("Battery life" in t and "[d]" in t for t in ytitles)
    assert sum(bool(t) for t in ytitles) == len(METRICS)
    # The categorical parameter is laid out as categories.
    assert any(layout[k].get("type") == "category" for k in xaxes)
    # Colour per policy, from the run report's palette.
    colours = {t["name"]: t["line"]["color"] for t in data}
    assert colours == {p: POLICY_COLOURS[p] for p in POLICIES}


def test_sensitivity_points_are_main_effect_means_with_ci(report):
    rows = _rows()
    data, _ = _figure(report, "plot-sensitivity")
    # Row 1 (battery life) x column 1 (period): the first panel.
    panel = [t for t in data if t["xaxis"] == "x" and t["yaxis"] == "y"]
    assert {t["name"] for t in panel} == set(POLICIES)
    for trace in panel:
        xs, ys = _arr(trace["x"]), _arr(trace["y"])
        hws = _arr(trace["error_y"]["array"])
        assert xs == [float(p) for p in PERIODS]
        for x, y, hw in zip(xs, ys, hws, strict=True):
            values = [
                r["battery_life_days.median"]
                for r in rows
                if r["status"] == "ok"
                and r["policy"] == trace["name"]
                and r[f"param.{PERIOD}"] == x
            ]
            mean, half, n = mean_ci(values)
            assert n == (6 if x == 300 else 9)  # seed 3 has no battery life at period 300
            assert _close(y, mean) and _close(hw, half)
    # Column 2 (variant) is categorical: categories in order of appearance.
    panel = [t for t in data if t["xaxis"] == "x2" and t["yaxis"] == "y2"]
    assert all(_arr(t["x"]) == list(MODES) for t in panel)


def test_sensitivity_table_has_rank_correlation_and_range(report):
    rows = _rows()
    ok = [r for r in rows if r["status"] == "ok"]
    table = [(a, cells) for a, cells in _parse(report).tables["table-sensitivity"] if a]
    assert len(table) == len(METRICS) * 2 * len(POLICIES)
    for attrs, cells in table:
        metric, param, policy = attrs["data-metric"], attrs["data-param"], attrs["data-policy"]
        mine = [r for r in ok if r["policy"] == policy]
        rho_cell, range_cell = cells[6][0], cells[8][0]
        if param == PERIOD:
            expected = spearman([r[f"param.{param}"] for r in mine], [r[metric] for r in mine])
            assert _close(_value(rho_cell), expected)
        else:
            assert _value(rho_cell) is None and cells[6][1] == "n/a"
        levels = PERIODS if param == PERIOD else MODES
        means = [mean_ci([r[metric] for r in mine if r[f"param.{param}"] == v])[0] for v in levels]
        assert _close(_value(range_cell), max(means) - min(means), rel=1e-9)
    # The knob that drives battery life shows a strong positive correlation.
    battery = [
        _value(c[6][0])
        for a, c in table
        if a["data-metric"] == "battery_life_days.median" and a["data-param"] == PERIOD
    ]
    assert all(v > 0.8 for v in battery)


def test_many_distinct_values_are_binned_into_eight_quantile_bins():
    rng = np.random.default_rng(3)
    rows = []
    for config in range(40):
        period = float(rng.uniform(60, 3600))
        for seed in (1, 2):
            for group in ("soil", "weather"):
                rows.append(
                    {
                        "run": f"c{config:03d}-s{seed}",
                        "config": config,
                        "seed": seed,
                        "status": "ok",
                        "error": None,
                        "policy": "cascade",
                        "group": group,
                        f"param.{PERIOD}": period,
                        "battery_life_days.median": period / 10 + rng.normal(),
                        "latency_s.p95": 0.5,
                        "decision.f1": 0.7,
                    }
                )
    study = {"name": "lhs", "sampling": "lhs", "parameters": [PERIOD], "metrics": METRICS[:3]}
    doc = render_study_report(study, rows)
    data, layout = _figure(doc, "plot-sensitivity")
    periods = sorted({r[f"param.{PERIOD}"] for r in rows})
    edges = np.quantile(periods, np.linspace(0, 1, 9))
    centres = (0.5 * (edges[:-1] + edges[1:])).tolist()
    first = [t for t in data if t["xaxis"] == "x"]
    assert len(first) == 2  # one line per group, dashed differently
    assert first[0]["line"]["dash"] != first[1]["line"]["dash"]
    for trace in first:
        assert np.allclose(_arr(trace["x"]), centres)
        assert sum(1 for _ in _arr(trace["x"])) == 8
    assert "quantile bins" in layout["xaxis3"]["title"]["text"]


# --------------------------------------------------------------------------- Pareto front

# (battery life [d], latency p95 [s], F1) per configuration of the on_device policy.
PARETO_CASE = {
    0: (100.0, 1.0, 0.80),  # dominated by 3 (same life and latency, lower F1)
    1: (50.0, 0.5, 0.80),  # front: fastest
    2: (40.0, 2.0, 0.70),  # dominated by 0, 1, 3
    3: (100.0, 1.0, 0.90),  # front
    4: (200.0, 5.0, 0.60),  # front: longest life
    5: (150.0, 5.0, 0.60),  # dominated by 4
    6: (30.0, 0.6, 0.95),  # front: best F1
}
PARETO_FRONT = {1, 3, 4, 6}


def _pareto_rows() -> list[dict]:
    rows = []
    for config, (life, latency, f1) in PARETO_CASE.items():
        for policy in ("on_device", "cloud"):
            for seed, scale in ((1, 0.9), (2, 1.1)):  # the seed mean is the value above
                cloud = policy == "cloud"
                rows.append(
                    {
                        "run": f"c{config:03d}-s{seed}",
                        "config": config,
                        "seed": seed,
                        "status": "ok",
                        "error": None,
                        "policy": policy,
                        "group": "soil",
                        "param.x": config * 10,
                        "battery_life_days.median": (10.0 if cloud else life) * scale,
                        "latency_s.p95": 10.0 if cloud else latency,
                        "decision.f1": 0.5 if cloud else f1,
                    }
                )
    return rows


def test_pareto_table_lists_exactly_the_front():
    rows = _pareto_rows()
    study = {"name": "pareto", "parameters": ["x"], "metrics": METRICS[:3]}
    doc = render_study_report(study, rows)
    table = [(a, c) for a, c in _parse(doc).tables["table-pareto"] if a]
    found = {(json.loads(a["data-config"]), a["data-policy"]) for a, _ in table}
    assert found == {(c, "on_device") for c in PARETO_FRONT}
    # The same set as pareto_mask on the seed means (maximise life, minimise latency, max F1).
    keys, points = [], []
    for config in PARETO_CASE:
        for policy in ("on_device", "cloud"):
            mine = [r for r in rows if r["config"] == config and r["policy"] == policy]
            keys.append((config, policy))
            points.append([mean_ci([r[m] for r in mine])[0] for m in METRICS[:3]])
    mask = pareto_mask(np.array(points), [True, False, True])
    assert found == {k for k, on in zip(keys, mask, strict=True) if on}
    # The table carries the parameters and the three metrics.
    for attrs, cells in table:
        life, latency, f1 = PARETO_CASE[json.loads(attrs["data-config"])]
        values = [_value(c[0]) for c in cells[4:7]]
        assert _close(values[0], life, rel=1e-9) and values[1:] == [latency, f1]
        assert _value(cells[3][0]) == json.loads(attrs["data-config"]) * 10
    # The plot draws the front filled with a black outline, the rest faint.
    data, layout = _figure(doc, "plot-pareto")
    front = [t for t in data if t.get("meta") == "pareto-optimal"]
    assert len(front) == 1 and front[0]["marker"]["line"]["color"] == "#000000"
    assert sorted(_arr(front[0]["x"])) == sorted(PARETO_CASE[c][1] for c in PARETO_FRONT)
    dominated = [t for t in data if t.get("meta") == "dominated"]
    assert sum(len(_arr(t["x"])) for t in dominated) == 2 * len(PARETO_CASE) - len(PARETO_FRONT)
    assert all("rgba" in t["marker"]["color"] for t in dominated)
    assert layout["xaxis"]["type"] == "log" and "[s]" in layout["xaxis"]["title"]["text"]
    assert "[d]" in layout["yaxis"]["title"]["text"]
    # F1 in the hover, with the parameter values.
    assert all("F1" in text and "x = " in text for t in data for text in t["text"])


def test_missing_pareto_metric_gives_a_note():
    rows = [{k: v for k, v in r.items() if k != "decision.f1"} for r in _rows()]
    study = _study(metrics=[m for m in METRICS if m != "decision.f1"])
    doc = render_study_report(study, rows)
    note = "n/a: needs battery_life_days.median, latency_s.p95 and decision.f1"
    assert note in doc
    for element_id in ("plot-pareto", "table-pareto"):
        assert doc.count(f'id="{element_id}"') == 1
    # Only the sensitivity figure is drawn.
    assert doc.replace(get_plotlyjs(), "").count("<script") == 2


# --------------------------------------------------------------------------- CI and failures


def test_ci_table_equals_mean_ci_over_seeds(report):
    rows = _rows()
    table = [(a, c) for a, c in _parse(report).tables["table-ci"] if a]
    assert len(table) == len(PERIODS) * len(MODES) * len(POLICIES)
    checked = 0
    for attrs, cells in table:
        config, policy = json.loads(attrs["data-config"]), attrs["data-policy"]
        metric_cells = [c for c, _ in cells if "data-metric" in c]
        assert [c["data-metric"] for c in metric_cells] == METRICS
        for cell in metric_cells:
            mean, half, n = mean_ci(_seed_values(rows, config, policy, cell["data-metric"]))
            assert _close(_value(cell), mean)
            hw = json.loads(cell["data-half-width"])
            assert _close(hw, None if math.isnan(half) else half)
            assert int(cell["data-n"]) == n
            checked += 1
    assert checked == len(table) * len(METRICS)
    # The text shows "mean ± half-width (n)".
    texts = [text for c, text in table[0][1] if "data-metric" in c]
    assert all(re.fullmatch(r"\S+ ± \S+ \([23]\)", t) for t in texts), texts


def test_failed_run_is_listed_and_escaped(report):
    table = [(a, c) for a, c in _parse(report).tables["table-failures"] if a]
    assert len(table) == 1
    attrs, cells = table[0]
    assert attrs["data-run"] == "c009-s1"
    assert cells[-1][1] == ERROR  # round-trips through the parser
    assert [c[1] for c in cells[3:5]] == ["3600", "int4"]
    outside = report.replace(get_plotlyjs(), "")
    assert EVIL not in outside
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in outside
    assert "boom &amp; " in outside
    assert outside.count("<script") == outside.count("</script>") == 1 + len(STUDY_PLOT_IDS)


def test_no_failure_gives_a_none_row():
    doc = render_study_report(_study(runs_failed=0), _rows(failed=False))
    rows = _parse(doc).tables["table-failures"]
    assert [cells[0][1] for _, cells in rows[1:]] == ["none"]


def test_user_strings_are_escaped_everywhere():
    rows = _rows()
    for r in rows:
        if r["status"] == "ok":
            r["group"] = EVIL
    doc = render_study_report(_study(name=EVIL, scenario=EVIL, versions={"x": EVIL}), rows)
    outside = doc.replace(get_plotlyjs(), "")
    assert EVIL not in outside
    assert outside.count("<script") == 1 + len(STUDY_PLOT_IDS)


# --------------------------------------------------------------------------- purity


def test_deterministic_and_inputs_untouched():
    study, rows = _study(), _rows()
    before = copy.deepcopy((study, rows))
    first = render_study_report(study, rows)
    assert (study, rows) == before
    second = render_study_report(copy.deepcopy(study), copy.deepcopy(rows))
    assert first == second
