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
