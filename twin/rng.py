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

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_TWO53 = float(2**53)


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser on a uint64 array (wrapping arithmetic)."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def child_seeds(seed: int, n: int) -> list[np.random.SeedSequence]:
    """Spawn ``n`` independent child seed sequences from a run seed."""
    return np.random.SeedSequence(seed).spawn(n)


def stream_key(ss: np.random.SeedSequence) -> int:
    """A 64-bit key for counter-based streams, derived from a seed sequence."""
    return int(ss.generate_state(1, dtype=np.uint64)[0])


class NodeStream:
    """Counter-based random numbers for the nodes of one group.

    Parameters
    ----------
    key : int
        64-bit stream key (see :func:`stream_key`).
    """

    def __init__(self, key: int) -> None:
        self.key = np.uint64(key & 0xFFFFFFFFFFFFFFFF)

    def bits(self, node: np.ndarray, counter: np.ndarray, purpose: int) -> np.ndarray:
        """Raw 64-bit values for each (node, counter) pair and a purpose tag."""
        node = np.asarray(node, dtype=np.uint64)
        counter = np.asarray(counter, dtype=np.uint64)
        with np.errstate(over="ignore"):
            z = self.key ^ (np.uint64(purpose) * _GOLDEN)
            z = _mix(z + node * _M2)
            z = _mix(z + counter * _GOLDEN + _GOLDEN)
        return z

    def uniform(self, node: np.ndarray, counter: np.ndarray, purpose: int) -> np.ndarray:
        """Uniform floats in [0, 1) with 53 random bits."""
        return (self.bits(node, counter, purpose) >> np.uint64(11)).astype(np.float64) / _TWO53

    def normal(self, node: np.ndarray, counter: np.ndarray, purpose: int) -> np.ndarray:
        """Standard normal floats (Box-Muller on two independent uniforms)."""
        # Tags above 2**32 keep the two uniforms apart from any uniform(purpose) stream.
        u1 = self.uniform(node, counter, purpose + (1 << 32))
        u2 = self.uniform(node, counter, purpose + (2 << 32))
        return np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * np.pi * u2)

    def integers(
        self, node: np.ndarray, counter: np.ndarray, purpose: int, high: int
    ) -> np.ndarray:
        """Integers in [0, high)."""
        return np.minimum((self.uniform(node, counter, purpose) * high).astype(np.int64), high - 1)
