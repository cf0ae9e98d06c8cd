"""``microemo analyze`` as a user runs it: several inputs, some broken, files per input."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
from analyze_kit import run_analyze
from tests.conftest import clip_path

from microemo.publish.events import validate_event
from microemo.publish.local import CSV_COLUMNS


def _no_face_clip(path: Path) -> Path:
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (320, 240))
    rng = np.random.default_rng(0)
    for _ in range(20):
        out.write(rng.integers(0, 60, (240, 320, 3), dtype=np.uint8))
    out.release()
    return path


def test_analyze_writes_every_good_input_and_names_the_bad_ones(tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"this is not a video")
    truncated = tmp_path / "cut.flv"
    truncated.write_bytes(clip_path("NEU").read_bytes()[:100_000])
    empty_room = _no_face_clip(tmp_path / "empty_room.avi")
    out = tmp_path / "out"
    inputs = [clip_path("HAP"), broken, empty_room, truncated]
    proc = run_analyze(*inputs, "--out", out)
    assert proc.returncode == 1, proc.stderr[-2000:]
    *lines, last = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    assert len(lines) == 4  # one summary line per input, then where the index is
    assert last == f"index: {out / 'analyze-index.csv'} (4 inputs, 0 renamed, 2 failed)"
    assert any("FAILED" in ln and str(broken) in ln and "ffprobe" in ln for ln in lines)
    assert any("FAILED" in ln and "truncated" in ln and str(truncated) in ln for ln in lines)
    assert any(ln.startswith("1001_DFA_HAP_XX: 56 frames") for ln in lines)

    # the happy clip: OpenFace-style CSV, episodes, picture
    with (out / "1001_DFA_HAP_XX.csv").open() as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == CSV_COLUMNS
        rows = list(reader)
    assert len(rows) == 56 and all(r["success"] == "1" for r in rows)
    au12 = np.array([float(r["AU12_r"]) for r in rows])
    assert np.median(au12) > 2.5
    flow = np.array([[float(r[c]) for c in CSV_COLUMNS if c.endswith("_flow")] for r in rows])
    # AU1, 2, 4, 5, 9 (brows, lids, nose) and AU12, 15, 17 (the mouth)
    assert flow.shape == (56, 8) and flow.min() >= 0 and flow.max() <= 5 and flow.max() > 0
    assert {r["emotion"] for r in rows} >= {"happiness"}
    # the first glance has no neutral of this face to read its AUs against; seen for two
    # seconds its brows and eyes have shown theirs (the smiling mouth has not)
    baseline = np.array([float(r["baseline"]) for r in rows])
    assert baseline[0] == 0.0 and 0.5 < baseline[-1] < 1.0
    events = [json.loads(ln) for ln in (out / "1001_DFA_HAP_XX.jsonl").read_text().splitlines()]
    assert events
    for e in events:
        validate_event(e)
    png = out / "1001_DFA_HAP_XX.png"
    assert png.stat().st_size > 20_000
    assert cv2.imread(str(png)) is not None

    # no face: a row per frame with success 0 and no emotions, no episodes
    with (out / "empty_room.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 20
    assert all(r["success"] == "0" and r["emotion"] == "" for r in rows)
    assert (out / "empty_room.jsonl").read_text() == ""
    assert not (out / "broken.csv").exists()
