"""What ``microemo analyze`` says when it cannot start: one line naming the value or file,
the fault and what to do; exit 2; nothing analysed. (Bad inputs themselves:
tests/sources/test_file_sources.py and test_analyze.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from analyze_kit import run_analyze
from tests.conftest import clip_path


def _error(proc) -> str:
    assert proc.returncode == 2, proc.stdout + proc.stderr[-2000:]
    lines = [ln for ln in proc.stderr.splitlines() if "error" in ln]
    assert len(lines) == 1, proc.stderr[-2000:]
    assert proc.stdout == ""
    return lines[0]


@pytest.mark.parametrize("fps", ["0", "-5", "fast"])
def test_a_frame_rate_that_is_not_one(tmp_path: Path, fps: str):
    line = _error(run_analyze(clip_path("HAP"), "--fps", fps, "--out", tmp_path))
    assert f"--fps: {fps!r} is not a frame rate" in line and "e.g. 200 for CASME II" in line


def test_an_output_folder_that_is_a_file(tmp_path: Path):
    out = tmp_path / "results.csv"
    out.write_text("keep me\n")
    line = _error(run_analyze(clip_path("HAP"), "--out", out))
    assert line == f"error: --out {out}: is a file: give a folder (it is created if missing)"
    assert out.read_text() == "keep me\n"


def test_a_damaged_index_is_named_and_kept(tmp_path: Path):
    index = tmp_path / "analyze-index.csv"
    index.write_text("these are not the columns\n1,2\n")
    line = _error(run_analyze(clip_path("HAP"), "--out", tmp_path))
    assert line.startswith(f"error: {index}: unreadable (no column input, name)")
    assert "move it away to start the folder's index afresh" in line
    assert index.read_text() == "these are not the columns\n1,2\n"
    assert not (tmp_path / "1001_DFA_HAP_XX.csv").exists()
