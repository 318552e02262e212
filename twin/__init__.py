"""twin: a simulation-first digital twin for fleets of TinyML devices.

>>> import twin
>>> result = twin.run("scenarios/farm.yaml")  # doctest: +SKIP
>>> result.result("on_device")["battery_life_days"]["median"]  # doctest: +SKIP
"""

from twin.api import RunResult, load_results, run, write_results
from twin.config.loader import load_scenario, scenario_from_dict
from twin.config.schema import Scenario
from twin.errors import ScenarioError, TwinError
from twin.study import StudySpec, load_study, run_study

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
