"""Board profiles load through the real config model; typos stop the daemon before it starts;
secrets never come from the config file."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from daemon_kit import REPO

from microemo.config import ConfigError, load_config
from microemo.secrets import describe, mqtt_password

PROFILES = sorted((REPO / "firmware_config").glob("*.toml"))


def test_every_board_has_a_profile():
    assert {p.stem for p in PROFILES} >= {"pi4", "pi5", "jetson-orin-nano", "desktop"}


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.stem)
def test_profile_loads_through_the_real_model(profile):
    config = load_config(profile)
    assert config.daemon.budget_ms * config.daemon.watchdog_budgets / 1000 < 30, (
        "a stall must be noticed before WatchdogSec=30s in deploy/microemo.service"
    )
    result = subprocess.run(
        # the file alone: whether this machine has the board's camera is test_preflight's
        [sys.executable, "-m", "microemo.cli", "config", "check", "--file-only", str(profile)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert f"{profile}: OK" in result.stdout


def test_board_specific_sources():
    by = {p.stem: load_config(p) for p in PROFILES}
    assert by["pi4"].source.type == by["pi5"].source.type == "picamera2"
    assert by["jetson-orin-nano"].source.type == "gstreamer"
    assert by["desktop"].source.type == "v4l2"
    assert not str(by["desktop"].device.state_dir).startswith("~")


TYPO = """
[source]
type = "v4l2"
fsp = 30

[daemon]
budget_ms = 40
"""


def run_cli(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "microemo.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_typo_is_a_clear_error_and_the_daemon_does_not_start(tmp_path):
    cfg = tmp_path / "microemo.toml"
    cfg.write_text(TYPO)
    check = run_cli("config", "check", str(cfg))
    assert check.returncode == 2
    assert str(cfg) in check.stderr and "source.fsp" in check.stderr
    assert "did you mean `source.fps`?" in check.stderr
    run = run_cli("run", "--config", str(cfg), "--set", f"device.state_dir={tmp_path}/state")
    assert run.returncode == 2
    assert "did you mean `source.fps`?" in run.stderr
    assert "microemo running" not in run.stderr and run.stdout == ""
    assert not (tmp_path / "state").exists()


def test_bad_value_names_key_and_value(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[daemon]\nbudget_ms = -5\n")
    with pytest.raises(ConfigError) as err:
        load_config(cfg)
    assert "daemon.budget_ms = -5" in str(err.value)
    bad_set = run_cli("config", "check", str(PROFILES[0]), "--set", "source.type=usb")
    assert bad_set.returncode == 2 and "source.type = 'usb'" in bad_set.stderr


def test_password_in_the_file_is_refused(tmp_path):
    cfg = tmp_path / "pw.toml"
    cfg.write_text('[mqtt]\nusername = "cabin"\npassword = "hunter2"\n')
    with pytest.raises(ConfigError, match=r"mqtt\.password: secrets never go in the config"):
        load_config(cfg)


def test_secrets_from_environment_or_credentials(tmp_path):
    (tmp_path / "mqtt_password").write_text("from-credentials\n")
    assert (
        mqtt_password(
            {"MICROEMO_MQTT_PASSWORD": "from-env", "CREDENTIALS_DIRECTORY": str(tmp_path)}
        )
        == "from-env"
    )
    assert mqtt_password({"CREDENTIALS_DIRECTORY": str(tmp_path)}) == "from-credentials"
    assert mqtt_password({"CREDENTIALS_DIRECTORY": str(tmp_path / "none")}) is None
    assert mqtt_password({}) is None
    assert describe("mqtt_password", {"CREDENTIALS_DIRECTORY": str(tmp_path)}) == (
        "from $CREDENTIALS_DIRECTORY/mqtt_password"
    )


def test_config_check_tells_where_the_password_comes_from(tmp_path):
    cfg = tmp_path / "mqtt.toml"
    cfg.write_text('[mqtt]\nenabled = true\nusername = "cabin"\n')
    (tmp_path / "mqtt_password").write_text("s3cret")
    env = {**os.environ, "CREDENTIALS_DIRECTORY": str(tmp_path)}
    env.pop("MICROEMO_MQTT_PASSWORD", None)
    out = run_cli("config", "check", "--file-only", str(cfg), env=env)
    assert out.returncode == 0 and "password from $CREDENTIALS_DIRECTORY" in out.stdout
    assert "s3cret" not in out.stdout


def test_config_show_round_trips(tmp_path):
    out = run_cli("config", "show", str(PROFILES[0]), "--set", "daemon.budget_ms=77")
    assert out.returncode == 0
    shown = tmp_path / "shown.toml"
    shown.write_text(out.stdout)
    again = load_config(shown)
    assert again.daemon.budget_ms == 77
    assert again.model_dump() == load_config(PROFILES[0], {"daemon.budget_ms": 77}).model_dump()


def test_boards_leave_a_core_beside_their_landmarker_workers():
    """Each board runs one landmarker worker per core but one: that core captures and runs
    everything after the landmarker. The desktop profile takes one per core (0)."""
    cores = {"pi4": 4, "pi5": 4, "jetson-orin-nano": 6}
    by = {p.stem: load_config(p) for p in PROFILES}
    for board, n in cores.items():
        assert by[board].landmarker.workers == n - 1, board
    assert by["desktop"].landmarker.workers == 0
    with pytest.raises(ConfigError, match=r"landmarker\.workers = -1"):
        load_config(None, {"landmarker.workers": -1})
