"""Open-circuit voltage curves: twin.physics.battery (open_circuit_v, soc_from_v,
soc_resolution) and the ocv_soc / ocv_v figures of the battery profiles.

Published figures the shipped curves are checked against are cited where they are used; the
profiles' own ocv_v_source entries say how every point was obtained.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from twin.errors import ScenarioError
from twin.physics.battery import open_circuit_v, soc_from_v, soc_resolution
from twin.profiles import MAINS, OCV_CUTOFF_TOLERANCE_V, available, load_profile

PROFILE_ROOT = Path(__file__).resolve().parent.parent / "device_profiles"
SHIPPED = available("battery")

# A made-up curve with a slope, a flat stretch (0.4-0.6 at 3.5 V) and a slope again.
SOC = [0.0, 0.2, 0.4, 0.6, 1.0]
V = [2.0, 3.0, 3.5, 3.5, 3.7]


@pytest.fixture(autouse=True)
def _clear_cache():
    load_profile.cache_clear()
    yield
    load_profile.cache_clear()


def _curve(battery_id: str) -> tuple[np.ndarray, np.ndarray]:
    bat = load_profile("battery", battery_id)
    return np.array(bat.ocv_soc), np.array(bat.ocv_v)


# --------------------------------------------------------------------------- the functions


def test_open_circuit_v_interpolates_and_clips():
    v = open_circuit_v([-0.5, 0.0, 0.1, 0.5, 0.8, 1.0, 1.5], SOC, V)
    np.testing.assert_allclose(v, [2.0, 2.0, 2.5, 3.5, 3.6, 3.7, 3.7])
    assert open_circuit_v(np.zeros((2, 3)), SOC, V).shape == (2, 3)


def test_soc_from_v_inverts_sloped_segments_and_clips():
    soc = soc_from_v([1.0, 2.0, 2.5, 3.0, 3.25, 3.6, 3.7, 4.5], SOC, V)
    np.testing.assert_allclose(soc, [0.0, 0.0, 0.1, 0.2, 0.3, 0.8, 1.0, 1.0])


def test_soc_from_v_gives_the_middle_of_a_flat_stretch():
    # 3.5 V fits every state of charge from 0.4 to 0.6: the midpoint is returned.
    assert soc_from_v(3.5, SOC, V) == pytest.approx(0.5)
    # Just either side of the flat stretch, the answer is on the neighbouring slope.
    assert soc_from_v(3.5 - 1e-6, SOC, V) == pytest.approx(0.4, abs=1e-5)
    assert soc_from_v(3.5 + 1e-6, SOC, V) == pytest.approx(0.6, abs=1e-4)
    # A flat stretch at the empty or full end: its midpoint too, beyond it 0 or 1.
    assert soc_from_v(3.0, [0.0, 0.1, 1.0], [3.0, 3.0, 4.0]) == pytest.approx(0.05)
    assert soc_from_v(4.0, [0.0, 0.9, 1.0], [3.0, 4.0, 4.0]) == pytest.approx(0.95)
    assert soc_from_v(4.1, [0.0, 0.9, 1.0], [3.0, 4.0, 4.0]) == 1.0


@pytest.mark.parametrize("battery_id", SHIPPED)
def test_inverse_round_trips_on_sloped_regions(battery_id):
    s, v = _curve(battery_id)
    soc = np.linspace(0.0, 1.0, 1001)
    volts = open_circuit_v(soc, s, v)
    # Leave out the voltages of flat stretches (several states of charge share them).
    levels, counts = np.unique(v, return_counts=True)
    sloped = ~np.isin(volts, levels[counts > 1])
    assert sloped.sum() > 500
    np.testing.assert_allclose(soc_from_v(volts[sloped], s, v), soc[sloped], atol=1e-9)
    # And the other way round: any voltage in the curve's range maps back onto itself.
    probe = np.linspace(v[0], v[-1], 777)
    np.testing.assert_allclose(open_circuit_v(soc_from_v(probe, s, v), s, v), probe, atol=1e-9)


def test_soc_resolution_is_the_step_over_the_slope_and_capped_on_flats():
    res = soc_resolution([0.1, 0.3, 0.5, 0.8, 1.0], SOC, V, 0.01)
    # Slopes 5, 2.5, 0, 0.5, 0.5 V per unit of state of charge.
    np.testing.assert_allclose(res, [0.002, 0.004, 1.0, 0.02, 0.02])
    # At a breakpoint, the segment to its right; so 0.4 is on the flat.
    assert soc_resolution(0.4, SOC, V, 0.01) == 1.0
    # A coarse step spans at most the whole range.
    assert soc_resolution(0.9, SOC, V, 10.0) == 1.0


def test_li_socl2_plateau_hides_the_state_of_charge_li_ion_does_not():
    # 10 mV reading resolution (a telemetry field of 0.01 V).
    for cell in ("er10450", "ls14500"):
        s, v = _curve(cell)
        assert soc_resolution(0.5, s, v, 0.01) == 1.0, cell  # flat: voltage says nothing
        assert soc_resolution(0.8, s, v, 0.01) >= 0.15, cell  # nearly flat
        assert soc_resolution(0.05, s, v, 0.01) < 0.01, cell  # the knee near empty
    s, v = _curve("li-ion-18650")
    assert np.all(soc_resolution(np.linspace(0.1, 0.9, 81), s, v, 0.01) < 0.02)


@pytest.mark.parametrize(
    ("soc", "v"),
    [
        ([0.0, 1.0], [3.0]),  # lengths differ
        ([0.0], [3.0]),  # one point
        ([0.0, 0.5, 0.5, 1.0], [2, 3, 3.1, 4]),  # soc not strictly increasing
        ([0.0, 0.5, 1.0], [2.0, 3.5, 3.0]),  # v falls
        ([0.0, np.nan, 1.0], [2.0, 3.0, 3.5]),
    ],
)
def test_bad_breakpoints_are_rejected(soc, v):
    with pytest.raises(ValueError):
        open_circuit_v(0.5, soc, v)
    with pytest.raises(ValueError):
        soc_from_v(3.0, soc, v)


@pytest.mark.parametrize("step", [0.0, -0.01, np.inf, np.nan])
def test_soc_resolution_needs_a_positive_step(step):
    with pytest.raises(ValueError, match="v_step"):
        soc_resolution(0.5, SOC, V, step)


# --------------------------------------------------------------------------- shipped profiles


@pytest.mark.parametrize("battery_id", SHIPPED)
def test_every_shipped_battery_has_a_checked_curve(battery_id):
    bat = load_profile("battery", battery_id)
    assert bat.has_ocv_curve
    s, v = np.array(bat.ocv_soc), np.array(bat.ocv_v)
    assert 8 <= s.size <= 15 and v.size == s.size
    assert s[0] == 0.0 and s[-1] == 1.0 and np.all(np.diff(s) > 0)
    assert np.all(np.diff(v) >= 0) and v[-1] > v[0]
    assert abs(v[0] - bat.cutoff_v) <= OCV_CUTOFF_TOLERANCE_V
    # The pack's nominal voltage lies on its curve (a curve for one cell of a 2-cell pack
    # would put 3.0 V above the top of 1.58 V).
    assert v[0] < bat.nominal_v < v[-1]
    for key in ("ocv_soc", "ocv_v"):
        assert bat.sources[key].strip(), key
    # How the points were obtained is said, and what is not confirmed is flagged.
    src = bat.sources["ocv_v"]
    assert "http" in src
    if battery_id != "li-ion-18650":  # the one curve taken from a published measurement
        assert "verify" in src or "assumption" in src, battery_id


def test_mains_has_no_curve():
    assert MAINS.ocv_soc is None and MAINS.ocv_v is None and not MAINS.has_ocv_curve


# --------------------------------------------------------------------------- published figures


def test_aa_alkaline_pack_against_published_alkaline_voltages():
    s, v = _curve("aa-alkaline-2s")
    # Fresh alkaline cells: open-circuit voltage "typically 1.58 volts" (Advanced Battery
    # Systems, http://www.advanced-battery.com/alkaline.html); two in series. Tolerance 0.02 V
    # per cell: "typically" is one figure for cells that read about 1.55-1.65 V new.
    assert open_circuit_v(1.0, s, v) == pytest.approx(2 * 1.58, abs=2 * 0.02)
    # "The average voltage under load condition may be 1.1 to 1.3 V" per cell
    # (http://www.dss.net.au/article.php?tag=f95a90-Alkaline-battery-voltage, a secondary
    # page; a loose bound): the mean of the curve over the state of charge, per cell.
    grid = np.linspace(0.0, 1.0, 2001)
    mean_per_cell = open_circuit_v(grid, s, v).mean() / 2
    assert 1.1 <= mean_per_cell <= 1.3
    # The pack's cut-off, 0.9 V per cell, is where the curve starts.
    assert open_circuit_v(0.0, s, v) == pytest.approx(2 * 0.9)


@pytest.mark.parametrize("cell", ["er10450", "ls14500"])
def test_li_socl2_against_the_tadiran_brochure(cell):
    s, v = _curve(cell)
    # Tadiran LTC technical brochure, section 1 (https://scribd.com/document/712787662/
    # TADIRAN-LTC-Batteries): "an open-circuit voltage of 3.67 V and an operating voltage of
    # 3.60 V". Full cell at the OCV (0.01 V: the brochure's last digit); the plateau, where a
    # low-drain node spends most of its life, within 0.03 V of the operating voltage (the
    # spread between makers' and drains' plateaus on datasheet curves, an assumption).
    assert open_circuit_v(1.0, s, v) == pytest.approx(3.67, abs=0.01)
    plateau = open_circuit_v(np.linspace(0.2, 0.95, 76), s, v)
    assert np.all(np.abs(plateau - 3.60) <= 0.03)


def test_li_ion_between_breakpoints_against_the_measured_table():
    s, v = _curve("li-ion-18650")
    # The measured C/20 pseudo-OCV of a US18650VTC6 (https://github.com/derlucae98/
    # US18650VTC6_OCV_SOC_Curve, US18650VTC6_OCV_SOC_LUT.h) at states of charge between
    # the profile's breakpoints: {35.0 %, 3.610 V}, {45.2 %, 3.708 V}, {64.8 %, 3.881 V},
    # {85.1 %, 4.075 V}. Tolerance 0.015 V: the error of a straight line over 10 % of state
    # of charge on that curve (largest on the 80-90 % bend).
    table = {0.350: 3.610, 0.452: 3.708, 0.648: 3.881, 0.851: 4.075}
    got = open_circuit_v(list(table), s, v)
    np.testing.assert_allclose(got, list(table.values()), atol=0.015)
    # And a reading of the table's 50.3 % voltage gives back 50.3 %, within 0.5 %.
    assert soc_from_v(3.756, s, v) == pytest.approx(0.503, abs=0.005)


# --------------------------------------------------------------------------- user profiles


def _aa_raw() -> dict:
    """The AA pack's fields without its resistances (these tests edit the curve alone)."""
    raw = yaml.safe_load((PROFILE_ROOT / "batteries" / "aa-alkaline-2s.yaml").read_text())
    raw.pop("internal_resistance_ohm")
    raw.pop("internal_resistance_ohm_source")
    return raw


def _write_user_cell(base: Path, raw: dict) -> Path:
    cells = base / "device_profiles" / "batteries"
    cells.mkdir(parents=True, exist_ok=True)
    path = cells / f"{raw['id']}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path.resolve()


def _expect_error(base: Path, path: Path, key: str, match: str) -> ScenarioError:
    with pytest.raises(ScenarioError, match=match) as info:
        load_profile("battery", path.stem, base_dir=base)
    err = info.value
    assert err.file == str(path) and str(path) in str(err)
    assert err.key_path == key and key in str(err)
    return err


def test_a_user_cell_without_a_curve_still_loads(tmp_path):
    raw = _aa_raw()
    raw["id"] = "old-aa"
    for key in ("ocv_soc", "ocv_soc_source", "ocv_v", "ocv_v_source"):
        raw.pop(key)
    _write_user_cell(tmp_path, raw)
    bat = load_profile("battery", "old-aa", base_dir=tmp_path)
    assert bat.ocv_soc is None and bat.ocv_v is None and not bat.has_ocv_curve
    assert bat.capacity_mah == 2850


def test_a_user_cell_with_its_own_curve_loads(tmp_path):
    raw = _aa_raw()
    raw.update(id="my-aa", ocv_soc=[0, 0.5, 1], ocv_v=[1.8, 2.5, 3.2])
    _write_user_cell(tmp_path, raw)
    bat = load_profile("battery", "my-aa", base_dir=tmp_path)
    assert bat.ocv_soc == (0.0, 0.5, 1.0) and bat.ocv_v == (1.8, 2.5, 3.2)


@pytest.mark.parametrize(
    ("edit", "key", "match"),
    [
        ({"ocv_v": [1.8, 2.5]}, "ocv_v", "12 points but ocv_v has 2"),
        ({"ocv_soc": [0.1, 0.5, 1.0], "ocv_v": [1.8, 2.5, 3.1]}, "ocv_soc", "from 0"),
        ({"ocv_soc": [0.0, 0.5, 0.9], "ocv_v": [1.8, 2.5, 3.1]}, "ocv_soc", "to 1"),
        ({"ocv_soc": [0, 0.6, 0.5, 1], "ocv_v": [1.8, 2, 2.5, 3.1]}, "ocv_soc", "rise strictly"),
        ({"ocv_soc": [0, 0.5, 1], "ocv_v": [1.8, 2.9, 2.8]}, "ocv_v", "must not fall"),
        ({"ocv_soc": [0, 0.5, 1], "ocv_v": [1.8, 1.8, 1.8]}, "ocv_v", "flat"),
        # A curve for one cell of the two-cell pack: starts 0.9 V below the pack's cut-off.
        ({"ocv_soc": [0, 0.5, 1], "ocv_v": [0.9, 1.25, 1.58]}, "ocv_v", "within 0.15 V"),
        ({"ocv_v": "1.8 to 3.16 V"}, "ocv_v", "list of numbers"),
        ({"ocv_soc": [0, "half", 1], "ocv_v": [1.8, 2.5, 3.1]}, "ocv_soc", "list of numbers"),
        ({"ocv_soc": [0, 0.5, 1], "ocv_v": [1.8, -2.5, 3.1]}, "ocv_v", "non-negative"),
        ({"ocv_v_source": ""}, "ocv_v", "ocv_v_source"),
    ],
)
def test_a_bad_curve_names_the_file_and_key(tmp_path, edit, key, match):
    raw = _aa_raw()
    raw["id"] = "bad-aa"
    raw.update(edit)
    path = _write_user_cell(tmp_path, raw)
    _expect_error(tmp_path, path, key, match)


@pytest.mark.parametrize("drop", ["ocv_soc", "ocv_v"])
def test_half_a_curve_is_rejected(tmp_path, drop):
    raw = _aa_raw()
    raw["id"] = "half-aa"
    raw.pop(drop)
    raw.pop(f"{drop}_source")
    path = _write_user_cell(tmp_path, raw)
    other = "ocv_v" if drop == "ocv_soc" else "ocv_soc"
    err = _expect_error(tmp_path, path, other, "without")
    assert drop in str(err)


def test_extending_with_a_new_cutoff_needs_a_new_curve(tmp_path):
    # The parent's curve starts at its own 1.8 V cut-off: a pack cut off at 2.2 V inherits a
    # curve whose empty end is not its own, and must say what its curve is.
    cells = tmp_path / "device_profiles" / "batteries"
    cells.mkdir(parents=True)
    path = cells / "hi-cut.yaml"
    path.write_text(
        "id: hi-cut\nname: AA pack behind a 2.2 V regulator\nextends: aa-alkaline-2s\n"
        'cutoff_v: 2.2\ncutoff_v_source: "test: the regulator drops out at 2.2 V"\n'
    )
    _expect_error(tmp_path, path.resolve(), "ocv_v", "own curve")
    load_profile.cache_clear()
    path.write_text(
        path.read_text() + "ocv_soc: [0, 0.5, 1]\nocv_soc_source: test\n"
        "ocv_v: [2.2, 2.6, 3.16]\nocv_v_source: test\n"
    )
    bat = load_profile("battery", "hi-cut", base_dir=tmp_path)
    assert bat.ocv_v == (2.2, 2.6, 3.16) and bat.capacity_mah == 2850
