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

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from twin.physics import battery as cell
from twin.physics import kibam
from twin.profiles import Battery, Board, Sensor, available, load_profile

# Brown-outs stranding less than this share of the cell are not worth a line (a sag that meets
# the board's minimum just at the cut-off); the life still counts them.
BROWNOUT_SAID_SOC = 1e-3


@dataclass(frozen=True)
class ModemScale:
    """A modem measured at one supply, drawing constant power from the cell instead.

    Its DC/DC converter takes the same power whatever its input, so the current the cell
    gives is the measured one times ``measured_v / cell_v``: more from a 3.6 V cell than the
    5 V bench supply saw. The run takes the pack's nominal voltage; the range is the same
    figure at the full pack's rest voltage and at the lowest it is used to (the cut-off, or
    the node's minimum supply if higher), because the conversion depends on the cell's state.

    Attributes
    ----------
    measured_v : float
        The supply the profile's currents were measured at [V].
    cell_v : float
        The pack's nominal voltage [V] (what the run converts at).
    scale, scale_full, scale_empty : float
        Cell current per measured current at ``cell_v``, at a full pack and at its lowest.
    """

    measured_v: float
    cell_v: float
    scale: float
    scale_full: float
    scale_empty: float


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
    modem_scale: ModemScale | None = None

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
    scale = modem_scale(board, radio, bat)
    if not math.isfinite(bat.capacity_c) or not has_load_figures(bat):
        return Supply(peak, board.min_supply_v, modem_scale=scale)
    r = bat.internal_resistance_ohm
    full = float(cell.loaded_v(1.0, bat.ocv_soc, bat.ocv_v, r, peak))
    need = min_supply_v(board, radio)
    if need is None:
        return Supply(peak, None, 0.0, full, scale)
    soc = cell.brownout_soc(bat.ocv_soc, bat.ocv_v, r, peak, need)
    return Supply(peak, need, soc, full, scale)


def modem_scale(board: Board, radio, bat: Battery) -> ModemScale | None:
    """How a constant-power modem's measured currents scale on this cell (None: they don't)."""
    if getattr(radio, "power_path", "as_measured") != "constant_power":
        return None
    if not math.isfinite(bat.capacity_c) or bat.nominal_v == radio.supply_v:
        return None  # on mains the bench figures stand; on a cell at that voltage, too
    full_v = bat.ocv_v[-1] if bat.has_ocv_curve else bat.nominal_v
    low_v = max(bat.cutoff_v, min_supply_v(board, radio) or 0.0)
    m = radio.supply_v
    return ModemScale(m, bat.nominal_v, m / bat.nominal_v, m / full_v, m / low_v)


def modem_at_cell(radio, scale: ModemScale | None):
    """The modem as its cell sees it: its currents converted at constant power.

    At the cell's nominal voltage; the radio is unchanged when ``scale`` is None.

    The exchange's and the paging's currents were measured on the bench supply and scale;
    the peak current is Nordic's figure at the battery already and the standby current is a
    board's, so those stand. Energies are unchanged (current x voltage is the same power).
    """
    if scale is None:
        return radio
    return dataclasses.replace(
        radio,
        supply_v=scale.cell_v,
        average_current_a=radio.average_current_a * scale.scale,
        paging_current_a=radio.paging_current_a * scale.scale,
        **{
            f: getattr(radio, f) * scale.scale
            for f in ("tx_current_a", "rx_current_a")
            if getattr(radio, f, None) is not None
        },
    )


def min_supply_v(board: Board, radio) -> float | None:
    """The lowest supply the node runs at: its board's, or its modem's if that is higher [V]."""
    needs = [v for v in (board.min_supply_v, getattr(radio, "min_supply_v", None)) if v]
    return max(needs) if needs else None


def needs_text(board: Board, radio, v: float) -> str:
    """Who sets the minimum supply: "the 3.00 V radio 'nrf9160-ltem' needs" or the board."""
    radio_v = getattr(radio, "min_supply_v", None)
    who = f"radio '{radio.id}'" if radio_v is not None and radio_v >= v else f"board '{board.id}'"
    return f"the {v:.2f} V {who} needs"


def refusal(bat: Battery, board: Board, radio, s: Supply) -> str:
    """Why a full pack cannot carry the node's bursts, with the figures."""
    v_full, r_full = bat.ocv_v[-1], bat.internal_resistance_ohm[-1]
    can = cell.max_burst_current_a(v_full, r_full, s.min_supply_v)
    under = (
        f"sags to {s.full_loaded_v:.2f} V"
        if s.full_loaded_v > 0
        else f"collapses (OCV - I R = {s.full_loaded_v:.2f} V)"
    )
    return (
        f"battery '{bat.id}' cannot carry this node's {s.peak_current_a * 1e3:.0f} mA bursts: "
        f"a full pack reads {v_full:.2f} V at rest and {under} under the burst ({r_full:g} ohm "
        f"internal resistance), below {needs_text(board, radio, s.min_supply_v)}, so every "
        f"burst (radio TX, or sensing with the CPU awake) would reset the node (a full pack "
        f"stays above it for bursts up to {can * 1e3:.0f} mA)"
    )


def brownout_warning(bat: Battery, board: Board, radio, s: Supply) -> str:
    """Say that brown-outs, not an empty cell, end the nodes' battery life."""
    return (
        f"battery '{bat.id}': below {s.brownout_soc:.1%} charge its voltage under the node's "
        f"{s.peak_current_a * 1e3:.0f} mA bursts falls below "
        f"{needs_text(board, radio, s.min_supply_v)}, so the node browns out there and battery "
        f"life ends with {s.brownout_soc:.1%} of the cell unused (a buffer capacitor, a "
        "lower-resistance cell or a board that runs lower would reach more of it)"
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


def rate_capacity_c(bat: Battery, current_a) -> np.ndarray:
    """What the cell delivers at a steady ``current_a`` [C], its rate effect applied.

    KiBaM if the profile gives it (twin.physics.kibam), else Peukert's law; never more than
    the rating, since neither fit says anything below the rated current.
    """
    current_a = np.maximum(current_a, 0.0)  # a node that netted charge (a panel's) draws none
    if bat.has_kibam:
        k = (bat.kibam_c, bat.kibam_k_per_s)
        total = kibam.total_capacity_c(bat.capacity_c, bat.rated_current_a, *k)
        return np.minimum(kibam.capacity_at_current_c(total, current_a, *k), bat.capacity_c)
    return (
        cell.peukert_capacity_mah(
            bat.capacity_mah, bat.rated_current_a, current_a, bat.peukert_exponent
        )
        * 3.6
    )
