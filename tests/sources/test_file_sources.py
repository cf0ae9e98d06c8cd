"""Recorded sources: timestamps on the file's own clock, ordering, errors that name the file."""

from __future__ import annotations

import os
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


def _make(tmp_path: Path, case: str) -> Path:
    """A bad input of each kind a user meets."""
    p = tmp_path / case
    if case == "empty.mp4":
        p.write_bytes(b"")
    elif case == "garbage.mp4":
        p.write_bytes(b"not a video at all" * 100)
    elif case == "notes.csv":
        p.write_text("frame,AU12_r\n1,0.5\n")
    elif case == "corrupt.png":
        p.write_bytes(b"\x89PNG\r\n\x1a\n" + b"x" * 100)
    elif case == "empty_folder":
        p.mkdir()
    elif case == "folder_of_videos":
        p.mkdir()
        (p / "a.flv").write_bytes(clip_path("HAP").read_bytes())
        (p / "b.mp4").write_bytes(b"")
    elif case == "folder_of_folders":
        (p / "EP02_01f").mkdir(parents=True)
    return p


@pytest.mark.parametrize(
    "case,fault,todo",
    [
        ("missing.mp4", "no such file or folder", "check the path"),
        ("empty.mp4", "empty file", "copy it again"),
        ("garbage.mp4", "not a readable video", "ffprobe"),
        ("notes.csv", "not a video, a folder of frames or an image", ".mp4"),
        ("corrupt.png", "not a readable image", "convert it"),
        ("empty_folder", "folder holds no images", "--fps"),
        ("folder_of_videos", "it holds 2 videos", "give them instead"),
        ("folder_of_folders", "it holds 1 folders", "/*/)"),
    ],
)
def test_unreadable_inputs_name_the_file_the_fault_and_what_to_do(tmp_path, case, fault, todo):
    p = _make(tmp_path, case)
    with pytest.raises(SourceError) as err:
        open_file_source(p)
    message = str(err.value)
    assert message.startswith(str(p)) and fault in message and todo in message
    assert "\n" not in message
    if case == "garbage.mp4":  # which containers and codecs, and the command to look
        assert f"`ffprobe {p}`" in message and "H.264" in message and "mkv" in message
    if case == "empty_folder":
        assert ".jpg" in message and ".png" in message
    if case == "folder_of_videos":  # every kind it holds, so the glob given misses none
        assert f"({p}/*.flv {p}/*.mp4)" in message


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_an_unreadable_file_says_to_fix_its_permissions(tmp_path):
    p = tmp_path / "clip.flv"
    p.write_bytes(clip_path("HAP").read_bytes())
    p.chmod(0)
    with pytest.raises(SourceError, match="permission denied: make it readable"):
        open_file_source(p)


def test_a_frame_folder_names_its_unreadable_images(tmp_path):
    folder = _frame_folder(tmp_path, n=4)
    (folder / "img48.jpg").write_bytes(b"not a jpeg")
    src = open_file_source(folder)
    assert len(list(src)) == 3
    assert src.problem() == (
        f"{folder}: 1 of its 4 images could not be read and were skipped (first: img48.jpg): "
        f"check them with `file {folder / 'img48.jpg'}`, copy them again"
    )


def test_truncated_video_is_detected(tmp_path):
    p = tmp_path / "cut.flv"
    p.write_bytes(clip_path("HAP").read_bytes()[:120_000])
    src = open_file_source(p)
    n = sum(1 for _ in src)
    assert n < 56 and src.truncated
    problem = src.problem()
    assert problem is not None and problem.startswith(f"{p}: truncated: decoded {n} of the 56")
    assert "copy or export the file again" in problem
