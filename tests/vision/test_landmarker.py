"""The landmarker stage on real frames: each input is read as if it were the only one."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from tests.conftest import clip_path

from microemo.config import LandmarkerConfig
from microemo.types import Frame

pytestmark = pytest.mark.usefixtures("needs_asset")


def _frames(name: str, n: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(clip_path(name)))
    out = [cap.read()[1] for _ in range(n)]
    cap.release()
    return out


def test_a_new_stream_does_not_track_from_the_previous_one():
    """MediaPipe's VIDEO mode follows a face from the previous frame's landmarks. Carried
    from one input into the next, that track starts the new face in the old one's place
    (a CK+ sequence analysed after another lost its face in 10 of 12 frames): after
    ``new_stream`` a picture must read exactly as it does in a fresh landmarker."""
    from microemo.vision.landmarker import Landmarker

    config = LandmarkerConfig(small_faces=False)
    before = _frames("HAP", 10)
    first = _frames("NEU", 1)[0]  # the next input: a face where the last one was
    with Landmarker(config) as fresh:
        want = fresh.detect(Frame(first, 0.0, 0))
    with Landmarker(config) as used:
        for i, image in enumerate(before):
            used.detect(Frame(image, i * 33.0, i))
        used.new_stream()
        got = used.detect(Frame(first, 0.0, 0))
    assert len(got) == len(want) == 1, f"{len(got)} faces after new_stream, {len(want)} fresh"
    np.testing.assert_array_equal(got[0].landmarks, want[0].landmarks)
    np.testing.assert_array_equal(got[0].blendshapes, want[0].blendshapes)
