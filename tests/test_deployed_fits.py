"""The fits behind twin calibrate, on data with a known answer."""

from __future__ import annotations

import numpy as np
import pytest

from twin.deployed import frames as fr
from twin.deployed.pathloss import fit_log_distance
from twin.profiles import load_profile


def _links(n=4000, seed=1):
    # Petajajarvi et al. 2015's Oulu model (PL(1 km) = 128.95 dB, n = 2.32, sigma = 7.8 dB)
    # at +14 dBm, heard above -130 dBm: about a third of the links are never heard.
    rng = np.random.default_rng(seed)
    d = rng.uniform(100, 6000, n)
    y = 14 - 128.95 - 23.2 * np.log10(d / 1000) + rng.normal(0, 7.8, n)
    thr = np.full(n, -130.0)
    return y, d, y >= thr, thr


def test_the_censored_fit_recovers_the_model_where_dropping_unheard_links_would_not():
    y, d, heard, thr = _links()
    assert 0.25 < 1 - heard.mean() < 0.4
    fit = fit_log_distance(y, d, heard, thr, 14.0, 1000.0)
    # 4,000 links: sampling error about 2 % on n and 1.5 % on sigma; 4 % leaves room.
    assert fit.path_loss_exponent == pytest.approx(2.32, rel=0.04)
    assert fit.shadowing_sd_db == pytest.approx(7.8, rel=0.04)
    assert fit.path_loss_d0_db == pytest.approx(128.95, abs=1.0)
    assert fit.links_censored == int((~heard).sum())
    # Least squares on the heard links alone: biased low (only the lucky far links are seen).
    x = np.log10(d[heard] / 1000)
    slope = np.polyfit(x, y[heard], 1)[0]
    assert -slope / 10 < 0.85 * 2.32


def test_a_flat_voltage_plateau_does_not_identify_the_charge():
    li = load_profile("battery", "er10450")
    aa = load_profile("battery", "aa-alkaline-2s")
    soc_li, span_li, known_li = fr.state_of_charge(np.array([3.60]), li.ocv_soc, li.ocv_v)
    assert not known_li[0] and span_li[0] > fr.SOC_IDENTIFIED
    v = np.interp([0.2, 0.5, 0.8], aa.ocv_soc, aa.ocv_v)
    soc_aa, _, known_aa = fr.state_of_charge(v, aa.ocv_soc, aa.ocv_v)
    assert known_aa.all() and soc_aa == pytest.approx([0.2, 0.5, 0.8], abs=1e-9)
    none, _, known = fr.state_of_charge(np.array([np.nan]), aa.ocv_soc, aa.ocv_v)
    assert np.isnan(none[0]) and not known[0]


def test_periods_are_whole_seconds_only_when_the_fit_is_that_close():
    assert fr.whole_seconds(np.array([899.998, 900.2, 1799.97])).tolist() == [900.0, 900.2, 1800.0]
