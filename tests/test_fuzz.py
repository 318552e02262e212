"""Fuzzing: mutated scenarios, YAML bytes and ONNX bytes get a clean answer, never a crash.

``twin validate`` must either accept the input (exit 0) or refuse it with one ``error:`` line
(exit 2) -- never a traceback, never a hang (Hypothesis' deadline). CI runs a small budget;
a longer campaign is one command:

    TWIN_FUZZ_EXAMPLES=2000 python -m pytest tests/test_fuzz.py
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
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
        assert res.output.startswith("error: "), res.output
        assert res.output.count("\n") == 1, res.output  # one clear line


@FUZZ
@given(
    edits=st.lists(
        st.tuples(st.sampled_from(PATHS), st.one_of(st.just(KeyError), LEAF)),
        min_size=1,
        max_size=3,
    )  # fmt: skip
)
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
