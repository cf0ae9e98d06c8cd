"""``microemo model install|status|rollback`` as an operator runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from update_kit import Kit, microemo


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


def train_tool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "microemo_train.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_keygen_sign_and_update_msg(kit: Kit, tmp_path: Path) -> None:
    import shutil

    from microemo.model.commands import verify_message

    r = train_tool("keygen", "--out", str(tmp_path / "keys"), "--name", "fleet")
    assert r.returncode == 0, r.stderr
    key, pub = tmp_path / "keys" / "fleet.key", tmp_path / "keys" / "fleet.pub"
    assert key.stat().st_mode & 0o777 == 0o600
    assert train_tool("keygen", "--out", str(tmp_path / "keys"), "--name", "fleet").returncode
    bundle = tmp_path / "bundle"
    shutil.copytree(kit.v2, bundle)
    (bundle / "manifest.json.sig").unlink()
    r = train_tool("sign", str(bundle), "--key", str(key))
    assert r.returncode == 0 and (bundle / "manifest.json.sig").is_file(), r.stdout
    r = train_tool(
        "update-msg",
        str(bundle),
        "--key",
        str(key),
        "--url",
        "https://h/b.tgz",
        "--archive",
        str(tmp_path / "b.tgz"),
    )
    msg = json.loads(r.stdout)
    assert msg["version"] == "2.0.0" and msg["url"] == "https://h/b.tgz"
    verify_message(msg, [pub.read_text().strip()])
