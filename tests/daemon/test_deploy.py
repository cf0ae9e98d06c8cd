"""The systemd unit lints clean and asks for what the daemon relies on; the installer parses."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from daemon_kit import REPO

UNIT = REPO / "deploy" / "microemo.service"
INSTALL = REPO / "deploy" / "install.sh"


def unit_for_this_machine(tmp_path: Path) -> Path:
    """The unit with ExecStart= pointing at this venv (verify checks the binary exists)."""
    text = UNIT.read_text().replace(
        "/opt/microemo/venv/bin/microemo", str(Path(sys.executable).parent / "microemo")
    )
    out = tmp_path / "microemo.service"
    out.write_text(text)
    return out


def directives(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        m = re.match(r"^([A-Za-z]+)=(.*)$", line)
        if m:
            out.setdefault(m.group(1), []).append(m.group(2))
    return out


def test_unit_has_what_the_daemon_relies_on():
    d = directives(UNIT.read_text())
    assert d["Type"] == ["notify"] and d["Restart"] == ["on-failure"]
    assert d["WatchdogSec"] == ["30s"]
    assert any("config check" in x for x in d["ExecStartPre"])
    assert d["LoadCredential"] == [
        "mqtt_password:/etc/microemo/mqtt_password",
        "status_password:/etc/microemo/status_password",
    ]
    assert d["SupplementaryGroups"] == ["video"] and d["StateDirectory"] == ["microemo"]
    assert d["ProtectSystem"] == ["strict"] and d["NoNewPrivileges"] == ["yes"]
    assert d["ExecReload"] == ["/bin/kill -HUP $MAINPID"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze missing")
def test_systemd_analyze_verify_is_clean(tmp_path):
    unit = unit_for_this_machine(tmp_path)
    r = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    # verify exits 0 even for unknown keys: any output at all is a finding
    assert r.returncode == 0 and r.stderr.strip() == "" and r.stdout.strip() == "", r.stderr
    bad = tmp_path / "bad.service"
    bad.write_text(unit.read_text().replace("WatchdogSec=", "WatchdogSecs="))
    r = subprocess.run(
        ["systemd-analyze", "verify", str(bad)], capture_output=True, text=True, timeout=60
    )
    assert "Unknown key 'WatchdogSecs'" in r.stderr  # the check above would have caught it


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze missing")
def test_sandboxing_exposure_is_low(tmp_path):
    r = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", str(unit_for_this_machine(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if r.returncode != 0 and "offline" in r.stderr:
        pytest.skip("this systemd-analyze has no --offline")
    m = re.search(r"Overall exposure level for \S+: ([\d.]+)", r.stdout + r.stderr)
    assert m, r.stdout + r.stderr
    print(f"systemd-analyze security: exposure {m.group(1)}")
    assert float(m.group(1)) <= 3.0


def test_installer_parses_and_fetches_the_asset_where_the_daemon_looks():
    assert subprocess.run(["bash", "-n", str(INSTALL)], timeout=30).returncode == 0
    text = INSTALL.read_text()
    assert '-m microemo.assets fetch --dest "$STATE/assets"' in text
    assert "microemo.service" in text and "config check" in text
    if shutil.which("shellcheck"):
        r = subprocess.run(
            ["shellcheck", "-S", "warning", str(INSTALL)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode == 0, r.stdout
