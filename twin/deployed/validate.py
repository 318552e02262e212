"""The calibrated twin against the telemetry it came from: delivery ratios, node and gateway."""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path

import numpy as np

from twin.deployed import frames as fr

MAX_DAYS = 30.0  # the validation run covers the log's span, at most this long [days]
MIN_DAYS = 0.25


def write_rows(path: Path, rows: list[dict]) -> None:
    """Rows (dicts with the same keys) as a CSV with a header."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def write_tables(tables: dict[str, list[dict]], folder: Path) -> None:
    """Each group's node table as ``<group>_nodes.csv`` in ``folder``."""
    for name, rows in tables.items():
        write_rows(folder / f"{name}_nodes.csv", rows)


def choose_policy(policies: list, wanted: str | None) -> str:
    """The policy whose uplinks a periodic log shows: the one named, else ``cloud``."""
    names = [p if isinstance(p, str) else p.get("name", p.get("kind")) for p in policies]
    if wanted is not None:
        if wanted not in names:
            from twin.errors import ScenarioError

            raise ScenarioError(f"--policy {wanted!r} is not one of {', '.join(names)}")
        return wanted
    return "cloud" if "cloud" in names else names[0]


def validate_twin(cal, fits: fr.DeviceFits, policy: str | None) -> None:
    """Run the calibrated scenario over the log's span; fill ``cal.validation`` and report."""
    import twin.api as api

    span_days = (fits.last_s.max() - fits.first_s.min()) / 86_400.0
    days = float(np.clip(span_days, MIN_DAYS, MAX_DAYS))
    name = choose_policy(cal.scenario["policies"], policy)
    data = {**cal.scenario, "world": {**cal.scenario["world"], "horizon_days": days}}
    data["policies"] = [
        p for p in data["policies"] if (p if isinstance(p, str) else p.get("name")) == name
    ]
    with tempfile.TemporaryDirectory(prefix="twin-calibrate-") as tmp:
        write_tables(cal.tables, Path(tmp))
        result = api.run(data, base_dir=tmp, telemetry=True)
    sim = result.uplinks[name]
    twin_fits = fr.fit_devices(fr.clean(sim), fits.gateways) if len(sim) else None
    obs = dict(zip(fits.device.tolist(), range(len(fits.device)), strict=True))
    rows = []
    twin_index = (
        {}
        if twin_fits is None
        else dict(zip(twin_fits.device.tolist(), range(len(twin_fits.device)), strict=True))
    )
    for d in (r["device"] for rows_ in cal.tables.values() for r in rows_):
        i = obs[d]
        j = twin_index.get(d)
        # The same rule as the observed ratio (frames over the counter's span), so that the
        # two compare; a device the twin never delivered has ratio 0.
        twin_dr = 0.0 if j is None else twin_fits.delivery_ratio[j]
        rows.append({
            "device": d, "observed_delivery_ratio": round(float(fits.delivery_ratio[i]), 4),
            "twin_delivery_ratio": round(float(twin_dr), 4),
            "difference": round(float(twin_dr - fits.delivery_ratio[i]), 4),
        })  # fmt: skip
    cal.validation = rows
    diff = np.abs([r["difference"] for r in rows])
    gw = []
    for k, g in enumerate(fits.gateways):
        observed = fits.heard[:, k].sum() / max(fits.frames.sum(), 1)
        twin_share = (
            0.0
            if twin_fits is None
            else twin_fits.heard[:, k].sum() / max(twin_fits.frames.sum(), 1)
        )
        gw.append({"gateway": g, "observed_share_of_frames": round(float(observed), 4),
                   "twin_share_of_frames": round(float(twin_share), 4)})  # fmt: skip
    cal.report["validation"] = {
        "policy": name, "days": round(days, 3),
        "delivery_ratio_difference_median": round(float(np.median(diff)), 4),
        "delivery_ratio_difference_max": round(float(diff.max()), 4),
        "devices_within_0_05": int((diff <= 0.05).sum()), "devices": len(rows),
        "gateways": gw,
    }  # fmt: skip
