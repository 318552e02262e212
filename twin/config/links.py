"""A group's link settings: how a BLE, Wi-Fi or cellular node keeps its link; LoRa plans."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, NonNegativeFloat, PositiveFloat, PositiveInt

from twin.config.strict import _Strict


class CouplingLoss(_Strict):
    """The coupling loss of a group's cellular nodes to their cell, spread over the nodes."""

    median_db: float = Field(description="Median coupling loss [dB] (3GPP: 144 good, 164 deep).")
    sd_db: NonNegativeFloat = Field(
        0.0, description="Spread between nodes [dB]: each node draws a normal loss around it."
    )


class Link(_Strict):
    """How a BLE, Wi-Fi or cellular node keeps (or drops) its link between messages."""

    stay_connected: bool = Field(
        False,
        description="Wi-Fi: stay associated in power save and wake for DTIM beacons (a cloud "
        "decision arrives at the next beacon); otherwise deep-sleep and associate per message.",
    )
    dhcp: bool = Field(False, description="Wi-Fi: ask DHCP at every association (else static IP).")
    dtim_interval_s: PositiveFloat = Field(
        0.3072, description="Wi-Fi: time between DTIM beacons (DTIM 3 x 102.4 ms) [s]."
    )
    response_wait_s: float = Field(
        0.0,
        ge=0.0,
        description="Wi-Fi deep sleep: listen this long after sending for a cloud decision [s]; "
        "one that comes later waits for the next association.",
    )
    release_assistance: bool = Field(
        False, description="Cellular: RAI, the network releases the link right after the reply."
    )
    edrx_cycle_s: PositiveFloat | None = Field(
        None,
        description="Cellular: listen for paging every cycle, so a cloud decision can reach the "
        "node between its own exchanges; none: PSM only, reachable just after an exchange.",
    )
    connection_interval_s: PositiveFloat | None = Field(
        None, description="BLE: connection interval [s]; default: the radio profile's."
    )
    access_point_stations: PositiveInt = Field(
        1,
        description="Wi-Fi: stations sharing the node's access point, itself included, each "
        "taken to send one message per sampling period; above 1 the 802.11 DCF's collisions "
        "cost retransmissions and backoff (twin.physics.wifi_contention).",
    )
    coupling_loss_db: float | CouplingLoss | None = Field(
        None,
        description="Cellular: path loss to the cell [dB], one figure or {median_db, sd_db}; "
        "past the radio's CE0 loss messages repeat (NB-IoT/LTE-M coverage enhancement, "
        "twin.physics.coverage), past its maximum coupling loss they are lost; none: every "
        "node in good coverage.",
    )


class LoRaSettings(_Strict):
    """A LoRa group's own channel-plan settings, over the region's (docs/regions.md)."""

    channels: PositiveInt | None = Field(
        None,
        description="Uplink channels the nodes spread their frames over; default: the "
        "region's (EU868: the 3 default channels, networks commonly run 8; US915: the 8 of "
        "one sub-band).",
    )
    coding_rate: Literal["4/5", "4/6", "4/7", "4/8"] | None = Field(
        None, description="LoRa coding rate, written as a fraction; default: the region's (4/5)."
    )
    preamble_symbols: Annotated[int, Field(ge=6, le=65_535)] | None = Field(
        None, description="Programmed preamble length [symbols]; default: the region's (8)."
    )
