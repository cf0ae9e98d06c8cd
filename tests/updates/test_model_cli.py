"""``microemo model install|status|rollback`` as an operator runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from update_kit import Kit


def microemo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "microemo.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_install_status_rollback(kit: Kit, tmp_path: Path) -> None:
    cfg = str(kit.config_toml(tmp_path / "state"))
    r = microemo("model", "install", str(kit.v1), "--config", cfg)
    assert r.returncode == 0 and "installed test-core 1.0.0" in r.stdout, r.stdout + r.stderr
    assert microemo("model", "install", str(kit.v2), "--config", cfg).returncode == 0
    r = microemo("model", "install", str(kit.v1), "--config", cfg)
    assert r.returncode == 1 and "not newer than the running 2.0.0" in r.stdout
    r = microemo("model", "status", "--config", cfg, "--json")
    status = json.loads(r.stdout)
    assert status["running"]["version"] == "2.0.0" and status["source"] == "current"
    assert status["previous"].startswith("test-core-1.0.0-")
    assert status["last"]["ok"] is False and "not newer" in status["last"]["reason"]
    r = microemo("model", "rollback", "--config", cfg)
    assert r.returncode == 0 and "now test-core 1.0.0" in r.stdout
    r = microemo("model", "status", "--config", cfg)
    assert "running:  test-core 1.0.0" in r.stdout and "last:     rolled-back" in r.stdout
    r = microemo("model", "install", str(kit.v1), "--config", cfg, "--allow-downgrade")
    assert r.returncode == 0
