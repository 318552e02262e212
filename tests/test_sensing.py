"""Sensing duty: what a reading costs when the CPU sleeps while a FIFO or DMA buffer fills."""

from __future__ import annotations

import copy
import doctest
import subprocess
import sys

import pytest
import yaml

import twin
from twin.physics import sensing
from twin.profiles import load_profile

SENSOR = """\
id: my-probe
name: the farm's probe read {how}
extends: soil-capacitive
{extra}
"""


def test_docstring_examples():
    result = doctest.testmod(sensing)
    assert result.attempted >= 3 and result.failed == 0


def test_fifo_cost_closed_form():
    # MAX30003-like: 77 uA for a 4 s window at 128 sps, a 32-sample FIFO, 1 ms per drain, on
    # an MCU at 5 mA awake / 5 uA asleep. Awake throughout: (77e-6 + 5e-3 - 5e-6) x 4 s;
    # through the FIFO: 77e-6 x 4 s + 16 x 1 ms x (5e-3 - 5e-6).
    cont = sensing.reading_cost("continuous", 4.0, 77e-6, 5e-3, 5e-6)
    fifo = sensing.reading_cost("fifo", 4.0, 77e-6, 5e-3, 5e-6, 128.0, 32, 1e-3)
    assert cont.total_c == pytest.approx((77e-6 + 5e-3 - 5e-6) * 4.0, rel=1e-12)
    assert fifo.wakeups == 16
    assert fifo.total_c == pytest.approx(77e-6 * 4.0 + 16 * 1e-3 * (5e-3 - 5e-6), rel=1e-12)
    one = sensing.reading_cost("one_shot", 0.0069, 321e-6, 5e-3, 5e-6, read_s=5e-4)
    assert one.wakeups == 1 and one.cpu_c == pytest.approx(5e-4 * (5e-3 - 5e-6))
    # A window shorter than one FIFO fill still costs one wake-up.
    assert sensing.wakeups(0.01, 100.0, 32) == 1


def _project(tmp_path, small_farm, how: str, extra: str) -> str:
    folder = tmp_path / how
    (folder / "device_profiles" / "sensors").mkdir(parents=True)
    text = SENSOR.format(how=how, extra=extra)
    (folder / "device_profiles" / "sensors" / "my-probe.yaml").write_text(text)
    d = copy.deepcopy(small_farm)
    d["groups"]["soil"]["sensor"] = "my-probe"
    d["policies"] = ["on_device"]
    d.pop("objective", None)
    path = folder / "s.yaml"
    path.write_text(yaml.safe_dump(d))
    return str(path)


FIFO = """\
acquisition: fifo
acquisition_source: test
sample_rate_hz: 1000
sample_rate_hz_source: test
fifo_samples: 8
fifo_samples_source: test
read_s: 0.0005
read_s_source: test
peripheral_current_a: 0.0002
peripheral_current_a_source: test
standby_current_a: 0.000001
standby_current_a_source: test
"""


def test_the_ledger_books_what_the_firmware_draws(tmp_path, small_farm):
    # The same probe read with the CPU awake for its 20 ms, then through an 8-sample FIFO at
    # 1 kHz (3 wake-ups of 0.5 ms, a 0.2 mA peripheral) with a 1 uA standby: sensing energy
    # per reading and the sleep floor follow the closed form exactly.
    runs = {}
    awake_extra = "acquisition: continuous\nacquisition_source: test"
    for how, extra in (("awake", awake_extra), ("fifo", FIFO)):
        path = _project(tmp_path, small_farm, how, extra)
        runs[how] = twin.run(path).result("on_device", "soil")
    board = load_profile("board", "nano33ble")
    probe = load_profile("sensor", "soil-capacitive")
    samples = runs["fifo"]["samples"]
    assert samples == runs["awake"]["samples"] > 0
    awake = (probe.current_a + board.active_current_a - board.sleep_current_a) * probe.duration_s
    fifo = sensing.reading_cost(
        "fifo", probe.duration_s, probe.current_a - 1e-6, board.active_current_a,
        board.sleep_current_a, 1000.0, 8, 5e-4, 2e-4,
    )  # fmt: skip
    assert fifo.wakeups == 3
    volts = board.supply_v
    assert runs["awake"]["energy_j"]["sense"] == pytest.approx(samples * awake * volts, rel=1e-9)
    assert runs["fifo"]["energy_j"]["sense"] == pytest.approx(
        samples * fifo.total_c * volts, rel=1e-9
    )
    # The standby joins the sleep floor for the whole horizon of every node.
    node_s = small_farm["groups"]["soil"]["count"] * small_farm["world"]["horizon_days"] * 86_400
    extra_sleep = runs["fifo"]["energy_j"]["sleep"] - runs["awake"]["energy_j"]["sleep"]
    assert extra_sleep == pytest.approx(1e-6 * volts * node_s, rel=1e-3)


def test_an_unknown_acquisition_is_refused(tmp_path, small_farm):
    path = _project(tmp_path, small_farm, "dma", "acquisition: dma\nacquisition_source: test")
    out = subprocess.run(
        [sys.executable, "-m", "twin", "validate", path], capture_output=True, text=True
    )
    assert out.returncode == 2
    assert "acquisition" in out.stderr and "continuous, fifo, one_shot" in out.stderr


def test_a_fifo_without_its_figures_is_refused(tmp_path, small_farm):
    path = _project(tmp_path, small_farm, "bare", "acquisition: fifo\nacquisition_source: test")
    out = subprocess.run(
        [sys.executable, "-m", "twin", "validate", path], capture_output=True, text=True
    )
    assert out.returncode == 2
    assert "sample_rate_hz" in out.stderr
