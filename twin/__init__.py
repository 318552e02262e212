"""twin: a simulation-first digital twin for fleets of TinyML devices.

>>> import twin
>>> result = twin.run("scenarios/farm.yaml")  # doctest: +SKIP
>>> result.result("on_device")["battery_life_days"]["median"]  # doctest: +SKIP

The names below are imported on first use: ``import twin`` (or ``import twin.config``) does not
load onnxruntime, so reading and checking a scenario file starts fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Public name -> module that defines it.
_EXPORTS = {
    "RunResult": "twin.api",
    "load_results": "twin.api",
    "run": "twin.api",
    "validate": "twin.api",
    "write_results": "twin.api",
    "compile_scenario": "twin.compile",
    "load_scenario": "twin.config.loader",
    "scenario_from_dict": "twin.config.loader",
    "Scenario": "twin.config.schema",
    "ScenarioError": "twin.errors",
    "TwinError": "twin.errors",
    "RunPlan": "twin.plan",
    "StudySpec": "twin.study",
    "load_study": "twin.study",
    "run_study": "twin.study",
}

__all__ = [
    "RunPlan",
    "RunResult",
    "Scenario",
    "ScenarioError",
    "StudySpec",
    "TwinError",
    "compile_scenario",
    "load_results",
    "load_scenario",
    "load_study",
    "run",
    "run_study",
    "scenario_from_dict",
    "validate",
    "write_results",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'twin' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:  # for type checkers and editors: the eager imports
    from twin.api import RunResult, load_results, run, validate, write_results
    from twin.compile import compile_scenario
    from twin.config.loader import load_scenario, scenario_from_dict
    from twin.config.schema import Scenario
    from twin.errors import ScenarioError, TwinError
    from twin.plan import RunPlan
    from twin.study import StudySpec, load_study, run_study
