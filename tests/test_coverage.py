"""Coverage enhancement against 3GPP figures and closed forms (twin.physics.coverage)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from twin.physics import coverage as cov

NPUSCH = cov.powers_of_two(cov.NPUSCH_MAX_REPETITIONS)


def test_nbiot_mcl_needs_128_npusch_repetitions():
    # 3GPP TR 45.820: NB-IoT reaches 164 dB, 20 dB beyond GPRS's 144 dB, with NPUSCH's largest
    # repetition factor 128 (TS 36.213 Table 16.5.1.1-3): 10 log10(128) = 21.07 dB >= 20 dB,
    # while 64 gives 18.06 dB < 20 dB. Exact: factors are integers.
    r = cov.repetitions(cov.NBIOT_MCL_DB, cov.NBIOT_CE0_LOSS_DB, NPUSCH)
    assert r == 128
    assert cov.repetitions(144.0 + 18.0, cov.NBIOT_CE0_LOSS_DB, NPUSCH) == 64
    # Beyond 21.07 dB no NPUSCH factor closes the link.
    assert cov.repetitions(144.0 + 21.2, cov.NBIOT_CE0_LOSS_DB, NPUSCH) == cov.NO_SERVICE


def test_repetitions_closed_form_at_each_power_of_two():
    # Exactly 10 log10(r) dB beyond CE0 needs r, a hair more needs 2r (ideal chase combining).
    ce0 = 100.0
    for r in NPUSCH:
        assert cov.repetitions(ce0 + 10 * np.log10(r), ce0, NPUSCH) == r
        if r < 128:
            assert cov.repetitions(ce0 + 10 * np.log10(r) + 1e-6, ce0, NPUSCH) == 2 * r
    # Good coverage (loss below CE0's) needs no repetition.
    assert cov.repetitions(80.0, ce0, NPUSCH) == 1


def test_ltem_15_db_target_fits_ce_mode_a_and_mode_b_reaches_33_db():
    # TR 36.888's 15 dB target (155.7 dB on 140.7 dB): 10 log10(32) = 15.05 dB, CE mode A's
    # largest PUSCH factor (TS 36.331 pusch-maxNumRepetitionCEmodeA r32); CE mode B's 2048
    # gives 33.1 dB. The mode B set includes 192 and 384 (TS 36.213 Table 8-2c): 24 dB needs
    # 10^2.4 = 251.2 -> 256, 25 dB needs 316.2 -> 384.
    mode_a = cov.powers_of_two(cov.PUSCH_MAX_REPETITIONS_CE_MODE_A)
    assert cov.repetitions(cov.LTEM_MCL_DB, cov.LTEM_CE0_LOSS_DB, mode_a) == 32
    mode_b = np.array([1, 2, 4, 8, 16, 32, 64, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048])
    loss = cov.LTEM_CE0_LOSS_DB + np.array([24.0, 25.0, 33.1, 33.2])
    np.testing.assert_array_equal(
        cov.repetitions(loss, cov.LTEM_CE0_LOSS_DB, mode_b), [256, 384, 2048, cov.NO_SERVICE]
    )


def test_ce_level_bands_and_out_of_coverage_marker():
    # NB-IoT with the TR 45.820 evaluation points as thresholds: CE0 < 144, CE1 < 154,
    # CE2 up to and including the 164 dB MCL, out of coverage beyond.
    loss = np.array([120.0, 143.9, 144.0, 153.9, 154.0, 164.0, 164.1, 200.0])
    got = cov.ce_level(loss, [144.0, 154.0], cov.NBIOT_MCL_DB)
    np.testing.assert_array_equal(got, [0, 0, 1, 1, 2, 2, -1, -1])
    assert cov.OUT_OF_COVERAGE == -1
    # LTE-M: one threshold, CE mode A (0) and B (1).
    got = cov.ce_level([150.0, 156.0, 170.0], [155.7], 164.0)
    np.testing.assert_array_equal(got, [0, 1, cov.OUT_OF_COVERAGE])
    assert got.shape == (3,)


@given(st.lists(st.floats(100.0, 200.0), min_size=2, max_size=50))
def test_levels_and_repetitions_never_fall_with_loss(losses):
    loss = np.sort(np.array(losses))
    level = cov.ce_level(loss, [144.0, 154.0], cov.NBIOT_MCL_DB)
    served = level[level != cov.OUT_OF_COVERAGE]
    assert np.all(np.diff(served) >= 0)
    # Out of coverage only at the far end of the sorted losses.
    assert np.all(level[len(served) :] == cov.OUT_OF_COVERAGE)
    r = cov.repetitions(loss, cov.NBIOT_CE0_LOSS_DB, NPUSCH)
    ok = r[r != cov.NO_SERVICE]
    assert np.all(np.diff(ok) >= 0) and np.all(r[len(ok) :] == cov.NO_SERVICE)
    # The gain always covers the loss it was chosen for, and half of it would not.
    need = loss[: len(ok)] - cov.NBIOT_CE0_LOSS_DB
    assert np.all(10 * np.log10(ok) >= need - 1e-9)
    assert np.all((ok == 1) | (10 * np.log10(ok / 2) < need))


def test_exchange_cost_closed_form():
    # 261 B up (200 B + 61 B headers) at 20 kbit/s = 104.4 ms per copy; 128 copies add 127.
    # 200 B down at 20 kbit/s = 80 ms per copy; 16 copies add 15. 8 preambles of 5.6 ms add 7.
    # Currents 0.08 A TX, 0.03 A RX. Exact arithmetic up to float rounding.
    c = cov.exchange_cost(261, 200, [128], [16], [8], 20_000, 20_000, cov.NPRACH_FORMAT0_S,
                          0.08, 0.03)  # fmt: skip
    tx = 127 * 8 * 261 / 20_000 + 7 * 5.6e-3
    rx = 15 * 8 * 200 / 20_000
    assert cov.NPRACH_FORMAT0_S == pytest.approx(5.6e-3, rel=1e-12)
    assert c.extra_tx_s[0] == pytest.approx(tx, rel=1e-12)
    assert c.extra_rx_s[0] == pytest.approx(rx, rel=1e-12)
    assert c.extra_s[0] == pytest.approx(tx + rx, rel=1e-12)  # half-duplex: they add
    assert c.extra_charge_c[0] == pytest.approx(0.08 * tx + 0.03 * rx, rel=1e-12)


def test_exchange_cost_is_zero_at_ce0_grows_with_repetitions_and_refuses_no_service():
    r = np.array([1, 2, 8, 128, cov.NO_SERVICE])
    c = cov.exchange_cost(261, 200, r, r, r, 20_000, 20_000, 5.6e-3, 0.08, 0.03)
    # One copy is the measured exchange itself: nothing to add.
    assert c.extra_s[0] == 0.0 and c.extra_charge_c[0] == 0.0
    assert np.all(np.diff(c.extra_s[:4]) > 0) and np.all(np.diff(c.extra_charge_c[:4]) > 0)
    # A node no factor can serve must not look served (NaN propagates into any ledger sum).
    assert np.isnan(c.extra_s[4]) and np.isnan(c.extra_charge_c[4])


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError):
        cov.powers_of_two(100)
    with pytest.raises(ValueError):
        cov.repetitions(150.0, 144.0, [4, 2])
    with pytest.raises(ValueError):
        cov.ce_level(150.0, [154.0, 144.0], 164.0)
    with pytest.raises(ValueError):
        cov.ce_level(150.0, [144.0, 170.0], 164.0)
    with pytest.raises(ValueError):
        cov.ce_level(np.nan, [144.0], 164.0)
