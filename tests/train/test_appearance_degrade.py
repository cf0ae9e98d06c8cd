"""The poorer-camera augmentation (``appearance.net.degrade``): each of its five cameras
changes a real face crop the way that camera would, and leaves it a face crop (same size,
8 bits); with no share degraded, ``augment`` is what it was (the built-in model's recipe)."""

from __future__ import annotations

import cv2
import numpy as np
from tests.conftest import clip_path

from microemo_train.appearance.net import augment, degrade


def _face() -> np.ndarray:
    """A 48 x 48 grey crop of the middle of a real CREMA-D frame (the face)."""
    cap = cv2.VideoCapture(str(clip_path("NEU")))
    ok, frame = cap.read()
    cap.release()
    assert ok
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    h, w = grey.shape
    return cv2.resize(grey[h // 6 : h // 2 + h // 6, w // 3 : 2 * w // 3], (48, 48))


def _sharpness(img: np.ndarray) -> float:
    return float(cv2.Laplacian(img.astype(np.float32), cv2.CV_32F).var())


def test_each_poorer_camera_changes_the_face_as_that_camera_would() -> None:
    face = _face()
    rng = np.random.default_rng(0)
    seen = {"dim": 0, "soft": 0, "changed": 0}
    for _ in range(200):
        out = degrade(face, rng)
        assert out.shape == face.shape and out.dtype == np.uint8
        if out.mean() < 0.85 * face.mean():
            seen["dim"] += 1
        elif _sharpness(out) < 0.7 * _sharpness(face):
            seen["soft"] += 1  # blurred, shrunk and enlarged, or blocky JPEG
        if not np.array_equal(out, face):
            seen["changed"] += 1
    assert seen["changed"] == 200
    assert 20 <= seen["dim"] <= 70  # one camera in five
    assert seen["soft"] >= 40


def test_no_share_degraded_is_the_augmentation_as_it_was() -> None:
    crops = np.stack([_face()] * 8)
    a = augment(crops, np.random.default_rng(3), 10.0)
    b = augment(crops, np.random.default_rng(3), 10.0, 0.0)
    c = augment(crops, np.random.default_rng(3), 10.0, 1.0)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
