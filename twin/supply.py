"""A node's power supply under load: whether its cell holds the board up through its bursts.

A cell's terminals sag by ``I x R`` while a burst draws ``I`` (the LoRa or Wi-Fi transmitter,
an LTE modem at full power); the board resets once they fall under its minimum supply. How
far the cell can empty before that happens is fixed by the profiles alone (the rest-voltage
curve, the internal resistance at each of its points, the board's minimum, the node's
peak current), so it is decided here, once, at compile time
(:func:`twin.physics.battery.brownout_soc`): the engine then counts the cell down to that
state of charge instead of to empty, and a cell that cannot carry even one burst when full
is refused with the figures that say why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from twin.physics import battery as cell
from twin.profiles import Battery, Board, Sensor, available, load_profile


@dataclass(frozen=True)
class Supply:
    """How a group's cell holds up under the node's bursts.

    Attributes
    ----------
    peak_current_a : float
        The node's largest burst: the radio's TX (or the modem's peak), or the sensor with
        the CPU awake, whichever is larger, on top of the sleep floor [A].
    min_supply_v : float or None
        The board's minimum supply [V] (None: the board profile does not give it).
    brownout_soc : float
        State of charge at and below which a burst browns the node out (0: the cell
        empties first, or the figures to tell are missing) [-].
    full_loaded_v : float or None
        A full pack's terminal voltage during the burst [V] (None: not known).
    """

    peak_current_a: float
    min_supply_v: float | None = None
    brownout_soc: float = 0.0
    full_loaded_v: float | None = None

    @property
    def checked(self) -> bool:
        """Whether the figures to decide brown-outs were all there."""
        return self.full_loaded_v is not None and self.min_supply_v is not None


def peak_current_a(board: Board, radio, sensor: Sensor) -> float:
    """The node's largest burst [A]: radio TX (a modem's peak) or sensing, plus sleep."""
    radio_peak = (
        getattr(radio, "peak_current_a", None)
        or getattr(radio, "tx_current_a", None)
        or radio.average_current_a
    )
    return max(radio_peak, sensor.current_a + board.active_current_a) + board.sleep_current_a


def has_load_figures(bat: Battery) -> bool:
    """Whether the pack gives a rest-voltage curve and its internal resistance."""
    return bat.has_ocv_curve and bat.internal_resistance_ohm is not None


def supply(board: Board, radio, bat: Battery, sensor: Sensor) -> Supply:
    """The group's supply under load (see the module notes)."""
    peak = peak_current_a(board, radio, sensor)
    if not math.isfinite(bat.capacity_c) or not has_load_figures(bat):
        return Supply(peak, board.min_supply_v)
    r = bat.internal_resistance_ohm
    full = float(cell.loaded_v(1.0, bat.ocv_soc, bat.ocv_v, r, peak))
    if board.min_supply_v is None:
        return Supply(peak, None, 0.0, full)
    soc = cell.brownout_soc(bat.ocv_soc, bat.ocv_v, r, peak, board.min_supply_v)
    return Supply(peak, board.min_supply_v, soc, full)


def refusal(bat: Battery, board: Board, s: Supply) -> str:
    """Why a full pack cannot carry the node's bursts, with the figures."""
    v_full, r_full = bat.ocv_v[-1], bat.internal_resistance_ohm[-1]
    can = cell.max_burst_current_a(v_full, r_full, s.min_supply_v)
    return (
        f"battery '{bat.id}' cannot carry this node's {s.peak_current_a * 1e3:.0f} mA bursts: "
        f"a full pack reads {v_full:.2f} V at rest and {s.full_loaded_v:.2f} V under the "
        f"burst ({r_full:g} ohm internal resistance), under the {s.min_supply_v:.2f} V board "
        f"'{board.id}' needs, so every transmission would reset the node (the pack holds "
        f"{can * 1e3:.0f} mA at most)"
    )


def cells_that_hold(board: Board, radio, sensor: Sensor, base_dir=None) -> list[tuple[str, float]]:
    """The batteries on the search path whose full pack carries the node's bursts.

    Each with the state of charge it browns out at, the ones that reach furthest first.
    """
    out = []
    for pid in available("battery", base_dir):
        try:
            bat = load_profile("battery", pid, base_dir)
        except Exception:  # noqa: BLE001 -- a broken profile elsewhere is not this error
            continue
        s = supply(board, radio, bat, sensor)
        if s.checked and s.brownout_soc < 1.0:
            out.append((pid, s.brownout_soc))
    return sorted(out, key=lambda c: (c[1], c[0]))
