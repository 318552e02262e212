"""What one reading costs the board: the sensor's acquisition and the MCU time around it.

Pure functions. How firmware acquires a reading decides whether the CPU is awake for it:

* ``continuous``: the CPU stays awake for the whole acquisition (it polls or bit-bangs the
  data, as a parallel camera read by GPIO does);
* ``fifo``: the front end fills its FIFO (or an MCU peripheral fills a buffer by DMA) while
  the CPU sleeps; the CPU wakes once per ``fifo_samples`` to drain it (an ECG AFE's FIFO
  interrupt, an accelerometer's watermark, a PDM microphone's DMA buffer);
* ``one_shot``: the CPU starts one conversion, sleeps through it and wakes once to read it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

ACQUISITIONS = ("continuous", "fifo", "one_shot")


@dataclass(frozen=True)
class ReadingCost:
    """One reading: its charge above the sleep floor [C], split by who draws it."""

    sensor_c: float  # the front end while it acquires
    cpu_c: float  # the CPU awake (all of it, or its wake-ups)
    peripheral_c: float  # an MCU peripheral and its clock running with the CPU asleep
    wakeups: int  # CPU wake-ups per reading (0: awake throughout)

    @property
    def total_c(self) -> float:
        """Everything the reading adds to the sleep floor [C]."""
        return self.sensor_c + self.cpu_c + self.peripheral_c


def wakeups(duration_s: float, sample_rate_hz: float, fifo_samples: int) -> int:
    """CPU wake-ups to drain a FIFO of ``fifo_samples`` over one acquisition (at least one).

    Examples
    --------
    >>> wakeups(4.0, 128.0, 32)  # a 4 s ECG window at 128 sps through a 32-word FIFO
    16
    """
    return max(1, math.ceil(round(duration_s * sample_rate_hz, 9) / fifo_samples))


def reading_cost(
    acquisition: str,
    duration_s: float,
    sensor_current_a: float,
    cpu_active_a: float,
    cpu_sleep_a: float,
    sample_rate_hz: float = 0.0,
    fifo_samples: int = 0,
    read_s: float = 0.0,
    peripheral_current_a: float = 0.0,
) -> ReadingCost:
    """Charge one reading adds to the sleep floor [C], by acquisition mode.

    ``continuous``: ``(I_sensor + I_active - I_sleep) d``. ``fifo``: ``I_sensor d +
    I_peripheral d + n (I_active - I_sleep) t_read`` with ``n`` wake-ups per acquisition.
    ``one_shot``: as ``fifo`` with one wake-up and no peripheral.

    Examples
    --------
    >>> c = reading_cost("continuous", 4.0, 77e-6, 5e-3, 5e-6)
    >>> round(c.total_c * 1e3, 3)  # mC: the CPU awake for the whole 4 s
    20.288
    >>> c = reading_cost("fifo", 4.0, 77e-6, 5e-3, 5e-6, 128.0, 32, 1e-3)
    >>> c.wakeups, round(c.total_c * 1e3, 3)  # 16 wake-ups of 1 ms
    (16, 0.388)
    """
    if acquisition not in ACQUISITIONS:
        raise ValueError(f"acquisition must be one of {ACQUISITIONS}, got {acquisition!r}")
    sensor_c = sensor_current_a * duration_s
    awake_a = cpu_active_a - cpu_sleep_a
    if acquisition == "continuous":
        return ReadingCost(sensor_c, awake_a * duration_s, 0.0, 0)
    n = 1 if acquisition == "one_shot" else wakeups(duration_s, sample_rate_hz, fifo_samples)
    peripheral_c = peripheral_current_a * duration_s if acquisition == "fifo" else 0.0
    return ReadingCost(sensor_c, n * awake_a * read_s, peripheral_c, n)
