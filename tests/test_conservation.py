"""Every run checks its books: samples, uplink frames and energy all accounted for."""

from __future__ import annotations

import copy

import pytest

import twin
from twin.results.conservation import ConservationError, check_record


@pytest.fixture(scope="module")
def run(farm_dict):
    d = copy.deepcopy(farm_dict)
    d["groups"]["soil"].update(count=20, confirmed=True)  # retransmissions and ACKs too
    d["world"]["horizon_days"] = 1
    return twin.run(d)


def test_every_record_reports_its_checks(run):
    for rec in run.summary["results"]:
        assert rec["conservation"] == {"samples": True, "uplinks": True, "energy": True}


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (lambda r: r.update(samples=r["samples"] - 1), "!= scheduled"),
        (
            lambda r: r.update(
                samples_skipped=1,
                samples=r["samples"] - 1,
                samples_skipped_by_reason={"battery": 1, "reset": 0},
            ),
            "no node ran out",
        ),
        (lambda r: r.update(samples_skipped=1, samples=r["samples"] - 1), "sum by reason"),
        (
            lambda r: r.update(
                store_and_forward={
                    "stored": 3,
                    "forwarded": 1,
                    "dropped_overflow": 1,
                    "buffered_at_end": 0,
                }
            ),
            "stored 3 != forwarded",
        ),
        (lambda r: r.update(inferences_device=r["inferences_device"] + 1), "device inferences"),
        (lambda r: r.update(uplink_delivered=r["uplink_delivered"] - 1), "uplink frames"),
        (lambda r: r["battery"]["drawn_by_state_c"].update(sense=-1.0), "negative charge"),
        (lambda r: r["battery"].update(drawn_c=r["battery"]["drawn_c"] * 1.001), "ledger states"),
        (lambda r: r["energy_j"].update(total=r["energy_j"]["total"] + 1.0), "energy by state"),
    ],
)
def test_a_broken_identity_fails_loudly(run, tamper, message):
    rec = copy.deepcopy(run.result("on_device"))
    scheduled = rec["samples"] + rec["samples_skipped"]
    check_record(copy.deepcopy(rec), scheduled, True)  # intact: passes
    tamper(rec)
    with pytest.raises(ConservationError, match=message) as exc:
        check_record(rec, scheduled, True)
    assert "on_device/soil" in str(exc.value)
