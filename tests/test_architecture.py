"""The shape of the package: layers that import only downwards, no cycles, small modules.

Layers, bottom to top (docs/architecture.md draws them):

0. foundations: errors, random streams, array helpers, profiles (sourced figures), physics
   and cost functions (pure, vectorised, taking profiles as parameters);
1. the domain: profiles, worlds, models, policies, faults, statistics;
2. input and the plan: the YAML schema and loader; the typed run plan;
3. the compile stage (scenario -> plan) and the engine (plan -> stats);
4. results: records built from the engine's stats;
5. the report: a pure function of the records;
6. the Python API and studies;
7. the command line, and the code that builds the shipped models (never imported by the
   simulator).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import twin

PKG = Path(twin.__file__).resolve().parent

LAYERS = {
    "twin.errors": 0,
    "twin.rng": 0,
    "twin.arrays": 0,
    "twin.strict_yaml": 0,
    "twin.profiles": 0,
    "twin.nodes": 0,
    "twin.catalog": 1,
    "twin.physics": 0,
    "twin.world": 1,
    "twin.ml": 1,
    "twin.policies": 1,
    "twin.faults": 1,
    "twin.regions": 1,
    "twin.supply": 1,
    "twin.telemetry": 1,
    "twin.analysis": 1,
    "twin.config": 2,
    "twin.plan": 2,
    "twin.compile": 3,
    "twin.sim": 3,
    "twin.budget": 4,
    "twin.results": 4,
    "twin.report": 5,
    "twin.api": 6,
    "twin.study": 6,
    "twin.init": 6,
    "twin.deployed": 6,
    "twin.terminal": 7,
    "twin.cli": 7,
    "twin.__main__": 7,
    "twin.calibration": 7,
    "twin.training": 7,
}

# Beyond the layers: the engine reads the plan, never the schema; nothing but the build
# code and its command imports the model builders.
FORBIDDEN = [
    ("twin.sim", "twin.config"),
    ("twin.sim", "twin.compile"),
    ("twin.report", "twin.sim"),
]
BUILD_ONLY = ("twin.training", "twin.calibration")


def _modules() -> dict[str, Path]:
    out = {}
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG.parent).with_suffix("")
        name = ".".join(rel.parts)
        out[name.removesuffix(".__init__")] = path
    return out


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The project module an import names (``from twin.sim import effects``: the module)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(name: str, path: Path) -> set[str]:
    """Every twin module imported anywhere in a module (also inside functions)."""
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets = [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        for t in targets:
            if t.startswith("twin."):
                mod = _resolve(t)
                if mod and mod != name and mod != "twin":
                    found.add(mod)
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items() if name != "twin"}


def _layer(name: str) -> int:
    best = max((p for p in LAYERS if name == p or name.startswith(p + ".")), key=len)
    return LAYERS[best]


def test_every_module_has_a_layer():
    missing = [m for m in GRAPH if not any(m == p or m.startswith(p + ".") for p in LAYERS)]
    assert not missing, f"add these modules to LAYERS: {missing}"


def test_no_module_imports_a_layer_above_it():
    bad = [
        f"{m} (layer {_layer(m)}) imports {d} (layer {_layer(d)})"
        for m, deps in GRAPH.items()
        for d in deps
        if _layer(d) > _layer(m)
    ]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize(("importer", "imported"), FORBIDDEN)
def test_forbidden_imports(importer, imported):
    bad = [
        f"{m} imports {d}"
        for m, deps in GRAPH.items()
        if m == importer or m.startswith(importer + ".")
        for d in deps
        if d == imported or d.startswith(imported + ".")
    ]
    assert not bad, "\n".join(bad)


def test_the_simulator_never_imports_the_build_code():
    bad = [
        f"{m} imports {d}"
        for m, deps in GRAPH.items()
        if not m.startswith(BUILD_ONLY) and m not in ("twin.cli", "twin.__main__")
        for d in deps
        if d.startswith(BUILD_ONLY)
    ]
    assert not bad, "\n".join(bad)


def test_the_import_graph_has_no_cycles():
    # Depth-first search with colours: a grey module reached again closes a cycle.
    colour: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        colour[m] = 1
        stack.append(m)
        for d in sorted(GRAPH.get(m, ())):
            if colour.get(d) == 1:
                return [*stack[stack.index(d) :], d]
            if d not in colour and (cycle := visit(d)):
                return cycle
        stack.pop()
        colour[m] = 2
        return None

    for m in sorted(GRAPH):
        if m not in colour and (cycle := visit(m)):
            pytest.fail("import cycle: " + " -> ".join(cycle))


def test_no_module_is_too_long():
    # Small modules with one job each: past ~800 lines a module is doing several.
    long = {m: n for m, p in MODULES.items() if (n := len(p.read_text().splitlines())) > 800}
    assert not long, long
