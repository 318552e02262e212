"""Fuzzing: mutated scenarios, YAML bytes and ONNX bytes get a clean answer, never a crash.

``twin validate`` must either accept the input (exit 0) or refuse it with one ``error:`` line
(exit 2) -- never a traceback, never a hang (Hypothesis' deadline). CI runs a small budget;
a longer campaign is one command:

    TWIN_FUZZ_EXAMPLES=2000 python -m pytest tests/test_fuzz.py
"""

from __future__ import annotations

import copy
import math
import os
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from twin.cli import app

ROOT = Path(__file__).resolve().parent.parent
# The farm with faults and store-and-forward: every key of farm.yaml and the fault keys too.
FARM = yaml.safe_load((ROOT / "scenarios" / "farm_outage.yaml").read_text())
FARM_TEXT = (ROOT / "scenarios" / "farm.yaml").read_bytes()
MODEL = (ROOT / "twin" / "zoo" / "soil_irrigation_int8.onnx").read_bytes()
EXAMPLES = int(os.environ.get("TWIN_FUZZ_EXAMPLES", "25"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=10_000,  # ms per example: validation is well under a second; a hang is not
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,  # CI explores the same cases every time; a campaign widens them
)
runner = CliRunner()


def _paths(d, prefix=()):
    """Every key path of a nested dict/list."""
    out = []
    items = d.items() if isinstance(d, dict) else enumerate(d) if isinstance(d, list) else ()
    for k, v in items:
        out.append((*prefix, k))
        out.extend(_paths(v, (*prefix, k)))
    return out


PATHS = _paths(FARM)
LEAF = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**15), 10**15),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.lists(st.integers(-5, 5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)  # fmt: skip


def _check(res) -> None:
    assert res.exit_code in (0, 2), res.output
    assert "Traceback" not in res.output
    if res.exit_code == 2:
        # One clear line per problem (a file with several mistakes lists each).
        lines = res.output.splitlines()
        assert lines and all(line.startswith("error: ") for line in lines), res.output


@FUZZ
@given(
    edits=st.lists(
        st.tuples(st.sampled_from(PATHS), st.one_of(st.just(KeyError), LEAF)),
        min_size=1,
        max_size=3,
    )  # fmt: skip
)
@pytest.mark.slow
def test_mutated_scenarios_get_a_clean_answer(tmp_path_factory, edits):
    d = copy.deepcopy(FARM)
    for path, value in edits:
        node = d
        try:
            for key in path[:-1]:
                node = node[key]
            if value is KeyError:
                del node[path[-1]]
            else:
                node[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit removed or replaced this path
    tmp = tmp_path_factory.mktemp("s")
    (tmp / "s.yaml").write_text(yaml.safe_dump(d))
    _check(runner.invoke(app, ["validate", str(tmp / "s.yaml")]))


@FUZZ
@given(flips=st.lists(st.tuples(st.integers(0, len(FARM_TEXT) - 1), st.integers(0, 255)),
                      min_size=1, max_size=8))  # fmt: skip
def test_mutated_yaml_bytes_get_a_clean_answer(tmp_path_factory, flips):
    data = bytearray(FARM_TEXT)
    for pos, byte in flips:
        data[pos] = byte
    tmp = tmp_path_factory.mktemp("y")
    (tmp / "s.yaml").write_bytes(bytes(data))
    _check(runner.invoke(app, ["validate", str(tmp / "s.yaml")]))


@FUZZ
@given(
    flips=st.lists(st.tuples(st.integers(0, len(MODEL) - 1), st.integers(0, 255)),
                   min_size=1, max_size=6),
    cut=st.one_of(st.none(), st.integers(0, len(MODEL))),
)  # fmt: skip
def test_mutated_onnx_bytes_get_a_clean_answer(tmp_path_factory, flips, cut):
    data = bytearray(MODEL)
    for pos, byte in flips:
        data[pos] = byte
    if cut is not None:
        data = data[:cut]  # a truncated download
    tmp = tmp_path_factory.mktemp("m")
    (tmp / "m.onnx").write_bytes(bytes(data))
    d = copy.deepcopy(FARM)
    d["groups"]["soil"]["model"] = {"device_path": "m.onnx"}
    (tmp / "s.yaml").write_text(yaml.safe_dump(d))
    _check(runner.invoke(app, ["validate", str(tmp / "s.yaml")]))


# --------------------------------------------------------------------------- input edges
# The classes a user trial found: keys given twice, booleans and non-finite or huge
# numbers, YAML aliases. Each gets a clean answer; what validate accepts, run runs.

SMALL = copy.deepcopy(FARM)
SMALL["groups"]["soil"]["count"] = 3
SMALL["world"]["horizon_days"] = 0.05
SMALL_TEXT = yaml.safe_dump(SMALL, sort_keys=False)
EDGES = st.sampled_from([
    True, False, float("inf"), float("-inf"), float("nan"), 0, -0.0, -1, 1e-300, 1e-9,
    1e-6, 0.5, 3, 1e6, 1e9, 1e300, 2**31, 2**63, 10**30,
])  # fmt: skip


def _numeric_paths(d) -> list[tuple]:
    """Key paths of every number (not bool) in the scenario: where edge values go."""
    out = []
    for path in _paths(d):
        node = d
        for key in path:
            node = node[key]
        if isinstance(node, (int, float)) and not isinstance(node, bool):
            out.append(path)
    return out


NUMBERS = _numeric_paths(SMALL)
# "key: value" lines of the farm's YAML (not comments, list items, block scalars).
KEY_LINES = [
    i for i, line in enumerate(FARM_TEXT.decode().splitlines())
    if re.match(r"^\s*[A-Za-z_][A-Za-z0-9_]*:\s+[^\s#>|]", line)
]  # fmt: skip


def _accepted_is_finite_and_strict(path: Path) -> None:
    """What validate accepted holds no boolean where a number goes and no inf / NaN."""
    from twin.config.loader import load_scenario

    sc = load_scenario(path)
    for p in _paths(sc.model_dump()):
        node = sc.model_dump()
        for key in p:
            node = node[key]
        if isinstance(node, float):
            assert math.isfinite(node), (p, node)


@FUZZ
@given(line=st.sampled_from(KEY_LINES), value=st.sampled_from(["1", "true", "x", "{}", "[]"]))
def test_a_key_given_twice_is_always_refused(tmp_path_factory, line, value):
    lines = FARM_TEXT.decode().splitlines()
    key = lines[line].split(":")[0]
    lines.insert(line + 1, f"{key}: {value}")
    tmp = tmp_path_factory.mktemp("d")
    (tmp / "s.yaml").write_text("\n".join(lines) + "\n")
    res = runner.invoke(app, ["validate", str(tmp / "s.yaml")])
    _check(res)
    assert res.exit_code == 2 and f"key '{key.strip()}' appears twice" in res.output


@FUZZ
@given(edits=st.lists(st.tuples(st.sampled_from(NUMBERS), EDGES), min_size=1, max_size=3))
def test_numbers_at_the_edges_get_a_clean_answer(tmp_path_factory, edits):
    d = copy.deepcopy(SMALL)
    for path, value in edits:
        node = d
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    tmp = tmp_path_factory.mktemp("n")
    (tmp / "s.yaml").write_text(yaml.safe_dump(d))
    res = runner.invoke(app, ["validate", str(tmp / "s.yaml")])
    _check(res)
    if res.exit_code == 0:
        _accepted_is_finite_and_strict(tmp / "s.yaml")


RUNS = settings(FUZZ, max_examples=max(EXAMPLES // 5, 3), deadline=60_000)


# The original value scaled: mostly still valid, so the run below is reached more often.
SCALES = st.sampled_from([0.0, 1e-9, 1e-3, 0.1, 0.5, 2.0, 10.0, 1e3, 1e6, 1e9])


@RUNS
@given(
    edits=st.lists(
        st.tuples(st.sampled_from(NUMBERS), st.one_of(EDGES, SCALES.map(lambda f: ("x", f)))),
        min_size=1, max_size=2,
    )
)  # fmt: skip
def test_what_validate_accepts_runs(tmp_path_factory, edits):
    """Small enough to run (the budget's high estimate under 20 s): it must run cleanly."""
    from twin.budget import estimate
    from twin.config.loader import load_scenario

    d = copy.deepcopy(SMALL)
    for path, value in edits:
        node = d
        for key in path[:-1]:
            node = node[key]
        if isinstance(value, tuple):  # ("x", factor): the value it replaces, scaled
            old = node[path[-1]]
            value = type(old)(old * value[1]) if isinstance(old, (int, float)) else old
        node[path[-1]] = value
    tmp = tmp_path_factory.mktemp("r")
    (tmp / "s.yaml").write_text(yaml.safe_dump(d))
    res = runner.invoke(app, ["validate", str(tmp / "s.yaml")])
    _check(res)
    if res.exit_code != 0 or estimate(load_scenario(tmp / "s.yaml")).wall_s[1] > 20:
        event("refused" if res.exit_code else "too large to run here")
        return
    event("ran")
    res = runner.invoke(app, ["run", str(tmp / "s.yaml"), "-o", str(tmp / "out")])
    assert res.exit_code == 0, (edits, res.output[-3000:])
    assert (tmp / "out" / "summary.json").is_file()


@st.composite
def _alias_documents(draw) -> str:
    """Anchors over anchors: each level a list of aliases of earlier ones (maybe a bomb)."""
    levels = draw(st.integers(1, 12))
    text = "a0: &a0 [lol]\n"
    for i in range(1, levels):
        refs = draw(st.lists(st.integers(0, i - 1), min_size=1, max_size=12))
        text += f"a{i}: &a{i} [{', '.join(f'*a{r}' for r in refs)}]\n"
    if draw(st.booleans()):  # inside a real scenario, or a document of its own
        text = SMALL_TEXT + text
    return text


@FUZZ
@given(doc=_alias_documents())
def test_aliases_get_a_clean_answer_quickly(tmp_path_factory, doc):
    tmp = tmp_path_factory.mktemp("a")
    (tmp / "s.yaml").write_text(doc)
    res = runner.invoke(app, ["validate", str(tmp / "s.yaml")])
    _check(res)
    assert res.exit_code == 2  # an alias list is no scenario key


def test_an_alias_used_as_intended_is_accepted(tmp_path):
    """Aliases within the limit keep working: two groups sharing one anchored block."""
    text = SMALL_TEXT.replace("  soil:\n", "  soil: &soil\n", 1)
    text = text.replace("gateways:\n", "  soil2: *soil\ngateways:\n", 1)
    (tmp_path / "s.yaml").write_text(text)
    res = runner.invoke(app, ["validate", str(tmp_path / "s.yaml")])
    assert res.exit_code == 0 and "6 nodes" in res.output, res.output


STUDY = {
    "name": "fuzz", "scenario": str(ROOT / "scenarios" / "farm.yaml"),
    "overrides": {"world.horizon_days": 1},
    "parameters": {"groups.soil.model.threshold": {"start": 0.1, "stop": 0.9, "step": 0.1},
                   "groups.soil.count": [10, 20]},
    "seeds": {"count": 2, "start": 1}, "samples": None, "metrics": ["decision.f1"],
}  # fmt: skip


@FUZZ
@given(
    edits=st.lists(
        st.tuples(st.sampled_from(_paths(STUDY)), st.one_of(EDGES, LEAF)), min_size=1, max_size=3
    )
)
def test_mutated_studies_get_a_clean_answer(tmp_path_factory, edits):
    from twin.errors import ScenarioError
    from twin.study import MAX_RUNS, load_study

    d = copy.deepcopy(STUDY)
    for path, value in edits:
        node = d
        try:
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue
    tmp = tmp_path_factory.mktemp("st")
    (tmp / "study.yaml").write_text(yaml.safe_dump(d))
    try:
        spec, _ = load_study(tmp / "study.yaml")
    except ScenarioError as exc:
        assert str(exc).startswith(str(tmp / "study.yaml"))
        return
    assert spec.size * len(spec.seed_list) <= MAX_RUNS
    assert all(isinstance(s, int) and not isinstance(s, bool) for s in spec.seed_list)


_RESULTS: list = []


def _results_folder() -> Path:
    """A small run's results folder, made once per session."""
    import tempfile

    if not _RESULTS:
        root = Path(tempfile.mkdtemp(prefix="twin-fuzz-results-"))
        d = copy.deepcopy(SMALL)
        (root / "s.yaml").write_text(yaml.safe_dump(d))
        res = runner.invoke(app, ["run", str(root / "s.yaml"), "-o", str(root / "out")])
        assert res.exit_code == 0, res.output
        _RESULTS.append(root / "out")
    return _RESULTS[0]


@pytest.mark.slow
@settings(FUZZ, max_examples=max(EXAMPLES // 5, 5), deadline=30_000)
@given(data=st.data())
def test_damaged_results_folders_get_a_clean_answer(tmp_path_factory, data):
    """twin report on an edited summary.json: a report, or one error line naming the folder."""
    import json
    import shutil

    tmp = tmp_path_factory.mktemp("res")
    out = tmp / "out"
    shutil.copytree(_results_folder(), out)
    summary = json.loads((out / "summary.json").read_text())
    paths = _paths(summary)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths))
        value = data.draw(st.one_of(st.just(KeyError), LEAF))
        node = summary
        try:
            for key in path[:-1]:
                node = node[key]
            if value is KeyError:
                del node[path[-1]]
            else:
                node[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue
    (out / "summary.json").write_text(json.dumps(summary))
    _check(runner.invoke(app, ["report", str(out), "-o", str(tmp / "r.html")]))
