"""Battery physics against vendor curves, and ledger properties of whole runs."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import twin
from twin.errors import ScenarioError
from twin.physics import battery
from twin.profiles import load_profile


def test_alkaline_aa_rate_dependence_against_vendor_curve():
    # Energizer AA alkaline to 0.8 V (vendor graphs, hardware reference section 4):
    # 3000 / 2600 / 1600 / 1000 mAh at 25 / 100 / 500 / 1000 mA. The profile's Peukert exponent
    # is fitted to these points; one exponent cannot follow the curve's knee, so a point may
    # be off by up to 25 % (worst here: 100 mA, -22 %) while the high-drain end is close.
    aa = load_profile("battery", "aa-alkaline-2s")
    currents = np.array([0.025, 0.1, 0.5, 1.0])
    published = np.array([3000, 2600, 1600, 1000])
    model = battery.peukert_capacity_mah(3000, 0.025, currents, aa.peukert_exponent)
    np.testing.assert_allclose(model, published, rtol=0.25)
    assert model[-1] == pytest.approx(1000, rel=0.06)
    # Capacity falls monotonically with load, and never exceeds the rated capacity.
    assert np.all(np.diff(model) < 0) and model[0] == 3000


def test_rated_capacities():
    # At their rated loads the cells deliver their datasheet capacities: CR2032 225 mAh at
    # 0.2 mA (encyc / Wikipedia), 2 x AA E91 2850 mAh at low drain, ER10450 800 mAh at 0.5 mA.
    for pid, mah, amps in (("cr2032", 225, 0.0002), ("aa-alkaline-2s", 2850, 0.025),
                           ("er10450", 800, 0.0005)):  # fmt: skip
        b = load_profile("battery", pid)
        got = battery.peukert_capacity_mah(
            b.capacity_mah, b.rated_current_a, amps, b.peukert_exponent
        )
        assert got == pytest.approx(mah)
        # Lower loads do not create capacity (Peukert's law is clamped at the rated current).
        low = battery.peukert_capacity_mah(b.capacity_mah, b.rated_current_a, amps / 100, 1.3)
        assert low == pytest.approx(mah)


def test_self_discharge():
    # Li-SOCl2 (EEMB ER10450): 1 % per year -> 8 mAh of 800 mAh after one year.
    b = load_profile("battery", "er10450")
    lost = battery.self_discharge_c(b.capacity_c, b.self_discharge_per_year, battery.YEAR_S)
    assert lost / 3.6 == pytest.approx(8.0)


def test_cr2032_cannot_feed_a_lora_burst():
    # CR2032: 15 mA max pulse (generic datasheet); SX1262-class TX at +14 dBm draws 41.5 mA.
    cr = load_profile("battery", "cr2032")
    radio = load_profile("radio", "sx1262")
    warning = battery.pulse_warning(cr.id, cr.max_pulse_current_a, radio.tx_current_a)
    assert warning is not None and "cr2032" in warning and "42 mA" in warning
    aa = load_profile("battery", "aa-alkaline-2s")
    assert battery.pulse_warning(aa.id, aa.max_pulse_current_a, radio.tx_current_a) is None


def test_run_flags_pulse_limit_and_counts_self_discharge(small_farm):
    d = copy.deepcopy(small_farm)
    d["groups"]["soil"]["battery"] = "cr2032"
    d["policies"] = ["on_device"]
    e = twin.run(d).result("on_device")
    assert any("cr2032" in w for w in e["warnings"])
    cr = load_profile("battery", "cr2032")
    horizon_s = d["world"]["horizon_days"] * 86400
    expected = battery.self_discharge_c(cr.capacity_c, cr.self_discharge_per_year, horizon_s)
    assert e["battery"]["self_discharge_c"] == pytest.approx(expected * e["nodes"])


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    count=st.integers(2, 12),
    sf=st.integers(7, 12),
    jitter=st.sampled_from([0.0, 60.0, 400.0]),
    cell=st.sampled_from(["aa-alkaline-2s", "cr2032", "er10450", "lipo-500mah"]),
    seed=st.integers(0, 2**31 - 1),
)
def test_ledger_properties(small_farm, count, sf, jitter, cell, seed):
    d = copy.deepcopy(small_farm)
    d["groups"]["soil"].update(count=count, spreading_factor=sf, tx_jitter_s=jitter, battery=cell)
    d["world"].update(horizon_days=1, seed=seed)
    r = twin.run(d)
    for e in r.summary["results"]:
        parts = [v for k, v in e["energy_j"].items() if k != "total"]
        assert all(v >= 0 for v in parts)
        assert sum(parts) == pytest.approx(e["energy_j"]["total"], rel=1e-12)
    for row in r.timeseries:
        assert (
            0.0 <= row["battery_soc_p05"] <= row["battery_soc_p50"] <= row["battery_soc_p95"] <= 1.0
        )
    for row in r.nodes:
        assert row["energy_j"] >= 0 and row["battery_life_days"] > 0


RADIOS = {
    "sx1262": {},
    "nrf52840-ble": {},
    "esp32-wifi": {"response_wait_s": 1.0},
    "esp32-wifi-dtim": {"stay_connected": True},
    "nrf9160-nbiot": {"edrx_cycle_s": 40.96, "release_assistance": True},
}


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    radio=st.sampled_from(sorted(RADIOS)),
    count=st.integers(2, 8),
    cell=st.sampled_from(["cr2032", "tlp-93111-a", "li-ion-18650"]),
    seed=st.integers(0, 2**31 - 1),
)
def test_ledger_adds_up_for_every_radio(small_farm, radio, count, cell, seed):
    d = copy.deepcopy(small_farm)
    g = d["groups"]["soil"]
    g.update(count=count, battery=cell, radio=radio.removesuffix("-dtim"))
    if radio != "sx1262":
        g.pop("spreading_factor", None)
        g["link"] = RADIOS[radio]
    d["world"].update(horizon_days=1, seed=seed)
    try:
        r = twin.run(d)
    except ScenarioError as exc:
        # A cell that cannot carry the radio's bursts (a coin cell under Wi-Fi or LTE) is
        # refused, at its key, saying so; every other combination runs and adds up.
        assert exc.key_path == "groups.soil.battery" and "cannot carry" in exc.message
        return
    for e in r.summary["results"]:
        by_state = e["battery"]["drawn_by_state_c"]
        assert all(v >= 0 for v in by_state.values())
        # The per-state ledger is the charge drawn, to rounding.
        assert sum(by_state.values()) == pytest.approx(e["battery"]["drawn_c"], rel=1e-12)
        parts = [v for k, v in e["energy_j"].items() if k != "total"]
        assert all(v >= 0 for v in parts)
        assert sum(parts) == pytest.approx(e["energy_j"]["total"], rel=1e-12)
    for row in r.timeseries:
        assert (
            0.0 <= row["battery_soc_p05"] <= row["battery_soc_p50"] <= row["battery_soc_p95"] <= 1.0
        )
