"""Any sampling period: a history model keeps its trained reading rate, nothing is reinterpreted.

The soil irrigation model reads 96 readings 15 minutes apart (24 h). A node deciding every hour
keeps reading every 15 minutes and decides on every fourth reading; a node deciding every
5 minutes reads every 5 minutes and the model sees every third reading. A model whose window is
one acquisition (an ECG strip) takes any period as it is.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

import twin
from twin.compile import compile_scenario
from twin.errors import ScenarioError
from twin.sim.window import WindowBuffer


def _period(d: dict, period_s: float, count: int = 6, days: float = 2) -> dict:
    d = copy.deepcopy(d)
    d["groups"]["soil"].update(count=count, sampling_period_s=period_s)
    d["world"]["horizon_days"] = days
    return d


@pytest.mark.parametrize(
    ("period_s", "reading_s", "every", "stride"),
    [(900, 900, 1, 1), (1800, 900, 2, 1), (3600, 900, 4, 1), (300, 300, 1, 3), (450, 450, 1, 2)],
)
def test_a_history_model_keeps_its_reading_rate(farm_dict, period_s, reading_s, every, stride):
    g = compile_scenario(_period(farm_dict, period_s)).group("soil")
    assert (g.sampling_period_s, g.reading_period_s) == (period_s, reading_s)
    assert (g.decide_every, g.window_stride, g.window_samples) == (every, stride, 96)


def test_a_period_the_model_cannot_read_at_is_refused_with_the_choices(farm_dict):
    with pytest.raises(ScenarioError) as err:
        compile_scenario(_period(farm_dict, 1000))
    assert err.value.key_path == "groups.soil.sampling_period_s"
    assert "Use a multiple of 900 s" in err.value.message and "every n-th" in err.value.message


def test_a_one_acquisition_model_takes_any_period(farm_dict):
    d = copy.deepcopy(farm_dict)
    d["groups"]["soil"].update(
        world="heart", model={"zoo": "heart_rhythm"}, sampling_period_s=417, actuation=False
    )
    g = compile_scenario(d).group("soil")
    assert (g.reading_period_s, g.decide_every, g.window_stride) == (417, 1, 1)


def test_a_model_file_says_its_reading_rate_or_is_refused(farm_dict, tmp_path):
    src = twin.__file__.replace("__init__.py", "zoo/soil_irrigation_int8.onnx")
    (tmp_path / "mine.onnx").write_bytes(open(src, "rb").read())
    d = _period(farm_dict, 1800)
    d["groups"]["soil"]["model"] = {"device_path": "mine.onnx"}
    with pytest.raises(ScenarioError, match="reading_period_s") as err:
        compile_scenario(d, base_dir=tmp_path)
    assert err.value.key_path == "groups.soil.model.reading_period_s"
    d["groups"]["soil"]["model"]["reading_period_s"] = 900
    g = compile_scenario(d, base_dir=tmp_path).group("soil")
    assert (g.reading_period_s, g.decide_every) == (900, 2)


def test_a_zoo_model_keeps_its_own_rate(farm_dict):
    d = _period(farm_dict, 900)
    d["groups"]["soil"]["model"] = {"zoo": "soil_irrigation", "reading_period_s": 300}
    with pytest.raises(ScenarioError, match="brings its own reading period"):
        compile_scenario(d)


def test_strided_windows_take_every_nth_reading():
    ring = WindowBuffer(n=3, window=4, channels=2, stride=3)
    assert ring.window == 10 and ring.features == 8
    nodes = np.arange(3)
    for k in range(-10, 7):
        ring.write(nodes, np.full(3, k), np.stack([np.full(3, k), 100 + nodes], 1))
    x = ring.windows(nodes, np.full(3, 6)).reshape(3, 4, 2)
    # Oldest first, ending at the reading just taken: readings 6-9, 6-6, 6-3, 6.
    np.testing.assert_array_equal(x[:, :, 0], np.tile([-3, 0, 3, 6], (3, 1)))
    np.testing.assert_array_equal(x[:, :, 1], np.repeat(100 + nodes[:, None], 4, 1))
    np.testing.assert_array_equal(ring.recent(nodes, np.full(3, 6), 2)[:, ::2], [[5, 6]] * 3)


def test_deciding_hourly_reads_every_quarter_hour_and_sends_what_the_cloud_needs(farm_dict):
    hourly = twin.run(_period(farm_dict, 3600))
    quarter = twin.run(_period(farm_dict, 900))
    for policy in ("on_device", "cloud"):
        h, q = hourly.result(policy), quarter.result(policy)
        # The same readings are taken (the model's rate), a quarter of them decided on.
        assert h["samples"] == q["samples"]
        assert h["decisions_taken"] == pytest.approx(q["samples"] / 4, abs=6)
    h, q = hourly.result("cloud"), quarter.result("cloud")
    # Cloud: one message per decision carrying the four readings since the last one, so the
    # payload is the same and the frames (and their headers and receive windows) a quarter.
    assert h["uplink_messages"] == h["decisions_taken"]
    assert h["uplink_payload_bytes"] == 4 * 4 * h["uplink_messages"]
    assert h["battery"]["drawn_c"] < q["battery"]["drawn_c"]
    # On the device the model runs once per decision, and compute charge falls with it.
    on_h, on_q = hourly.result("on_device"), quarter.result("on_device")
    assert on_h["inferences_device"] == on_h["decisions_taken"]
    compute = "drawn_by_state_c"
    ratio = on_h["battery"][compute]["compute"] / on_q["battery"][compute]["compute"]
    assert ratio == pytest.approx(0.25, rel=0.01)
    assert on_h["battery"][compute]["sense"] == pytest.approx(on_q["battery"][compute]["sense"])


def test_the_shipped_period_study_plans_every_run():
    from pathlib import Path

    from twin.study import load_study, plan

    path = Path(__file__).resolve().parent.parent / "examples" / "farm_period_study.yaml"
    spec, scenario = load_study(path)
    tasks = plan(spec, scenario)
    periods = sorted({t.params["groups.soil.sampling_period_s"] for t in tasks})
    assert periods == [300, 900, 1800, 3600] and len(tasks) == 20
