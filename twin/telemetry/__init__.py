"""Telemetry of a LoRaWAN fleet: uplinks as a network server logs them, read and written.

:mod:`twin.telemetry.uplinks` holds the common table (one row per uplink heard by one
gateway); :mod:`twin.telemetry.formats` reads and writes it as ChirpStack v4 events, The
Things Stack v3 uplink messages and plain CSV.
"""
