"""The time-series steps every room of the engine counts its events into."""

from __future__ import annotations

import numpy as np


class TimeBins:
    """Fixed steps of ``interval_s`` over the horizon; the last step takes the horizon's end.

    Parameters
    ----------
    horizon_s : float
        Simulated time [s].
    interval_s : float
        Length of a step [s].
    """

    def __init__(self, horizon_s: float, interval_s: float) -> None:
        self.interval_s = interval_s
        self.n = int(np.ceil(horizon_s / interval_s))
        # The end of each step (the last one is cut at the horizon).
        self.times_s = np.minimum(np.arange(1, self.n + 1) * interval_s, horizon_s)

    def of(self, t_s: np.ndarray) -> np.ndarray:
        """Index of the step holding each time."""
        return np.minimum((np.asarray(t_s) // self.interval_s).astype(np.int64), self.n - 1)

    def zeros(self, dtype: type = np.int64) -> np.ndarray:
        """A counter per step."""
        return np.zeros(self.n, dtype=dtype)
