"""deploy/board.sh, which deploy/install.sh sources: which board this is (from a made-up root
folder: a Pi's device tree cannot exist here), and a board profile run from a file or a
stream instead of its camera, as `install.sh --source` writes it: read by the real config
model, everything but the camera kept. install.sh itself runs in CI's fresh boards
(.ci/fresh-board.sh, --arch arm64 for the Pi 5 profile on a machine that is no Pi)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import tomllib
from config_kit import CLIP, microemo
from daemon_kit import REPO

BOARD = REPO / "deploy" / "board.sh"
PROFILES = sorted((REPO / "firmware_config").glob("*.toml"))


def board(call: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", f'. "{BOARD}"; {call}', "board.sh", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )


def fake_root(tmp_path: Path, model: str | None = None, rpi_issue: bool = False) -> Path:
    if model is not None:
        dt = tmp_path / "proc" / "device-tree"
        dt.mkdir(parents=True)
        (dt / "model").write_bytes(model.encode() + b"\0")  # as the kernel writes it
    if rpi_issue:
        (tmp_path / "etc").mkdir()
        (tmp_path / "etc" / "rpi-issue").write_text("Raspberry Pi reference 2024-11-19\n")
    return tmp_path


@pytest.mark.parametrize(
    ("model", "rpi_issue", "pi", "profile"),
    [
        ("Raspberry Pi 5 Model B Rev 1.0", False, True, "pi5"),
        ("Raspberry Pi 4 Model B Rev 1.4", False, True, "pi4"),
        (None, True, True, "desktop"),  # Pi OS in a container: no device tree to read
        ("NVIDIA Jetson Orin Nano Developer Kit", False, False, "jetson-orin-nano"),
        ("Radxa ROCK 5B", False, False, "desktop"),
        (None, False, False, "desktop"),  # an x86 box, an arm64 server
    ],
)
def test_the_board_is_told_from_its_device_tree(tmp_path, model, rpi_issue, pi, profile):
    root = str(fake_root(tmp_path, model, rpi_issue))
    assert (board('is_raspberry_pi "$1"', root).returncode == 0) is pi
    assert board('detect_profile "$1"', root).stdout.strip() == profile
    if not pi:
        why = board('not_a_pi_because "$1"', root).stdout
        assert "no /etc/rpi-issue" in why
        assert (f"says '{model}'" in why) if model else ("no /proc/device-tree/model" in why)


@pytest.mark.parametrize(
    ("source", "kind"),
    [
        ("rtsp://cam.local:8554/live", "rtsp"),
        ("https://cam.local/video.mjpg", "rtsp"),
        (str(CLIP), "file"),
        (str(CLIP.parent), "frames"),
        ("/var/lib/microemo/still.JPG", "image"),
    ],
)
def test_a_source_becomes_the_right_source_type(source, kind):
    assert board('source_type "$1"', source).stdout.strip() == kind


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.stem)
def test_a_profile_with_another_source_keeps_everything_but_the_camera(tmp_path, profile):
    r = board('profile_with_source "$1" "$2"', str(profile), str(CLIP))
    assert r.returncode == 0, r.stderr
    written = tmp_path / "microemo.toml"
    written.write_text(r.stdout)
    check = microemo("config", "check", "--file-only", str(written))
    assert check.returncode == 0, check.stderr
    assert f"source      file {CLIP} " in check.stdout
    before, after = tomllib.loads(profile.read_text()), tomllib.loads(r.stdout)
    camera = {"type", "path", "device", "pipeline"}
    assert after["source"] == {
        **{k: v for k, v in before.get("source", {}).items() if k not in camera},
        "type": "file",
        "path": str(CLIP),
    }
    assert {k: v for k, v in after.items() if k != "source"} == {
        k: v for k, v in before.items() if k != "source"
    }
    assert r.stdout.count("[source]") == 1


def test_quotes_and_backslashes_in_a_path_survive(tmp_path):
    odd = tmp_path / 'clip "one" \\ two.flv'
    r = board('profile_with_source "$1" "$2"', str(REPO / "firmware_config" / "pi5.toml"), str(odd))
    assert tomllib.loads(r.stdout)["source"]["path"] == str(odd)
