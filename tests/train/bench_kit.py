"""What the emotion-bench tests share: the command as a user runs it, and frames of the
CREMA-D clips in ``tests/data`` as pictures."""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
from tests.conftest import clip_path


def bench(*args: str) -> subprocess.CompletedProcess:
    """``microemo-train emotion-bench ARGS``, its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "microemo_train.cli", "emotion-bench", *args],
        capture_output=True,
        text=True,
        timeout=600,
    )


def frames(emotion: str, wanted: list[int]) -> list[np.ndarray]:
    """Frames ``wanted`` (indices, in order) of the actor's ``emotion`` clip (HAP, NEU...)."""
    cap = cv2.VideoCapture(str(clip_path(emotion)))
    out, i = [], 0
    while len(out) < len(wanted):
        ok, image = cap.read()
        assert ok
        if i in wanted:
            out.append(image)
        i += 1
    cap.release()
    return out
