"""BLE, Wi-Fi and cellular message costs against published timings and measurements."""

from __future__ import annotations

import pytest

from twin.physics import radios
from twin.profiles import load_profile


def test_ble_packet_times():
    # Bluetooth Core Specification, LE 1M PHY: an empty data PDU lasts 80 us; a full 27-byte
    # payload with its 4-byte MIC lasts 328 us. Exact byte arithmetic, so exact comparison.
    assert radios.ble_packet_s(0) == pytest.approx(80e-6)
    assert radios.ble_packet_s(27, encrypted=True) == pytest.approx(328e-6)
    assert radios.ble_packet_s(27) == pytest.approx(296e-6)


def test_ble_connection_event_scales_with_payload():
    ble = load_profile("radio", "nrf52840-ble")
    one = radios.ble_connection_event(20, ble.tx_current_a, ble.rx_current_a, ble.ramp_s)
    three = radios.ble_connection_event(60, ble.tx_current_a, ble.rx_current_a, ble.ramp_s)
    assert three.charge_c > 2.5 * one.charge_c  # three packets, each with its ramp and reply
    # TX and RX currents: TX (6.4 mA) above RX (6.26 mA), never swapped.
    assert ble.tx_current_a > ble.rx_current_a


@pytest.mark.parametrize(
    ("mode", "measured_s", "measured_c"),
    [
        # glenn20/upy-esp32-experiments (ESP32 board at 5 V): wake -> connected, static IP
        # 734 ms / 100.2 mC; with DHCP 1626 ms / 204.3 mC.
        ("static", 0.734, 0.1002),
        ("dhcp", 1.626, 0.2043),
    ],
)
def test_esp32_wake_connect_against_measurement(mode, measured_s, measured_c):
    # The model takes the measured phase durations and the *datasheet* RX/TX currents; the
    # measured charge is an independent power measurement of the whole board at 5 V, which
    # also pays regulator losses and the board's own draw (the author notes it is high), so the
    # datasheet-current model may fall short by up to 30 %.
    w = load_profile("radio", "esp32-wifi")
    assoc = w.associate_static_s if mode == "static" else w.associate_dhcp_s
    cost = radios.wifi_wake_and_send(
        w.boot_s, assoc, 0.0, w.boot_current_a, w.listen_current_a, w.tx_current_a,
        w.tx_per_message_s,
    )  # fmt: skip
    assert cost.time_s == pytest.approx(measured_s, abs=1e-9)
    assert cost.charge_c == pytest.approx(measured_c, rel=0.30)
    assert cost.charge_c < measured_c  # the board overhead only ever adds


def test_nrf9160_exchanges_against_measurement():
    # boaks/zephyr-coaps-client (nRF9160-DK, PPK2 at 5 V): a 200 B request + 200 B response
    # takes 22 s / 0.55 J on LTE-M (no RAI) and 11 s / 0.27 J on NB-IoT with RAI. The model
    # builds the awake time from the separately measured PSM wake-up (LTE-M 12 s, NB-IoT
    # ~10 s), the exchange and the connected tail. NB-IoT's wake-up varies ("sometimes 60 s or
    # more"), hence 20 %; LTE-M's pieces add up within 5 %.
    for pid, energy_j, rel in (("nrf9160-ltem", 0.55, 0.05), ("nrf9160-nbiot", 0.27, 0.20)):
        c = load_profile("radio", pid)
        tail = c.connected_tail_s if pid == "nrf9160-ltem" else c.rai_tail_s
        cost = radios.cellular_exchange(c.wake_s, c.exchange_s, tail, c.average_current_a)
        assert cost.energy_j(c.supply_v) == pytest.approx(energy_j, rel=rel)
    # Release assistance cuts the connected tail: NB-IoT with RAI costs about half of LTE-M.
    lte = load_profile("radio", "nrf9160-ltem")
    nb = load_profile("radio", "nrf9160-nbiot")
    assert nb.rai_tail_s < lte.connected_tail_s
