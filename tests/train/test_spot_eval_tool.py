"""The ground-truth generator's looping and the evaluation command as a user runs it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from microemo.assets import find_asset

pytest.importorskip("scipy")
from microemo_train.cli import main
from microemo_train.spotting import record
from microemo_train.spotting.synth import SourceClip, still_turns

CLIP = Path(__file__).resolve().parents[1] / "data" / "crema_d" / "clips" / "1001_DFA_NEU_XX.flv"


def test_loop_turns_after_a_movement_not_inside_it() -> None:
    """A face that relaxes its brows over the first 10 frames and is still afterwards: turning
    inside the movement would play it back as a frown that comes and goes every loop."""
    n, fps = 60, 30.0
    x = np.zeros((n, 4))
    x[:10, 0] = np.linspace(1.0, 0.0, 10)  # brows relaxing, then still
    x[50:, 1] = np.linspace(0.0, 0.8, 10)  # lip corners start moving near the end
    first, last = still_turns(x, fps, settle_ms=300.0)
    assert first >= 9
    assert last <= 50

    clip = SourceClip(Path("x.flv"), fps, [np.zeros((2, 2, 3), np.uint8)] * n, loop=(first, last))
    shown = [clip.source_index(k * 1000.0 / fps) for k in range(4 * n)]
    assert min(shown) == first and max(shown) == last
    steps = np.abs(np.diff(shown))
    assert steps.max() == 1  # ping-pong: no cut anywhere


def test_spot_eval_replays_its_cache_without_generating(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    try:
        find_asset("face_landmarker.task")
    except Exception as exc:  # pragma: no cover - set-up problem, not a test result
        pytest.skip(f"landmarker model missing: {exc}")
    clips = tmp_path / "src"
    clips.mkdir()
    shutil.copy(CLIP, clips / CLIP.name)
    args = ["spot-eval", "--clips", str(clips), "--per-cell-30", "0", "--per-cell-100", "0"]
    args += ["--untouched-s", "3", "--cache", str(tmp_path / "cache")]
    assert main([*args, "-o", str(tmp_path / "a")]) == 0
    first = json.loads((tmp_path / "a" / "report.json").read_text())
    assert len(list((tmp_path / "cache").glob("*.pkl"))) == 2  # 29.97 and 100 fps

    def refuse(*a: object, **k: object) -> None:
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(record, "write_clip", refuse)
    monkeypatch.setattr(record, "landmarks", refuse)
    assert main([*args, "-o", str(tmp_path / "b"), "--set", "spotting.z_on=0.5"]) == 0
    again = json.loads((tmp_path / "b" / "report.json").read_text())
    assert [c["n_frames"] for c in again["clips"]] == [c["n_frames"] for c in first["clips"]]
    assert first["false_alarms_by_source"]["NEU"]["minutes"] == pytest.approx(3.75 / 60, abs=3e-3)
    # the replay really ran the spotter with the new setting: a bar of half a noise level
    # on a talking face fires, the default does not
    assert first["false_alarms_by_source"]["NEU"]["false_alarms"] == 0
    assert again["false_alarms_by_source"]["NEU"]["false_alarms"] > 0
    assert "| NEU |" in (tmp_path / "b" / "report.md").read_text()
