"""The device never imports the desktop tool or training libraries (tools -> device only)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

DEVICE = Path(__file__).resolve().parents[1] / "device" / "microemo"
FORBIDDEN = ("microemo_train", "sklearn", "skrebate", "dask", "distributed", "keras")


def test_device_sources_import_no_training_code():
    for path in DEVICE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in FORBIDDEN, f"{path}: imports {name}"


def test_running_the_device_stack_loads_no_training_library():
    code = (
        "import sys\n"
        "from microemo.daemon.cli import keep_training_libraries_out\n"
        "keep_training_libraries_out()\n"
        "import microemo.pipeline, microemo.daemon.service, microemo.publish.mqtt.sink\n"
        "import microemo.model.store, microemo.model.updates, microemo.model.runner\n"
        "from microemo.config import Config\n"
        "from microemo.pipeline import Pipeline\n"
        "Pipeline(Config()).close()\n"
        "bad = [m for m, mod in sys.modules.items() if mod is not None\n"
        f"       and m.split('.')[0] in {FORBIDDEN!r} + ('tensorflow',)]\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr[-2000:]
