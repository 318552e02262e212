"""Conservation checks: every sample, message and joule of a run accounted for.

Each summary record must satisfy identities that hold whatever the scenario:

* **samples**: samples scheduled = taken + skipped (battery empty, or off after a reset), a
  node skips samples for its battery only once it is empty, and a policy that runs the
  device model infers every sample taken;
* **uplinks**: frames put on air or refused = delivered + lost, by reason;
* **store-and-forward**: messages stored = forwarded + dropped from a full buffer + still
  buffered at the end;
* **energy**: the charge ledger's states sum to the charge drawn, none negative, and the
  energy by state sums to the total.

A violation is a bug in twin, not bad input: the run fails loudly with
:class:`ConservationError`, naming the record and the identity.
"""

from __future__ import annotations

import math


class ConservationError(AssertionError):
    """An accounting identity does not hold: a bug, reported with the numbers."""


def _close(a: float, b: float) -> bool:
    # Float sums over many nodes in different orders: 1e-9 relative is far above rounding
    # and far below any real leak (one sample's energy is ~1e-7 of a day's total).
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def check_record(record: dict, scheduled: int, runs_device_model: bool) -> dict[str, bool]:
    """Check one (policy, group) summary record; returns the identities checked.

    Parameters
    ----------
    record : dict
        A summary entry (``twin.results.records.group_record``).
    scheduled : int
        Samples the schedule asked for over the horizon.
    runs_device_model : bool
        Whether the policy runs the on-device model on every sample.

    Raises
    ------
    ConservationError
        If an identity fails (the message names it and gives the numbers).
    """
    where = f"{record['policy']}/{record['group']}"
    problems = []
    taken, skipped = record["samples"], record["samples_skipped"]
    if taken + skipped != scheduled:
        problems.append(f"samples {taken} + skipped {skipped} != scheduled {scheduled}")
    by_reason = record.get("samples_skipped_by_reason", {"battery": skipped})
    if sum(by_reason.values()) != skipped:
        problems.append(f"skipped {skipped} != sum by reason {by_reason}")
    if by_reason["battery"] and not record["battery_life_days"]["dead_nodes"]:
        problems.append(f"{by_reason['battery']} samples skipped but no node ran out of energy")
    inferred, decided = record["inferences_device"], record["decisions_taken"]
    if decided > taken:
        problems.append(f"decisions {decided} for {taken} samples taken")
    if inferred != (decided if runs_device_model else 0):
        problems.append(f"device inferences {inferred} for {decided} decisions taken")
    lost = sum(record["uplink_lost"].values())
    if record["uplink_messages"] != record["uplink_delivered"] + lost:
        problems.append(
            f"uplink frames {record['uplink_messages']} != delivered "
            f"{record['uplink_delivered']} + lost {lost} {record['uplink_lost']}"
        )
    store = record.get("store_and_forward")
    if store is not None:
        out = store["forwarded"] + store["dropped_overflow"] + store["buffered_at_end"]
        if store["stored"] != out:
            problems.append(
                f"stored {store['stored']} != forwarded {store['forwarded']} + dropped "
                f"{store['dropped_overflow']} + still buffered {store['buffered_at_end']}"
            )
    by_state = record["battery"]["drawn_by_state_c"]
    if any(v < -1e-12 for v in by_state.values()):
        problems.append(f"negative charge in a ledger state: {by_state}")
    states_c, drawn_c = sum(by_state.values()), record["battery"]["drawn_c"]
    if not _close(states_c, drawn_c):
        problems.append(f"ledger states sum to {states_c} C, drawn {drawn_c} C")
    energy = dict(record["energy_j"])
    total = energy.pop("total")
    if not _close(sum(energy.values()), total):
        problems.append(f"energy by state sums to {sum(energy.values())} J, total {total} J")
    if problems:
        raise ConservationError(f"{where}: " + "; ".join(problems) + " (a twin bug: please report)")
    checked = {"samples": True, "uplinks": True, "energy": True}
    if store is not None:
        checked["store_and_forward"] = True
    return checked
