"""Inputs the analyze tests build from the real CREMA-D clips (under tmp_path, never in git),
and ``microemo analyze`` run as a user runs it: its own process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
from tests.conftest import EMOTIONS, clip_path

from microemo.sources.files import open_file_source


def run_analyze(*args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "microemo.cli", "analyze", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def clip_frames(emotion: str, n: int | None = None) -> list[np.ndarray]:
    with open_file_source(clip_path(emotion)) as src:
        return [f.image for _, f in zip(range(n or 10**6), src)]


def write_still(path: Path, emotion: str = "HAP", index: int = 30) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), clip_frames(emotion, index + 1)[index])
    return path


def write_frame_folder(folder: Path, emotion: str = "HAP", n: int = 8) -> Path:
    """``img1.png`` ... ``imgN.png``: PNG frames, so only the picture's tag tells analyze's
    own PNG apart from them."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(clip_frames(emotion, n)):
        assert cv2.imwrite(str(folder / f"img{i + 1}.png"), image)
    return folder


def looped_video(path: Path, frames: int) -> Path:
    """The six clips one after another, looped to ``frames`` frames at 29.97 fps (MJPG)."""
    pool = [image for emo in EMOTIONS for image in clip_frames(emo)]
    h, w = pool[0].shape[:2]
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 29.97, (w, h))
    for i in range(frames):
        out.write(pool[i % len(pool)])
    out.release()
    return path
