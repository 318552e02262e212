"""Energy and time per message for BLE, Wi-Fi and cellular IoT radios. Pure functions.

Each model builds a message's cost from protocol phases (how long the radio spends in each
state) and per-state currents, so that datasheet currents and protocol timings predict
measured energies rather than being fitted to them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# -- BLE ---------------------------------------------------------------------------------------

# Bluetooth Core Specification, LE 1M PHY: 1 byte preamble, 4 access address, 2 header,
# payload, 4 MIC (encrypted links), 3 CRC; 8 us per byte; 150 us inter-frame space.
BLE_US_PER_BYTE = 8.0
BLE_OVERHEAD_BYTES = 1 + 4 + 2 + 3
BLE_MIC_BYTES = 4
BLE_IFS_S = 150e-6
BLE_MAX_PAYLOAD_BYTES = 27  # without data length extension


def ble_packet_s(payload_bytes: int, encrypted: bool = False) -> float:
    """Air time of one LE 1M PHY data packet [s].

    Examples
    --------
    >>> round(ble_packet_s(0) * 1e6)  # an empty PDU
    80
    """
    mic = BLE_MIC_BYTES if (encrypted and payload_bytes > 0) else 0
    return (BLE_OVERHEAD_BYTES + payload_bytes + mic) * BLE_US_PER_BYTE * 1e-6


@dataclass(frozen=True)
class PhaseCost:
    """Time and charge of a message, and the time spent per radio state."""

    time_s: float
    charge_c: float
    tx_s: float
    rx_s: float

    def energy_j(self, supply_v: float) -> float:
        """Energy at the supply voltage [J]."""
        return self.charge_c * supply_v


def ble_connection_event(
    payload_bytes: int,
    tx_current_a: float,
    rx_current_a: float,
    ramp_s: float = 140e-6,
    encrypted: bool = True,
) -> PhaseCost:
    """One BLE connection event that carries ``payload_bytes`` from the peripheral.

    The payload goes in as many packets as needed; the central acknowledges each with an
    empty packet. The radio ramps up before each TX and RX (``ramp_s``, nRF52 series ~140 us) at the
    state's current; packets alternate TX (peripheral) and RX (the central's reply).
    """
    packets = max(1, math.ceil(payload_bytes / BLE_MAX_PAYLOAD_BYTES))
    sizes = [min(BLE_MAX_PAYLOAD_BYTES, payload_bytes - i * BLE_MAX_PAYLOAD_BYTES)
             for i in range(packets)]  # fmt: skip
    tx_s = sum(ble_packet_s(max(s, 0), encrypted) for s in sizes) + packets * ramp_s
    rx_s = packets * (ble_packet_s(0) + ramp_s)
    time_s = tx_s + rx_s + 2 * packets * BLE_IFS_S
    return PhaseCost(time_s, tx_s * tx_current_a + rx_s * rx_current_a, tx_s, rx_s)


# -- Wi-Fi -------------------------------------------------------------------------------------


def wifi_wake_and_send(
    boot_s: float,
    associate_s: float,
    app_s: float,
    active_current_a: float,
    listen_current_a: float,
    tx_current_a: float,
    tx_s: float,
) -> PhaseCost:
    """A station that wakes from deep sleep, boots, associates, sends, and goes back to sleep.

    Boot runs the CPU (``active_current_a``); association and the application exchange keep
    the receiver listening (``listen_current_a``) except for the frames it transmits
    (``tx_s`` at ``tx_current_a``).
    """
    listen_s = associate_s + app_s - tx_s
    charge = boot_s * active_current_a + listen_s * listen_current_a + tx_s * tx_current_a
    return PhaseCost(boot_s + associate_s + app_s, charge, tx_s, listen_s)


# -- Cellular IoT (LTE-M / NB-IoT) ---------------------------------------------------------------


def cellular_exchange(
    wake_s: float,
    exchange_s: float,
    connected_tail_s: float,
    average_current_a: float,
) -> PhaseCost:
    """A PSM device that wakes, exchanges a request/response, and stays RRC-connected.

    The RRC-connected tail (until the network releases the connection, or release assistance
    ends it early: RAI) dominates small exchanges. The average current over the whole
    awake period is taken as one figure: the measurements twin uses report only that.
    """
    time_s = wake_s + exchange_s + connected_tail_s
    return PhaseCost(time_s, time_s * average_current_a, exchange_s, connected_tail_s)


# -- Keeping a link up between messages -------------------------------------------------------


def ble_idle_current_a(
    connection_interval_s: float, tx_current_a: float, rx_current_a: float, ramp_s: float
) -> float:
    """Mean current of keeping a BLE connection with nothing to send [A].

    Every connection interval the peripheral answers the central with an empty packet (slave
    latency 0); between events the radio is off.
    """
    empty = ble_connection_event(0, tx_current_a, rx_current_a, ramp_s, encrypted=False)
    return empty.charge_c / connection_interval_s


def wifi_dtim_idle_current_a(
    dtim_interval_s: float,
    beacon_listen_s: float,
    listen_current_a: float,
    light_sleep_current_a: float,
    deep_sleep_current_a: float,
) -> float:
    """Mean extra current of staying associated in power save, over deep sleep [A].

    The station light-sleeps (the association is kept) and wakes for every DTIM beacon to
    learn whether the access point buffers a frame for it.
    """
    beacon_a = beacon_listen_s * listen_current_a / dtim_interval_s
    return beacon_a + light_sleep_current_a - deep_sleep_current_a


def cellular_paging_current_a(
    edrx_cycle_s: float, paging_s: float, paging_current_a: float
) -> float:
    """Mean current of listening to one paging occasion per eDRX cycle [A]."""
    return paging_s * paging_current_a / edrx_cycle_s
