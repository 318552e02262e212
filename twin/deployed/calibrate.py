"""``twin calibrate``: a deployed fleet's telemetry fitted into a scenario of that fleet.

From the base scenario (the fleet's boards, radios, batteries, model, gateways, cloud and
policies) and the network server's log, :func:`calibrate` builds the fleet as deployed: one
group per report period (each device's period, jitter, phase, spreading factor, measured
links and state of charge in a node table, :mod:`twin.nodes`), starting at the log's last
record, so that ``twin run`` on it forecasts each node from today. With node positions it
also fits the site's path loss (:mod:`twin.deployed.pathloss`). It then runs the calibrated
twin over as long as the log spans and compares its delivery ratios with the observed ones.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from twin.compile import compile_scenario
from twin.config.loader import load_scenario
from twin.deployed import frames as fr
from twin.deployed.pathloss import PathLossFit, fit_log_distance
from twin.errors import ScenarioError
from twin.nodes import EUI, RX_PREFIX
from twin.physics import lora
from twin.profiles import Radio
from twin.regions import uplink_time_on_air_s
from twin.strict_yaml import parse, read_text
from twin.telemetry.formats import ReadResult, read
from twin.telemetry.uplinks import Uplinks, utc_text


@dataclass
class Calibration:
    """What :func:`calibrate` found, wrote and checked (``report`` is calibration.json)."""

    scenario: dict  # the calibrated scenario, in the YAML's shape
    tables: dict[str, list[dict]]  # group -> node table rows
    devices: list[dict]  # one row per device: what its telemetry says
    report: dict
    validation: list[dict] = field(default_factory=list)  # per device: observed vs twin


def calibrate(
    telemetry: Path, base: Path, fmt: str | None = None, positions: Path | None = None,
    group: str | None = None, policy: str | None = None, validate: bool = True,
) -> Calibration:  # fmt: skip
    """Fit a deployed fleet's telemetry into a scenario (see the module docstring).

    Parameters
    ----------
    telemetry : Path
        The network server's log (:func:`twin.telemetry.formats.read`).
    base : Path
        The scenario the fleet was planned with; its LoRa group (``group``, if several) gives
        every device's hardware and model.
    fmt : str, optional
        The log's format (default: guessed from the file).
    positions : Path, optional
        A CSV with ``device``, ``x_m`` and ``y_m`` columns: node positions, for the map and
        the path-loss fit (otherwise links are taken as measured and positions are drawn).
    policy : str, optional
        The policy whose uplinks the log shows, for the validation run (default: the first
        policy that streams its readings, ``cloud``, else the scenario's first).
    validate : bool
        Run the calibrated twin over the log's span and compare delivery ratios.
    """
    log = read(Path(telemetry), fmt)
    if not len(log.uplinks):
        raise ScenarioError(
            "no uplink could be read from the telemetry (see the counts of skipped records); "
            "check --format", str(telemetry),
        )  # fmt: skip
    scenario = load_scenario(base)
    raw = _raw(base)
    plan = compile_scenario(scenario, import_policies=False)
    tmpl_name = _template_group(plan, group, base)
    gp = plan.group(tmpl_name)
    gateway_ids = tuple(gw.id for gw in scenario.gateways)
    _check_gateways(log.uplinks, gateway_ids, base)
    cleaned = fr.clean(log.uplinks)
    fits = fr.fit_devices(cleaned, gateway_ids)
    start_s = math.floor(float(log.uplinks.time_s.max()))
    pos = _positions(positions, fits.device) if positions is not None else None
    soc, soc_span, soc_known = fr.state_of_charge(
        fits.battery_v, gp.battery.ocv_soc, gp.battery.ocv_v
    )
    period = fr.whole_seconds(fits.period_s, fits.period_se_s)
    usable = np.isfinite(period) & (period > 0)
    devices = _device_rows(fits, period, soc, soc_span, soc_known, usable)
    pathloss = _fit_path_loss(fits, pos, plan, gp, usable) if pos is not None else None
    groups, tables = _groups(raw, tmpl_name, fits, period, soc, pos, gp, start_s, usable)
    out = copy.deepcopy(raw)
    out["name"] = f"{raw.get('name', 'fleet')}-calibrated"
    out["description"] = (
        f"{raw.get('name', 'The fleet')} as deployed: calibrated by twin calibrate from "
        f"{Path(telemetry).name} ({int(usable.sum())} devices), starting at its last record."
    )
    out["world"] = {**raw["world"], "start_utc": utc_text(start_s)}
    out["groups"] = {**{k: v for k, v in raw["groups"].items() if k != tmpl_name}, **groups}
    _absolute_paths(out, Path(base).resolve().parent)
    report = _report(log, cleaned, fits, usable, devices, pathloss, start_s, gp, groups)
    cal = Calibration(out, tables, devices, report)
    if validate:
        from twin.deployed.validate import validate_twin

        validate_twin(cal, fits, policy)
    return cal


def _raw(base: Path) -> dict:
    data, _ = parse(read_text(base, "scenario file"), str(base))
    return data


def _template_group(plan, group: str | None, base: Path) -> str:
    """The base scenario's LoRa group the devices are (named, or the only one)."""
    lora_groups = [g.name for g in plan.groups if isinstance(g.radio, Radio)]
    if group is not None:
        if group not in lora_groups:
            raise ScenarioError(
                f"--group {group!r} is not a LoRa group of the scenario (LoRa groups: "
                f"{', '.join(lora_groups) or 'none'})", str(base),
            )  # fmt: skip
        return group
    if not lora_groups:
        raise ScenarioError(
            "the scenario has no LoRa group: telemetry from a LoRaWAN network server needs "
            "a plan whose devices use a LoRa radio (e.g. radio: sx1262)", str(base),
        )  # fmt: skip
    if len(lora_groups) != 1:
        raise ScenarioError(
            f"the scenario has {len(lora_groups)} LoRa groups ({', '.join(lora_groups)}); "
            "name the one the telemetry's devices are with --group", str(base),
        )  # fmt: skip
    return lora_groups[0]


def _check_gateways(u: Uplinks, gateway_ids: tuple[str, ...], base: Path) -> None:
    unknown = sorted(set(u.gateway.astype(str)) - set(gateway_ids))
    if unknown:
        raise ScenarioError(
            f"the telemetry names gateways the scenario does not have: {', '.join(unknown)}; "
            "add them to its gateways (id, x_m, y_m) so that the twin has every receiver",
            str(base), "gateways",
        )  # fmt: skip


def _positions(path: Path, devices: np.ndarray) -> dict[str, tuple[float, float]]:
    """Node positions by device name from a CSV (device, x_m, y_m; other columns ignored)."""
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(read_text(path, "positions file"))))
    need = {"device", "x_m", "y_m"}
    if not rows or not need <= set(rows[0]):
        raise ScenarioError(
            f"expected a header with columns {', '.join(sorted(need))} (e.g. a run's "
            "nodes.csv)", str(path), line=1,
        )  # fmt: skip
    out = {}
    for i, row in enumerate(rows):
        try:
            out[row["device"]] = (float(row["x_m"]), float(row["y_m"]))
        except ValueError:
            raise ScenarioError("x_m, y_m: expected numbers [m]", str(path), line=i + 2) from None
    return {d: out[d] for d in devices if d in out}


def _device_rows(fits, period, soc, soc_span, soc_known, usable) -> list[dict]:
    rows = []
    for i, name in enumerate(fits.device):
        why = []
        if not usable[i]:
            why.append("fewer than 3 frames or no counter progress: no period")
        elif not fits.periodic[i]:
            why.append("reports on events, not a period: its median interval is used")
        if not np.isfinite(fits.battery_v[i]):
            why.append("no battery voltage reported: taken as full")
        elif not soc_known[i]:
            why.append(f"its voltage is on a flat stretch: 10 mV spans {soc_span[i]:.0%} of charge")
        links = zip(fits.gateways, fits.rssi_dbm[i], strict=True)
        rows.append({
            "device": str(name), "dev_eui": str(fits.dev_eui[i]), "frames": int(fits.frames[i]),
            "sent": int(fits.sent[i]), "delivery_ratio": round(float(fits.delivery_ratio[i]), 4),
            "counter_resets": int(fits.epochs[i] - 1), "period_s": _num(period[i], 3),
            "period_fit_s": _num(fits.period_s[i], 4), "jitter_s": _num(fits.jitter_s[i], 2),
            "spreading_factor": int(fits.sf[i]), "sf_changes": int(fits.sf_changes[i]),
            **{f"{RX_PREFIX}{g}": _num(v, 1) for g, v in links},
            "battery_v": _num(fits.battery_v[i], 3), "state_of_charge": _num(soc[i], 3),
            "state_of_charge_step": _num(soc_span[i], 3), "notes": "; ".join(why),
        })  # fmt: skip
    return rows


def _num(v, digits: int):
    return None if not np.isfinite(v) else round(float(v), digits)


def _fit_path_loss(fits, pos, plan, gp, usable) -> PathLossFit | None:
    """Path loss fitted to the links of the devices with a position (heard or not)."""
    have = np.array([d in pos for d in fits.device]) & usable
    if have.sum() < 3:
        return None
    # A gateway that heard nobody was likely down, not out of reach: its links say nothing.
    live = fits.heard.sum(axis=0) > 0
    xy = np.array([pos[d] for d in fits.device[have]])
    gw = {g.id: (g.x_m, g.y_m) for g in plan.gateways}
    gxy = np.array([gw[g] for g in fits.gateways])
    dist = np.hypot(xy[:, None, 0] - gxy[None, :, 0], xy[:, None, 1] - gxy[None, :, 1])
    heard = fits.heard[have] > 0
    sens = lora.sensitivity_dbm(np.arange(7, 13), gp.radio.bandwidth_hz, gp.radio.noise_figure_db)
    threshold = np.repeat(sens[fits.sf[have] - 7][:, None], len(fits.gateways), axis=1)
    return fit_log_distance(
        np.nan_to_num(fits.rssi_dbm[have], nan=-999.0)[:, live], dist[:, live],
        heard[:, live], threshold[:, live], gp.radio.tx_power_dbm,
        plan.channel.propagation.d0_m,
    )  # fmt: skip


def _groups(raw, tmpl_name, fits, period, soc, pos, gp, start_s, usable):
    """One group per report period, each with its node table (name -> group, rows)."""
    tmpl = raw["groups"][tmpl_name]
    periods = sorted(set(period[usable].tolist()))
    groups, tables = {}, {}
    payload = (tmpl.get("payload_bytes") or {}).get("reading", 4)
    for p in periods:
        idx = np.flatnonzero(usable & (period == p))
        name = tmpl_name if len(periods) == 1 else f"{tmpl_name}_{p:g}s".replace(".", "_")
        jitter = np.nanmedian(fits.jitter_s[idx]) if np.isfinite(fits.jitter_s[idx]).any() else 0.0
        # Positions and DevEUIs are columns for every row or none (a log may lack either).
        placed = pos is not None and all(d in pos for d in fits.device[idx])
        euis = all(EUI.fullmatch(str(fits.dev_eui[j])) for j in idx)
        rows = []
        for i in idx:
            toa = uplink_time_on_air_s(gp.radio, payload, int(fits.sf[i]))
            phase = (fits.anchor_s[i] - toa - gp.radio.wakeup_s - start_s) % p
            row = {"device": str(fits.device[i])}
            if euis:
                row["dev_eui"] = str(fits.dev_eui[i]).upper()
            if placed:
                row["x_m"], row["y_m"] = pos[fits.device[i]]
            row["phase_s"] = round(float(phase), 3) % p
            row["spreading_factor"] = int(fits.sf[i])
            # No voltage: taken as full (said in the notes); an empty cell as nearly so.
            row["state_of_charge"] = (
                round(max(float(soc[i]), 1e-3), 4) if np.isfinite(soc[i]) else 1.0
            )
            for k, g in enumerate(fits.gateways):
                v = fits.rssi_dbm[i, k]
                row[f"{RX_PREFIX}{g}"] = "" if not np.isfinite(v) else round(float(v), 2)
            rows.append(row)
        groups[name] = {
            **copy.deepcopy(tmpl), "count": len(rows), "sampling_period_s": p,
            "tx_jitter_s": round(float(jitter), 2), "nodes": f"{name}_nodes.csv",
        }  # fmt: skip
        tables[name] = rows
    return groups, tables


def _absolute_paths(data: dict, folder: Path) -> None:
    """Model and policy files named relative to the base scenario, made absolute.

    The calibrated scenario lives in another folder than the base.
    """
    for g in data.get("groups", {}).values():
        model = g.get("model") or {}
        for key in ("device_path", "cloud_path"):
            if model.get(key) and not Path(model[key]).is_absolute():
                model[key] = str(folder / model[key])
    for p in data.get("policies", []):
        if isinstance(p, dict) and p.get("module") and not Path(p["module"]).is_absolute():
            p["module"] = str(folder / p["module"])


def _report(log: ReadResult, cleaned, fits, usable, devices, pathloss, start_s, gp, groups):
    """calibration.json's figures: what was read, fitted and left out."""
    dr = fits.delivery_ratio[usable]
    rssi = fits.rssi_dbm[np.isfinite(fits.rssi_dbm)]
    snr = fits.snr_db[np.isfinite(fits.snr_db)]
    q = [0.05, 0.5, 0.95]
    per_gw = [
        {
            "gateway": g, "devices_heard": int((fits.heard[:, k] > 0).sum()),
            "receptions": int(fits.heard[:, k].sum()),
            "share_of_frames": round(float(fits.heard[:, k].sum() / max(fits.frames.sum(), 1)), 4),
        }
        for k, g in enumerate(fits.gateways)
    ]  # fmt: skip
    return {
        "telemetry": {
            "records": log.lines, "receptions": len(log.uplinks), "skipped": log.skipped,
            "skipped_first_line": log.examples, "duplicate_receptions": cleaned.duplicates,
            "counter_resets": int(sum(cleaned.resets.values())),
            "devices_with_resets": len(cleaned.resets),
            "frames_heard_by_several_gateways": cleaned.multi_gateway_frames,
            "first_utc": utc_text(float(log.uplinks.time_s.min())), "last_utc": utc_text(start_s),
        },
        "devices": int(len(fits.device)), "devices_calibrated": int(usable.sum()),
        "groups": {n: {"count": g["count"], "sampling_period_s": g["sampling_period_s"],
                       "tx_jitter_s": g["tx_jitter_s"]} for n, g in groups.items()},
        "delivery_ratio_observed": {"mean": _num(dr.mean(), 4) if len(dr) else None,
                                    "p05": _num(np.quantile(dr, 0.05), 4) if len(dr) else None},
        "rssi_dbm_quantiles": [_num(v, 1) for v in np.quantile(rssi, q)] if len(rssi) else None,
        "snr_db_quantiles": [_num(v, 1) for v in np.quantile(snr, q)] if len(snr) else None,
        "gateways": per_gw,
        "path_loss": None if pathloss is None else {
            "path_loss_d0_db": round(pathloss.path_loss_d0_db, 2), "d0_m": pathloss.d0_m,
            "path_loss_exponent": round(pathloss.path_loss_exponent, 3),
            "path_loss_exponent_se": round(pathloss.exponent_se, 3),
            "shadowing_sd_db": round(pathloss.shadowing_sd_db, 2),
            "links_heard": pathloss.links_heard, "links_censored": pathloss.links_censored,
        },
        "not_identified": _not_identified(devices, pathloss, gp),
    }  # fmt: skip


def _not_identified(devices, pathloss, gp) -> list[str]:
    out = []
    if pathloss is None:
        out.append("path loss: no node positions (--positions), so the links are taken as "
                   "measured and the map places nodes at random")  # fmt: skip
    if not gp.battery.has_ocv_curve:
        out.append(
            f"state of charge: battery {gp.battery.id} has no voltage curve; cells taken as full"
        )
    noted = [d for d in devices if d["notes"]]
    reasons: dict[str, int] = {}
    for d in noted:
        for n in d["notes"].split("; "):
            key = n.split(":")[0]
            reasons[key] = reasons.get(key, 0) + 1
    out += [f"{k}: {v} devices" for k, v in sorted(reasons.items())]
    out.append("losses after a device's last frame heard (or before its first) do not show "
               "in its counter: observed delivery ratios are upper bounds")  # fmt: skip
    return out
