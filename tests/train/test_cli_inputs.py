"""``microemo-train`` as a user runs it: its inputs (signing key, coding sheet and frame
folders) are checked before the work starts, each problem in one line without a traceback,
and TensorFlow's and MediaPipe's own log lines stay off the terminal unless ``-v``."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.train

pytest.importorskip("tensorflow")
pytest.importorskip("skrebate")

REPO = Path(__file__).resolve().parents[2]
CLIPS = REPO / "tests" / "data" / "crema_d" / "clips"
# what TensorFlow, LiteRT and MediaPipe print by themselves (absl/glog prefixes and the rest)
CHATTER = re.compile(
    r"^[IWEF]\d{4} |XNNPACK|oneDNN|absl::InitializeLog|retracing|calls to <function|"
    r"Saved artifact|Statistics for quantized|inference_feedback_manager",
    re.M,
)


def train(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "microemo_train.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
    )


def tiny_config(tmp: Path, bundle: str) -> Path:
    """A synthetic corpus of 4 subjects, evaluated on the real clips (MediaPipe runs)."""
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / "train.toml"
    path.write_text(
        f"""workdir = "{tmp / "work"}"
[synthetic]
generate = true
subjects = 4
clips_per_label = 2
[data]
adapter = "features"
root = "{tmp / "corpus" / "index.csv"}"
labels = ["anger", "happiness", "neutral"]
[extract]
cache = "{tmp / "cache"}"
[windows]
fps = 16
[select]
n_features = 4
n_neighbors = 5
[fit]
epochs = 3
folds = 2
holdout = 0.0
[quantize]
representative = 100
[bundle]
out = "{tmp / "bundle"}"
{bundle}
[evaluate]
adapter = "crema-d"
root = "{CLIPS}"
"""
    )
    return path


def test_all_stops_before_any_work_on_a_missing_key(tmp_path: Path) -> None:
    key = tmp_path / "keys" / "fleet.key"
    config = tiny_config(tmp_path, f'key = "{key}"')
    r = train("all", "--config", str(config), cwd=tmp_path)
    assert r.returncode == 2, r.stderr[-3000:]
    assert "Traceback" not in r.stderr
    problem = next(line for line in r.stderr.splitlines() if "[bundle] key" in line)
    assert str(key) in problem and "microemo-train keygen" in problem
    assert not (tmp_path / "corpus").exists() and not (tmp_path / "work").exists()


def test_train_is_quiet_unless_verbose(tmp_path: Path) -> None:
    keys = f'key = "{tmp_path / "k.key"}"\npublic_key = "{tmp_path / "k.pub"}"'
    quiet = train("all", "--config", str(tiny_config(tmp_path / "q", keys)), cwd=tmp_path)
    assert quiet.returncode == 0, quiet.stderr[-3000:]
    assert "(signed)" in quiet.stdout and "evaluation on crema-d" in quiet.stdout
    assert "extract: 100%" in quiet.stderr  # the progress bar is still there
    assert CHATTER.findall(quiet.stdout + quiet.stderr) == []
    loud = train("-v", "all", "--config", str(tiny_config(tmp_path / "v", keys)), cwd=tmp_path)
    assert loud.returncode == 0, loud.stderr[-3000:]
    assert len(CHATTER.findall(loud.stderr)) >= 5  # what -v shows


def coding_sheet(path: Path, rows: list[tuple]) -> None:
    """The CASME II coding sheet's layout (CASME2-coding-20140508.xlsx)."""
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame",
               "Action Units", "Estimated Emotion"])  # fmt: skip
    for row in rows:
        ws.append(list(row))
    wb.save(path)


def test_casme2_missing_folders_are_listed_then_skipped_on_request(tmp_path: Path) -> None:
    import cv2

    raw = tmp_path / "CASME2_RAW_selected"
    present = [(1, "EP02_01f", 46, 48, 50, "12", "happiness"),
               (2, "EP03_02", 1, "/", 5, "R4", "disgust")]  # fmt: skip
    absent = [(2, "EP09_10", 3, 5, 9, "4", "disgust"), (17, "EP01_01", 1, 2, 4, "1+2", "others")]
    for subject, name, first, _, last, _, _ in present:
        folder = raw / f"sub{subject:02d}" / name
        folder.mkdir(parents=True)
        for n in range(first, last + 1):
            cv2.imwrite(str(folder / f"img{n}.jpg"), np.full((120, 160, 3), 90, np.uint8))
    coding_sheet(raw / "CASME2-coding-20140508.xlsx", present + absent)
    config = tmp_path / "train.toml"
    config.write_text(
        f'workdir = "{tmp_path / "work"}"\n[data]\nadapter = "casme2"\nroot = "{raw}"\n'
        f'[extract]\ncache = "{tmp_path / "cache"}"\njobs = 1\n'
    )
    r = train("extract", "--config", str(config), cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-3000:]
    (error,) = [line for line in r.stderr.splitlines() if "error:" in line]
    assert "2 of 4 rows" in error and "sub02/EP09_10" in error and "sub17/EP01_01" in error
    assert "missing" in error and "--skip-missing" in error
    r = train("extract", "--config", str(config), "--skip-missing", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "extracted 2 inputs" in r.stdout
    assert re.search(r"2 of 4 rows .*sub02/EP09_10.*sub17/EP01_01.*skipping them", r.stderr)
