"""The daemon's wiring: an in-package import that fails stops the start with the error,
instead of quietly turning a feature (field model updates) off."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest
from daemon_kit import FakePipeline

from microemo.config import load_config
from microemo.daemon.notify import Notifier
from microemo.daemon.service import Daemon


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_broken_update_module_fails_the_start(
    tmp_path: Path, clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "microemo.model.updates", None)
    config = load_config(
        None,
        {
            "device.state_dir": str(tmp_path / "state"),
            "source.path": str(clip),
            "output.jsonl": "",
            "mqtt.enabled": True,
            "mqtt.port": _free_port(),  # nothing listens: the sink keeps retrying meanwhile
        },
    )
    daemon = Daemon(config, notifier=Notifier({}), pipeline_factory=lambda c, **k: FakePipeline(0))
    try:
        with pytest.raises(ImportError, match=r"microemo\.model\.updates"):
            daemon.start()
    finally:
        daemon.shutdown()


def test_a_landmarker_model_that_is_not_there_stops_the_start_in_one_line(
    tmp_path: Path, clip: Path
) -> None:
    """The workers cannot build their landmarker: ``microemo run`` exits 2 naming the file,
    without a traceback, before it says it is running."""
    import subprocess

    missing = tmp_path / "models" / "face_landmarker.task"
    r = subprocess.run(
        [
            *(sys.executable, "-m", "microemo.cli", "run", "--source", str(clip)),
            *("--set", f"device.state_dir={tmp_path}/state"),
            *("--set", f"landmarker.model_path={missing}"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2, r.stderr[-2000:]
    assert str(missing) in r.stderr and "Traceback" not in r.stderr
    assert "microemo running" not in r.stderr
