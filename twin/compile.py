"""The compile stage: a validated scenario becomes a :class:`~twin.plan.RunPlan`.

Every profile, model, policy, fault and gateway is resolved here, once, and every
cross-check between them is made here (a model that does not fit its board, a window the
radio cannot carry, a fault naming a gateway the scenario lacks...). ``twin run``, ``twin
validate``, ``twin sweep``'s planning and the Python API all call :func:`compile_scenario`,
so what validates runs. Errors are :class:`~twin.errors.ScenarioError` naming the file and
key path, as the YAML loader's are.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from pathlib import Path
from typing import Any

from twin.analysis.verdict import Bound, Objective
from twin.config.loader import as_scenario
from twin.config.schema import Group, LoRaSettings, Scenario
from twin.config.validation import line_of
from twin.errors import ScenarioError
from twin.faults import plan_faults
from twin.ml.classifier import Classifier
from twin.ml.load import load_model
from twin.ml.runner import ZOO_DIR, load_zoo_metadata
from twin.nodes import load_nodes
from twin.physics.compute import inference_cost
from twin.plan import (
    ChannelPlan,
    CloudPlan,
    Delay,
    Gateway,
    GroupPlan,
    Harvester,
    LinkSettings,
    Models,
    Payloads,
    RunPlan,
    StoreAndForward,
)
from twin.policies import (
    BUILTIN,
    PolicyPlan,
    check_policy_source,
    find_policy_module,
    load_policy_class,
)
from twin.profiles import MAINS, Radio, load_profile
from twin.regions import CODING_RATES, load_region, lora_group_radio
from twin.supply import (
    BROWNOUT_SAID_SOC,
    Supply,
    brownout_warning,
    cells_that_hold,
    modem_at_cell,
    refusal,
    supply,
)
from twin.world.registry import WorldSpec, world_kinds, world_spec


def compile_scenario(
    scenario: Scenario | str | Path | dict,
    *,
    seed: int | None = None,
    batch_window_s: float | None = None,
    base_dir: str | Path | None = None,
    import_policies: bool = True,
    allow_outside_policies: bool = False,
) -> RunPlan:
    """Resolve and cross-check a scenario into an immutable run plan.

    Parameters
    ----------
    scenario : Scenario, path or dict
        A validated scenario (it remembers the file it came from, if any), a YAML file, or
        plain data in the YAML's shape.
    seed : int, optional
        Overrides the scenario's ``world.seed``.
    batch_window_s : float, optional
        Overrides the engine's batching window (results do not depend on it).
    base_dir : path, optional
        Directory that relative model and policy paths are resolved against (default: the
        scenario file's directory, or the working directory for a scenario built in Python).
    import_policies : bool
        Import (run) the modules of user policies to check their class and parameters. False
        only checks that each module parses and defines the class; the plan then validates
        but does not run (what ``twin validate`` does without ``--import-policies``).
    allow_outside_policies : bool
        Allow a policy module outside ``base_dir``. Importing a module runs its code, so by
        default only code beside the scenario is run.

    Raises
    ------
    ScenarioError
        On the first problem, naming the file and key path.
    """
    scenario = as_scenario(scenario)
    if seed is not None:
        scenario = scenario.with_seed(seed)
    file = str(scenario.source) if scenario.source is not None else None
    base = Path(base_dir) if base_dir is not None else scenario.base_dir
    try:
        return _compile(scenario, file, base, batch_window_s, import_policies,
                        allow_outside_policies)  # fmt: skip
    except ScenarioError as exc:
        raise _with_line(exc, file, scenario._lines) from None


def _with_line(exc: ScenarioError, file: str | None, lines: dict | None) -> ScenarioError:
    """The error with the line of its key in the scenario file, when the parser saw it."""
    if exc.line is not None or not exc.key_path or not lines or exc.file != file:
        return exc
    loc = tuple(int(p) if p.isdigit() else p for p in exc.key_path.split("."))
    exc.line = line_of(loc, lines, min_depth=1)
    return exc


def _compile(
    scenario: Scenario, file, base: Path, batch_window_s, import_policies, allow_outside_policies
) -> RunPlan:
    """The body of :func:`compile_scenario`: every check, in order, raising the first."""
    _check_fault_targets(scenario, file)
    groups = tuple(
        _group_plan(scenario, i, name, cfg, base, file)
        for i, (name, cfg) in enumerate(scenario.groups.items())
    )
    policies = tuple(
        _policy_plans(scenario, groups, base, file, import_policies, allow_outside_policies)
    )
    groups = tuple(
        dataclasses.replace(g, warnings=_warnings(g, cfg, policies))
        for g, cfg in zip(groups, scenario.groups.values(), strict=True)
    )
    cloud = scenario.cloud
    window = scenario.engine.batch_window_s if batch_window_s is None else batch_window_s
    return RunPlan(
        name=scenario.name,
        file=file,
        digest=scenario.digest(),
        seed=scenario.world.seed,
        horizon_s=scenario.horizon_s,
        start_utc_s=(
            None if scenario.world.start_utc is None else scenario.world.start_utc.timestamp()
        ),
        site_m=(scenario.world.site.width_m, scenario.world.site.height_m),
        groups=groups,
        gateways=tuple(
            Gateway(**{**gw.model_dump(), "rx1_duty_cycle": rx1, "rx2_duty_cycle": rx2})
            for gw, (rx1, rx2) in zip(
                scenario.gateways, scenario.gateway_duty_cycles(), strict=True
            )
        ),
        cloud=CloudPlan(
            uplink_latency=Delay(**cloud.uplink_latency.model_dump()),
            downlink_latency=Delay(**cloud.downlink_latency.model_dump()),
            workers=cloud.workers,
            server=_profile("server", cloud.server, file, "cloud.server", base),
            service_time_s=cloud.service_time_s,
            max_batch=cloud.max_batch,
        ),
        channel=ChannelPlan(
            propagation=_profile(
                "propagation", scenario.channel.propagation, file, "channel.propagation", base
            ),
            capture_threshold_db=scenario.channel.capture_threshold_db,
            adr_margin_db=scenario.channel.adr_margin_db,
            sf_orthogonal=scenario.channel.sf_orthogonal,
            region=scenario.channel.region,
            half_duplex=scenario.channel.half_duplex,
        ),
        policies=policies,
        faults=plan_faults(
            scenario.faults,
            [gw.id for gw in scenario.gateways],
            scenario.world.seed,
            scenario.horizon_s,
        ),
        batch_window_s=window,
        timeseries_interval_s=scenario.engine.timeseries_interval_s,
        objective=_objective(scenario),
    )


def _objective(scenario: Scenario) -> Objective | None:
    """The scenario's objective for the verdict.

    A metric a group does not define (crop stress without a valve) leaves that group without
    a recommendation rather than refusing the scenario: a sweep may turn actuation off.
    """
    o = scenario.objective
    if o is None:
        return None
    metric = o.minimise or o.maximise
    bounds = tuple(Bound(m, b.min, b.max) for m, b in o.subject_to.items())
    return Objective(metric, "minimise" if o.minimise else "maximise", bounds)


def _profile(
    kind: str, profile_id: str, file: str | None, key_path: str, base: Path | None = None
) -> Any:
    """Load a profile (the user's first); an unknown id is named at the key that names it."""
    try:
        return load_profile(kind, profile_id, base)
    except ScenarioError as exc:
        if exc.file:  # a broken profile file: report that file
            raise
        raise ScenarioError(exc.message, file, key_path) from None


def _world(kind: str, file: str | None, key_path: str) -> WorldSpec:
    """The world a group senses, from the registry (built-in, registered or a plug-in)."""
    try:
        return world_spec(kind)
    except KeyError as exc:
        raise ScenarioError(str(exc.args[0]), file, key_path) from None


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


def _group_profiles(g: Group, prefix: str, file: str | None, base: Path) -> dict[str, Any]:
    """Board, radio, battery, sensor and runtime of a group, checked against each other."""
    profiles = {}
    for kind in ("board", "radio", "battery", "sensor"):
        if kind == "battery" and g.battery == MAINS.id:
            profiles[kind] = MAINS
            continue
        profiles[kind] = _profile(kind, getattr(g, kind), file, f"{prefix}.{kind}", base)
    board = profiles["board"]
    runtime_id = g.runtime or board.default_runtime
    runtime = profiles["runtime"] = _profile("runtime", runtime_id, file, f"{prefix}.runtime", base)
    if board.core not in runtime.cores:
        raise ScenarioError(
            f"runtime '{runtime_id}' does not run on {board.core} (board '{board.id}'); "
            f"it supports {', '.join(runtime.cores)}",
            file,
            f"{prefix}.runtime",
        )
    return profiles


def _link_settings(g: Group) -> LinkSettings:
    """The group's link settings, a coupling loss as (median, spread) [dB]."""
    d = g.link.model_dump()
    loss = d.pop("coupling_loss_db")
    if isinstance(loss, dict):
        loss = (loss["median_db"], loss["sd_db"])
    elif loss is not None:
        loss = (float(loss), 0.0)
    return LinkSettings(**d, coupling_loss_db=loss)


def _check_coverage(g: Group, radio, file, prefix: str) -> None:
    """A coupling loss applies to cellular radios whose profile gives coverage figures."""
    if g.link.coupling_loss_db is None:
        return
    tech = getattr(radio, "technology", "lorawan")
    if tech not in ("lte-m", "nb-iot"):
        raise ScenarioError(
            f"coupling_loss_db applies to cellular radios; '{g.radio}' is {tech} (a LoRa "
            "node's path loss comes from its position and the propagation model)",
            file, f"{prefix}.link.coupling_loss_db",
        )  # fmt: skip
    if radio.max_coupling_loss_db is None:
        raise ScenarioError(
            f"radio '{g.radio}' gives no coverage figures (max_coupling_loss_db, ce0_loss_db, "
            "ce_thresholds_db, repetitions, tx/rx currents: see nrf9160-nbiot.yaml), so its "
            "coverage classes are unknown: add them to the profile, or remove coupling_loss_db",
            file, f"{prefix}.link.coupling_loss_db",
        )  # fmt: skip


def _check_radio_settings(scenario: Scenario, name: str, g: Group, radio, file) -> None:
    """LoRaWAN-only settings on other radios, and LoRa without gateways."""
    prefix = f"groups.{name}"
    lora = isinstance(radio, Radio)
    if not lora:
        for key, set_, why in (
            ("spreading_factor", g.spreading_factor != "auto", "applies to LoRa radios"),
            ("confirmed", g.confirmed, "is a LoRaWAN setting"),
            ("lora", g.lora != LoRaSettings(), "applies to LoRa radios"),
        ):
            if set_:
                extra = " (its link layer already retransmits)" if key == "confirmed" else ""
                raise ScenarioError(
                    f"{key} {why}; '{g.radio}' is {radio.technology}{extra}",
                    file,
                    f"{prefix}.{key}",
                )
    if g.link.access_point_stations > 1 and getattr(radio, "technology", "") != "wifi":
        raise ScenarioError(
            f"access_point_stations applies to Wi-Fi radios; '{g.radio}' is "
            f"{getattr(radio, 'technology', 'lorawan')}",
            file, f"{prefix}.link.access_point_stations",
        )  # fmt: skip
    _check_coverage(g, radio, file, prefix)
    for i, f in enumerate(scenario.faults):
        if lora and f.kind == "hub_outage" and f.group == name:
            raise ScenarioError(
                f"a hub outage applies to BLE, Wi-Fi and cellular groups; '{name}' is LoRaWAN "
                "(its gateways fail with gateway_outage)",
                file, f"faults.{i}.group",
            )  # fmt: skip
    if lora and not scenario.gateways:
        raise ScenarioError(
            f"group '{name}' uses LoRa radio '{g.radio}' but the scenario lists no gateways",
            file,
            "gateways",
        )


def _lora_radio(scenario: Scenario, g: Group, radio: Radio, prefix: str, file) -> Radio:
    """The group's LoRa radio on the scenario's region, with the group's ``lora:`` settings.

    The region's rules are checked here (twin.regions.lora_group_radio): a spreading factor
    it does not allow, a payload over its maximum, a frame over its dwell time.
    """
    try:
        region = load_region(scenario.channel.region)
    except ScenarioError as exc:
        raise ScenarioError(exc.message, exc.file or file, "channel.region") from None
    own = g.lora
    rate = own.coding_rate
    return lora_group_radio(
        radio,
        region,
        spreading_factor=g.spreading_factor,
        payload_bytes=g.payload_bytes.model_dump(),
        store_and_forward=g.store_and_forward is not None,
        channels=own.channels,
        coding_rate=CODING_RATES[rate] if rate is not None else None,
        preamble_symbols=own.preamble_symbols,
        file=file,
        prefix=prefix,
    )


def _group_plan(
    scenario: Scenario, index: int, name: str, g: Group, base: Path, file: str | None
) -> GroupPlan:
    """Resolve one group: profiles, world, models, and every check between them."""
    prefix = f"groups.{name}"
    profiles = _group_profiles(g, prefix, file, base)
    _check_radio_settings(scenario, name, g, profiles["radio"], file)
    if isinstance(profiles["radio"], Radio):
        profiles["radio"] = _lora_radio(scenario, g, profiles["radio"], prefix, file)
    power = _supply(profiles, prefix, file, base)
    # A modem measured on a bench supply draws its power from the cell (twin.supply).
    profiles["radio"] = modem_at_cell(profiles["radio"], power.modem_scale)
    world_kind = g.world or scenario.world.kind
    world = _world(world_kind, file, f"{prefix}.world" if g.world else "world.kind")
    if g.actuation and world.actuator is None:
        actuated = [k for k in world_kinds() if world_spec(k).actuator is not None]
        raise ScenarioError(
            f"world '{world_kind}' has no actuator to drive; actuation applies to "
            f"{', '.join(sorted(actuated))} (remove it or change the world)",
            file,
            f"{prefix}.actuation",
        )
    params, channels_of_world = _world_params(scenario, world, base, file)
    source = _model_source(g, world, channels_of_world, base, prefix, file)
    max_payload = profiles["radio"].max_payload_bytes
    if max_payload < max(v for v in g.payload_bytes.model_dump().values() if v):
        raise ScenarioError(
            f"payload exceeds the radio's maximum of {max_payload} bytes",
            file,
            f"{prefix}.payload_bytes",
        )
    models = _load_models(source, prefix, file)
    channels, window = source["channels"], source["window"]
    device = models.device
    if device.cost.unsupported_ops:
        raise ScenarioError(
            "the device model uses ops the cost model cannot price: "
            f"{', '.join(device.cost.unsupported_ops)}",
            file,
            f"{prefix}.model",
        )
    inference = inference_cost(
        device.cost, profiles["board"], profiles["runtime"], frontend_ops=source["frontend_ops"]
    )
    if not inference.fits:
        raise ScenarioError(f"model does not fit: {inference.misfit()}", file, f"{prefix}.model")
    if device.input_features % len(channels):
        raise ScenarioError(
            f"model expects {device.input_features} inputs per window, not a whole "
            f"number of readings of the world's {len(channels)} channels",
            file,
            f"{prefix}.model",
        )
    if window and device.input_features != window * len(channels):
        raise ScenarioError(
            f"model expects {device.input_features} inputs, the world gives "
            f"{window * len(channels)}",
            file,
            f"{prefix}.model",
        )
    window_samples = window or device.input_features // len(channels)
    reading_s, every, stride = _cadence(g, source, window_samples, prefix, file)
    fleet = _fleet(scenario, g, reading_s, base, prefix, file) if g.nodes else None
    return GroupPlan(
        name=name,
        index=index,
        count=g.count,
        world=world_kind,
        world_params=params,
        **profiles,
        sampling_period_s=g.sampling_period_s,
        spreading_factor=g.spreading_factor,
        tx_jitter_s=g.tx_jitter_s,
        heartbeat_period_s=g.heartbeat_period_s,
        confirmed=g.confirmed,
        max_transmissions=g.max_transmissions,
        actuation=g.actuation,
        payload_bytes=Payloads(**g.payload_bytes.model_dump()),
        harvester=Harvester(**g.harvester.model_dump()) if g.harvester else None,
        link=_link_settings(g),
        store_and_forward=(
            StoreAndForward(**g.store_and_forward.model_dump()) if g.store_and_forward else None
        ),
        models=models,
        channels=channels,
        window_samples=window_samples,
        frontend_ops=source["frontend_ops"],
        inference=inference,
        reading_period_s=reading_s,
        decide_every=every,
        window_stride=stride,
        fleet=fleet,
        supply=power,
    )


def _supply(profiles: dict, prefix: str, file: str | None, base: Path) -> Supply:
    """The cell under the node's bursts; refused when a full one cannot carry a single burst."""
    board, radio, bat, sensor = (profiles[k] for k in ("board", "radio", "battery", "sensor"))
    power = supply(board, radio, bat, sensor)
    if power.brownout_soc < 1.0:
        return power
    holds = cells_that_hold(board, radio, sensor, base)
    best = [f"{pid} runs down to {soc:.1%} charge" for pid, soc in holds[:3]]
    fix = (
        f"use a cell that holds the bursts (on this board {', '.join(best)})"
        if holds
        else "use a cell with a lower internal resistance, or a board that runs lower"
    )
    raise ScenarioError(
        f"{refusal(bat, board, radio, power)}: {fix}, or put a buffer (a hybrid layer capacitor) "
        "beside the cell and give the pair its own battery profile",
        file, f"{prefix}.battery",
    )  # fmt: skip


def _fleet(scenario: Scenario, g: Group, reading_s: float, base: Path, prefix: str, file):
    """The group's node table (groups.<g>.nodes), checked against the group and the site."""
    site = (scenario.world.site.width_m, scenario.world.site.height_m)
    table = load_nodes(
        base / g.nodes, f"{prefix}.nodes", file, [gw.id for gw in scenario.gateways],
        max(g.sampling_period_s, reading_s), site,
    )  # fmt: skip
    if table.phase_s is not None and g.sampling_period_s > reading_s:
        # A node that reads more often than it decides keeps the phase of its readings; which
        # reading it decides on is drawn (as for drawn nodes).
        table = dataclasses.replace(table, phase_s=table.phase_s % reading_s).ordered_by_phase()
    if len(table) != g.count:
        raise ScenarioError(
            f"the node table {g.nodes} lists {len(table)} devices but count is {g.count}: "
            f"set count: {len(table)}", file, f"{prefix}.count",
        )  # fmt: skip
    return table


def _warnings(g: GroupPlan, cfg: Group, policies) -> tuple[str, ...]:
    """Valid settings that probably distort the results, each with what to set instead."""
    out = []
    lora = isinstance(g.radio, Radio)
    if lora and g.count > 1 and g.tx_jitter_s == 0:
        out.append(
            f"groups.{g.name}.tx_jitter_s is 0: periodic nodes keep their phases, so two "
            "that collide once collide every period; a few seconds (tx_jitter_s: 5) "
            "de-synchronise them as real firmware does"
        )
    if g.supply is not None and g.supply.brownout_soc >= BROWNOUT_SAID_SOC:
        out.append(f"groups.{g.name}: {brownout_warning(g.battery, g.board, g.radio, g.supply)}")
    values = len(g.channels)  # per reading
    sends_readings = any(p.cls is not None and not p.cls.runs_device_model for p in policies)
    reading_b = g.payload_bytes.reading
    default = "reading" not in cfg.payload_bytes.model_fields_set
    if sends_readings and default and reading_b < values:
        out.append(
            f"groups.{g.name}.payload_bytes.reading is {reading_b} B (the default) for a "
            f"reading of {values} values; at 2 B per value the cloud policies would send "
            f"{2 * values:,} B: set payload_bytes.reading to the encoded size"
        )
    return tuple(out)


def _whole(x: float) -> int | None:
    """``x`` as a whole number >= 1, or None (periods are floats from YAML: allow rounding)."""
    n = round(x)
    return n if n >= 1 and abs(x - n) <= 1e-9 * max(1.0, x) else None


def _cadence(g: Group, source: dict, window: int, prefix: str, file) -> tuple[float, int, int]:
    """How often a node reads, how many readings per decision, and the window's stride.

    A model whose window is a history of readings gets them at the rate it was trained on:
    deciding less often than that, the node keeps reading at that rate between decisions;
    deciding more often, it reads at its own period and the window takes every n-th reading.
    Periods that are neither are refused, never reinterpreted.
    """
    period_s = g.sampling_period_s
    reading_s = source["reading_period_s"]
    if window == 1:
        return period_s, 1, 1
    name = source["model_name"]
    if reading_s is None:
        raise ScenarioError(
            f"{name} reads a window of {window} readings; say how far apart they are with "
            f"reading_period_s (the rate it was trained on), e.g. reading_period_s: {period_s:g}",
            file,
            f"{prefix}.model.reading_period_s",
        )
    every, stride = _whole(period_s / reading_s), _whole(reading_s / period_s)
    if every:
        return reading_s, every, 1
    if stride:
        return period_s, 1, stride
    r = reading_s
    raise ScenarioError(
        f"{name} reads its window ({window} readings, {window * r / 3600:g} h) every {r:g} s; "
        f"a node deciding every {period_s:g} s cannot take those readings. Use a multiple of "
        f"{r:g} s ({r:g}, {2 * r:g}, {4 * r:g}, ...: it keeps reading every {r:g} s and "
        f"decides less often) or a whole fraction ({r / 2:g}, {r / 3:g}, ...: the window "
        "takes every n-th reading)",
        file,
        f"{prefix}.sampling_period_s",
    )


def _world_params(
    scenario: Scenario, world: WorldSpec, base: Path, file: str | None
) -> tuple[Any, tuple[str, ...]]:
    """The world's parameters (``world.params`` for the scenario's world) and its channels.

    A world whose parameters come from data (the trace world reads its recordings) checks
    them itself through ``load_params``, and its channels follow from them
    (``channels_for``); any other world takes its parameter class's keys.
    """
    raw = scenario.world.params if world.kind == scenario.world.kind else {}
    load = getattr(world.world, "load_params", None)
    if load is not None:
        params = load(raw, base, file, "world.params")
        return params, tuple(world.world.channels_for(params))
    if not raw:
        return world.params(), world.channels
    known = {f.name for f in dataclasses.fields(world.params)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ScenarioError(
            f"the {world.kind} world has no parameter {', '.join(map(repr, unknown))} "
            f"(known: {', '.join(sorted(known))})",
            file,
            f"world.params.{unknown[0]}",
        )
    hints = typing.get_type_hints(world.params)
    for key, value in raw.items():
        want = hints.get(key)
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if (
            (want is float and not number)
            or (want is int and not (number and value == int(value)))
            or (want is bool and not isinstance(value, bool))
        ):
            raise ScenarioError(
                f"expected {want.__name__}, got {value!r} (write a plain number, no quotes)"
                if want is not bool
                else f"expected true or false, got {value!r}",
                file,
                f"world.params.{key}",
            )
    raw = {k: (float(v) if hints.get(k) is float else v) for k, v in raw.items()}
    try:
        return world.params(**raw), world.channels
    except (TypeError, ValueError) as exc:
        raise ScenarioError(
            f"bad {world.kind} world parameters: {exc}", file, "world.params"
        ) from None


def _model_source(
    g: Group, world: WorldSpec, channels: tuple[str, ...], base: Path, prefix: str, file
) -> dict:
    """Model files, decision settings, window and channels: from the zoo or from paths."""
    m = g.model
    world_kind = world.kind
    if m.zoo is None:
        device = (base / m.device_path).resolve()
        cloud = (base / (m.cloud_path or m.device_path)).resolve()
        for key, p in (("device_path", device), ("cloud_path", cloud)):
            if not p.is_file():
                raise ScenarioError(f"model file not found: {p}", file, f"{prefix}.model.{key}")
        # The world's own channels; the window follows from the model's input size.
        return {
            "device": device,
            "cloud": cloud,
            "window": 0,
            "reading_period_s": m.reading_period_s,
            "model_name": f"model {Path(m.device_path).name}",
            "channels": channels,
            "frontend_ops": 0.0,
            "decision": {k: getattr(m, k) for k in ("output", "positive_index", "threshold")},
        }
    try:
        meta = load_zoo_metadata(m.zoo)
    except ScenarioError as exc:
        raise ScenarioError(exc.message, file, f"{prefix}.model.zoo") from None
    variants = meta["variants"]
    # A zoo model brings its output, positive column and threshold; keys the scenario sets
    # explicitly win.
    decision = {k: meta.get(k, getattr(m, k)) for k in ("output", "positive_index", "threshold")}
    decision.update({k: getattr(m, k) for k in m.model_fields_set & set(decision)})
    trained_on = str(meta.get("world", "")).rsplit(".", 1)[-1]
    if not world.channels:
        # A world of data (recordings): the model fits when it reads exactly its channels.
        if tuple(meta["channels"]) != channels:
            raise ScenarioError(
                f"model '{m.zoo}' reads {', '.join(meta['channels'])} (in that order); the "
                f"world gives {', '.join(channels) or 'no channels'} (set world.params.columns "
                f"to the recording's columns for them, or give the model by path)",
                file,
                "world.params.columns",
            )
    elif trained_on and trained_on != world_kind:
        raise ScenarioError(
            f"model '{m.zoo}' was trained on the {trained_on} world; this group's world is "
            f"'{world_kind}' (set {prefix}.world: {trained_on}, or pick a model of the "
            f"{world_kind} world)",
            file,
            f"{prefix}.model.zoo",
        )
    window = int(meta["window_samples"])
    # A window of one acquisition (an ECG strip, a spectrogram) means the same at any period;
    # a history of readings has the rate it was trained on.
    reading_s = float(meta["period_s"]) if window > 1 else None
    if "reading_period_s" in m.model_fields_set and m.reading_period_s != reading_s:
        said = f"{reading_s:g} s" if reading_s else "none: its window is one acquisition"
        raise ScenarioError(
            f"model '{m.zoo}' brings its own reading period ({said}); remove reading_period_s",
            file,
            f"{prefix}.model.reading_period_s",
        )
    return {
        "device": ZOO_DIR / variants["int8"]["file"],
        # A zoo model may ship a larger cloud network; else the device model's fp32 twin.
        "cloud": ZOO_DIR / variants.get("cloud", variants["fp32"])["file"],
        "window": window,
        "reading_period_s": reading_s,
        "model_name": f"model '{m.zoo}'",
        "channels": tuple(meta["channels"]),
        "frontend_ops": float(meta.get("frontend", {}).get("ops", 0.0)),
        "decision": decision,
    }


def _load_models(source: dict, prefix: str, file: str | None) -> Models:
    """Load (or reuse) both models; an unreadable one is reported at the group's model key."""
    d = source["decision"]
    try:
        return Models(
            _model(source["device"], d["output"], d["positive_index"], d["threshold"]),
            _model(source["cloud"], d["output"], d["positive_index"], d["threshold"]),
        )
    except ScenarioError as exc:
        raise ScenarioError(exc.message, exc.file or file, f"{prefix}.model") from None


def _model(path: Path, output: str, positive_index: int, threshold: float) -> Classifier:
    """A model, loaded once per process per file version (a study compiles many plans)."""
    try:
        st = path.stat()
    except OSError:
        raise ScenarioError(f"model file not found: {path}") from None
    return _cached_model(str(path), st.st_mtime_ns, st.st_size, output, positive_index, threshold)


@functools.lru_cache(maxsize=64)
def _cached_model(
    path: str, mtime_ns: int, size: int, output: str, positive_index: int, threshold: float
) -> Classifier:
    return load_model(Path(path), output, positive_index, threshold)


def _policy_plans(
    scenario: Scenario,
    groups: tuple[GroupPlan, ...],
    base: Path,
    file: str | None,
    import_policies: bool,
    allow_outside: bool,
) -> list[PolicyPlan]:
    """Resolve each listed policy to a class and parameters, and check it suits every group."""
    plans = []
    for i, spec in enumerate(scenario.policies):
        where = f"policies[{i}]"
        try:
            if isinstance(spec, str):
                plan = PolicyPlan(spec, BUILTIN[spec], {})
            elif spec.kind is not None:
                plan = PolicyPlan(spec.name, BUILTIN[spec.kind], dict(spec.params))
            elif import_policies:
                cls = load_policy_class(spec.module, spec.class_name, base, allow_outside)
                plan = PolicyPlan(spec.name, cls, dict(spec.params))
            else:  # checked as source only: not run, so neither built nor fitted
                path = find_policy_module(spec.module, base, allow_outside)
                check_policy_source(path, spec.class_name)
                plans.append(PolicyPlan(spec.name, None, dict(spec.params)))
                continue
            probe = plan.build()  # bad parameters fail here, before anything runs
        except ScenarioError as exc:
            raise ScenarioError(exc.message, file, where) from None
        for g in groups:
            _check_policy_fits(plan.name, probe, g, file, where)
        plans.append(plan)
    return plans


def _check_policy_fits(name: str, probe, g: GroupPlan, file: str | None, where: str) -> None:
    """What a policy sends must fit the group's radio and window."""
    window, limit = g.window_samples, g.radio.max_payload_bytes
    if probe.sends_windows:
        size = g.payload_bytes.window or 2 * window * len(g.channels)
        if size > limit:
            raise ScenarioError(
                f"policy '{name}' escalates whole windows ({size} bytes) but group "
                f"'{g.name}''s radio carries at most {limit} bytes per message; set "
                f"groups.{g.name}.payload_bytes.window to a compressed size, or use another "
                "radio",
                file,
                where,
            )
    n = probe.readings_per_message
    if n > 1 and (n > window or n * g.payload_bytes.reading > limit):
        raise ScenarioError(
            f"policy '{name}' sends {n} readings per message; group '{g.name}' keeps "
            f"{window} readings and its radio carries {limit} bytes",
            file,
            where,
        )
