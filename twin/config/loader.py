"""Reading scenario files: YAML -> validated :class:`Scenario`, errors with file, line and key.

Only the file and its schema are checked here; profiles, models and policies are resolved by
the compile stage (:mod:`twin.compile`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from twin.config.schema import Scenario
from twin.config.validation import validate
from twin.errors import ScenarioError
from twin.strict_yaml import parse, read_text


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
    return validate(Scenario, data, file, lines)


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario YAML file.

    The file is read strictly (:mod:`twin.strict_yaml`): at most 5 MB of UTF-8, no
    duplicate keys, aliases within a small limit, a tab named as such.
    """
    path = Path(path)
    text = read_text(path, "scenario file")
    data, lines = parse(text, str(path))
    return scenario_from_dict(data, str(path), lines).with_source(path, lines=lines)


def as_scenario(scenario: Scenario | str | Path | dict) -> Scenario:
    """A validated scenario from a file, plain data in the YAML's shape, or a Scenario."""
    if isinstance(scenario, (str, Path)):
        return load_scenario(scenario)
    if isinstance(scenario, dict):
        return scenario_from_dict(scenario)
    if isinstance(scenario, Scenario):
        return scenario
    raise TypeError(f"expected a Scenario, a path or a dict, not {type(scenario).__name__}")
