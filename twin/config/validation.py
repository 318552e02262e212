"""Pydantic's validation errors in the user's words: key path, line, what was expected.

Generic over the model class, so the schema (``Scenario.with_overrides``), the loader and the
study file all explain their errors the same way without importing each other.
"""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel, ValidationError

from twin.errors import ScenarioError


def _field_names(model: type[BaseModel], seen: set | None = None) -> set[str]:
    """All field names of a model and its nested models (vocabulary for 'did you mean')."""
    seen = seen if seen is not None else set()
    names: set[str] = set()
    for name, f in model.model_fields.items():
        names.add(name)
        for t in _nested_models(f.annotation):
            if t not in seen:
                seen.add(t)
                names |= _field_names(t, seen)
    return names


def _nested_models(annotation: Any) -> list[type[BaseModel]]:
    out = []
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        out.append(annotation)
    for arg in getattr(annotation, "__args__", ()) or ():
        out.extend(_nested_models(arg))
    meta = getattr(annotation, "__metadata__", None)
    if meta is not None:
        out.extend(_nested_models(getattr(annotation, "__origin__", None)))
    return out


def _explain(err: dict, vocabulary: set[str], top: set[str] | None = None) -> str:
    """One validation error in the user's words; ``top``: the file's own top-level keys."""
    kind = err["type"]
    loc = err["loc"]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        if len(loc) == 1:  # a top-level key: only the file's own keys are candidates
            vocabulary = top if top is not None else vocabulary
        close = difflib.get_close_matches(key, sorted(vocabulary), n=1, cutoff=0.6)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        return f"unknown key '{key}'{hint}"
    if kind == "missing":
        return "required key is missing"
    given = err.get("input")
    if isinstance(given, bool) and kind in ("int_type", "float_type"):
        return f"expected a number, not the boolean {_yaml(given)}"
    if kind == "int_type" and isinstance(given, float):
        return f"expected a whole number, got {_yaml(given)}"
    if kind == "finite_number":
        return f"expected a finite number, got {_yaml(given)}"
    msg = err["msg"].removeprefix("Value error, ")
    if isinstance(given, (str, int, float, bool)) or given is None:
        if isinstance(given, str) and f"'{given}'" in msg:
            return msg  # the message already quotes what was given
        return f"{msg} (got {_yaml(given)})"
    return msg


def _yaml(value: Any) -> str:
    """A scalar as YAML spells it (true, null, .inf, .nan, 1e+09), text quoted."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value != value:
            return ".nan"
        if value in (float("inf"), float("-inf")):
            return ".inf" if value > 0 else "-.inf"
        return f"{value:g}" if abs(value) >= 1e6 else repr(value)
    return repr(value)


# Segments pydantic adds to an error's location for union members and validators: they are
# not keys the user wrote, so they stay out of the key path.
_TAG_PREFIXES = ("function-", "constrained-", "literal[", "list[", "dict[", "union[")
_TYPE_TAGS = {"str", "int", "float", "bool", "PolicySpec", "builtin"}
# Tags of the discriminated fault union (faults.<i>.<kind>.<key> -> faults.<i>.<key>).
_TYPE_TAGS |= {"gateway_outage", "cloud_outage", "loss_burst", "backhaul_spike", "brownout"}


def _user_path(loc: tuple) -> tuple:
    out: list = []
    for p in loc:
        if isinstance(p, str) and (
            p.startswith(_TAG_PREFIXES) or (p in _TYPE_TAGS and out and isinstance(out[-1], int))
        ):
            continue
        out.append(p)
    return tuple(out)


# At most this many problems are listed; the rest are counted.
MAX_PROBLEMS = 20


def validate(
    model: type[BaseModel],
    data: Any,
    file: str | None = None,
    lines: dict[tuple, int] | None = None,
) -> Any:
    """Validate plain data as ``model``; every problem becomes one :class:`ScenarioError`.

    The error is the first problem; ``more`` holds the others (up to :data:`MAX_PROBLEMS`), so
    a file with five mistakes gets five messages in one go. Each names the key path (without
    pydantic's union tags), the line where the YAML parser found it (``lines``) and what was
    expected. A misspelt required key is reported once, as the unknown key with its "did you
    mean", not also as the required key that is missing.
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        vocabulary = _field_names(model)
        errors = _without_misspelt_missing(exc.errors(), vocabulary)
        found = _one_per_key([_problem(e, vocabulary, model, file, lines) for e in errors])
        # In file order (pydantic's is the schema's); problems without a line keep theirs.
        found.sort(key=lambda p: float("inf") if p.line is None else p.line)
        problems = found[:MAX_PROBLEMS]
        first = problems[0]
        hidden = len(found) - len(problems)
        if hidden:
            first.message += f" (and {hidden} more problem{'s' if hidden > 1 else ''} not shown)"
        first.more = tuple(problems[1:])
        raise first from None


def _one_per_key(problems: list[ScenarioError]) -> list[ScenarioError]:
    """Merge the alternatives of a union at one key ("<= 12" and "'auto'") into one problem."""
    by_key: dict = {}
    for p in problems:
        if p.key_path is None or p.key_path not in by_key:
            by_key[p.key_path if p.key_path is not None else id(p)] = p
            continue
        kept = by_key[p.key_path]
        head, got = _split_got(kept.message)
        other, got2 = _split_got(p.message)
        other = other.removeprefix("Input should be ")
        kept.message = f"{head}, or {other}{got or got2}"
    return list(by_key.values())


def _split_got(message: str) -> tuple[str, str]:
    i = message.rfind(" (got ")
    return (message[:i], message[i:]) if i >= 0 and message.endswith(")") else (message, "")


def line_of(loc: tuple, lines: dict[tuple, int] | None, min_depth: int = 0) -> int | None:
    """Line of key path ``loc`` in the file, or of its nearest parent the parser saw.

    ``min_depth=1`` stops above the document itself (line 1), for a key the file may not have.
    """
    if lines:
        for n in range(len(loc), min_depth - 1, -1):
            if loc[:n] in lines:
                return lines[loc[:n]]
    return None


def _problem(err: dict, vocabulary: set[str], model: type[BaseModel], file, lines) -> ScenarioError:
    loc = _user_path(err["loc"])
    path = ".".join(str(p) for p in loc) or None
    message = _explain(err, vocabulary, set(model.model_fields))
    return ScenarioError(message, file, path, line_of(loc, lines))


def _without_misspelt_missing(errors: list[dict], vocabulary: set[str]) -> list[dict]:
    """Drop "required key missing" where an unknown sibling key is its misspelling."""
    meant = set()
    for err in errors:
        if err["type"] == "extra_forbidden":
            key = str(err["loc"][-1])
            close = difflib.get_close_matches(key, sorted(vocabulary), n=1, cutoff=0.6)
            if close:
                meant.add((_user_path(err["loc"][:-1]), close[0]))
    kept = [
        e
        for e in errors
        if not (e["type"] == "missing" and (_user_path(e["loc"][:-1]), str(e["loc"][-1])) in meant)
    ]
    return kept or errors
