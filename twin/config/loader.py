"""Reading scenario files: YAML -> validated :class:`Scenario`, errors with file, line and key."""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from twin.config.schema import Scenario
from twin.errors import ScenarioError
from twin.ml.runner import ZOO_DIR, load_zoo_metadata
from twin.profiles import Battery, Board, Radio, Runtime, Sensor, load_profile


def _line_index(text: str) -> dict[tuple, int]:
    """Map key paths to 1-based line numbers using the YAML node tree."""
    lines: dict[tuple, int] = {}
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return lines

    def walk(node: yaml.Node, path: tuple) -> None:
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                key = k.value
                lines[(*path, key)] = k.start_mark.line + 1
                walk(v, (*path, key))
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                walk(v, (*path, i))

    if root is not None:
        walk(root, ())
    return lines


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


def _explain(err: dict, vocabulary: set[str]) -> str:
    kind = err["type"]
    loc = err["loc"]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        if len(loc) == 1:  # a top-level key: only the scenario's own keys are candidates
            vocabulary = set(Scenario.model_fields)
        close = difflib.get_close_matches(key, sorted(vocabulary), n=1, cutoff=0.6)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        return f"unknown key '{key}'{hint}"
    if kind == "missing":
        return "required key is missing"
    given = err.get("input")
    msg = err["msg"].removeprefix("Value error, ")
    if isinstance(given, (str, int, float, bool)) or given is None:
        return f"{msg} (got {given!r})"
    return msg


# Segments pydantic adds to an error's location for union members and validators: they are
# not keys the user wrote, so they stay out of the key path.
_TAG_PREFIXES = ("function-", "constrained-", "literal[", "list[", "dict[", "union[")
_TYPE_TAGS = {"str", "int", "float", "bool", "PolicySpec"}
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


def scenario_from_dict(
    data: Any, file: str | None = None, lines: dict[tuple, int] | None = None
) -> Scenario:
    """Validate a scenario given as plain data (what YAML parses to).

    Raises
    ------
    ScenarioError
        On the first problem, naming the key path and what was expected.
    """
    if not isinstance(data, dict):
        raise ScenarioError("expected a mapping with keys name, world, groups, ...", file)
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = _user_path(err["loc"])
        path = ".".join(str(p) for p in loc) or None
        line = None
        if lines:
            for n in range(len(loc), -1, -1):
                if loc[:n] in lines:
                    line = lines[loc[:n]]
                    break
        message = _explain(err, _field_names(Scenario))
        extra = len(exc.errors()) - 1
        if extra:
            message += f" (and {extra} more problem{'s' if extra > 1 else ''})"
        raise ScenarioError(message, file, path, line) from None


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario YAML file."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ScenarioError("file not found", str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"cannot read file: {exc}", str(path)) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        if isinstance(exc, yaml.reader.ReaderError):  # a character YAML does not allow
            line = text[: exc.position].count("\n") + 1
            problem = f"character {exc.character!r} is not allowed in YAML ({exc.reason})"
        else:
            problem = getattr(exc, "problem", None) or str(exc)
        problem = " ".join(str(problem).split())  # one line, whatever the parser said
        raise ScenarioError(f"invalid YAML: {problem}", str(path), None, line) from None
    return scenario_from_dict(data, str(path), _line_index(text))


@dataclass(frozen=True)
class ResolvedGroup:
    """A fleet group with its profiles and model files resolved."""

    name: str
    board: Board
    radio: Radio
    battery: Battery
    sensor: Sensor
    runtime: Runtime
    device_model_path: Path
    cloud_model_path: Path
    window_samples: int
    channels: tuple[str, ...]
    frontend_ops: float = 0.0
    output: str = "probabilities"
    positive_index: int = 1
    threshold: float = 0.5


# Worlds whose state the decision can change, and what it drives.
ACTUATED_WORLDS = {"soil": "irrigation valve", "room": "heating setpoint"}

# A node on the grid: the ledger still counts every joule, but nothing runs out.
MAINS = Battery(
    id="mains", name="mains power supply", nominal_v=5.0, cutoff_v=0.0, capacity_mah=math.inf,
    rated_current_a=1.0, peukert_exponent=1.0, self_discharge_per_year=0.0,
    max_pulse_current_a=math.inf, sources=MappingProxyType({}),
)  # fmt: skip


def _world_channels(kind: str) -> tuple[str, ...]:
    """Channels a world's sensors read, in the order the engine feeds them to a model."""
    import importlib

    module = importlib.import_module(f"twin.world.{kind}")
    world = next(
        v for k, v in vars(module).items() if k.endswith("World") and hasattr(v, "channels")
    )
    return tuple(world.channels)


def _check_fault_targets(scenario: Scenario, file: str | None) -> None:
    """Faults must name gateways and groups the scenario has."""
    ids = [gw.id for gw in scenario.gateways]
    for i, f in enumerate(scenario.faults):
        target = getattr(f, "gateway", None)
        if target is not None and target not in ids:
            raise ScenarioError(
                f"no gateway '{target}' (gateways: {', '.join(ids) or 'none'})",
                file,
                f"faults.{i}.gateway",
            )
        target = getattr(f, "group", None)
        if target is not None and target not in scenario.groups:
            raise ScenarioError(
                f"no group '{target}' (groups: {', '.join(scenario.groups)})",
                file,
                f"faults.{i}.group",
            )


def resolve(
    scenario: Scenario, base_dir: Path, file: str | None = None
) -> dict[str, ResolvedGroup]:
    """Resolve profile ids and model files of every group; errors name the key path."""
    _check_fault_targets(scenario, file)
    out = {}
    for name, g in scenario.groups.items():
        prefix = f"groups.{name}"
        profiles = {}
        for kind in ("board", "radio", "battery", "sensor"):
            if kind == "battery" and g.battery == MAINS.id:
                profiles[kind] = MAINS
                continue
            try:
                profiles[kind] = load_profile(kind, getattr(g, kind))
            except ScenarioError as exc:
                if exc.file:  # a broken profile file: report that file
                    raise
                raise ScenarioError(exc.message, file, f"{prefix}.{kind}") from None
        if not isinstance(profiles["radio"], Radio) and g.spreading_factor != "auto":
            raise ScenarioError(
                f"spreading_factor applies to LoRa radios; '{g.radio}' is "
                f"{profiles['radio'].technology}",
                file,
                f"{prefix}.spreading_factor",
            )
        if not isinstance(profiles["radio"], Radio) and g.confirmed:
            raise ScenarioError(
                f"confirmed uplinks are a LoRaWAN setting; '{g.radio}' is "
                f"{profiles['radio'].technology} (its link layer already retransmits)",
                file,
                f"{prefix}.confirmed",
            )
        if not isinstance(profiles["radio"], Radio) and g.store_and_forward is not None:
            raise ScenarioError(
                f"store_and_forward is modelled for LoRaWAN nodes (they learn of an outage "
                f"from unanswered link checks); '{g.radio}' is "
                f"{profiles['radio'].technology}",
                file,
                f"{prefix}.store_and_forward",
            )
        world_kind = g.world or scenario.world.kind
        if g.actuation and world_kind not in ACTUATED_WORLDS:
            raise ScenarioError(
                f"world '{world_kind}' has no actuator to drive; actuation applies to "
                f"{', '.join(sorted(ACTUATED_WORLDS))} (remove it or change the world)",
                file,
                f"{prefix}.actuation",
            )
        if isinstance(profiles["radio"], Radio) and not scenario.gateways:
            raise ScenarioError(
                f"group '{name}' uses LoRa radio '{g.radio}' but the scenario lists no gateways",
                file,
                "gateways",
            )
        runtime_id = g.runtime or profiles["board"].default_runtime
        try:
            profiles["runtime"] = load_profile("runtime", runtime_id)
        except ScenarioError as exc:
            if exc.file:
                raise
            raise ScenarioError(exc.message, file, f"{prefix}.runtime") from None
        board, runtime = profiles["board"], profiles["runtime"]
        if board.core not in runtime.cores:
            raise ScenarioError(
                f"runtime '{runtime_id}' does not run on {board.core} (board '{board.id}'); "
                f"it supports {', '.join(runtime.cores)}",
                file,
                f"{prefix}.runtime",
            )
        m = g.model
        if m.zoo is not None:
            try:
                meta = load_zoo_metadata(m.zoo)
            except ScenarioError as exc:
                raise ScenarioError(exc.message, file, f"{prefix}.model.zoo") from None
            device = ZOO_DIR / meta["variants"]["int8"]["file"]
            # A zoo model may ship a larger cloud network; else the device model's fp32 twin.
            variants = meta["variants"]
            cloud = ZOO_DIR / variants.get("cloud", variants["fp32"])["file"]
            window, channels = int(meta["window_samples"]), tuple(meta["channels"])
            frontend_ops = float(meta.get("frontend", {}).get("ops", 0.0))
            # A zoo model brings its output, positive column and threshold; keys the scenario
            # sets explicitly win.
            decision = {k: meta.get(k, getattr(m, k)) for k in ("output", "positive_index",
                                                                 "threshold")}  # fmt: skip
            decision.update({k: getattr(m, k) for k in m.model_fields_set & set(decision)})
            trained_on = str(meta.get("world", "")).rsplit(".", 1)[-1]
            if trained_on and trained_on != world_kind:
                raise ScenarioError(
                    f"model '{m.zoo}' was trained on the {trained_on} world; "
                    f"this group's world is '{world_kind}' (set groups.{name}.world: "
                    f"{trained_on}, or pick a model of the {world_kind} world)",
                    file,
                    f"{prefix}.model.zoo",
                )
            if abs(float(meta["period_s"]) - g.sampling_period_s) > 1e-9:
                raise ScenarioError(
                    f"model '{m.zoo}' was trained on readings every {meta['period_s']} s; "
                    f"sampling_period_s must be {meta['period_s']}",
                    file,
                    f"{prefix}.sampling_period_s",
                )
        else:
            device = (base_dir / m.device_path).resolve()
            cloud = (base_dir / (m.cloud_path or m.device_path)).resolve()
            # The world's own channels; the window follows from the model's input size.
            window, channels = 0, _world_channels(world_kind)
            frontend_ops = 0.0
            decision = {k: getattr(m, k) for k in ("output", "positive_index", "threshold")}
            for key, p in (("device_path", device), ("cloud_path", cloud)):
                if not p.is_file():
                    raise ScenarioError(f"model file not found: {p}", file, f"{prefix}.model.{key}")
        max_payload = profiles["radio"].max_payload_bytes
        if max_payload < max(v for v in g.payload_bytes.model_dump().values() if v):
            raise ScenarioError(
                f"payload exceeds the radio's maximum of {max_payload} bytes",
                file,
                f"{prefix}.payload_bytes",
            )
        out[name] = ResolvedGroup(
            name,
            **profiles,
            device_model_path=device,
            cloud_model_path=cloud,
            window_samples=window,
            channels=channels,
            frontend_ops=frontend_ops,
            **decision,
        )
    return out
