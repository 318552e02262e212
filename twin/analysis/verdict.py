"""The verdict of a run: each policy against the others on every metric a decision rests on.

A fleet's choice between deciding on the device, in the cloud or in a cascade is a trade-off:
the cloud may score a higher F1 while the crop suffers more, costs dollars a month and half of
its answers never reach a valve. :func:`verdict` puts every decision-relevant metric of one
group side by side (battery life, decision latency, bytes, energy, money, answers delivered,
decision quality and, where the loop is closed, the outcome), says which policy leads on each,
and writes the trade-off as one sentence. The terminal, ``summary.json`` and the report show
that same sentence and those same values.

Which metric wins is the user's call. A scenario may declare an :class:`Objective` (minimise
crop stress subject to battery life >= 5 years); the verdict then recommends the best policy
among those that meet the bounds. Without one it recommends nothing: no single mark pretends
to decide.

Two values count as a tie when they differ by less than :data:`TIE_REL` of the larger (2 %:
below the spread a different seed gives on the shipped scenarios' summary metrics), so that
noise does not crown a leader.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from twin.analysis._values import number

__all__ = [
    "METRICS",
    "Bound",
    "Metric",
    "Objective",
    "metric_names",
    "tied",
    "usd_per_month",
    "verdict",
]

TIE_REL = 0.02  # relative difference below which two values are a tie (see the module notes)
MONTH_DAYS = 30.4375  # a mean Gregorian month: money is shown per month whatever the horizon


@dataclass(frozen=True)
class Metric:
    """One decision-relevant metric of a (policy, group) summary entry.

    Attributes
    ----------
    name : str
        Its name in a scenario's ``objective`` and in ``summary.json``'s verdict.
    label : str
        How the sentence and the tables word it.
    unit : str
        Unit shown after values.
    better : str
        ``"higher"`` or ``"lower"``.
    read : callable
        ``read(entry, horizon_days)``: its value, or ``None`` where it is not defined.
    fmt : callable
        Its value as text (without ``suffix``).
    suffix : str
        The unit as written after a value (after the last of "a vs b").
    """

    name: str
    label: str
    unit: str
    better: str
    read: Callable[[Mapping[str, Any], float], float | None]
    fmt: Callable[[float], str]
    suffix: str = ""

    def show(self, value: float) -> str:
        """The value with its unit."""
        return self.fmt(value) + ("" if math.isinf(value) else self.suffix)


def _get(entry: Mapping[str, Any], path: str) -> Any:
    v: Any = entry
    for part in path.split("."):
        if not isinstance(v, Mapping):
            return None
        v = v.get(part)
    return v


def _path(path: str) -> Callable[[Mapping[str, Any], float], float | None]:
    return lambda entry, _days: number(_get(entry, path))


def _life(entry: Mapping[str, Any], _days: float) -> float | None:
    """The median battery life; a harvesting node that lasts is ``inf``, mains is undefined."""
    b = entry.get("battery_life_days") or {}
    if b.get("limit") == "sustained":
        return math.inf
    return number(b.get("median"))


def _charge_life(entry: Mapping[str, Any], _days: float) -> float | None:
    """The median life on charge alone (the battery life itself where no cap binds)."""
    b = entry.get("battery_life_days") or {}
    if b.get("limit") == "sustained":
        return math.inf
    charge = number(b.get("charge_limited_median"))
    return charge if charge is not None else number(b.get("median"))


def _capped(entry: Mapping[str, Any]) -> bool:
    return bool(((entry.get("battery_life_days") or {}).get("limited_by") or {}).get("shelf_life"))


def _delivered(entry: Mapping[str, Any], _days: float) -> float | None:
    """Share of the decisions taken whose answer reached the node (an actuator can act)."""
    taken = number(entry.get("decisions_taken"))
    reached = number(_get(entry, "latency_s.count"))
    return None if not taken or reached is None else reached / taken


def usd_per_month(total_usd: Any, days: float) -> float | None:
    """A horizon's cost as dollars per (mean Gregorian) month; None if undefined."""
    total = number(total_usd)
    return None if total is None or not days else total / days * MONTH_DAYS


def _cost_per_month(entry: Mapping[str, Any], days: float) -> float | None:
    return usd_per_month(_get(entry, "cloud.cost_usd.total_usd"), days)


def _days(v: float) -> str:
    return "sustained" if math.isinf(v) else f"{v:,.0f}"


def _seconds(v: float) -> str:
    for limit, scale, unit in ((1e-3, 1e6, "µs"), (1.0, 1e3, "ms"), (120.0, 1.0, "s")):
        if abs(v) < limit:
            return f"{_sig(v * scale)} {unit}"
    if abs(v) < 7200.0:
        return f"{_sig(v / 60)} min"
    return f"{_sig(v / 3600)} h"


def _sig(v: float) -> str:
    """Three significant figures, thousands separated."""
    if v == 0 or not math.isfinite(v):
        return f"{v:g}"
    digits = max(0, 2 - int(math.floor(math.log10(abs(v)))))
    return f"{v:,.{digits}f}"


def _money(v: float) -> str:
    return f"${v:,.2f}" if v >= 0.01 or v == 0 else f"${v:.4f}"


def _pct(v: float) -> str:
    return f"{100 * v:.1f} %"


def _fixed(digits: int) -> Callable[[float], str]:
    return lambda v: f"{v:.{digits}f}"


def _m(name, label, unit, better, read, fmt, suffix="") -> Metric:
    return Metric(name, label, unit, better, read, fmt, suffix)


METRICS: tuple[Metric, ...] = (
    _m("battery_life_days", "battery life", "d", "higher", _life, _days, " d"),
    _m("charge_life_days", "battery charge alone", "d", "higher", _charge_life, _days, " d"),
    _m("latency_p95_s", "decision latency p95", "s", "lower", _path("latency_s.p95"), _seconds),
    _m("delivered_fraction", "answers delivered", "", "higher", _delivered, _pct),
    _m("uplink_bytes_per_node_day", "uplink bytes", "B per node-day", "lower",
       _path("bytes_per_node_day"), _sig, " B/node-day"),
    _m("energy_per_node_day_j", "energy", "J per node-day", "lower",
       _path("energy_per_node_day_j"), _sig, " J/node-day"),
    _m("cost_usd_per_month", "cloud cost", "$ per month", "lower", _cost_per_month, _money,
       " a month"),
    _m("f1", "F1", "", "higher", _path("decision.f1"), _fixed(3)),
    # What acting on the decisions did (closed-loop worlds); summary "outcome" keys.
    _m("water_stress_h_per_node_day", "crop water stress", "h per zone-day", "lower",
       _path("outcome.water_stress_h_per_node_day"), _fixed(2), " h/zone-day"),
    _m("water_applied_mm_per_node_day", "water applied", "mm per zone-day", "lower",
       _path("outcome.water_applied_mm_per_node_day"), _fixed(2), " mm/zone-day"),
    _m("cold_occupied_h_per_node_day", "occupied and cold", "h per room-day", "lower",
       _path("outcome.cold_occupied_h_per_node_day"), _fixed(2), " h/room-day"),
    _m("heat_loss_degree_h_per_node_day", "heat loss", "K h per room-day", "lower",
       _path("outcome.heat_loss_degree_h_per_node_day"), _sig, " K h/room-day"),
)  # fmt: skip
_BY_NAME = {m.name: m for m in METRICS}


def metric_names() -> tuple[str, ...]:
    """The names an objective may use, in the order the verdict lists them."""
    return tuple(_BY_NAME)


@dataclass(frozen=True)
class Bound:
    """A constraint on one metric: ``min <= value <= max`` (either may be absent)."""

    metric: str
    min: float | None = None
    max: float | None = None

    def missed_by(self, value: float | None) -> bool:
        """Whether ``value`` breaks the bound (an undefined value breaks it)."""
        if value is None:
            return True
        return (self.min is not None and value < self.min) or (
            self.max is not None and value > self.max
        )

    def text(self) -> str:
        """The bound in words: "battery life >= 1,825 d"."""
        m = _BY_NAME[self.metric]

        def show(v: float) -> str:  # days read better with years beside them
            return m.show(v) + (f" ({v / 365.25:.1f} y)" if m.unit == "d" and v >= 730 else "")

        parts = []
        if self.min is not None:
            parts.append(f"{m.label} >= {show(self.min)}")
        if self.max is not None:
            parts.append(f"{m.label} <= {show(self.max)}")
        return " and ".join(parts)


@dataclass(frozen=True)
class Objective:
    """What the user wants: one metric to minimise or maximise, within bounds on others."""

    metric: str
    sense: str  # "minimise" or "maximise"
    subject_to: tuple[Bound, ...] = field(default_factory=tuple)

    def text(self) -> str:
        """The objective in words, with its bounds."""
        m = _BY_NAME[self.metric]
        bounds = "; ".join(b.text() for b in self.subject_to)
        return f"{self.sense} {m.label}" + (f" subject to {bounds}" if bounds else "")


def tied(a: float, b: float) -> bool:
    """Whether two values differ by at most :data:`TIE_REL` of the larger (a tie)."""
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= TIE_REL * max(abs(a), abs(b))


def _ranked(m: Metric, values: dict[str, float | None]) -> list[tuple[str, float]]:
    """Defined values, best first (ties keep the policies' order)."""
    have = [(p, v) for p, v in values.items() if v is not None]
    return sorted(have, key=lambda pv: -pv[1] if m.better == "higher" else pv[1])


def _metric_row(m: Metric, entries: Mapping[str, Mapping[str, Any]], days: float) -> dict:
    values = {p: m.read(e, days) for p, e in entries.items()}
    ranked = _ranked(m, values)
    leader = None
    if len(ranked) >= 2 and not tied(ranked[0][1], ranked[1][1]):
        # Values that print the same are a tie whatever their ratio ($0.00 against $0.0000).
        if m.show(ranked[0][1]) != m.show(ranked[1][1]):
            leader = ranked[0][0]
    return {
        "name": m.name,
        "label": m.label,
        "unit": m.unit,
        "better": m.better,
        "values": {p: (None if v is None or math.isinf(v) else v) for p, v in values.items()},
        "shown": {p: (None if v is None else m.show(v)) for p, v in values.items()},
        "_bare": {p: (None if v is None else m.fmt(v)) for p, v in values.items()},
        "_suffix": m.suffix,
        "leader": leader,
        "tied": len(ranked) >= 2 and leader is None,
        "_ranked": ranked,
    }


def _versus(row: dict, p0: str, p1: str, name_other: bool) -> str:
    """Two values with the unit once: "33 vs 1,632 B/node-day"."""
    a, b = row["_bare"][p0], row["_bare"][p1]
    other = f"{p1} {b}" if name_other else b
    if row["_suffix"] and row["shown"][p0] != a and row["shown"][p1] != b:
        return f"{a} vs {other}{row['_suffix']}"
    return f"{row['shown'][p0]} vs {p1 + ' ' if name_other else ''}{row['shown'][p1]}"


def _lead_text(row: dict) -> str:
    """The leader's value against the runner-up's: "F1 (0.702 vs 0.673)"."""
    (p0, _), (p1, _) = row["_ranked"][:2]
    return f"{row['label']} ({_versus(row, p0, p1, len(row['_ranked']) > 2)})"


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _trade_off(rows: list[dict], policies: Sequence[str]) -> str:
    """Who leads on what, and what is tied: the sentence without an objective."""
    leads = {p: [_lead_text(r) for r in rows if r["leader"] == p] for p in policies}
    leaders = [p for p in policies if leads[p]]
    even = [r for r in rows if r["tied"]]
    if not leaders:
        text = "All policies are within 2 % of each other on every metric."
    elif len(leaders) == 1 and all(_at_top(r, leaders[0]) for r in rows):
        best = leaders[0]
        text = f"{best} is as good or better on every metric: leads on {_and(leads[best])}."
    else:
        text = "; ".join(f"{p} leads on {_and(leads[p])}" for p in leaders) + "."
    if even and leaders:
        text += f" Within 2 %: {_and([_tie_text(r, len(policies)) for r in even])}."
    return text + " No objective is set, so no policy is recommended."


def _at_top(row: dict, policy: str) -> bool:
    """Whether ``policy`` is the best on ``row`` or within 2 % of the best (or undefined)."""
    ranked = row["_ranked"]
    mine = dict(ranked).get(policy)
    return mine is None or not ranked or mine == ranked[0][1] or tied(mine, ranked[0][1])


def _tie_text(row: dict, n_policies: int) -> str:
    """A tied metric; with three or more policies, which two tie at the top."""
    if n_policies > 2:
        (p0, _), (p1, _) = row["_ranked"][:2]
        return f"{row['label']} ({p0} and {p1})"
    shown = sorted({s for s in row["shown"].values() if s is not None})
    return f"{row['label']} ({shown[0]})" if len(shown) == 1 else row["label"]


def _choose(rows: list[dict], objective: Objective, policies: Sequence[str]) -> dict:
    """The recommended policy under an objective, and why the others are out."""
    by_name = {r["name"]: r for r in rows}
    misses: dict[str, list[str]] = {}
    for p in policies:
        for b in objective.subject_to:
            row = by_name.get(b.metric)
            if row is None:  # not defined for this group (battery life of mains nodes)
                continue
            value = dict(row["_ranked"]).get(p)
            if b.missed_by(value):
                shown = row["shown"].get(p) or "undefined"
                misses.setdefault(p, []).append(f"{b.text()} ({shown})")
    feasible = [p for p in policies if p not in misses]
    target = by_name[objective.metric]
    values = dict(target["_ranked"])
    higher = objective.sense == "maximise"  # the user's direction, whatever the metric's
    ranked = sorted(
        [(p, values[p]) for p in feasible if p in values],
        key=lambda pv: -pv[1] if higher else pv[1],
    )
    undefined = [p for p in feasible if p not in values]
    level = [p for p, v in ranked if tied(v, ranked[0][1])] if ranked else []
    chosen = None
    if level:
        # Within 2 % on the objective: the one that leads on more of the other metrics.
        leads = {p: sum(r["leader"] == p for r in rows if r is not target) for p in level}
        chosen = max(level, key=lambda p: (leads[p], -level.index(p)))
    return {
        "chosen": chosen, "feasible": feasible, "misses": misses, "tied": level,
        "ranked": ranked, "undefined": undefined,
    }  # fmt: skip


def _recommendation(rows: list[dict], objective: Objective, policies: Sequence[str]) -> tuple:
    pick = _choose(rows, objective, policies)
    chosen, ranked = pick["chosen"], pick["ranked"]
    by_name = {r["name"]: r for r in rows}
    head = f"Objective: {objective.text()}."
    skipped = [b for b in objective.subject_to if b.metric not in by_name]
    if skipped:
        names = _and([_BY_NAME[b.metric].label for b in skipped])
        head += f" ({names}: not defined for this group, so not applied.)"
    out = "".join(f" {p} misses {_and(m)}." for p, m in pick["misses"].items())
    target = by_name[objective.metric]
    if pick["undefined"]:
        out += f" {_and(pick['undefined'])}: no {target['label']} to compare."
    if chosen is None:
        reason = "No policy meets the bounds" if not pick["feasible"] else "Nothing to rank"
        return None, f"{head}{out} {reason}: none is recommended.", pick
    if len(pick["tied"]) >= 2:
        others = [p for p in pick["tied"] if p != chosen]
        why = (
            f"{target['label']} within 2 % of {_and(others)} "
            f"({_versus(target, chosen, others[0], False)}); it leads on more of the rest"
        )
    elif len(ranked) >= 2:
        runner_up = next(p for p, _ in ranked if p != chosen)
        why = f"{target['label']} {_versus(target, chosen, runner_up, True)}"
    else:
        why = f"{target['label']} {target['shown'][chosen]}, the only one to rank"
    others = [r for r in rows if r["name"] != objective.metric]
    gains = [_lead_text(r) for r in others if r["leader"] == chosen]
    losses = [
        f"{r['label']} ({_versus(r, chosen, r['leader'], True)})"
        for r in others
        if r["leader"] not in (None, chosen) and r["shown"].get(chosen) is not None
    ]
    text = f"{head}{out} Recommended: {chosen}, {why}."
    if gains:
        text += f" It also leads on {_and(gains)}."
    if losses:
        text += f" It gives up {_and(losses)}."
    return chosen, text, pick


def verdict(
    entries: Mapping[str, Mapping[str, Any]],
    horizon_s: float,
    objective: Objective | None = None,
) -> dict:
    """One group's policies against each other, and the trade-off in one sentence.

    Parameters
    ----------
    entries : mapping
        Policy name to its ``summary["results"]`` entry for this group, in the scenario's
        policy order.
    horizon_s : float
        Simulated horizon [s] (money is shown per month).
    objective : Objective, optional
        The scenario's objective; without one nothing is recommended.

    Returns
    -------
    dict
        ``metrics`` (a row per defined metric: values, formatted values, ``leader`` or
        ``tied``), ``objective`` (its text or ``None``), ``recommended`` (a policy or
        ``None``), ``feasible`` and ``misses`` (policies and the bounds they break, with an
        objective) and ``sentence``.
    """
    policies = list(entries)
    days = horizon_s / 86_400.0
    rows = [_metric_row(m, entries, days) for m in METRICS]
    rows = [r for r in rows if any(v is not None for v in r["shown"].values())]
    named = {objective.metric, *(b.metric for b in objective.subject_to)} if objective else set()
    if not any(_capped(e) for e in entries.values()) and "charge_life_days" not in named:
        # Charge alone is the battery life itself: the row would say the same twice.
        rows = [r for r in rows if r["name"] != "charge_life_days"]
    recommended, feasible, misses = None, policies, {}
    if len(policies) < 2:
        sentence = f"Only {policies[0] if policies else 'no policy'} ran: nothing to compare."
    elif objective is None:
        sentence = _trade_off(rows, policies)
    elif objective.metric not in {r["name"] for r in rows}:
        # A mixed fleet: the objective's metric (an outcome) belongs to another group.
        sentence = _trade_off(rows, policies).replace(
            "No objective is set",
            f"The objective's {_BY_NAME[objective.metric].label} is not defined for this group",
        )
    else:
        recommended, sentence, pick = _recommendation(rows, objective, policies)
        feasible, misses = pick["feasible"], pick["misses"]
    for r in rows:
        for private in ("_ranked", "_bare", "_suffix"):
            del r[private]
    return {
        "objective": objective.text() if objective else None,
        "recommended": recommended,
        "feasible": feasible,
        "misses": misses,
        "sentence": sentence,
        "metrics": rows,
    }
