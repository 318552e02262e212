"""twin: a simulation-first digital twin for fleets of TinyML devices.

>>> import twin
>>> result = twin.run("scenarios/farm.yaml")  # doctest: +SKIP
>>> result.result("on_device")["battery_life_days"]["median"]  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# The public names load their modules on first use (PEP 562): importing a light submodule
# such as twin.world.registry (read by schema docs and plug-in listings) must not pull in
# onnxruntime, onnx and the engine through this package's __init__.
_EXPORTS = {
    "RunResult": "twin.api",
    "load_results": "twin.api",
    "run": "twin.api",
    "write_results": "twin.api",
    "load_scenario": "twin.config.loader",
    "scenario_from_dict": "twin.config.loader",
    "Scenario": "twin.config.schema",
    "ScenarioError": "twin.errors",
    "TwinError": "twin.errors",
    "StudySpec": "twin.study",
    "load_study": "twin.study",
    "run_study": "twin.study",
}

__all__ = [
    "RunResult",
    "Scenario",
    "ScenarioError",
    "StudySpec",
    "TwinError",
    "load_results",
    "load_scenario",
    "load_study",
    "run",
    "run_study",
    "scenario_from_dict",
    "write_results",
]

if TYPE_CHECKING:
    from twin.api import RunResult, load_results, run, write_results
    from twin.config.loader import load_scenario, scenario_from_dict
    from twin.config.schema import Scenario
    from twin.errors import ScenarioError, TwinError
    from twin.study import StudySpec, load_study, run_study


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'twin' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
