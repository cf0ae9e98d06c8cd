"""Progress as a user sees it: bars with frames, rate and time left on a terminal (also one
that reports no size, as `script` and CI runners give), nothing but the result lines in a
pipe."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

from analyze_kit import looped_video, run_analyze
from tests.conftest import clip_path


def _run_on_a_terminal(args: list[str]) -> tuple[int, str]:
    """Run with stdout and stderr on a fresh pseudo-terminal (no window size set)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "microemo.cli", *args],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return proc.wait(timeout=300), b"".join(chunks).decode("utf-8", "replace")


def test_progress_shows_on_a_terminal_and_not_in_a_pipe(tmp_path: Path):
    video = looped_video(tmp_path / "long.avi", 150)
    args = ["analyze", str(clip_path("HAP")), str(video), "--no-plot"]
    code, screen = _run_on_a_terminal([*args, "--out", str(tmp_path / "tty")])
    assert code == 0, screen[-2000:]
    # a bar per input: frames done of all, elapsed<left, frames a second
    assert re.search(r"1001_DFA_HAP_XX: +\d+%\|.*\| *\d+/56 \[\d\d:\d\d<", screen), screen[-3000:]
    assert re.search(r"long: +\d+%\|.*\| *\d+/150 \[.*frame/s\]", screen)
    assert re.search(r"inputs: +\d+%\|.*\| *[01]/2 ", screen)  # and one over the inputs
    assert "long: 150 frames" in screen  # the result line survives the bars

    proc = run_analyze(*args[1:], "--out", tmp_path / "pipe")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "frame/s" not in proc.stderr and "\r" not in proc.stderr + proc.stdout
    assert [ln.split(":")[0] for ln in proc.stdout.splitlines()] == [
        "1001_DFA_HAP_XX",
        "long",
        "index",
    ]
