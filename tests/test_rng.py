"""Tests of the counter-based random streams (twin.rng).

Statistical tolerances: every check on a sample statistic uses either a 5-sigma band around
the exact expectation (two-sided false-alarm probability ~6e-7 for a Gaussian statistic) or a
finite-sample tail bound (DKW inequality for the KS distance, Laurent-Massart for chi-square)
at a false-alarm probability of about 1e-6. The streams are deterministic, so a failure is
reproducible, and with these bounds a failure means a real defect, not bad luck.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from twin.rng import NodeStream, child_seeds, stream_key

KEY = 0x0123_4567_89AB_CDEF
U64 = 2**64

# Large-sample size for the distribution checks (a few ms of numpy work).
N_STAT = 200_000


def _pairs(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` distinct (node, counter) pairs, nodes < 500 and counters < 10_000."""
    rng = np.random.default_rng(seed)
    flat = rng.choice(500 * 10_000, size=n, replace=False)
    return (flat // 10_000).astype(np.uint64), (flat % 10_000).astype(np.uint64)


def _grid(n_nodes: int, n_counters: int) -> tuple[np.ndarray, np.ndarray]:
    node, counter = np.meshgrid(
        np.arange(n_nodes, dtype=np.uint64), np.arange(n_counters, dtype=np.uint64), indexing="ij"
    )
    return node.ravel(), counter.ravel()


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1])


def _normal_cdf(x: np.ndarray) -> np.ndarray:
    erf = np.vectorize(math.erf, otypes=[np.float64])
    return 0.5 * (1.0 + erf(x / math.sqrt(2.0)))


def _ks_statistic(sample: np.ndarray, cdf) -> float:
    """Two-sided Kolmogorov-Smirnov distance between the empirical CDF of ``sample`` and ``cdf``."""
    x = np.sort(sample)
    n = len(x)
    f = cdf(x)
    i = np.arange(1, n + 1)
    return float(max(np.max(i / n - f), np.max(f - (i - 1) / n)))


def _dkw_bound(n: int, alpha: float = 1e-6) -> float:
    """Dvoretzky-Kiefer-Wolfowitz-Massart: P(D_n > eps) <= 2 exp(-2 n eps^2) = alpha."""
    return math.sqrt(math.log(2.0 / alpha) / (2.0 * n))


def _chi2_upper(df: int, alpha: float = 1e-6) -> float:
    """Laurent-Massart (2000): P(X - df >= 2 sqrt(df x) + 2 x) <= exp(-x) for X ~ chi2(df)."""
    x = math.log(1.0 / alpha)
    return df + 2.0 * math.sqrt(df * x) + 2.0 * x


# --------------------------------------------------------------------------- purity


@pytest.mark.parametrize("method", ["bits", "uniform", "normal", "integers"])
def test_values_do_not_depend_on_batching_or_order(method):
    def draw(stream, node, counter):
        if method == "integers":
            return stream.integers(node, counter, 5, 7)
        return getattr(stream, method)(node, counter, 5)

    s = NodeStream(KEY)
    node, counter = _pairs(1000)
    batch = draw(s, node, counter)
    one_by_one = np.concatenate([draw(s, node[i : i + 1], counter[i : i + 1]) for i in range(1000)])
    scalars = np.array([draw(s, node[i], counter[i]) for i in range(0, 1000, 50)])
    perm = np.random.default_rng(1).permutation(1000)
    shuffled = np.empty_like(batch)
    shuffled[perm] = draw(s, node[perm], counter[perm])
    bounds = [0, 3, 100, 517, 1000]
    chunks = np.concatenate(
        [draw(s, node[a:b], counter[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    )
    # A fresh object with the same key, after unrelated draws, gives the same values (no state).
    fresh_stream = NodeStream(KEY)
    fresh_stream.bits(node, counter, 99)
    fresh = draw(fresh_stream, node, counter)

    np.testing.assert_array_equal(one_by_one, batch)
    np.testing.assert_array_equal(scalars, batch[::50])
    np.testing.assert_array_equal(shuffled, batch)
    np.testing.assert_array_equal(chunks, batch)
    np.testing.assert_array_equal(fresh, batch)


def test_values_accept_python_ints_and_2d_arrays():
    s = NodeStream(KEY)
    node, counter = _grid(10, 30)
    flat = s.uniform(node, counter, 3)
    two_d = s.uniform(node.reshape(10, 30), counter.reshape(10, 30), 3)
    np.testing.assert_array_equal(two_d.ravel(), flat)
    assert s.uniform(4, 17, 3) == flat[4 * 30 + 17]


def test_key_is_taken_modulo_2_64():
    node, counter = _pairs(200)
    a = NodeStream(KEY).bits(node, counter, 1)
    np.testing.assert_array_equal(NodeStream(KEY + U64).bits(node, counter, 1), a)
    np.testing.assert_array_equal(NodeStream(KEY - U64).bits(node, counter, 1), a)


def test_pairs_do_not_collide():
    # 64-bit outputs for 10^5 distinct inputs: a collision has probability ~3e-10.
    node, counter = _grid(100, 1000)
    bits = NodeStream(KEY).bits(node, counter, 0)
    assert len(np.unique(bits)) == len(bits)


# --------------------------------------------------------------------------- independence


def test_different_keys_and_purposes_give_uncorrelated_streams():
    node, counter = _grid(200, N_STAT // 200)
    n = len(node)
    # Sample correlation of two independent sequences has sd 1/sqrt(n): 5 sigma band.
    tol = 5.0 / math.sqrt(n)
    base = NodeStream(KEY).uniform(node, counter, 1)
    others = {
        "key+1": NodeStream(KEY + 1).uniform(node, counter, 1),
        "other key": NodeStream(stream_key(child_seeds(3, 1)[0])).uniform(node, counter, 1),
        "purpose 2": NodeStream(KEY).uniform(node, counter, 2),
        "purpose 1000": NodeStream(KEY).uniform(node, counter, 1000),
        "next node": NodeStream(KEY).uniform(node + np.uint64(1), counter, 1),
        "next counter": NodeStream(KEY).uniform(node, counter + np.uint64(1), 1),
    }
    for name, other in others.items():
        assert not np.array_equal(other, base), name
        assert abs(_corr(base, other)) < tol, name


def test_normal_purposes_are_independent():
    node, counter = _grid(200, N_STAT // 200)
    s = NodeStream(KEY)
    a, b = s.normal(node, counter, 1), s.normal(node, counter, 2)
    assert abs(_corr(a, b)) < 5.0 / math.sqrt(len(node))
    # Nor is the square of one correlated with the other (Box-Muller pairs share nothing here).
    assert abs(_corr(a**2, b**2)) < 5.0 / math.sqrt(len(node))


# --------------------------------------------------------------------------- distributions


def test_uniform_range_mean_variance_and_ks():
    node, counter = _grid(400, N_STAT // 400)
    u = NodeStream(KEY).uniform(node, counter, 7)
    n = len(u)
    assert u.dtype == np.float64
    assert np.all(u >= 0.0) and np.all(u < 1.0)
    # Mean of U(0,1): 1/2, sd of the sample mean sqrt(1/12 / n).
    assert abs(u.mean() - 0.5) < 5 * math.sqrt(1 / 12 / n)
    # Variance 1/12; Var(s^2) ~ (mu4 - sigma^4)/n = (1/80 - 1/144)/n = 1/(180 n).
    assert abs(u.var() - 1 / 12) < 5 * math.sqrt(1 / (180 * n))
    assert _ks_statistic(u, lambda x: x) < _dkw_bound(n)
    # 53 random bits: no visible quantisation (far more distinct values than a 32-bit source).
    assert len(np.unique(u)) == n


def test_uniform_extremes_stay_in_half_open_interval():
    class Extreme(NodeStream):
        def bits(self, node, counter, purpose):
            return np.array([0, U64 - 1], dtype=np.uint64)

    s = Extreme(KEY)
    u = s.uniform(0, 0, 0)
    assert u[0] == 0.0
    assert u[1] < 1.0 and u[1] > 1.0 - 2e-16
    # The normal transform stays finite at both extremes of the uniforms.
    assert np.all(np.isfinite(s.normal(0, 0, 0)))
    assert np.all((s.integers(0, 0, 0, 3) >= 0) & (s.integers(0, 0, 0, 3) < 3))


def test_normal_mean_sd_and_ks():
    node, counter = _grid(400, N_STAT // 400)
    z = NodeStream(KEY).normal(node, counter, 3)
    n = len(z)
    assert np.all(np.isfinite(z))
    # Sample mean sd 1/sqrt(n); Var(s^2) = 2 sigma^4 / n for a normal sample.
    assert abs(z.mean()) < 5 / math.sqrt(n)
    assert abs(z.var() - 1.0) < 5 * math.sqrt(2 / n)
    # Tails: P(|z| > 3) = 0.0026998; binomial sd sqrt(p (1 - p) / n).
    p3 = 0.0026998
    assert abs(np.mean(np.abs(z) > 3) - p3) < 5 * math.sqrt(p3 * (1 - p3) / n)
    assert _ks_statistic(z, _normal_cdf) < _dkw_bound(n)


def test_ks_check_detects_a_wrong_distribution():
    # Guard on the test helper itself: the KS check must reject a visibly wrong distribution.
    node, counter = _grid(400, N_STAT // 400)
    z = NodeStream(KEY).normal(node, counter, 3)
    assert _ks_statistic(1.05 * z, _normal_cdf) > _dkw_bound(len(z))
    assert _ks_statistic(z + 0.02, _normal_cdf) > _dkw_bound(len(z))


@pytest.mark.parametrize("high", [2, 3, 7, 10, 100])
def test_integers_cover_range_uniformly(high):
    node, counter = _grid(400, N_STAT // 400)
    s = NodeStream(KEY)
    x = s.integers(node, counter, 11, high)
    n = len(x)
    assert np.issubdtype(x.dtype, np.integer)
    assert x.min() == 0 and x.max() == high - 1
    counts = np.bincount(x, minlength=high)
    assert len(counts) == high and np.all(counts > 0)
    expected = n / high
    chi2 = float(np.sum((counts - expected) ** 2 / expected))
    assert chi2 < _chi2_upper(high - 1)
    # integers() is floor(high * uniform()) of the same purpose.
    u = s.uniform(node, counter, 11)
    np.testing.assert_array_equal(x, np.floor(u * high).astype(np.int64))


def test_integers_high_one_is_always_zero():
    node, counter = _pairs(100)
    assert np.all(NodeStream(KEY).integers(node, counter, 0, 1) == 0)


# --------------------------------------------------------------------------- seeds and keys


def test_child_seeds_and_stream_keys_are_deterministic_and_distinct():
    keys_a = [stream_key(ss) for ss in child_seeds(2024, 16)]
    keys_b = [stream_key(ss) for ss in child_seeds(2024, 16)]
    assert keys_a == keys_b
    assert len(set(keys_a)) == 16
    assert all(isinstance(k, int) and 0 <= k < U64 for k in keys_a)
    # A different run seed gives different keys.
    keys_c = [stream_key(ss) for ss in child_seeds(2025, 16)]
    assert not set(keys_a) & set(keys_c)
    # Asking for more children keeps the first ones (adding a group does not reshuffle others).
    assert [stream_key(ss) for ss in child_seeds(2024, 4)] == keys_a[:4]
    # stream_key does not consume the seed sequence: calling twice gives the same key.
    ss = child_seeds(2024, 1)[0]
    assert stream_key(ss) == stream_key(ss)


def test_child_streams_are_uncorrelated():
    node, counter = _grid(100, 1000)
    streams = [NodeStream(stream_key(ss)) for ss in child_seeds(99, 4)]
    u = [s.uniform(node, counter, 1) for s in streams]
    tol = 5.0 / math.sqrt(len(node))
    for i in range(4):
        for j in range(i + 1, 4):
            assert abs(_corr(u[i], u[j])) < tol


# --------------------------------------------------------------------------- property


@settings(max_examples=60, deadline=None)
@given(
    key=st.integers(0, U64 - 1),
    purpose=st.integers(0, 2**20),
    data=st.data(),
)
def test_bits_of_concatenation_is_concatenation_of_bits(key, purpose, data):
    n1 = data.draw(st.integers(0, 40))
    n2 = data.draw(st.integers(0, 40))
    u64 = st.integers(0, U64 - 1)
    node1 = data.draw(hnp.arrays(np.uint64, n1, elements=u64))
    ctr1 = data.draw(hnp.arrays(np.uint64, n1, elements=u64))
    node2 = data.draw(hnp.arrays(np.uint64, n2, elements=u64))
    ctr2 = data.draw(hnp.arrays(np.uint64, n2, elements=u64))
    s = NodeStream(key)
    whole = s.bits(np.concatenate([node1, node2]), np.concatenate([ctr1, ctr2]), purpose)
    parts = np.concatenate([s.bits(node1, ctr1, purpose), s.bits(node2, ctr2, purpose)])
    assert whole.dtype == np.uint64
    np.testing.assert_array_equal(whole, parts)
    # And reversing the input reverses the output.
    rev = s.bits(np.concatenate([node1, node2])[::-1], np.concatenate([ctr1, ctr2])[::-1], purpose)
    np.testing.assert_array_equal(rev, whole[::-1])
