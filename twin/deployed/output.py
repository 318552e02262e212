"""``twin calibrate --out DIR``: the calibrated scenario, its node tables and the report.

DIR must be new or an empty folder: calibration never replaces or mixes with a user's files.
Everything is written to a temporary folder beside it and renamed into place in one step, so
an interrupted or failed write leaves nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import yaml

from twin.deployed.calibrate import Calibration
from twin.deployed.validate import write_rows, write_tables
from twin.errors import TwinError

FILES = ("scenario.yaml", "calibration.json", "calibration.md", "devices.csv")


def check_out(out: Path) -> None:
    """Refuse an ``--out`` that exists and is not an empty folder (before any work)."""
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise TwinError(f"{out}: exists and is not a folder; choose a new --out folder")
    if out.is_dir() and any(out.iterdir()):
        raise TwinError(
            f"{out}: the folder is not empty; twin calibrate writes only into a new or empty "
            "folder (choose another --out)"
        )


def write_calibration(cal: Calibration, out: Path) -> Path:
    """Write every file of a calibration into ``out`` (new or empty); returns ``out``."""
    out = Path(out)
    check_out(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        header = "# Calibrated by twin calibrate from a deployed fleet's telemetry: see\n"
        header += "# calibration.md. Run with: twin run scenario.yaml\n"
        (tmp / "scenario.yaml").write_text(
            header + yaml.safe_dump(cal.scenario, sort_keys=False, allow_unicode=True)
        )
        write_tables(cal.tables, tmp)
        write_rows(tmp / "devices.csv", cal.devices)
        if cal.validation:
            write_rows(tmp / "validation.csv", cal.validation)
        (tmp / "calibration.json").write_text(json.dumps(cal.report, indent=2) + "\n")
        (tmp / "calibration.md").write_text(markdown(cal))
        if out.is_dir():
            out.rmdir()  # empty (checked): replaced by the complete folder in one rename
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def markdown(cal: Calibration) -> str:
    """calibration.md: what the telemetry said, what was fitted, how the twin compares."""
    r = cal.report
    t = r["telemetry"]
    lines = [
        f"# Calibration: {cal.scenario['name']}",
        "",
        f"Telemetry from {t['first_utc']} to {t['last_utc']}: {t['records']:,} records, "
        f"{t['receptions']:,} receptions of {r['devices']} devices; the twin starts at the "
        "last record.",
        "",
        "## What the log held",
        "",
        "| | count |",
        "|---|---:|",
        f"| duplicate receptions (dropped) | {t['duplicate_receptions']:,} |",
        f"| frames heard by several gateways | {t['frames_heard_by_several_gateways']:,} |",
        f"| frame-counter resets | {t['counter_resets']} ({t['devices_with_resets']} devices) |",
    ]
    lines += [f"| skipped: {k} (first at line {t['skipped_first_line'].get(k, '?')}) | {v:,} |"
              for k, v in t["skipped"].items()]  # fmt: skip
    lines += [
        "",
        "## Groups",
        "",
        "| group | devices | period [s] | jitter [s] |",
        "|---|---:|---:|---:|",
    ]
    lines += [f"| {n} | {g['count']} | {g['sampling_period_s']:g} | {g['tx_jitter_s']:g} |"
              for n, g in r["groups"].items()]  # fmt: skip
    lines += ["", "## Links", ""]
    if r["rssi_dbm_quantiles"]:
        q, s = r["rssi_dbm_quantiles"], r["snr_db_quantiles"]
        lines.append(
            f"RSSI 5/50/95 %: {q[0]} / {q[1]} / {q[2]} dBm; SNR {s[0]} / {s[1]} / {s[2]} dB."
        )
    pl = r["path_loss"]
    if pl:
        lines += ["", f"Path loss fitted to {pl['links_heard']} heard and {pl['links_censored']} "
                  f"unheard (censored) links: PL(d0 = {pl['d0_m']:g} m) = "
                  f"{pl['path_loss_d0_db']} dB, "
                  f"exponent n = {pl['path_loss_exponent']} +/- {pl['path_loss_exponent_se']}, "
                  f"shadowing sigma = {pl['shadowing_sd_db']} dB."]  # fmt: skip
    lines += [
        "",
        "| gateway | devices heard | share of frames (observed) | (twin) |",
        "|---|---:|---:|---:|",
    ]
    twin_gw = {g["gateway"]: g for g in (r.get("validation") or {}).get("gateways", [])}
    for g in r["gateways"]:
        tw = twin_gw.get(g["gateway"], {}).get("twin_share_of_frames", "")
        lines.append(f"| {g['gateway']} | {g['devices_heard']} | {g['share_of_frames']} | {tw} |")
    v = r.get("validation")
    if v:
        lines += ["", "## The twin against the telemetry", "",
                  f"The calibrated twin ran the `{v['policy']}` policy for {v['days']:g} days. Per "
                  "device, its delivery ratio differs from the observed by "
                  f"{v['delivery_ratio_difference_median']} (median), "
                  f"{v['delivery_ratio_difference_max']} at most; {v['devices_within_0_05']} of "
                  f"{v['devices']} devices within 0.05 (validation.csv)."]  # fmt: skip
    lines += ["", "## Not identified", ""] + [f"- {w}" for w in r["not_identified"]]
    return "\n".join(lines) + "\n"
