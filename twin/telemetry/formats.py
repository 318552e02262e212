"""Uplink tables as network servers export them: ChirpStack v4, The Things Stack v3, CSV.

:func:`write` turns an :class:`~twin.telemetry.uplinks.Uplinks` table into a file real
pipelines ingest; :func:`read` turns such an export back into the table, counting each record
it cannot use in :attr:`ReadResult.skipped` (reason, first line) rather than dropping it.
Rows with the same ``(device, fcnt, time_s)`` are one uplink heard by several gateways: one
ChirpStack event with several ``rxInfo``, one TTS message with several ``rx_metadata``, one
CSV row per reception. Duplicate receptions are kept (calibration counts and removes them).

Formats, and the precision a round trip ``read(write(u))`` keeps:

``chirpstack``
    JSON lines, one ``up`` event each, as ChirpStack v4's HTTP/MQTT integrations send them
    with the JSON marshaler. Time to 1 us; RSSI whole dBm (``int32`` in ``UplinkRxInfo``);
    SNR 0.1 dB (the packet forwarder's ``lsnr`` step); battery whole mV (2-byte big-endian
    payload, also decoded in ``object``); frequency, bandwidth whole Hz. DevEUI written
    lower case (as ChirpStack does), read upper case.
``ttn``
    JSON lines, one uplink message each, as The Things Stack v3's webhook/MQTT/storage
    integrations send them (a JSON array and the storage ``{"result": ...}`` wrapper are
    read too). Time 1 us; RSSI and SNR 0.1 dB; battery whole mV; frequency whole Hz (a
    string: TTS writes 64-bit integers as strings).
``csv``
    One row per reception, :data:`CSV_HEADER`, time RFC 3339 UTC: lossless but time (1 us).

Synthetic in the JSON written (a simulated fleet has no such identities): UUIDs, DevAddr,
uplink ids and contexts, derived from device, frame counter and time (same table, same
bytes); ``fPort`` 1, no ADR, unconfirmed, coding rate 4/5, ``dr`` from the EU868 table.

Checked against: ChirpStack v4 ``integration.proto`` (``UplinkEvent``, ``DeviceInfo``) and
``gw.proto`` (``UplinkRxInfo``, ``UplinkTxInfo``, ``LoraModulationInfo``, ``CodeRate``,
``CRCStatus``), https://github.com/chirpstack/chirpstack/tree/master/api/proto, and the event
examples at https://www.chirpstack.io/docs/chirpstack/integrations/events.html. ChirpStack's
``api/rust/build.rs`` emits zero values for integration messages but not for ``gw`` ones, so
an ``rxInfo`` omits a zero ``snr``; the documented ``up`` example omits ``fCnt`` too. The
Things Stack "Data Formats" page (uplink format and example),
https://www.thethingsindustries.com/docs/integrations/data-formats/: "Empty fields are
omitted from payloads. As such, if a certain field has a value of "", 0 or false it will not
be present in the message." So an absent ``f_cnt``, ``f_port`` or ``snr`` reads as 0 here.
"""

from __future__ import annotations

import base64
import csv
import difflib
import io
import json
import math
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from twin.errors import ScenarioError
from twin.physics import lora
from twin.telemetry.uplinks import COLUMNS, Uplinks

FORMATS = ("chirpstack", "ttn", "csv")
# File name endings write_policies uses (twin.results.outdir accepts exactly these).
SUFFIXES = {"chirpstack": ".chirpstack.jsonl", "ttn": ".ttn.jsonl", "csv": ".csv"}

CSV_HEADER = (
    "device,dev_eui,time,fcnt,sf,bandwidth_hz,frequency_hz,gateway,rssi_dbm,snr_db,battery_v"
).split(",")
CSV_REQUIRED = ("device", "time", "fcnt", "sf", "gateway", "rssi_dbm", "snr_db")

# When a record does not say: LoRaWAN uplinks are 125 kHz but for a few fast data rates.
DEFAULT_BANDWIDTH_HZ = 125_000.0
# LoRaWAN MAC overhead on top of the application payload (MHDR 1, FHDR 7, FPort 1, MIC 4).
_MAC_OVERHEAD_BYTES = 13
_PAYLOAD_BYTES = 2  # the battery reading, big-endian millivolts
_NS = uuid.uuid5(uuid.NAMESPACE_URL, "twin:telemetry")
_FIX = (
    "export the application's uplinks as JSON lines (ChirpStack v4 HTTP/MQTT integration with "
    "the JSON marshaler, or a The Things Stack webhook/MQTT/storage integration) or as CSV "
    f"with the columns {','.join(CSV_HEADER)}"
)

# ChirpStack sends every event type through the same integration; only the HTTP query
# string or MQTT topic names it, so a saved line is classified by its keys. These belong
# to status, ack, txack, log, location and integration events, never to an "up" event.
_CS_OTHER_EVENT_KEYS = frozenset(
    "margin batteryLevel externalPowerSource batteryLevelUnavailable queueItemId acknowledged"
    " fCntDown downlinkId gatewayId level code description location integrationName"
    " eventType".split()
)
_CS_UP_KEYS = frozenset(("rxInfo", "txInfo", "fCnt", "fPort", "data", "dr"))


@dataclass(frozen=True)
class ReadResult:
    """What :func:`read` made of a file.

    ``uplinks``: the receptions, in file order. ``skipped``: records not used (or, for a
    problem in one reception of a frame heard by several gateways, receptions), by reason
    (``"malformed JSON"``, ``"not an uplink event"``, ``"missing field ..."``, ``"no
    reception metadata"``, ``"bad value ..."``; a bad battery keeps its frame, battery NaN,
    under a reason that says so). ``examples``: each reason's first line (1-based).
    ``lines``: records read (JSON values, or CSV data rows).
    """

    uplinks: Uplinks
    skipped: dict[str, int]
    examples: dict[str, int]
    lines: int


class _Skip(Exception):
    """A record (or reception) that cannot be used; ``reason`` says why."""

    @property
    def reason(self) -> str:
        return self.args[0]


class _Table:
    """Columns being filled row by row, and the tally of what was skipped."""

    def __init__(self) -> None:
        self.cols: dict[str, list] = {name: [] for name in COLUMNS}
        self.skipped: dict[str, int] = {}
        self.examples: dict[str, int] = {}

    def add(self, **row: Any) -> None:
        for name, value in row.items():
            self.cols[name].append(value)

    def skip(self, reason: str, line: int) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1
        self.examples.setdefault(reason, line)

    def result(self, records: int) -> ReadResult:
        cols = {n: np.asarray(v, dtype=COLUMNS[n]) for n, v in self.cols.items()}
        return ReadResult(Uplinks(**cols), self.skipped, self.examples, records)


def check_format(fmt: str) -> str:
    """``fmt`` if it is one of :data:`FORMATS`, else a :class:`ScenarioError` listing them."""
    if fmt not in FORMATS:
        close = difflib.get_close_matches(str(fmt), FORMATS, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ScenarioError(
            f"unknown telemetry format '{fmt}' (formats: {', '.join(FORMATS)}){hint}"
        )
    return fmt


# --- writing ---------------------------------------------------------------------------


def write(uplinks: Uplinks, path: Path, fmt: str, *, application: str = "twin") -> int:
    """Write ``uplinks`` (finite time, RSSI, SNR) to ``path`` as ``fmt``; records written.

    ``fmt`` is one of :data:`FORMATS` (the module docstring says what each keeps);
    ``application`` names the ChirpStack application / TTS ``application_id``. Returns the
    number of uplink events (JSON formats) or receptions (CSV) written.
    """
    check_format(fmt)
    for name in ("time_s", "rssi_dbm", "snr_db"):
        if not np.all(np.isfinite(getattr(uplinks, name))):
            raise ValueError(f"uplinks.{name} has non-finite values; cannot write them")
    u = uplinks.sorted()
    path = Path(path)
    try:
        with open(path, "w", encoding="utf-8", newline="") as fh:
            if fmt == "csv":
                return _write_csv(u, fh)
            make = _chirpstack_event if fmt == "chirpstack" else _ttn_message
            n = 0
            for rows in _events(u):
                fh.write(json.dumps(make(u, rows, application), allow_nan=False) + "\n")
                n += 1
            return n
    except OSError as exc:
        raise ScenarioError(f"cannot write telemetry: {exc.strerror}", str(path)) from None


def write_policies(
    uplinks: dict[str, Uplinks], directory: Path, fmt: str, *, application: str = "twin"
) -> list[Path]:
    """Write one file per policy: ``directory/<policy><suffix>`` (:data:`SUFFIXES`).

    Policy names are reduced to letters, digits, ``_`` and ``-`` (what the results folder
    accepts); two names that reduce alike get ``-2``, ``-3``, ...
    """
    check_format(fmt)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for policy, table in uplinks.items():
        stem = re.sub(r"[^A-Za-z0-9_-]+", "_", policy) or "policy"
        base, k = stem, 2
        while directory / f"{stem}{SUFFIXES[fmt]}" in paths:
            stem, k = f"{base}-{k}", k + 1
        path = directory / f"{stem}{SUFFIXES[fmt]}"
        write(table, path, fmt, application=application)
        paths.append(path)
    return paths


def _events(u: Uplinks) -> Iterator[np.ndarray]:
    """Row indices of each uplink event (rows already sorted by time, device, fcnt)."""
    n = len(u)
    if n == 0:
        return
    dev = u.device.astype(str)
    new = (dev[1:] != dev[:-1]) | (u.fcnt[1:] != u.fcnt[:-1]) | (u.time_s[1:] != u.time_s[:-1])
    starts = np.concatenate([[0], np.flatnonzero(new) + 1, [n]])
    for a, b in zip(starts[:-1], starts[1:], strict=True):
        yield np.arange(a, b)


def _rfc3339(t: float, zulu: bool = True) -> str:
    """POSIX seconds as RFC 3339 UTC with microseconds (ChirpStack writes ``+00:00``)."""
    sec, us = divmod(round(float(t) * 1_000_000), 1_000_000)
    stamp = datetime.fromtimestamp(sec, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{us:06d}{'Z' if zulu else '+00:00'}"


def _ids(*parts: Any) -> uuid.UUID:
    """A deterministic UUID for synthetic identities (same table, same file)."""
    return uuid.uuid5(_NS, "/".join(str(p) for p in parts))


def _payload(battery_v: float) -> tuple[bytes, dict]:
    """FRMPayload and its decoded object: battery as 2-byte big-endian mV, if reported."""
    if not math.isfinite(battery_v):
        return bytes(_PAYLOAD_BYTES), {}
    mv = min(max(round(battery_v * 1000), 0), 0xFFFF)
    return mv.to_bytes(_PAYLOAD_BYTES, "big"), {"battery_v": mv / 1000}


def _dev_addr(device: str) -> str:
    # NetID 0/1 (experimental/private) type-0 addresses: the top 7 bits are zero.
    return f"{int(_ids('devaddr', device).hex[:8], 16) & 0x01FFFFFF:08x}"


def _eu868_dr(sf: int, bandwidth_hz: float) -> int:
    """EU868 data rate (RP002 table: DR0..5 = SF12..7 at 125 kHz, DR6 = SF7 at 250 kHz)."""
    if bandwidth_hz >= 250_000 and sf == 7:
        return 6
    return min(max(12 - sf, 0), 5)


def _chirpstack_event(u: Uplinks, rows: np.ndarray, application: str) -> dict:
    """One ChirpStack v4 ``up`` event (``integration.UplinkEvent`` in JSON)."""
    i = int(rows[0])
    device, t, fcnt = str(u.device[i]), float(u.time_s[i]), int(u.fcnt[i])
    sf, bw = int(u.sf[i]), float(u.bandwidth_hz[i])
    data, obj = _payload(float(u.battery_v[i]))
    rx = []
    for k, j in enumerate(rows):
        uplink_id = int(_ids("uplink", device, fcnt, t, k).hex[:8], 16)
        rx.append({
            "gatewayId": str(u.gateway[j]),
            "uplinkId": uplink_id,
            "nsTime": _rfc3339(t, zulu=False),
            "rssi": int(round(float(u.rssi_dbm[j]))),
            "snr": round(float(u.snr_db[j]), 1),
            "channel": 0,
            "location": {},
            "context": base64.b64encode(uplink_id.to_bytes(4, "big")).decode(),
            "metadata": {"region_config_id": "eu868", "region_common_name": "EU868"},
            "crcStatus": "CRC_OK",
        })  # fmt: skip
    tx: dict[str, Any] = {}
    if math.isfinite(u.frequency_hz[i]):
        tx["frequency"] = int(round(float(u.frequency_hz[i])))
    lora_info = {"bandwidth": int(round(bw)), "spreadingFactor": sf, "codeRate": "CR_4_5"}
    tx["modulation"] = {"lora": lora_info}
    info = {
        "tenantId": str(_ids("tenant", application)), "tenantName": "twin",
        "applicationId": str(_ids("application", application)), "applicationName": application,
        "deviceProfileId": str(_ids("profile", application)), "deviceProfileName": "twin",
        "deviceName": device, "devEui": str(u.dev_eui[i]).lower(), "tags": {},
    }  # fmt: skip
    event = {
        "deduplicationId": str(_ids("up", device, fcnt, t)), "time": _rfc3339(t, zulu=False),
        "deviceInfo": info, "devAddr": _dev_addr(device), "adr": False, "dr": _eu868_dr(sf, bw),
        "fCnt": fcnt, "fPort": 1, "confirmed": False, "data": base64.b64encode(data).decode(),
    }  # fmt: skip
    if obj:
        event["object"] = obj
    return {**event, "rxInfo": rx, "txInfo": tx}


def _ttn_message(u: Uplinks, rows: np.ndarray, application: str) -> dict:
    """One The Things Stack v3 uplink message; zero values omitted, as TTS does."""
    i = int(rows[0])
    device, t, fcnt = str(u.device[i]), float(u.time_s[i]), int(u.fcnt[i])
    sf, bw = int(u.sf[i]), float(u.bandwidth_hz[i])
    data, obj = _payload(float(u.battery_v[i]))
    stamp = _rfc3339(t)
    concentrator_us = round(t * 1e6) % 2**32
    rx = []
    for j in rows:
        gateway = str(u.gateway[j])
        gw_ids = {"gateway_id": gateway}
        if re.fullmatch(r"(eui-)?[0-9A-Fa-f]{16}", gateway):
            gw_ids["eui"] = gateway[-16:].upper()
        rssi, snr = round(float(u.rssi_dbm[j]), 1), round(float(u.snr_db[j]), 1)
        meta = {"gateway_ids": gw_ids, "time": stamp, "timestamp": concentrator_us,
                "rssi": rssi, "channel_rssi": rssi, "snr": snr}  # fmt: skip
        rx.append({k: v for k, v in meta.items() if v})  # TTS omits zero values
    toa = float(lora.time_on_air_s(_MAC_OVERHEAD_BYTES + len(data), sf, bw))
    lora_info = {"bandwidth": int(round(bw)), "spreading_factor": sf, "coding_rate": "4/5"}
    settings: dict[str, Any] = {"data_rate": {"lora": lora_info}}
    if math.isfinite(u.frequency_hz[i]):
        settings["frequency"] = str(int(round(float(u.frequency_hz[i]))))
    up = {"f_port": 1, "f_cnt": fcnt, "frm_payload": base64.b64encode(data).decode(),
          "decoded_payload": obj, "rx_metadata": rx, "settings": settings,
          "received_at": stamp, "consumed_airtime": f"{toa:.6f}s"}  # fmt: skip
    ids = {"device_id": device, "application_ids": {"application_id": application},
           "dev_eui": str(u.dev_eui[i]).upper(), "dev_addr": _dev_addr(device).upper()}  # fmt: skip
    ids, up = ({k: v for k, v in d.items() if v} for d in (ids, up))  # zero values omitted
    corr = "as:up:" + _ids("up", device, fcnt, t).hex.upper()[:26]
    return {"end_device_ids": ids, "correlation_ids": [corr], "received_at": stamp,
            "uplink_message": up}  # fmt: skip


def _write_csv(u: Uplinks, fh: io.TextIOBase) -> int:
    w = csv.writer(fh, lineterminator="\n")
    w.writerow(CSV_HEADER)

    def num(x: float) -> str:
        # repr is the shortest text that reads back to the same float; NaN is left empty.
        return "" if not math.isfinite(x) else repr(float(x))

    for i in range(len(u)):
        w.writerow([
            u.device[i], u.dev_eui[i], _rfc3339(u.time_s[i]), int(u.fcnt[i]), int(u.sf[i]),
            num(u.bandwidth_hz[i]), num(u.frequency_hz[i]), u.gateway[i],
            num(u.rssi_dbm[i]), num(u.snr_db[i]), num(u.battery_v[i]),
        ])  # fmt: skip
    return len(u)


# --- reading ---------------------------------------------------------------------------


def read(path: Path, fmt: str | None = None) -> ReadResult:
    """Read an uplink export (the module docstring describes the formats).

    ``fmt`` (one of :data:`FORMATS`) is guessed when not given: ``.csv`` (or a CSV header)
    is CSV; JSON is ChirpStack when its records have a ``deviceInfo`` key, The Things Stack
    when they have ``end_device_ids``. Raises :class:`ScenarioError` when the file cannot be
    read at all: missing, not UTF-8, no record of a known kind, or a CSV without the
    columns :data:`CSV_REQUIRED`.
    """
    path = Path(path)
    if fmt is not None:
        check_format(fmt)
    text = _read_text(path)
    if fmt == "csv" or (fmt is None and (path.suffix.lower() == ".csv" or _csv_header(text))):
        return _read_csv(text, str(path))
    records = list(_json_records(text))
    fmt = fmt or _guess_json(records)
    marker = _MARKERS.get(fmt or "")  # None: no record of either kind
    table, known = _Table(), 0
    for line, rec in records if marker else ():
        rec = _unwrap(rec)
        if rec is _MALFORMED:
            table.skip("malformed JSON", line)
        elif not isinstance(rec, dict):
            table.skip("not a JSON object", line)
        elif marker not in rec:
            table.skip(f"no '{marker}' key (not a {_NAMES[fmt]})", line)
        else:
            known += 1
            (_chirpstack_rows if fmt == "chirpstack" else _ttn_rows)(rec, line, table)
    if not known:
        kinds = [fmt] if marker else list(_MARKERS)
        what = " or ".join(f"{_NAMES[f]} ('{_MARKERS[f]}' key)" for f in kinds)
        raise ScenarioError(f"no {what} among {len(records)} records; {_FIX}", str(path))
    return table.result(len(records))


_MARKERS = {"chirpstack": "deviceInfo", "ttn": "end_device_ids"}
_NAMES = {"chirpstack": "ChirpStack v4 event", "ttn": "The Things Stack v3 message"}
_MALFORMED = object()


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ScenarioError(f"file not found; check the path ({_FIX})", str(path)) from None
    except OSError as exc:
        raise ScenarioError(f"cannot read the file: {exc.strerror}", str(path)) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        why = f"not UTF-8 text (byte 0x{raw[exc.start]:02x}); {_FIX}, in UTF-8"
        raise ScenarioError(why, str(path), line=line) from None


def _csv_header(text: str) -> bool:
    """A first line naming CSV columns (a CSV saved without the ``.csv`` name)."""
    first = text.lstrip().split("\n", 1)[0].lower()
    return first[:1] not in "{[" and {"device", "fcnt"} <= {c.strip() for c in first.split(",")}


def _json_records(text: str) -> Iterator[tuple[int, Any]]:
    """(line, value) for each record: a JSON array's elements, one object, or JSON lines."""
    stripped = text.strip()
    if stripped[:1] in ("[", "{"):
        try:
            whole = json.loads(stripped)
        except ValueError:
            whole = _MALFORMED  # several lines (JSON lines), or broken: read line by line
        if isinstance(whole, list):
            yield from _array_elements(text)
            return
        if isinstance(whole, dict):
            yield text[: text.index("{")].count("\n") + 1, whole
            return
    for n, line in enumerate(text.split("\n"), 1):
        if line.strip():
            try:
                yield n, json.loads(line)
            except ValueError:
                yield n, _MALFORMED


def _array_elements(text: str) -> Iterator[tuple[int, Any]]:
    # The array parsed whole already; decoding it element by element gives each one's line.
    dec = json.JSONDecoder()
    ws = re.compile(r"[\s,]*")
    i = ws.match(text, text.index("[") + 1).end()
    line = text.count("\n", 0, i) + 1
    while i < len(text) and text[i] != "]":
        value, end = dec.raw_decode(text, i)
        yield line, value
        j = ws.match(text, end).end()
        line += text.count("\n", i, j)
        i = j


def _unwrap(rec: Any) -> Any:
    # The Things Stack storage integration (and some MQTT bridges) wrap messages in "result".
    if isinstance(rec, dict) and len(rec) == 1 and isinstance(rec.get("result"), dict):
        return rec["result"]
    return rec


def _guess_json(records: list[tuple[int, Any]]) -> str | None:
    for _, rec in records:
        rec = _unwrap(rec)
        for fmt, key in _MARKERS.items():
            if isinstance(rec, dict) and key in rec:
                return fmt
    return None


_MISSING = object()


def _get(obj: Any, dotted: str, default: Any = _MISSING) -> Any:
    """``obj["a"]["b"]`` for ``"a.b"``; ``default`` when a level is absent (or null)."""
    for key in dotted.split("."):
        if not isinstance(obj, dict) or obj.get(key) is None:
            return default
        obj = obj[key]
    return obj


def _need(obj: Any, dotted: str, where: str = "") -> Any:
    value = _get(obj, dotted)
    if value is _MISSING:
        raise _Skip(f"missing field {where}{dotted}")
    return value


def _number(value: Any, name: str) -> float:
    """A finite number; TTS writes 64-bit integers as strings, so numeric text is accepted."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _Skip(f"bad value {name}")
    try:
        x = float(value)
    except ValueError:
        raise _Skip(f"bad value {name}") from None
    if not math.isfinite(x):
        raise _Skip(f"bad value {name}")
    return x


def _whole(value: Any, name: str, lo: int = 0, hi: int = 2**32 - 1) -> int:
    x = _number(value, name)
    if x != int(x) or not lo <= x <= hi:
        raise _Skip(f"bad value {name}")
    return int(x)


_TIME = re.compile(r"([0-9-]{10}[Tt ][0-9:]{8})(?:[.,](\d+))?\s*([Zz]|[+-]\d\d:?\d\d)?")


def _time(value: Any, name: str) -> float:
    """RFC 3339 (any number of fractional digits; no offset means UTC) to POSIX seconds."""
    m = _TIME.fullmatch(value.strip()) if isinstance(value, str) else None
    try:
        # datetime keeps microseconds only: the fraction (to 1 ns) is added on its own.
        whole = datetime.fromisoformat(m.group(1) + (m.group(3) or "+00:00").upper())
    except (AttributeError, ValueError):
        raise _Skip(f"bad value {name}") from None
    frac = (m.group(2) or "0")[:9]
    return whole.timestamp() + int(frac) / 10 ** len(frac)


def _battery(obj: Any, name: str, line: int, table: _Table) -> float:
    """The decoded battery voltage; NaN when absent, and when bad (counted, frame kept)."""
    if obj is _MISSING:
        return math.nan
    try:
        return _number(obj, name)
    except _Skip as bad:
        table.skip(f"{bad.reason} (frame kept, battery NaN)", line)
        return math.nan


def _add_receptions(frame: dict, rx: Any, parse_rx, where: str, line: int, table: _Table) -> None:
    """One row per usable reception; a bad reception is counted and the others kept."""
    if not isinstance(rx, list) or not rx:
        raise _Skip("no reception metadata")
    rows, problems = [], []
    for entry in rx:
        try:
            rows.append(parse_rx(entry))
        except _Skip as bad:
            # Name the field in full: "bad value rssi" -> "bad value rxInfo.rssi".
            reason = bad.reason
            for lead in ("missing field ", "bad value "):
                if reason.startswith(lead):
                    reason = lead + where + reason.removeprefix(lead)
            problems.append(reason)
    if not rows:
        raise _Skip(problems[0])  # the frame is lost: count it once
    for reason in problems:
        table.skip(reason, line)
    for gateway, rssi, snr in rows:
        table.add(**frame, gateway=gateway, rssi_dbm=rssi, snr_db=snr)


def _chirpstack_rows(ev: dict, line: int, table: _Table) -> None:
    """Rows of one ChirpStack v4 event (nothing but a tally for other event types)."""
    if _CS_OTHER_EVENT_KEYS & ev.keys() or not _CS_UP_KEYS & ev.keys():
        table.skip("not an uplink event", line)
        return
    try:
        info = ev["deviceInfo"]
        device = _get(info, "deviceName", None) or _get(info, "devEui", None)
        if not isinstance(device, str) or not device:
            raise _Skip("missing field deviceInfo.deviceName")
        lora_info = _need(ev, "txInfo.modulation.lora")
        bw = _get(lora_info, "bandwidth", DEFAULT_BANDWIDTH_HZ)
        bw = _number(bw, "txInfo.modulation.lora.bandwidth")
        freq, battery = _get(ev, "txInfo.frequency", 0), _get(ev, "object.battery_v")
        frame = {
            "device": device,
            "dev_eui": str(_get(info, "devEui", "")).upper(),
            "time_s": _time(_need(ev, "time"), "time"),
            # Absent is 0: proto3 JSON may omit zero values (the documented example omits fCnt).
            "fcnt": _whole(_get(ev, "fCnt", 0), "fCnt"),
            "sf": _whole(_need(lora_info, "spreadingFactor", "txInfo.modulation.lora."),
                         "spreadingFactor", 5, 12),
            # ChirpStack v3 gave kHz; v4 gives Hz.
            "bandwidth_hz": bw * 1000 if bw < 1000 else bw,
            "frequency_hz": _number(freq, "txInfo.frequency") or math.nan,
        }  # fmt: skip
        frame["battery_v"] = _battery(battery, "object.battery_v", line, table)
        _add_receptions(frame, ev.get("rxInfo"), _chirpstack_rx, "rxInfo.", line, table)
    except _Skip as bad:
        table.skip(bad.reason, line)


def _chirpstack_rx(rx: Any) -> tuple[str, float, float]:
    gateway = _need(rx, "gatewayId")
    # gw messages omit zero values, so an absent snr is 0 dB; an absent rssi is not taken
    # as 0 dBm (no LoRa reception is that strong): the reception is counted as missing it.
    rssi = _number(_need(rx, "rssi"), "rssi")
    return str(gateway), rssi, _number(_get(rx, "snr", 0.0), "snr")


def _ttn_rows(msg: dict, line: int, table: _Table) -> None:
    """Rows of one The Things Stack v3 message (a tally for join, downlink, ... messages)."""
    up = msg.get("uplink_message")
    if up is None:
        table.skip("not an uplink event", line)
        return
    try:
        if not isinstance(up, dict):
            raise _Skip("bad value uplink_message")
        device = _need(msg, "end_device_ids.device_id")
        # The Network Server's reception time; the Application Server's when it is absent.
        time = _get(up, "received_at", None) or _get(msg, "received_at", None)
        if time is None:
            raise _Skip("missing field uplink_message.received_at")
        lora_info = _need(up, "settings.data_rate.lora", "uplink_message.")
        bw = _get(lora_info, "bandwidth", DEFAULT_BANDWIDTH_HZ)
        sf = _need(lora_info, "spreading_factor", "uplink_message.settings.data_rate.lora.")
        frame = {
            "device": str(device),
            "dev_eui": str(_get(msg, "end_device_ids.dev_eui", "")).upper(),
            "time_s": _time(time, "uplink_message.received_at"),
            # TTS omits zero-valued fields: no f_cnt means frame counter 0.
            "fcnt": _whole(_get(up, "f_cnt", 0), "uplink_message.f_cnt"),
            "sf": _whole(sf, "uplink_message.settings.data_rate.lora.spreading_factor", 5, 12),
            "bandwidth_hz": _number(bw, "uplink_message.settings.data_rate.lora.bandwidth"),
            "frequency_hz": _number(_get(up, "settings.frequency", 0),
                                    "uplink_message.settings.frequency") or math.nan,
        }  # fmt: skip
        name = "uplink_message.decoded_payload.battery_v"
        frame["battery_v"] = _battery(_get(up, "decoded_payload.battery_v"), name, line, table)
        rx = up.get("rx_metadata")
        _add_receptions(frame, rx, _ttn_rx, "uplink_message.rx_metadata.", line, table)
    except _Skip as bad:
        table.skip(bad.reason, line)


def _ttn_rx(rx: Any) -> tuple[str, float, float]:
    gateway = _get(rx, "gateway_ids.gateway_id", None) or _need(rx, "gateway_ids.eui")
    if gateway == "packetbroker":
        # Heard through Packet Broker: the forwarding network's gateway is the receiver.
        fwd = _get(rx, "packet_broker.forwarder_gateway_id", None)
        gateway = fwd or _get(rx, "packet_broker.forwarder_gateway_eui", gateway)
    rssi = _get(rx, "rssi", None)
    rssi = _need(rx, "channel_rssi") if rssi is None else rssi
    # Zero values are omitted: an absent snr is 0 dB.
    return str(gateway), _number(rssi, "rssi"), _number(_get(rx, "snr", 0.0), "snr")


def _read_csv(text: str, file: str) -> ReadResult:
    """CSV rows (lines of ``#`` are comments); the required columns or a clear error."""
    lines = enumerate(text.split("\n"), 1)
    kept = [(n, s.rstrip("\r")) for n, s in lines if not s.startswith("#")]
    reader = csv.reader(s for _, s in kept)
    header = [h.strip().lower() for h in next(reader, [])]
    if not any(header):
        raise ScenarioError(f"empty CSV: no header row; {_FIX}", file)
    if "time" not in header and "time_s" in header:
        header[header.index("time_s")] = "time"
    for name in CSV_REQUIRED:
        if name not in header:
            close = difflib.get_close_matches(name, header, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            why = (f"no column '{name}' (columns: {', '.join(header)}){hint}; a telemetry CSV "
                   f"needs {','.join(CSV_REQUIRED)} (optional: dev_eui, bandwidth_hz, "
                   "frequency_hz, battery_v)")  # fmt: skip
            raise ScenarioError(why, file, line=kept[0][0])
    table, records = _Table(), 0
    for cells in reader:
        if not any(c.strip() for c in cells):
            continue
        records += 1
        line = kept[reader.line_num - 1][0]
        row = dict(zip(header, (c.strip() for c in cells), strict=False))
        try:
            table.add(**_csv_row(row, line, table))
        except _Skip as bad:
            table.skip(bad.reason, line)
    return table.result(records)


def _csv_row(row: dict[str, str], line: int, table: _Table) -> dict[str, Any]:
    def need(name: str) -> str:
        if not row.get(name):
            raise _Skip(f"missing field {name}")
        return row[name]

    def optional(name: str, default: float) -> float:
        return _number(row[name], name) if row.get(name) else default

    t = need("time")
    try:
        time_s = float(t)  # plain POSIX seconds are accepted too
    except ValueError:
        time_s = _time(t, "time")
    if not math.isfinite(time_s):
        raise _Skip("bad value time")
    out = {
        "device": need("device"),
        "dev_eui": row.get("dev_eui", "").upper(),
        "time_s": time_s,
        "fcnt": _whole(need("fcnt"), "fcnt"),
        "sf": _whole(need("sf"), "sf", 5, 12),
        "bandwidth_hz": optional("bandwidth_hz", DEFAULT_BANDWIDTH_HZ),
        "frequency_hz": optional("frequency_hz", math.nan),
        "gateway": need("gateway"),
        "rssi_dbm": _number(need("rssi_dbm"), "rssi_dbm"),
        "snr_db": _number(need("snr_db"), "snr_db"),
    }
    value = row.get("battery_v") or _MISSING
    out["battery_v"] = _battery(value, "battery_v", line, table)
    return out
