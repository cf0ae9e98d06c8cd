"""Helpers of the config tests: the real `microemo` CLI in a subprocess, and what a refusal
looks like (exit 2, nothing on stdout, one line naming the file)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from daemon_kit import REPO
from tests.conftest import clip_path

CLIP = clip_path("HAP")  # a real face clip that works everywhere


def microemo(*args: str, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, sys.executable, "-m", "microemo.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )


def refused(result: subprocess.CompletedProcess[str], path: Path | str) -> str:
    """The one line of a refusal: exit 2, nothing on stdout, one stderr line naming ``path``."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"{path}: "), lines[0]
    return lines[0]


def write(tmp_path: Path, text: str, name: str = "microemo.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def clip_config(tmp_path: Path, extra: str = "") -> Path:
    """A config that works here: the bundled clip, state and events in tmp_path."""
    return write(
        tmp_path,
        f'[device]\nstate_dir = "{tmp_path}/state"\n'
        f'[source]\ntype = "file"\npath = "{CLIP}"\n{extra}',
    )
