"""The report in a real browser: every plot renders, no console errors, numbers match.

Needs Debian's chromium and chromium-driver (``.ci/run`` installs them) and selenium (test
extra). Where no browser is installed the test is skipped, and says so.
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest

import twin
from twin.report import PLOT_IDS

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def _driver():
    webdriver = pytest.importorskip("selenium.webdriver")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    chromedriver = shutil.which("chromedriver")
    if not chromium or not chromedriver:
        pytest.skip("chromium and chromium-driver are not installed (.ci/run installs them)")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    # The machine has no network: keep Chromium from trying to reach Google's services.
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1300,1000",
    ):
        opts.add_argument(flag)  # fmt: skip
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(chromedriver), options=opts)


def test_report_renders_offline_in_chromium(tmp_path, small_farm):
    d = copy.deepcopy(small_farm)
    out = twin.write_results(twin.run(d), tmp_path / "run")
    driver = _driver()
    try:
        driver.get((out / "report.html").as_uri())
        from selenium.webdriver.support.ui import WebDriverWait

        # plotly marks each rendered graph with the class "js-plotly-plot".
        WebDriverWait(driver, 60).until(
            lambda drv: (
                drv.execute_script("return document.querySelectorAll('.js-plotly-plot').length")
                >= len(PLOT_IDS)
            )
        )
        for plot_id in PLOT_IDS:
            rendered = driver.execute_script(
                "const el = document.getElementById(arguments[0]);"
                "return el !== null && el.querySelector('.js-plotly-plot .main-svg') !== null;",
                plot_id,
            )
            assert rendered, f"{plot_id} did not render"
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []
        # The headline cards carry the summary's numbers (one source of truth).
        summary = json.loads((out / "summary.json").read_text())
        cards = driver.execute_script(
            "return Array.from(document.querySelectorAll('.card-metric[data-metric]')).map(e => "
            "[e.dataset.policy, e.dataset.metric, e.dataset.value]);"
        )
        assert cards
        for policy, metric, value in cards:
            entry = next(r for r in summary["results"] if r["policy"] == policy)
            expected = entry
            for part in metric.split("."):
                expected = expected[part]
            assert json.loads(value) == pytest.approx(expected)
        # ...and the per-node table adds up to the same cards.
        _check_cards_against_nodes(cards, out, summary)
        # The verdict's cells are summary.json's verdict, and its sentence is on the page.
        cells = driver.execute_script(
            "return Array.from(document.querySelectorAll('td[data-leader]')).map(e => "
            "[e.dataset.group, e.dataset.metric, e.dataset.policy, e.dataset.value, "
            "e.dataset.leader]);"
        )
        verdicts = {v["group"]: v for v in summary["verdict"]}
        assert len(cells) == sum(len(m["values"]) for v in verdicts.values() for m in v["metrics"])
        for group, metric, policy, value, leader in cells:
            row = next(m for m in verdicts[group]["metrics"] if m["name"] == metric)
            assert json.loads(value) == pytest.approx(row["values"][policy])
            assert (leader == "true") == (row["leader"] == policy)
        text = driver.execute_script("return document.getElementById('sec-verdict').innerText")
        for v in verdicts.values():
            assert v["sentence"] in text
        # The site map draws every gateway of the scenario.
        gateways = driver.execute_script(
            "const fig = document.getElementById('plot-site-map-fig');"
            "return fig.data.filter(t => t.name === 'gateway')"
            ".map(t => t.x.length).reduce((a, b) => a + b, 0);"
        )
        assert gateways == len(summary["scenario"]["gateways"]), gateways
        ARTIFACTS.mkdir(exist_ok=True)
        driver.set_window_size(1300, 6000)
        driver.save_screenshot(str(ARTIFACTS / "report.png"))
        assert (ARTIFACTS / "report.png").stat().st_size > 10_000
    finally:
        driver.quit()


def _check_cards_against_nodes(cards: list, out: Path, summary: dict) -> None:
    import csv

    import numpy as np

    with (out / "nodes.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    days = summary["scenario"]["horizon_s"] / 86_400.0
    for policy, metric, value in cards:
        mine = [r for r in rows if r["policy"] == policy]
        shown = json.loads(value)
        if metric == "bytes_per_node_day":
            expected = sum(int(r["uplink_bytes"]) for r in mine) / len(mine) / days
        elif metric == "battery_life_days.median":
            expected = float(np.median([float(r["battery_life_days"]) for r in mine]))
        elif metric == "decision.f1":
            tp, fp, fn = (sum(int(r[c]) for r in mine) for c in ("tp", "fp", "fn"))
            expected = 2 * tp / (2 * tp + fp + fn)
        else:
            continue  # latency percentiles come from the histogram, not from nodes.csv
        assert shown == pytest.approx(expected, rel=1e-9), (policy, metric)
