"""The world registry: built-in kinds, third-party worlds by string and by entry point."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from dataclasses import dataclass

import numpy as np
import pytest

from twin.rng import NodeStream
from twin.world import registry
from twin.world.dataset import make_dataset, make_world
from twin.world.protocol import ActuatedWorld, World
from twin.world.registry import WorldSpec, register_world, world_kinds, world_spec

SIMULATED = ("soil", "room", "heart", "audio", "camera", "vibration")
# The trace world replays recordings: its channels come from its parameters (test_world_trace).
BUILTIN = (*SIMULATED, "trace")


@dataclass
class TinyParams:
    """A ramp per node: reading k of node i is level + i + k."""

    level: float = 1.0


class TinyWorld:
    """The smallest world the engine could run: two channels, label = even sample index."""

    kind = "tiny"
    params_type = TinyParams
    channels = ("ramp", "parity")
    actuator = None
    description = "a ramp per node, for tests of the registry"

    def __init__(
        self,
        params: TinyParams,
        n_nodes: int,
        period_s: float,
        phase_s: np.ndarray,
        horizon_s: float,
        rng: np.random.Generator,
        stream: NodeStream,
        history_samples: int = 0,
    ) -> None:
        self.params = params
        self.k = np.full(n_nodes, -history_samples, dtype=np.int64)

    def sample(self, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k = self.k[nodes]
        self.k[nodes] += 1
        ramp = self.params.level + nodes + k
        readings = np.stack([ramp, k % 2], axis=1).astype(np.float32)
        return readings, k % 2 == 0


class TinyPluginWorld(TinyWorld):
    kind = "tiny_plugin"


@pytest.fixture(autouse=True)
def _clean_registry():
    """Each test sees the built-ins only, whatever an earlier test registered."""
    saved = dict(registry._REGISTERED), dict(registry._SPECS)
    registry._entry_points.cache_clear()
    yield
    registry._REGISTERED.clear()
    registry._REGISTERED.update(saved[0])
    registry._SPECS.clear()
    registry._SPECS.update(saved[1])
    registry._entry_points.cache_clear()


def test_every_builtin_kind_resolves_to_its_class():
    assert world_kinds()[: len(BUILTIN)] == BUILTIN
    for kind in SIMULATED:
        spec = world_spec(kind)
        assert isinstance(spec, WorldSpec) and spec.kind == kind
        assert spec.world.__module__ == f"twin.world.{kind}"
        assert spec.world.__name__ == f"{kind.capitalize()}World"
        assert spec.params.__name__ == f"{kind.capitalize()}Params"
        assert spec.channels == tuple(spec.world.channels)
        assert isinstance(spec.description, str) and spec.description
        assert "\n" not in spec.description and len(spec.description) < 120
        assert world_spec(kind) is spec  # resolved once


def test_actuators_are_exactly_soil_and_room():
    actuators = {k: world_spec(k).actuator for k in BUILTIN}
    assert actuators == {
        "soil": "irrigation valve",
        "room": "heating setpoint",
        "heart": None,
        "audio": None,
        "camera": None,
        "vibration": None,
        "trace": None,
    }


def test_builtin_worlds_satisfy_the_protocol():
    for kind in SIMULATED:
        world = make_world(kind, 3, 0.1, 600.0, seed=1)
        assert isinstance(world, World)
        assert isinstance(world, ActuatedWorld) == (world_spec(kind).actuator is not None)


def test_unknown_kind_lists_the_known_ones():
    with pytest.raises(KeyError) as err:
        world_spec("mars")
    for kind in BUILTIN:
        assert kind in str(err.value)


def test_third_party_world_by_string_end_to_end():
    assert "tiny" not in world_kinds()
    register_world("tiny", f"{__name__}:TinyWorld")
    assert world_kinds()[-1] == "tiny"
    spec = world_spec("tiny")
    assert spec.world is TinyWorld and spec.params is TinyParams
    assert spec.channels == ("ramp", "parity") and spec.actuator is None
    # The generic dataset builder runs it like any built-in: 4 nodes x 12 samples, windows of
    # 3 every 2 samples, oldest first, channels interleaved, label of the last sample.
    x, y = make_dataset("tiny", 4, 12 * 600.0 / 86_400, 600.0, 3, seed=7, stride=2)
    ends = np.arange(2, 12, 2)
    assert x.shape == (len(ends) * 4, 6) and x.dtype == np.float32
    rows = x.reshape(len(ends), 4, 3, 2)
    for b, k in enumerate(ends):
        for node in range(4):
            np.testing.assert_array_equal(rows[b, node, :, 0], 1.0 + node + np.arange(k - 2, k + 1))
    np.testing.assert_array_equal(y, np.repeat(ends % 2 == 0, 4).astype(np.int64))
    # The spec itself is accepted too (no second lookup).
    x2, _ = make_dataset(spec, 4, 12 * 600.0 / 86_400, 600.0, 3, seed=7, stride=2)
    np.testing.assert_array_equal(x, x2)


def test_register_world_rejects_clashes_and_bad_names():
    with pytest.raises(ValueError, match="already"):
        register_world("soil", f"{__name__}:TinyWorld")
    register_world("soil", "twin.world.soil:SoilWorld")  # the same target: a no-op
    with pytest.raises(ValueError, match="ClassName"):
        register_world("tiny", "tests.test_world_registry.TinyWorld")
    with pytest.raises(ValueError, match="lower case"):
        register_world("Tiny World", f"{__name__}:TinyWorld")
    # The class must declare the kind it is registered under.
    register_world("other", f"{__name__}:TinyWorld")
    with pytest.raises(ValueError, match="declares kind 'tiny'"):
        world_spec("other")


def test_entry_point_worlds_are_found_lazily(monkeypatch):
    found = [
        importlib.metadata.EntryPoint(
            name="tiny_plugin", value=f"{__name__}:TinyPluginWorld", group="twin.worlds"
        ),
        importlib.metadata.EntryPoint(
            name="soil", value=f"{__name__}:TinyWorld", group="twin.worlds"
        ),
    ]
    calls = []

    def entry_points(group: str):
        calls.append(group)
        return [ep for ep in found if ep.group == group]

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    registry._entry_points.cache_clear()
    with pytest.warns(RuntimeWarning, match="built-in world 'soil'"):
        kinds = world_kinds()
    assert kinds == (*BUILTIN, "tiny_plugin")
    assert world_spec("tiny_plugin").world is TinyPluginWorld
    assert world_spec("soil").world.__module__ == "twin.world.soil"  # built-ins win
    assert calls == ["twin.worlds"]  # metadata read once


def test_no_entry_points_is_fine(monkeypatch):
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: [])
    registry._entry_points.cache_clear()
    assert world_kinds() == BUILTIN


def test_importing_the_registry_is_cheap():
    code = (
        "import sys\n"
        "from twin.world.registry import world_kinds\n"
        "kinds = world_kinds()\n"
        "heavy = ('onnxruntime', 'onnx', 'torch', 'sklearn', 'twin.sim', 'twin.api')\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in heavy"
        " or m.startswith(heavy) or m.startswith('twin.world.') and m != 'twin.world.registry')\n"
        "print(','.join(kinds)); print(loaded)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out[0] == ",".join(BUILTIN)
    assert out[1] == "[]"


class TinySkippingWorld(TinyWorld):
    """The tiny world with the optional skip() hook: steps without producing a sample."""

    kind = "tiny_skip"
    skipped = 0

    def skip(self, nodes: np.ndarray) -> None:
        self.k[nodes] += 1
        TinySkippingWorld.skipped += len(nodes)


def test_dataset_builder_skips_samples_no_window_uses():
    # Windows of 3 every 5 samples leave 2 of every 5 samples unused; a world with skip() is
    # not asked to produce them, and the rows are those of the plain world.
    register_world("tiny", f"{__name__}:TinyWorld")
    register_world("tiny_skip", f"{__name__}:TinySkippingWorld")
    days = 20 * 600.0 / 86_400
    plain = make_dataset("tiny", 3, days, 600.0, 3, seed=1, stride=5)
    TinySkippingWorld.skipped = 0
    skipping = make_dataset("tiny_skip", 3, days, 600.0, 3, seed=1, stride=5)
    np.testing.assert_array_equal(plain[0], skipping[0])
    np.testing.assert_array_equal(plain[1], skipping[1])
    assert TinySkippingWorld.skipped == 3 * 8  # samples 3-4, 8-9, 13-14 and 18-19 are in no window
