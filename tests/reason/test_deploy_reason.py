"""The hub's unit lints clean and passes the secrets as credentials; the example config is
valid as shipped; the broker ACL gives the service exactly what it uses."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from microemo.publish.mqtt import topics
from microemo.reason.cli import main
from microemo.reason.config import load_reason_config

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "deploy" / "microemo-reason.service"
EXAMPLE = REPO / "deploy" / "reason.toml.example"
ACL = REPO / "deploy" / "mosquitto" / "acl.conf"


def unit_here(tmp_path: Path) -> Path:
    """The unit with its programs pointing at this venv (verify checks they exist)."""
    text = UNIT.read_text().replace("/opt/microemo/venv/bin/", f"{Path(sys.executable).parent}/")
    out = tmp_path / "microemo-reason.service"
    out.write_text(text)
    return out


def test_unit_checks_the_config_first_and_takes_secrets_as_credentials():
    text = UNIT.read_text()
    bin_, toml = "/opt/microemo/venv/bin/microemo-reason", "/etc/microemo/reason.toml"
    assert f"ExecStartPre={bin_} check --quiet {toml}" in text
    assert f"ExecStart={bin_} run --config {toml}" in text
    assert "LoadCredential=llm_api_key:/etc/microemo/llm_api_key" in text
    assert "LoadCredential=mqtt_password:/etc/microemo/mqtt_password" in text
    assert "StateDirectory=microemo-reason" in text and "ProtectSystem=strict" in text
    # the config's default state folder is the one systemd makes writable
    assert str(load_reason_config(EXAMPLE).service.state_dir) == "/var/lib/microemo-reason"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze missing")
def test_systemd_analyze_verify_is_clean(tmp_path):
    r = subprocess.run(["systemd-analyze", "verify", str(unit_here(tmp_path))],
                       capture_output=True, text=True, timeout=60)  # fmt: skip
    assert r.returncode == 0 and r.stderr.strip() == "" and r.stdout.strip() == "", r.stderr
    r = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(unit_here(tmp_path))],
                       capture_output=True, text=True, timeout=60)  # fmt: skip
    if r.returncode != 0 and "offline" in r.stderr:
        pytest.skip("this systemd-analyze has no --offline")
    m = re.search(r"Overall exposure level for \S+: ([\d.]+)", r.stdout + r.stderr)
    assert m and float(m.group(1)) <= 3.0, r.stdout + r.stderr


def test_the_example_config_is_valid_as_shipped(capsys):
    assert main(["check", str(EXAMPLE)]) == 0
    assert "valid. broker localhost:1883 prefix 'microemo'" in capsys.readouterr().out


def test_acl_grants_the_topics_the_service_uses():
    lines = ACL.read_text().split("user microemo-reason", 1)[1].strip().splitlines()
    rules = [line.split(None, 2)[1:] for line in lines if line.startswith("topic")]
    assert rules == [
        ["read", topics.events_filter("microemo")],
        ["write", f"microemo/+/{topics.REFINED}"],
        ["readwrite", topics.reason_status("microemo")],
    ]
