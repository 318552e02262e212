"""Random streams: one seed per run, child streams per group and per node.

Two kinds of streams, both derived from the run seed through :class:`numpy.random.SeedSequence`:

* **Generators** (``numpy.random.Generator``) for things drawn once at set-up (node positions,
  per-node soil parameters, the rain schedule). Spawned per group and purpose.
* **Counter-based node streams** for things drawn per node-sample during the run (sensor noise,
  channel choice, backhaul delay). A value is a pure function of ``(stream key, node, counter,
  purpose)``, computed with the SplitMix64 finaliser (Steele et al., "Fast splittable
  pseudorandom number generators", OOPSLA 2014), vectorised over numpy arrays. Because nothing
  depends on the order in which values are drawn, results are identical whatever the batching
  window, the order of groups or the number of workers -- the property the engine relies on.
"""

from __future__ import annotations

import hashlib

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN_INT = int(_GOLDEN)
_MASK64 = (1 << 64) - 1
_INV_TWO53 = 2.0**-53  # exact: multiplying by it equals dividing by 2**53 bit for bit
_TWO_PI = 2.0 * np.pi
_S11, _S27, _S30, _S31 = (np.uint64(s) for s in (11, 27, 30, 31))
# Nodes below this index get the counter-free half of their hash cached per purpose (8 bytes
# each); beyond it (or for odd inputs) the hash is computed in full, with the same result.
_CACHE_NODES = 1 << 20


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser on a uint64 array (wrapping arithmetic)."""
    if isinstance(z, np.ndarray) and z.ndim:
        return _mix_inplace(z)
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


def _mix_inplace(z: np.ndarray) -> np.ndarray:
    """:func:`_mix` overwriting ``z``: one scratch array instead of six temporaries."""
    t = z >> _S30
    z ^= t
    z *= _M1
    np.right_shift(z, _S27, out=t)
    z ^= t
    z *= _M2
    np.right_shift(z, _S31, out=t)
    z ^= t
    return z


def child_seeds(seed: int, n: int) -> list[np.random.SeedSequence]:
    """Spawn ``n`` independent child seed sequences from a run seed."""
    return np.random.SeedSequence(seed).spawn(n)


def name_key(name: str) -> int:
    """A 64-bit integer standing for a name: the first 8 bytes of its SHA-256.

    >>> name_key("soil")
    5113946372954471913
    """
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little")


def named_seed(seed: int, *names: str) -> np.random.SeedSequence:
    """The seed sequence of a stream named by a path of names under a run seed.

    Streams keyed by names, not positions: a group's streams are ``named_seed(seed, "group",
    name, purpose)``, so the order of groups in a scenario, and groups added or removed,
    change nobody else's draws.
    """
    return np.random.SeedSequence(seed, spawn_key=tuple(name_key(n) for n in names))


def stream_key(ss: np.random.SeedSequence) -> int:
    """A 64-bit key for counter-based streams, derived from a seed sequence."""
    return int(ss.generate_state(1, dtype=np.uint64)[0])


class NodeStream:
    """Counter-based random numbers for the nodes of one group.

    ``bits(node, counter, purpose)`` is ``mix(mix(key ^ purpose * G + node * M2) + counter * G
    + G)``. The inner half does not depend on the counter, so it is computed once per node and
    purpose and kept (a pure function of its inputs: the values never depend on what was drawn
    before). Nodes may also be given as a ``slice`` of consecutive indices.

    Parameters
    ----------
    key : int
        64-bit stream key (see :func:`stream_key`).
    """

    def __init__(self, key: int) -> None:
        self.key = np.uint64(key & 0xFFFFFFFFFFFFFFFF)
        self._node_hash: dict[int, np.ndarray] = {}

    def _purpose_key(self, purpose: int) -> np.uint64:
        with np.errstate(over="ignore"):
            return self.key ^ (np.uint64(purpose) * _GOLDEN)

    def _node_table(self, purpose: int, n: int) -> np.ndarray:
        """The counter-free half of the hash for nodes ``0 .. n - 1`` (at least)."""
        table = self._node_hash.get(purpose)
        if table is None or len(table) < n:
            size = min(max(n, 2 * len(table) if table is not None else 1024), _CACHE_NODES)
            with np.errstate(over="ignore"):
                z = self._purpose_key(purpose) + np.arange(size, dtype=np.uint64) * _M2
            table = self._node_hash[purpose] = _mix_inplace(z)
        return table

    def _node_part(self, node: np.ndarray | slice, purpose: int) -> np.ndarray:
        """``mix(key ^ purpose * G + node * M2)``, from the cache when the nodes are in it."""
        if isinstance(node, slice):
            if 0 <= node.start <= node.stop <= _CACHE_NODES and node.step in (None, 1):
                return self._node_table(purpose, node.stop)[node]
            node = np.arange(node.start, node.stop, node.step)
        arr = np.asarray(node)
        if arr.ndim and arr.size and arr.dtype.kind in "iu":
            lo, hi = arr.min(), arr.max()
            if lo >= 0 and hi < _CACHE_NODES:
                return self._node_table(purpose, int(hi) + 1)[arr]
        with np.errstate(over="ignore"):
            return _mix(self._purpose_key(purpose) + np.asarray(node, dtype=np.uint64) * _M2)

    def bits(self, node: np.ndarray | slice, counter: np.ndarray, purpose: int) -> np.ndarray:
        """Raw 64-bit values for each (node, counter) pair and a purpose tag (a new array)."""
        counter = np.asarray(counter, dtype=np.uint64)
        # (h + c G) + G == h + (c G + G): wrapping addition is associative.
        if counter.ndim:
            c = counter * _GOLDEN  # array arithmetic wraps silently
            c += _GOLDEN
        else:  # a scalar counter: Python ints, no numpy overflow warning to silence
            c = np.uint64((int(counter) * _GOLDEN_INT + _GOLDEN_INT) & _MASK64)
        h = self._node_part(node, purpose)
        if isinstance(h, np.ndarray) and h.ndim:
            return _mix(h + c)
        with np.errstate(over="ignore"):
            return _mix(h + c)

    def uniform(self, node: np.ndarray | slice, counter: np.ndarray, purpose: int) -> np.ndarray:
        """Uniform floats in [0, 1) with 53 random bits."""
        z = self.bits(node, counter, purpose)
        if isinstance(z, np.ndarray) and z.ndim:
            z >>= _S11  # bits() returns a fresh array
        else:
            z = z >> _S11
        return np.multiply(z, _INV_TWO53, dtype=np.float64)

    def normal(self, node: np.ndarray | slice, counter: np.ndarray, purpose: int) -> np.ndarray:
        """Standard normal floats (Box-Muller on two independent uniforms)."""
        # Tags above 2**32 keep the two uniforms apart from any uniform(purpose) stream.
        u1 = self.uniform(node, counter, purpose + (1 << 32))
        u2 = self.uniform(node, counter, purpose + (2 << 32))
        if not (isinstance(u1, np.ndarray) and isinstance(u2, np.ndarray) and u1.ndim):
            return np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(_TWO_PI * u2)
        # sqrt(-2 log1p(-u1)) cos(2 pi u2), in place in the two fresh uniform arrays.
        np.negative(u1, out=u1)
        np.log1p(u1, out=u1)
        u1 *= -2.0
        np.sqrt(u1, out=u1)
        u2 *= _TWO_PI
        np.cos(u2, out=u2)
        u1 *= u2
        return u1

    def integers(
        self, node: np.ndarray | slice, counter: np.ndarray, purpose: int, high: int
    ) -> np.ndarray:
        """Integers in [0, high)."""
        return np.minimum((self.uniform(node, counter, purpose) * high).astype(np.int64), high - 1)
