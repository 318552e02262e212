"""Running scenarios needs the runtime only: never the zoo's build code or its ML trainers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"

_CODE = """
import sys
import yaml
import twin

for name in ("farm.yaml", "wearables.yaml"):
    data = yaml.safe_load(open({scenarios!r} + "/" + name))
    data["world"]["horizon_days"] = 0.5
    for group in data["groups"].values():
        group["count"] = min(group["count"], 10)
    result = twin.run(data, base_dir={scenarios!r})
    assert result.summary["results"], name
build = ("twin.training", "sklearn", "skl2onnx", "torch", "onnxruntime.quantization")
print(sorted(m for m in sys.modules if m.startswith(build)))
"""


def test_running_scenarios_does_not_import_the_build_package():
    # A fresh interpreter: this test process may have imported the builders for other tests.
    code = _CODE.format(scenarios=str(SCENARIOS))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"
