"""Recorded sources: timestamps on the file's own clock, ordering, errors that name the file."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from tests.conftest import clip_path

from microemo.sources.files import SourceError, open_file_source


def test_video_timestamps_follow_the_files_fps():
    with open_file_source(clip_path("HAP")) as src:
        frames = list(src)
    assert abs(src.fps - 29.97) < 0.01
    assert len(frames) == 56
    assert frames[30].t_ms == pytest.approx(30 * 1000 / 29.97, abs=0.5)
    assert frames[0].image.shape == (360, 480, 3)


def _frame_folder(tmp_path: Path, n: int = 12) -> Path:
    folder = tmp_path / "EP02_01f"
    folder.mkdir()
    with open_file_source(clip_path("NEU")) as src:
        for i, frame in zip(range(n), src):
            # CASME II names: img1.jpg ... img12.jpg (numeric, not lexical, order)
            cv2.imwrite(str(folder / f"img{i + 46}.jpg"), frame.image)
    return folder


def test_frame_folder_is_ordered_numerically_at_the_given_fps(tmp_path):
    folder = _frame_folder(tmp_path)
    src = open_file_source(folder, fps=200)
    frames = list(src)
    assert len(frames) == 12
    assert [f.t_ms for f in frames[:3]] == [0.0, 5.0, 10.0]
    # first frame of the folder is img46 (frame 0 of the clip): compare with the clip
    with open_file_source(clip_path("NEU")) as clip:
        first = next(iter(clip)).image.astype(int)
    assert np.abs(frames[0].image.astype(int) - first).mean() < 6  # JPEG round trip


def test_single_image_is_one_frame(tmp_path):
    p = tmp_path / "still.png"
    with open_file_source(clip_path("HAP")) as src:
        cv2.imwrite(str(p), next(iter(src)).image)
    frames = list(open_file_source(p))
    assert len(frames) == 1 and frames[0].t_ms == 0.0


@pytest.mark.parametrize("content,reason", [(b"", "empty"), (b"not a video at all", "not a")])
def test_unreadable_inputs_name_the_file(tmp_path, content, reason):
    p = tmp_path / "broken.mp4"
    p.write_bytes(content)
    with pytest.raises(SourceError) as err:
        open_file_source(p)
    assert str(p) in str(err.value) and reason in str(err.value)


def test_missing_path_and_empty_folder(tmp_path):
    with pytest.raises(SourceError, match="no such file"):
        open_file_source(tmp_path / "nope.mp4")
    with pytest.raises(SourceError, match="no images"):
        open_file_source(tmp_path)


def test_truncated_video_is_detected(tmp_path):
    p = tmp_path / "cut.flv"
    p.write_bytes(clip_path("HAP").read_bytes()[:120_000])
    src = open_file_source(p)
    n = sum(1 for _ in src)
    assert n < 56 and src.truncated
