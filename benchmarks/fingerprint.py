"""Digest of every shipped scenario's results, shrunk: the check a refactoring step must pass.

    python benchmarks/fingerprint.py                  # print one digest per case
    python benchmarks/fingerprint.py --save fp.json   # keep them
    python benchmarks/fingerprint.py --check fp.json  # compare, exit 1 on any difference

Each case runs a shipped scenario with fewer nodes and a shorter horizon (plus variants that
reach the confirmed-uplink, store-and-forward, jitter and fault paths) and hashes the summary,
the node and time-series tables and the latency histograms. Wall times, versions and the
scenario's file name are left out: a refactoring that keeps results must keep every digest.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"

# (case, scenario file, overrides)
CASES: list[tuple[str, str, dict]] = [
    ("farm", "farm.yaml", {"world.horizon_days": 3, "groups.soil.count": 40}),
    (
        "farm_confirmed_saf",
        "farm.yaml",
        {
            "world.horizon_days": 2,
            "groups.soil.count": 30,
            "groups.soil.confirmed": True,
            "groups.soil.max_transmissions": 3,
            "groups.soil.tx_jitter_s": 30,
            "groups.soil.store_and_forward": {"buffer_bytes": 64, "check_period_s": 3600},
        },
    ),
    ("farm_outage", "farm_outage.yaml", {"world.horizon_days": 11, "groups.soil.count": 25}),
    ("farm_solar", "farm_solar.yaml", {"world.horizon_days": 3, "groups.soil.count": 30}),
    ("farm_5000", "farm_5000.yaml", {"world.horizon_days": 1, "groups.soil.count": 300}),
    ("city_scale", "city_scale.yaml", {"world.horizon_days": 1, "groups.soil.count": 600}),
    (
        "smart_home",
        "smart_home.yaml",
        {
            "world.horizon_days": 0.5,
            "groups.thermostat.count": 6,
            "groups.camera.count": 2,
            "groups.speaker.count": 1,
        },
    ),
    (
        "wearables",
        "wearables.yaml",
        {"world.horizon_days": 0.25, "groups.patch.count": 4, "groups.watch.count": 4},
    ),
    (
        "factory",
        "factory.yaml",
        {"world.horizon_days": 6, "groups.ltem.count": 4, "groups.nbiot.count": 4},
    ),
]


def digest(result) -> str:
    """SHA-256 over everything a run reports that must not change (no wall times)."""
    summary = {k: v for k, v in result.summary.items() if k != "versions"}
    # Where the scenario came from is provenance, not a result.
    summary["scenario"] = {k: v for k, v in summary["scenario"].items() if k != "file"}
    blob = json.dumps(
        [summary, result.nodes, result.timeseries, result.latency_hist],
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def run_cases(only: list[str] | None = None) -> dict[str, str]:
    """Digest of each case (all, or those named)."""
    import twin

    out = {}
    for case, file, overrides in CASES:
        if only and case not in only:
            continue
        started = time.perf_counter()
        scenario = twin.load_scenario(SCENARIOS / file).with_overrides(overrides)
        out[case] = digest(twin.run(scenario))
        print(f"{case:22s} {out[case][:16]}  {time.perf_counter() - started:5.1f} s", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cases", nargs="*", help="cases to run (default: all)")
    ap.add_argument("--save", type=Path, help="write the digests to this JSON file")
    ap.add_argument("--check", type=Path, help="compare with digests saved earlier")
    args = ap.parse_args()
    got = run_cases(args.cases)
    if args.save:
        args.save.write_text(json.dumps(got, indent=2) + "\n")
    if args.check:
        want = json.loads(args.check.read_text())
        bad = [c for c in got if want.get(c) != got[c]]
        if bad:
            print(f"DIFFERENT: {', '.join(bad)}")
            sys.exit(1)
        print(f"identical: {len(got)} cases")


if __name__ == "__main__":
    main()
