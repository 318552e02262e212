"""Uplink exports: ChirpStack v4 events, The Things Stack v3 messages and CSV, both ways."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pytest

from twin.errors import ScenarioError
from twin.telemetry import formats
from twin.telemetry.uplinks import COLUMNS, Uplinks

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC).timestamp()


def _posix(stamp: str) -> float:
    """Seconds of an RFC 3339 time with nanoseconds, without going through the reader."""
    whole, frac = stamp.rstrip("Z").split(".")
    base = datetime.fromisoformat(whole).replace(tzinfo=UTC).timestamp()
    return base + int(frac) / 10 ** len(frac)


def _table() -> Uplinks:
    # Two devices; soil-1's frame 7 heard by two gateways; leaf-2 reports no battery.
    eui = "70B3D57ED005B89A"
    rows = [
        ("soil-1", eui, T0 + 0.123456, 7, 9, 125e3, 868.1e6, "gw-a", -97.3, 4.25, 3.618),
        ("soil-1", eui, T0 + 0.123456, 7, 9, 125e3, 868.1e6, "gw-b", -112.6, -6.4, 3.618),
        ("soil-1", eui, T0 + 600.5, 8, 9, 125e3, 868.3e6, "gw-a", -98.0, 3.5, 3.617),
        ("leaf-2", "", T0 + 30.000001, 0, 12, 125e3, 868.5e6, "gw-b", -120.4, -15.25, np.nan),
        ("leaf-2", "", T0 + 630.25, 1, 7, 250e3, np.nan, "gw-a", -80.0, 9.0, np.nan),
    ]  # fmt: skip
    cols = list(zip(*rows, strict=True))
    return Uplinks(**dict(zip(COLUMNS, cols, strict=True)))


# Precision each format keeps (the module docstring): RSSI, SNR, battery.
PRECISION = {
    "chirpstack": (0.5, 0.05, 0.0005),
    "ttn": (0.05, 0.05, 0.0005),
    "csv": (0.0, 0.0, 0.0),
}


@pytest.mark.parametrize("fmt", formats.FORMATS)
def test_round_trip(tmp_path, fmt):
    u = _table()
    path = tmp_path / f"up{formats.SUFFIXES[fmt]}"
    n = formats.write(u, path, fmt)
    assert n == (5 if fmt == "csv" else 4)  # JSON: one event for the frame two gateways heard
    res = formats.read(path)  # format guessed from the name / content
    assert res.skipped == {} and res.lines == n
    got, want = res.uplinks.sorted(), u.sorted()
    assert len(got) == len(want)
    for name in ("device", "dev_eui", "gateway", "fcnt", "sf", "bandwidth_hz"):
        assert list(getattr(got, name)) == list(getattr(want, name)), name
    np.testing.assert_allclose(got.time_s, want.time_s, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(got.frequency_hz, want.frequency_hz)  # NaN where NaN
    d_rssi, d_snr, d_batt = PRECISION[fmt]
    np.testing.assert_allclose(got.rssi_dbm, want.rssi_dbm, rtol=0, atol=d_rssi + 1e-9)
    np.testing.assert_allclose(got.snr_db, want.snr_db, rtol=0, atol=d_snr + 1e-9)
    np.testing.assert_allclose(got.battery_v, want.battery_v, rtol=0, atol=d_batt + 1e-9)
    assert np.isnan(got.battery_v[got.device == "leaf-2"]).all()


def test_chirpstack_event_shape(tmp_path):
    path = tmp_path / "up.jsonl"
    formats.write(_table(), path, "chirpstack", application="farm")
    ev = json.loads(path.read_text().splitlines()[0])
    assert ev["deviceInfo"]["deviceName"] == "soil-1"
    assert ev["deviceInfo"]["applicationName"] == "farm"
    assert ev["fCnt"] == 7 and ev["dr"] == 3  # EU868: SF9/125 kHz is DR3
    assert [r["gatewayId"] for r in ev["rxInfo"]] == ["gw-a", "gw-b"]
    assert ev["rxInfo"][0]["rssi"] == -97 and ev["rxInfo"][0]["crcStatus"] == "CRC_OK"
    assert ev["txInfo"]["modulation"]["lora"] == {
        "bandwidth": 125000, "spreadingFactor": 9, "codeRate": "CR_4_5"
    }  # fmt: skip
    assert ev["data"] == "DiI=" and ev["object"] == {"battery_v": 3.618}  # 3618 mV
    again = tmp_path / "again.jsonl"
    formats.write(_table(), again, "chirpstack", application="farm")
    assert again.read_bytes() == path.read_bytes()  # deterministic ids


def test_ttn_message_shape_omits_zero_values(tmp_path):
    path = tmp_path / "up.ttn.jsonl"
    formats.write(_table(), path, "ttn")
    msgs = [json.loads(s) for s in path.read_text().splitlines()]
    leaf0 = next(m for m in msgs if m["end_device_ids"]["device_id"] == "leaf-2")
    assert "f_cnt" not in leaf0["uplink_message"]  # frame counter 0, omitted as TTS does
    settings = msgs[0]["uplink_message"]["settings"]
    assert settings["frequency"] == "868100000"
    assert settings["data_rate"]["lora"]["spreading_factor"] == 9


# ChirpStack v4 "up" event, the example of https://www.chirpstack.io/docs/chirpstack/
# integrations/events.html (chirpstack-docs src/chirpstack/integrations/events.md): it has no
# fCnt (a zero value left out); "object" added here as a codec would decode it.
CHIRPSTACK_UP = {
    "deduplicationId": "3ac7e3c4-4401-4b8d-9386-a5c902f9202d",
    "time": "2022-07-18T09:34:15.775023242+00:00",
    "deviceInfo": {
        "tenantId": "52f14cd4-c6f1-4fbd-8f87-4025e1d49242", "tenantName": "ChirpStack",
        "applicationId": "17c82e96-be03-4f38-aef3-f83d48582d97",
        "applicationName": "Test application",
        "deviceProfileId": "14855bf7-d10d-4aee-b618-ebfcb64dc7ad",
        "deviceProfileName": "Test device-profile", "deviceName": "Test device",
        "devEui": "0101010101010101", "tags": {"key": "value"},
    },
    "devAddr": "00189440", "dr": 1, "fPort": 1, "data": "qg==",
    "object": {"battery_v": 3.3},
    "rxInfo": [{
        "gatewayId": "0016c001f153a14c", "uplinkId": 4217106255, "rssi": -36, "snr": 10.5,
        "context": "E3OWOQ==", "metadata": {"region_name": "eu868", "region_common_name": "EU868"},
    }],
    "txInfo": {
        "frequency": 867100000,
        "modulation": {"lora": {"bandwidth": 125000, "spreadingFactor": 11, "codeRate": "CR_4_5"}},
    },
}  # fmt: skip
# The join event of the same page.
CHIRPSTACK_JOIN = {
    "deduplicationId": "c9dbe358-2578-4fb7-b295-66b44edc45a6",
    "time": "2022-07-18T09:33:28.823500726+00:00",
    "deviceInfo": CHIRPSTACK_UP["deviceInfo"],
    "devAddr": "00189440",
}
# The Things Stack v3 uplink message, the example of https://www.thethingsindustries.com/
# docs/integrations/data-formats/ (lorawan-stack-docs doc/content/integrations/data-formats).
TTN_UP = {
    "end_device_ids": {
        "device_id": "dev1", "application_ids": {"application_id": "app1"},
        "dev_eui": "0004A30B001C0530", "join_eui": "800000000000000C", "dev_addr": "00BCB929",
    },
    "correlation_ids": ["as:up:01E0WZGT6Y7657CPFPE5WEYDSQ", "gs:conn:01E0WDEC6T5T4XXBAX7S1VMFKE"],
    "received_at": "2020-02-12T15:15:46.014773143Z",
    "uplink_message": {
        "session_key_id": "AXA50tHUGUucuzS/bCGMNw==", "f_cnt": 1, "frm_payload": "gkHe",
        "decoded_payload": {"temperature": 1.0, "luminosity": 0.64},
        "rx_metadata": [{
            "gateway_ids": {"gateway_id": "gtw1", "eui": "9C5C8E00001A05C4"},
            "time": "2020-02-12T15:15:45.787Z", "timestamp": 2463457000, "rssi": -35,
            "channel_rssi": -35, "snr": 5, "uplink_token": "ChIKEAoEZ3R3MRIInFyOAAAaBcQQ6L3Vlgk=",
            "channel_index": 2,
        }],
        "settings": {
            "data_rate": {"lora": {"bandwidth": 125000, "spreading_factor": 7}},
            "data_rate_index": 5, "coding_rate": "4/6", "frequency": "868300000",
            "timestamp": 2463457000, "time": "2020-02-12T15:15:45.787Z",
        },
        "consumed_airtime": "0.056576s",
        "received_at": "2020-02-12T15:15:45.789585559Z",
    },
}  # fmt: skip


def _lines(tmp_path, name, records):
    path = tmp_path / name
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in records))
    return path


def test_chirpstack_documented_event(tmp_path):
    res = formats.read(_lines(tmp_path, "cs.json", [CHIRPSTACK_UP]))
    u = res.uplinks
    assert len(u) == 1 and res.skipped == {}
    assert u.device[0] == "Test device" and u.dev_eui[0] == "0101010101010101"
    assert u.gateway[0] == "0016c001f153a14c"
    assert u.fcnt[0] == 0  # absent: proto3 JSON leaves out zero values
    assert (u.sf[0], u.bandwidth_hz[0], u.frequency_hz[0]) == (11, 125e3, 867.1e6)
    assert (u.rssi_dbm[0], u.snr_db[0], u.battery_v[0]) == (-36, 10.5, 3.3)
    assert u.time_s[0] == pytest.approx(_posix("2022-07-18T09:34:15.775023242"), abs=1e-6)


def test_ttn_documented_message(tmp_path):
    res = formats.read(_lines(tmp_path, "ttn.json", [TTN_UP]))
    u = res.uplinks
    assert len(u) == 1 and res.skipped == {}
    assert (u.device[0], u.dev_eui[0], u.gateway[0]) == ("dev1", "0004A30B001C0530", "gtw1")
    assert (u.fcnt[0], u.sf[0], u.bandwidth_hz[0], u.frequency_hz[0]) == (1, 7, 125e3, 868.3e6)
    assert (u.rssi_dbm[0], u.snr_db[0]) == (-35, 5)
    assert np.isnan(u.battery_v[0])  # the decoded payload has no battery_v
    # The Network Server's reception time (uplink_message.received_at).
    assert u.time_s[0] == pytest.approx(_posix("2020-02-12T15:15:45.789585559"), abs=1e-6)


def test_ttn_array_and_storage_wrapper(tmp_path):
    arr = tmp_path / "storage.json"
    arr.write_text(json.dumps([{"result": TTN_UP}, TTN_UP], indent=2))
    res = formats.read(arr)
    assert len(res.uplinks) == 2 and res.lines == 2 and res.skipped == {}


def test_chirpstack_bad_records_are_counted_with_lines(tmp_path):
    no_time = {k: v for k, v in CHIRPSTACK_UP.items() if k != "time"}
    no_rx = {k: v for k, v in CHIRPSTACK_UP.items() if k != "rxInfo"}
    bad_rssi = json.loads(json.dumps(CHIRPSTACK_UP))
    bad_rssi["rxInfo"].append({"gatewayId": "gw-x", "rssi": "loud"})
    status = {**CHIRPSTACK_JOIN, "margin": 10, "batteryLevel": 88.3}
    path = _lines(tmp_path, "cs.jsonl", [
        CHIRPSTACK_UP, "{not json", CHIRPSTACK_JOIN, no_time, "", no_rx, bad_rssi, status,
    ])  # fmt: skip
    res = formats.read(path)
    assert res.lines == 7  # the blank line is no record
    assert res.skipped == {
        "malformed JSON": 1,
        "not an uplink event": 2,
        "missing field time": 1,
        "no reception metadata": 1,
        "bad value rxInfo.rssi": 1,  # that reception only: the frame's other one is kept
    }
    assert res.examples == {
        "malformed JSON": 2,
        "not an uplink event": 3,
        "missing field time": 4,
        "no reception metadata": 6,
        "bad value rxInfo.rssi": 7,
    }
    assert len(res.uplinks) == 2


def test_ttn_missing_f_cnt_is_frame_counter_zero(tmp_path):
    first = json.loads(json.dumps(TTN_UP))
    del first["uplink_message"]["f_cnt"], first["uplink_message"]["rx_metadata"][0]["snr"]
    no_sf = json.loads(json.dumps(TTN_UP))
    del no_sf["uplink_message"]["settings"]["data_rate"]["lora"]["spreading_factor"]
    join = {k: v for k, v in TTN_UP.items() if k != "uplink_message"}
    join["join_accept"] = {"session_key_id": "AXBSH1Pk6Z0G166RlH16CQ=="}
    res = formats.read(_lines(tmp_path, "ttn.jsonl", [first, join, no_sf, TTN_UP]))
    assert list(res.uplinks.fcnt) == [0, 1]
    assert res.uplinks.snr_db[0] == 0.0  # omitted as a zero value
    assert res.skipped == {
        "not an uplink event": 1,
        "missing field uplink_message.settings.data_rate.lora.spreading_factor": 1,
    }
    no_sf_reason = "missing field uplink_message.settings.data_rate.lora.spreading_factor"
    assert res.examples == {"not an uplink event": 2, no_sf_reason: 3}


def test_ttn_packet_broker_reception_names_the_forwarding_gateway(tmp_path):
    # rx_metadata relayed by Packet Broker (another network's gateway), as TTS sends it.
    msg = json.loads(json.dumps(TTN_UP))
    msg["uplink_message"]["rx_metadata"][0]["gateway_ids"] = {"gateway_id": "packetbroker"}
    msg["uplink_message"]["rx_metadata"][0]["packet_broker"] = {
        "forwarder_net_id": "000013", "forwarder_gateway_eui": "7276FF0000062E94",
        "forwarder_gateway_id": "eui-7276ff0000062e94",
    }  # fmt: skip
    res = formats.read(_lines(tmp_path, "pb.jsonl", [msg]))
    assert list(res.uplinks.gateway) == ["eui-7276ff0000062e94"]


def test_duplicates_are_kept(tmp_path):
    twice = json.loads(json.dumps(CHIRPSTACK_UP))
    twice["rxInfo"] *= 2
    res = formats.read(_lines(tmp_path, "cs.jsonl", [twice, CHIRPSTACK_UP]))
    assert len(res.uplinks) == 3 and res.skipped == {}


def test_csv_minimal_columns_and_posix_time(tmp_path):
    path = tmp_path / "up.csv"
    path.write_text(
        "# exported by hand\n"
        "device,time,fcnt,sf,gateway,rssi_dbm,snr_db\n"
        "n1,1767225600.5,3,7,g1,-90,7.5\n"
        "n1,2026-01-01T00:10:00Z,4,7,g1,-91,7\n"
        "n1,yesterday,5,7,g1,-91,7\n"
        "n1,1767226800,6,13,g1,-91,7\n"
    )
    res = formats.read(path)
    u = res.uplinks
    assert list(u.time_s) == [1767225600.5, 1767226200.0]
    assert (u.dev_eui[0], u.bandwidth_hz[0]) == ("", 125e3)
    assert np.isnan(u.frequency_hz).all() and np.isnan(u.battery_v).all()
    assert res.skipped == {"bad value time": 1, "bad value sf": 1}
    assert res.examples == {"bad value time": 5, "bad value sf": 6}


def test_csv_without_required_column_is_refused(tmp_path):
    path = tmp_path / "up.csv"
    path.write_text("device,time,fcnt,sf,gateway,rssi,snr_db\nn1,0,1,7,g1,-90,7\n")
    with pytest.raises(ScenarioError) as err:
        formats.read(path)
    msg = str(err.value)
    assert "up.csv:1" in msg and "no column 'rssi_dbm'" in msg and "did you mean 'rssi'" in msg


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "file not found; check the path"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"hello\nworld\n", "no ChirpStack v4 event"),
        (b'{"foo": 1}\n{"bar": 2}\n', "no ChirpStack v4 event"),
        (b"", "no ChirpStack v4 event"),
    ],
)
def test_unreadable_files_raise_a_clear_error(tmp_path, content, expected):
    path = tmp_path / "export.json"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ScenarioError) as err:
        formats.read(path)
    msg = str(err.value)
    assert str(path) in msg and expected in msg
    assert "export the application's uplinks as JSON lines" in msg or "check the path" in msg


def test_forced_format_that_does_not_match(tmp_path):
    path = _lines(tmp_path, "cs.jsonl", [CHIRPSTACK_UP])
    with pytest.raises(ScenarioError, match="no The Things Stack v3 message"):
        formats.read(path, "ttn")
    with pytest.raises(ScenarioError, match="unknown telemetry format 'tts'"):
        formats.read(path, "tts")


def test_write_policies_names_files_as_the_results_folder_expects(tmp_path):
    u = _table()
    paths = formats.write_policies({"on_device": u, "cloud/v2": u}, tmp_path / "t", "ttn")
    assert [p.name for p in paths] == ["on_device.ttn.jsonl", "cloud_v2.ttn.jsonl"]
    assert all(len(formats.read(p).uplinks) == 5 for p in paths)
