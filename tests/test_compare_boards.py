""".ci/compare-boards.py on the results of one real pair of fresh boards (tests/data/boards:
x86-64 and an emulated Pi 5, `microemo analyze` on the same clip): they agree within its
tolerance, and a difference beyond it, a lost episode or a lost face fails the comparison
naming what differs. The folders are as `.ci/fresh-board.sh --results` leaves them, with
`microemo run`'s events.jsonl beside analyze's JSONL."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BOARDS = REPO / "tests" / "data" / "boards"
SCRIPT = REPO / ".ci" / "compare-boards.py"
CLIP = "1001_DFA_HAP_XX"


def compare(first: Path, second: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(first), str(second)],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def arm64(tmp_path: Path) -> Path:
    """A copy of the arm64 results, to be spoilt."""
    return Path(shutil.copytree(BOARDS / "arm64", tmp_path / "arm64"))


def edit_csv(folder: Path, frame: str, column: str, change: Callable[[str], str]) -> None:
    path = folder / f"{CLIP}.csv"
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        fields, rows = list(reader.fieldnames or []), list(reader)
    for row in rows:
        if row["frame"] == frame:
            row[column] = change(row[column])
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def test_the_measured_boards_agree_within_tolerance() -> None:
    out = compare(BOARDS / "amd64", BOARDS / "arm64")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "== amd64 against arm64" in out.stdout
    assert "56 rows in both, 56 with a face in both" in out.stdout
    assert "episodes: 1 (amd64) and 1 (arm64)" in out.stdout
    assert out.stdout.rstrip().endswith("same within tolerance")


def test_an_au_beyond_tolerance_fails_naming_it(arm64: Path) -> None:
    edit_csv(arm64, "30", "AU12_r", lambda v: f"{float(v) + 1:.2f}")
    out = compare(BOARDS / "amd64", arm64)
    assert out.returncode == 1
    assert "DIFFERENT: AU12_r differs by" in out.stdout
    assert "at frame 30 (> 0.35)" in out.stdout


def test_a_lost_face_and_a_lost_episode_fail(arm64: Path) -> None:
    edit_csv(arm64, "10", "success", lambda v: "0")
    (arm64 / f"{CLIP}.jsonl").write_text("")
    out = compare(BOARDS / "amd64", arm64)
    assert out.returncode == 1
    assert "face found in one run only, frames ['10']" in out.stdout
    assert "DIFFERENT: episode 1 is in one run only" in out.stdout
