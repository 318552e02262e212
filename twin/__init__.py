"""twin: a simulation-first digital twin for fleets of TinyML devices.

>>> import twin
>>> result = twin.run("scenarios/farm.yaml")  # doctest: +SKIP
>>> result.result("on_device")["battery_life_days"]["median"]  # doctest: +SKIP
"""

from twin.api import RunResult, load_results, run, write_results
from twin.config.loader import load_scenario, scenario_from_dict
from twin.config.schema import Scenario
from twin.errors import ScenarioError, TwinError

__all__ = [
    "RunResult",
    "Scenario",
    "ScenarioError",
    "TwinError",
    "load_results",
    "load_scenario",
    "run",
    "scenario_from_dict",
    "write_results",
]
